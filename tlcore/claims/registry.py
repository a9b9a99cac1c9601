"""The claims registry: every claim of the survey, the experiment that tests it, and the rule that judges it.

Each rule is code written before its experiment runs. It reads the result tables the chapter saved and returns a
:class:`Verdict`; nothing here is typed in by hand. Claims whose chapter does not exist yet are ``planned``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from ..results.tables import has_table, load_table

VERDICTS = ("supported", "not supported", "mixed", "planned", "not run")


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
        tables = load_table
    return claim.rule(tables)


def claims_frame(with_verdicts: bool = True) -> pd.DataFrame:
    """One row per claim: ID, section, statement, chapter, rule, and (optionally) the verdict and its key number."""
    rows = []
    for claim in CLAIMS.values():
        row = {"id": claim.id, "section": claim.section, "statement": claim.statement, "chapter": claim.chapter,
               "status": claim.status, "rule": claim.rule_text}
        if with_verdicts:
            result = verdict(claim.id)
            row.update({"verdict": result.verdict, "key_number": result.key_number, "key_label": result.key_label,
                        "detail": result.detail})
        rows.append(row)
    return pd.DataFrame(rows)
