"""Primary tests (issue 14) of chapter 6's claims T9, H1, H3, H4, H5 and M3; :mod:`tlcore.claims.hyperparameters`
imports ``PRIMARY``.

A diverged run scores chance, as in the rules (a learning rate that blows up is the worst point of a grid). Pairs are
runs sharing a seed (training sample, head initialisation, batch order). For H1 and M3 the per-seed statistic is a
rank correlation across targets in which each target's optimum is chosen on that seed's validation accuracy; it is
tested against 0. The rules of :mod:`tlcore.claims.hyperparameters` stay as the secondary checks.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.grids import grid_spread, optimum, rank_correlation, score_diverged
from ..studies.hyperparameters import TABLES
from .primary import Primary, collapsed_runs, describe_runs, seed_means, similarity_by_target
from .primary_test import PrimaryTest
from .stats import paired_difference

GRID, SIMILARITY, SCHEDULE = TABLES["grid"], TABLES["similarity"], TABLES["schedule"]
MIXUP, BIT, PROBE_GAP = TABLES["mixup"], TABLES["bit"], TABLES["probe_gap"]
GRID_CELL = ["target", "n_per_class", "protocol_lr", "protocol_momentum"]
HEADROOM = 0.02  # "target below its ceiling": the control arm's mean test accuracy leaves at least 2 points to gain
MIN_TARGETS = 3  # a rank correlation across two targets is always +-1
PAIRING = "runs sharing a seed (training sample, head initialisation, batch order)"


def _no_collapsed(name: str, by: list[str], where=lambda runs: runs):
    """Precondition check: no run of table ``name`` (restricted by ``where``) far below its siblings of ``by``."""
    def check(tables) -> dict[str, str]:
        collapsed = collapsed_runs(where(score_diverged(tables(name))), by)
        if not len(collapsed):
            return {}
        return {"no collapsed run": f"{len(collapsed)} run(s) ended over 30 points below the other seeds of their "
                                    "cell: " + describe_runs(collapsed, by)}
    return check


def _both(*checks):
    def check(tables) -> dict[str, str]:
        return {name: why for one in checks for name, why in one(tables).items()}
    return check


# --- T9 -------------------------------------------------------------------------------------------------------

def t9_differences(tables) -> np.ndarray:
    spread = grid_spread(score_diverged(tables(GRID)))
    rows = []
    for target, runs in spread.groupby("target"):
        small, large = runs.n_per_class.min(), runs.n_per_class.max()
        if small < large:
            wide = runs.pivot(index="seed", columns="n_per_class", values="spread")
            rows.append(pd.DataFrame({"seed": wide.index, "d": (wide[small] - wide[large]).to_numpy()}))
    d = pd.concat(rows, ignore_index=True).dropna() if rows else pd.DataFrame({"seed": [], "d": []})
    return seed_means(d, "d", scale=100)


# --- H1 and M3: per-seed rank correlations with the seed's validation optimum --------------------------------------

def _at_smallest(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs.n_per_class == runs.n_per_class.min()]


def _smallest_grid(tables) -> pd.DataFrame:
    return _at_smallest(score_diverged(tables(GRID)))


def optimum_rhos(tables, x_of_seed) -> np.ndarray:
    """Per seed at the grid's smallest size: Spearman rho across targets between ``x_of_seed(seed)`` (a Series by
    target, or None to skip the seed) and the log effective learning rate of the seed's validation optimum."""
    rhos = []
    for seed, runs in _smallest_grid(tables).groupby("seed"):
        x = x_of_seed(seed)
        if x is not None:
            best = optimum(runs).set_index("target")["effective_lr"]
            rhos.append(rank_correlation(x, np.log(best)))
    return np.asarray(rhos, dtype=float)


def _similarity(tables) -> pd.Series:
    return similarity_by_target(tables(SIMILARITY))


def h1_differences(tables) -> np.ndarray:
    similarity = _similarity(tables)
    return optimum_rhos(tables, lambda seed: similarity)


def _gap_of(tables):
    gaps = tables(PROBE_GAP)
    return lambda seed: gaps[gaps.seed == seed].groupby("target")["gap"].mean() if (gaps.seed == seed).any() else None


def m3_differences(tables) -> np.ndarray:
    return optimum_rhos(tables, _gap_of(tables))


def _enough_targets(x_of):
    def check(tables) -> dict[str, str]:
        grid = _smallest_grid(tables)
        x = x_of(tables)
        common = sorted(set(grid.target) & set(x.index))
        if len(common) >= MIN_TARGETS:
            return {}
        return {"three or more targets": f"{len(common)} target(s) with both an optimum and a predictor: "
                                         f"{', '.join(map(str, common)) or 'none'}"}
    return check


# --- H3, H4, H5 ------------------------------------------------------------------------------------------------

def h3_differences(tables) -> np.ndarray:
    schedule = score_diverged(tables(SCHEDULE))
    d = paired_difference(schedule, by=["target", "n_per_class"], column="test_accuracy", arm="protocol_steps",
                          treated=schedule.protocol_steps.min(), control=schedule.protocol_steps.max(), value="d")
    wide = d.pivot_table(index=["target", "seed"], columns="n_per_class", values="d")
    interaction = (wide[d.n_per_class.min()] - wide[d.n_per_class.max()]).dropna().rename("i").reset_index()
    return seed_means(interaction, "i", scale=100)


