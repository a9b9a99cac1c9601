"""Each claim's primary test as the registry declares it (:class:`Primary`): the :class:`PrimaryTest` (quantity,
claimed direction, smallest effect of interest, method, preconditions) and how its per-seed paired differences are
read from the chapter's result tables. :func:`primary_row` runs it; the verdict category comes from it.

Multiplicity: Bonferroni over the family of every claim with a declared primary test (``m``, fixed by the
registry): adjusted p = min(1, m * p). Holm's step-down is uniformly a little more powerful, but its adjusted p for
one claim depends on every other claim's p-value, so a chapter executed alone (or before the others, as the book
executes chapters side by side) would publish a different verdict from the full book, and re-running one chapter
could change another's verdict. With Bonferroni a claim's verdict depends on its own data and the registry only; for
the smallest p-value of the family the two coincide. The guarantee is the same: the chance of any false "supported"
among all the claims is at most alpha (family-wise, under any dependence).

:func:`calibration` measures, by simulation, each declared test's false "supported" rate under no effect and its
power at the smallest effect of interest, both for the family-adjusted decision the book publishes.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .calibration import draw_differences, mc_se
from .categories import category, decide
from .paired import paired_test, paired_tests
from .primary_test import PrimaryTest

Tables = Callable[[str], pd.DataFrame]


@dataclass(frozen=True)
class Primary:
    """A claim's declared primary test and where its data come from.

    test: the :class:`PrimaryTest`.
    differences: tables -> the per-seed paired differences (1-D, one per seed, in ``test``'s units, treated arm
        minus control arm, arms sharing the seed), e.g. averaged over the claim's targets and sizes.
    preconditions: tables -> {declared precondition name: reason with numbers} for each precondition that FAILED
        (empty when all hold); a failed one makes the claim "not tested".
    """

    test: PrimaryTest
    differences: Callable[[Tables], object]
    preconditions: Callable[[Tables], Mapping[str, str]] = field(default=lambda tables: {})


def family_size(primaries: Mapping[str, Primary]) -> int:
    return max(1, len(primaries))


def primary_row(claim_id: str, primary: Primary, tables: Tables, m: int) -> dict:
    """Run ``primary`` on ``tables``: one dict with the declaration, the test's numbers, the raw and the
    Bonferroni-adjusted p-value (family of ``m``), the category and its reason."""
    test = primary.test
    row = {"claim": claim_id, "quantity": test.quantity, "direction": test.direction,
           "smallest_effect": test.smallest_effect, "unit": test.unit, "method": test.method, "family_size": m,
           "n": 0, "effect": np.nan, "low": np.nan, "high": np.nan, "p_value": np.nan, "p_adjusted": np.nan}
    failed = dict(primary.preconditions(tables))
    unknown = sorted(set(failed) - set(test.preconditions))
    if unknown:
        raise ValueError(f"{claim_id}: precondition(s) {unknown} are not declared in its PrimaryTest")
    differences = np.asarray(primary.differences(tables), dtype=float).ravel()
    if failed:
        verdict = "not tested"
        reason = "precondition failed: " + "; ".join(f"{name} ({why})" for name, why in failed.items())
    elif differences.size < 2 or not np.isfinite(differences).all():
        verdict, reason = "not tested", (f"{differences.size} paired differences ({np.isnan(differences).sum()} "
                                         "missing): the test needs at least two finite ones")
    else:
        result = paired_test(differences, test)
        adjusted = min(1.0, m * result.p_value)
        verdict, reason = category(result, adjusted, test, family_size=m)
        row.update(n=result.n, effect=result.effect, low=result.low, high=result.high, p_value=result.p_value,
                   p_adjusted=adjusted)
    return {**row, "category": verdict, "reason": reason}


def calibration(primaries: Mapping[str, Primary], *, sds: Mapping[str, float] | None = None, seeds=(3, 5, 10),
                n_sim: int = 4000, seed: int = 0, noise: str = "normal") -> pd.DataFrame:
    """Per claim and seed count: the false "supported" rate of its published (Bonferroni-adjusted) decision under no
    effect, and its power at the smallest effect of interest, by simulation of ``n_sim`` synthetic claims whose
    paired differences have standard deviation ``sds[claim]`` (default: the smallest effect of interest). Also the
    one-claim (unadjusted) rates. Columns: claim, false_supported_rate, power, seeds, mc_se,
    false_supported_rate_alone, power_alone, sd, smallest_effect, method, family_size, n_sim, noise."""
    m = family_size(primaries)
    streams = iter(np.random.SeedSequence(seed).spawn(2 * len(primaries) * len(seeds)))
    rows = []
    for claim_id, primary in primaries.items():
        test = primary.test
        sd = float((sds or {}).get(claim_id, test.smallest_effect))
        for n in seeds:
            rates = {}
            for name, effect in (("false", 0.0), ("power", test.sign * test.smallest_effect)):
                sample = draw_differences(n_sim, n, effect=effect, sd=sd, noise=noise, seed=next(streams))
                out = paired_tests(sample, test)
                adjusted = np.minimum(1.0, m * out["p_value"])
                rates[name] = np.mean(decide(out["p_value"], out["p_opposite"], out["low"], out["high"], test,
                                             adjusted) == "supported")
                rates[f"{name}_alone"] = np.mean(decide(out["p_value"], out["p_opposite"], out["low"], out["high"],
                                                        test) == "supported")
            rows.append({"claim": claim_id, "false_supported_rate": float(rates["false"]),
                         "power": float(rates["power"]), "seeds": n, "mc_se": mc_se(float(rates["false_alone"]), n_sim),
                         "false_supported_rate_alone": float(rates["false_alone"]),
                         "power_alone": float(rates["power_alone"]), "sd": sd, "smallest_effect": test.smallest_effect,
                         "method": test.method, "family_size": m, "n_sim": n_sim, "noise": noise})
    return pd.DataFrame(rows)


def seed_means(frame: pd.DataFrame, value: str, *, scale: float = 1.0) -> np.ndarray:
    """The per-seed paired differences of a tidy frame of differences (one row per cell x seed): the mean of
    ``value`` over the cells of each seed, times ``scale`` (100 turns accuracy into points), in seed order."""
    return (frame.groupby("seed")[value].mean().sort_index() * scale).to_numpy()


def collapsed_runs(runs: pd.DataFrame, by: list[str], *, column: str = "test_accuracy", drop: float = 0.3
                   ) -> pd.DataFrame:
    """Runs that ended far below their siblings: ``column`` more than ``drop`` below the median of the other seeds'
    runs of the same ``by`` cell (a failed run, not a result: it must not be averaged into a verdict)."""
    flagged = []
    for _, cell in runs.groupby(by):
        values = cell[column].to_numpy(dtype=float)
        for position, (index, value) in enumerate(zip(cell.index, values)):
            others = np.delete(values, position)
            if others.size and np.isfinite(value) and value < np.nanmedian(others) - drop:
                flagged.append(index)
    return runs.loc[flagged]


def describe_runs(runs: pd.DataFrame, columns: list[str], *, column: str = "test_accuracy", limit: int = 3) -> str:
    """A short listing of ``runs`` for a reason: "<cells> seed s (accuracy a)", the first ``limit``."""
    shown = [", ".join(str(row[c]) for c in columns) + f" seed {row['seed']} ({row[column]:.3f})"
             for _, row in runs.head(limit).iterrows()]
    return "; ".join(shown) + (f"; and {len(runs) - limit} more" if len(runs) > limit else "")


def similarity_by_target(frame: pd.DataFrame) -> pd.Series:
    """How similar each target is to the source, for a claim's x-axis: the image-statistics similarity
    (:mod:`tlcore.analysis.similarity`, computed from neither the models nor the outcomes) where the table has it,
    else the probe gain (the real tier, where no source images are at hand). Mean per target."""
    column = "image_similarity" if "image_similarity" in frame and frame["image_similarity"].notna().all() \
        else "similarity"
    return frame.groupby("target")[column].mean()
