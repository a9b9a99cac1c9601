"""Verdict rule of chapter 10, "Best practice" (claim B1).

Table (written by the chapter, see :func:`tlcore.studies.best_practice.evaluate_advice`):
- ``advice_leaderboard``: one row per (target, n_per_class, recipe, seed): rival (which of the declared rivals,
  :data:`tlcore.studies.best_practice.RIVALS`), quadrant, val_accuracy, test_accuracy, and ``advised`` (True for the
  advisor's recipe in that cell). Every recipe has every seed.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..advisor import QUADRANTS
from ..studies.best_practice import TABLES as STUDY_TABLES
from .ladder import ladder
from .primary import Primary, collapsed_runs, describe_runs, seed_means
from .primary_test import PrimaryTest
from .registry import Verdict
from .stats import bootstrap_ci

LEADERBOARD = STUDY_TABLES["leaderboard"]
NEAR_POINTS = 0.01  # "near the best": within one point of test accuracy


def cell_standing(cell: pd.DataFrame) -> dict:
    """Rank of the advised recipe in one cell, its gap to the best recipe (mean over seeds, with a bootstrap
    interval over the seeds both share) and whether it is at or near the best."""
    means = cell.groupby("recipe")["test_accuracy"].mean().sort_values(ascending=False)
    advised = cell.loc[cell["advised"].astype(bool), "recipe"].unique()
    if len(advised) != 1:
        raise ValueError(f"a cell needs exactly one advised recipe, found {len(advised)}")
    rank = int((means > means[advised[0]]).sum()) + 1  # ties share a rank
    best = means.index[0]
    per_seed = cell.pivot_table(index="seed", columns="recipe", values="test_accuracy")
    gaps = (per_seed[best] - per_seed[advised[0]]).dropna().to_numpy()
    gap, low, high = bootstrap_ci(gaps)
    near = gap <= NEAR_POINTS or rank <= math.ceil(len(means) / 4)
    return {"rank": rank, "n_recipes": len(means), "gap": gap, "gap_low": low, "gap_high": high, "near_best": near}


def rule_b1(tables) -> Verdict:
    """In each (target, size) cell the advisor places in a quadrant, its recipe is "at or near the best" when its mean
    test accuracy over seeds is within 1 point of the best of the declared rivals there, or it ranks in the top
    quarter of them. Supported when that holds in every cell; mixed when it holds in at least half of the cells; not
    supported otherwise."""
    board = tables(LEADERBOARD)
    rows = []
    for (target, n, where), cell in board.groupby(["target", "n_per_class", "quadrant"], sort=False):
        rows.append({"target": target, "n_per_class": n, "quadrant": where, **cell_standing(cell)})
    cells = pd.DataFrame(rows)
    share = float(cells["near_best"].mean())
    verdict = ladder(share == 1, mixed=share >= 0.5)
    detail = "; ".join(f"{r.quadrant} ({r.target}, {r.n_per_class}/class): rank {r.rank}/{r.n_recipes}, "
                       f"{100 * r.gap:.1f} points below the best [{100 * r.gap_low:.1f}, {100 * r.gap_high:.1f}]"
                       for r in cells.itertuples())
    return Verdict("B1", verdict, round(share, 2), "share of cells where the advice is at or near the best",
                   detail + ".", {"cells": cells.to_dict("records"),
                                  "mean_gap_points": float(np.round(100 * cells["gap"].mean(), 2))})


# ------------------------------------------------------------------------------------------ primary tests (issue 14)

def compared_runs(board: pd.DataFrame) -> pd.DataFrame:
    """Per (target, size, quadrant) cell, the runs of the advised recipe and of its best rival: among the cell's
    other recipes, the one with the highest mean VALIDATION accuracy over seeds (never chosen on test). Column
    ``arm`` is "advised" or "rival"; a cell without exactly one advised recipe and a rival is left out."""
    chosen = [board.iloc[:0].assign(arm=pd.Series(dtype=object))]
    for _, cell in board.groupby(["target", "n_per_class", "quadrant"], sort=False):
        advised = cell[cell["advised"].astype(bool)]
        rivals = cell[~cell["advised"].astype(bool)]
        if advised["recipe"].nunique() != 1 or rivals.empty:
            continue
        best = rivals.groupby("recipe", sort=False)["val_accuracy"].mean().idxmax()
        chosen += [advised.assign(arm="advised"), rivals[rivals.recipe == best].assign(arm="rival")]
    return pd.concat(chosen, ignore_index=True)


def _b1_differences(tables):
    """Per seed: advised minus best rival test accuracy (points), mean over the cells."""
    runs = compared_runs(tables(LEADERBOARD))
    if runs.empty:
        return np.array([])
    wide = runs.pivot_table(index=["target", "n_per_class", "seed"], columns="arm", values="test_accuracy")
    return seed_means((wide["advised"] - wide["rival"]).rename("d").dropna().reset_index(), "d", scale=100)


def _b1_preconditions(tables) -> dict[str, str]:
    """Every quadrant of the advisor has a cell with the advised recipe and a rival; no compared run collapsed."""
    runs, failed = compared_runs(tables(LEADERBOARD)), {}
    missing = [q for q in QUADRANTS if q not in set(runs["quadrant"])]
    if missing:
        failed["every quadrant has runs"] = f"no cell with the advised recipe and a rival in {', '.join(missing)}"
    collapsed = collapsed_runs(runs, ["target", "n_per_class", "recipe"])
    if len(collapsed):
        failed["no collapsed run"] = describe_runs(collapsed, ["target", "n_per_class", "arm"])
    return failed


PRIMARY = {
    # "At or near the best" is a non-inferiority claim, which the categories cannot express (the null is no
    # difference, with no margin); the test asks whether the advice beats the best rival chosen on validation, and
    # "not supported" with an interval inside +-NEAR_POINTS reads as "near the best, not better". 1 point: the rule's
    # "near the best".
    "B1": Primary(PrimaryTest("test accuracy of the advised recipe minus the rival recipe with the best validation "
                              "accuracy in its cell, per seed averaged over the quadrants' cells", "greater",
                              100 * NEAR_POINTS, method="t", unit="points",
                              pairing="the advised and the rival recipe fine-tuned with the same seed in a cell",
                              preconditions=("every quadrant has runs", "no collapsed run")),
                  _b1_differences, _b1_preconditions),
}