def _mid(mixup: pd.DataFrame) -> pd.DataFrame:
    sizes = sorted(mixup.n_per_class.unique())
    return mixup[mixup.n_per_class == sizes[len(sizes) // 2]]


def h4_differences(tables) -> np.ndarray:
    mixup = _mid(score_diverged(tables(MIXUP)))
    gains = paired_difference(mixup, by=["target", "n_per_class"], column="test_accuracy",
                              arm="protocol_mixup_alpha", treated=mixup.protocol_mixup_alpha.max(), control=0.0,
                              value="gain")
    return seed_means(gains, "gain", scale=100)


def _h4_checks(tables) -> dict[str, str]:
    mixup, failed = score_diverged(tables(MIXUP)), {}
    sizes = sorted(mixup.n_per_class.unique())
    if len(sizes) < 3:
        failed["a mid size"] = (f"MixUp was run at {len(sizes)} size(s) ({', '.join(map(str, sizes))}): none lies "
                                "between two others")
    mid = _mid(mixup)
    plain = mid[mid.protocol_mixup_alpha == 0]["test_accuracy"].mean()
    if plain > 1 - HEADROOM:
        failed["target below its ceiling"] = (f"plain fine-tuning reaches {100 * plain:.1f}% at "
                                              f"{mid.n_per_class.iloc[0]}/class: less than {100 * HEADROOM:.0f} "
                                              "points left to gain")
    return {**failed, **_no_collapsed(MIXUP, ["target", "n_per_class", "protocol_mixup_alpha"], _mid)(tables)}


def h5_differences(tables) -> np.ndarray:
    bit = score_diverged(tables(BIT))
    default = bit[(bit.recipe == "grid") & bit.bit_default.eq(True)].groupby("seed")["test_accuracy"].mean()
    tuned = bit[bit.recipe == "tuned_reference"].groupby("seed")["test_accuracy"].mean()
    return ((tuned - default).dropna().sort_index() * 100).to_numpy()


def _declare(quantity, direction, sesoi, differences, preconditions, names, unit="points") -> Primary:
    return Primary(PrimaryTest(quantity, direction, sesoi, method="t", unit=unit, pairing=PAIRING,
                               preconditions=names), differences, preconditions)


COLLAPSE, TARGETS = ("no collapsed run",), ("three or more targets",)
PRIMARY = {
    # SESOI 2 points: a range over the grid that grows by less than two points as the target shrinks would not
    # change how carefully a practitioner tunes.
    "T9": _declare("spread (max - min) of test accuracy over the learning-rate x momentum grid at the smallest size "
                   "minus at the largest, per seed averaged over the targets run at both", "greater", 2.0,
                   t9_differences, _no_collapsed(GRID, GRID_CELL), COLLAPSE),
    # SESOI 0.2 (H1 and M3): with four targets one step of Spearman's rho; a weaker association cannot guide the
    # choice of learning rate.
    "H1": _declare("Spearman rho across targets between measured similarity and the log effective learning rate "
                   "of the seed's validation optimum at the smallest size, per seed", "less", 0.2, h1_differences,
                   _both(_no_collapsed(GRID, GRID_CELL, _at_smallest),
                         _enough_targets(_similarity)), COLLAPSE + TARGETS, unit=""),
    "M3": _declare("Spearman rho across targets between the seed's quick-fine-tune minus linear-probe validation "
                   "gap and the log effective learning rate of the seed's validation optimum at the smallest size, "
                   "per seed", "greater", 0.2, m3_differences,
                   _both(_no_collapsed(GRID, GRID_CELL, _at_smallest),
                         _enough_targets(lambda tables: tables(PROBE_GAP).groupby("target")["gap"].mean())),
                   COLLAPSE + TARGETS, unit=""),
    # SESOI 1 point: a size-dependent schedule is worth adopting for a one-point difference in what it changes.
    "H3": _declare("interaction: (short minus long schedule test accuracy) at the smallest size minus the same at "
                   "the largest, per seed averaged over targets (short >= long at the smallest size is a secondary "
                   "check)", "greater", 1.0, h3_differences,
                   _no_collapsed(SCHEDULE, ["target", "n_per_class", "protocol_steps"]), COLLAPSE),
    # SESOI 1 point: the usual scale of a fine-tuning trick's gain.
    "H4": _declare("test accuracy with MixUp minus without at the mid size, per seed averaged over targets (that it "
                   "helps at the mid size only is a secondary check)", "greater", 1.0, h4_differences, _h4_checks,
                   ("a mid size", "target below its ceiling") + COLLAPSE),
    # SESOI 5 points: "far from optimal" (the rule's FAR_FROM_OPTIMAL).
    "H5": _declare("test accuracy of the tuned recipe (chapter 1's) minus the BiT default recipe on the far target, "
                   "per seed (that the validation-selected larger learning rate and longer schedule recover the gap "
                   "is a secondary check)", "greater", 5.0, h5_differences,
                   _no_collapsed(BIT, ["recipe", "protocol_lr", "schedule"]), COLLAPSE),
}
