"""The claims registry: every claim of the survey, the experiment that tests it, and the rule that judges it.

Each rule is code written before its experiment runs. It reads the result tables the chapter saved and returns a
:class:`Verdict`; nothing here is typed in by hand. Claims whose chapter does not exist yet are ``planned``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..results.tables import has_table, load_table, stale_reasons, tier_gap
from .primary import Primary, calibration, family_size, primary_row

# The categories of issue 14 (supported, not supported, inconclusive, not tested, mixed; see
# tlcore.claims.categories), then the states of a claim without a verdict.
VERDICTS = ("supported", "not supported", "inconclusive", "not tested", "mixed", "planned", "not run", "stale")


@dataclass(frozen=True)
class Verdict:
    claim: str
    verdict: str
    key_number: float | None = None
    key_label: str = ""
    detail: str = ""
    numbers: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}; choose one of {VERDICTS}")


Rule = Callable[[Callable[[str], pd.DataFrame]], Verdict]


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    statement: str
    experiment: str
    chapter: str | None = None
    tables: tuple[str, ...] = ()
    rule: Rule | None = None
    rule_text: str = ""
    primary: Primary | None = None  # the declared primary test; its category is the verdict

    @property
    def status(self) -> str:
        return "implemented" if self.rule is not None else "planned"


CLAIMS: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    if claim.id in CLAIMS:
        raise ValueError(f"claim {claim.id} is registered twice")
    CLAIMS[claim.id] = claim
    return claim


def verdict(claim_id: str, tables: Callable[[str], pd.DataFrame] | None = None) -> Verdict:
    """Apply claim ``claim_id``'s rule to the saved result tables (or to ``tables``, a name -> frame function)."""
    if claim_id not in CLAIMS:
        raise KeyError(f"unknown claim {claim_id!r}; known: {', '.join(CLAIMS)}")
    claim = CLAIMS[claim_id]
    if claim.rule is None:
        return Verdict(claim_id, "planned", detail="no chapter tests this claim yet")
    if tables is None:
        missing = [name for name in claim.tables if not has_table(name)]
        if missing:
            return Verdict(claim_id, "not run", detail=f"result tables missing: {', '.join(missing)}")
        stale = stale_reasons(claim.tables)
        if stale:
            return Verdict(claim_id, "stale", detail=f"not judged, its tables are stale ({'; '.join(stale)}): "
                                                     f"execute chapter {claim.chapter} again")
        tables = load_table
    gaps = [reason for name in claim.tables if (reason := _gap(tables, name))]
    if gaps:
        return Verdict(claim_id, "not tested", detail=f"Not tested in this tier: {'; '.join(dict.fromkeys(gaps))}.")
    secondary = claim.rule(tables)
    if claim.primary is None:
        return secondary
    row = primary_row(claim.id, claim.primary, tables, family_size(primaries()))
    return Verdict(claim.id, row["category"], secondary.key_number, secondary.key_label,
                   f"Primary test: {row['reason']}. Secondary checks ({secondary.verdict} by the descriptive rule): "
                   f"{secondary.detail}",
                   {**secondary.numbers, "primary": row, "secondary_verdict": secondary.verdict})


def _gap(tables: Callable[[str], pd.DataFrame], name: str) -> str | None:
    try:
        return tier_gap(tables(name))
    except (FileNotFoundError, KeyError):  # a rule given only some tables (tests) reads the ones it needs
        return None


def primaries() -> dict[str, Primary]:
    """Every claim's declared primary test: the family the p-values are adjusted over."""
    return {claim.id: claim.primary for claim in CLAIMS.values() if claim.primary is not None}


def claims_frame(with_verdicts: bool = True) -> pd.DataFrame:
    """One row per claim: ID, section, statement, chapter, rule, and (optionally) the verdict and its key number."""
    rows = []
    for claim in CLAIMS.values():
        row = {"id": claim.id, "section": claim.section, "statement": claim.statement, "chapter": claim.chapter,
               "status": claim.status, "rule": claim.rule_text}
        if with_verdicts:
            result = verdict(claim.id)
            primary = result.numbers.get("primary", {}) if isinstance(result.numbers, dict) else {}
            row.update({"verdict": result.verdict, "key_number": result.key_number, "key_label": result.key_label,
                        "detail": result.detail,
                        **{f"primary_{k}": primary.get(k) for k in ("quantity", "effect", "low", "high", "unit",
                                                                    "n", "p_value", "p_adjusted")}})
        rows.append(row)
    return pd.DataFrame(rows)


def rule_calibration(*, seeds=(3, 5, 10), n_sim: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Every declared primary test simulated under no effect and at its smallest effect of interest (see
    :func:`tlcore.claims.primary.calibration`), with the standard deviation of the paired differences measured in
    the saved result tables where they exist (else the smallest effect of interest): columns claim,
    false_supported_rate, power, seeds, then the details."""
    family, sds = primaries(), {}
    for claim_id, primary in family.items():
        if all(has_table(name) for name in CLAIMS[claim_id].tables):
            try:
                values = np.asarray(primary.differences(load_table), dtype=float)
            except (KeyError, ValueError, IndexError):
                continue
            if values.size >= 2 and np.isfinite(values).all() and values.std(ddof=1) > 0:
                sds[claim_id] = float(values.std(ddof=1))
    frame = calibration(family, sds=sds, seeds=seeds, n_sim=n_sim, seed=seed)
    frame.insert(frame.columns.get_loc("sd") + 1, "sd_measured", frame["claim"].isin(sds))
    return frame
