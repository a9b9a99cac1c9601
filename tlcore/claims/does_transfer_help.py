"""Verdict rules of chapter 1, "Does transfer help?" (claims T1, T7, T8).

Tables (written by the chapter):
- ``transfer_grid``: one row per run: target, n_per_class, init ("pretrained" | "scratch"), seed, test_accuracy.
- ``transfer_curves``: one row per validation point: target, n_per_class, init, seed, step, val_accuracy.
- ``target_similarity``: one row per (target, seed): similarity (probe gain, see tlcore.analysis.probes).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..studies.does_transfer_help import TABLES as STUDY_TABLES
from .ladder import ladder
from .primary import Primary, collapsed_runs, describe_runs, seed_means, similarity_by_target
from .primary_test import PrimaryTest
from .registry import Verdict
from .stats import bootstrap_ci, paired_difference, summarise

GRID, CURVES, SIMILARITY = STUDY_TABLES["grid"], STUDY_TABLES["curves"], STUDY_TABLES["similarity"]


def transfer_gains(grid):
    """Per (target, n_per_class, seed): test accuracy of the pretrained start minus the scratch start."""
    return paired_difference(grid, by=["target", "n_per_class"], column="test_accuracy", arm="init",
                             treated="pretrained", control="scratch", value="gain")


def at_largest_size(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` at each target's largest ``n_per_class`` (targets may run at different sizes)."""
    return frame[frame["n_per_class"] == frame.groupby("target")["n_per_class"].transform("max")]


def rule_t1(tables) -> Verdict:
    """Supported when (a) the grid-mean gain's 95% bootstrap interval over seeds lies above 0, (b) the gain at the
    smallest size exceeds the gain at the largest size for at least 3 of every 4 targets, and (c) across targets the
    gain rises with measured similarity (Spearman rho > 0, averaged over sizes). Not supported when (a) fails;
    mixed when (a) holds and (b) or (c) does not."""
    gains = transfer_gains(tables(GRID))
    similarity = similarity_by_target(tables(SIMILARITY))
    overall = bootstrap_ci(gains.groupby("seed")["gain"].mean().to_numpy())
    cells = summarise(gains, by=["target", "n_per_class"], value="gain")
    # the sizes every target runs at (a target may have more: chapter 1's extra sizes); each target's largest
    sizes = sorted(set.intersection(*(set(c.n_per_class) for _, c in cells.groupby("target"))))
    by_target = cells.pivot(index="target", columns="n_per_class", values="mean")
    at_largest = at_largest_size(cells).set_index("target")
    largest = at_largest["n_per_class"]
    shrinks = by_target[sizes[0]] > at_largest["mean"].reindex(by_target.index)
    rhos = [spearmanr(similarity.reindex(by_target.index), by_target[n]).statistic for n in sizes]
    rho = float(np.nanmean(rhos))
    size_range = (f"from {sizes[0]} to {largest.iloc[0]} per class" if largest.nunique() == 1 else
                  f"from {sizes[0]} per class to each target's largest size")
    helps, size_trend, similarity_trend = overall[1] > 0, shrinks.mean() >= 0.75, rho > 0
    verdict = ladder(helps and size_trend and similarity_trend, mixed=helps)
    small = cells[cells.n_per_class == sizes[0]]["mean"].mean()
    return Verdict(
        "T1", verdict, round(100 * small, 1), f"mean gain at {sizes[0]}/class (points)",
        f"grid-mean gain {100 * overall[0]:+.1f} points (95% CI {100 * overall[1]:+.1f} to {100 * overall[2]:+.1f}); "
        f"gain shrinks {size_range} for {int(shrinks.sum())}/{len(shrinks)} targets; "
        f"Spearman rho(similarity, gain) averaged over sizes = {rho:+.2f}.",
        {"overall": overall, "rho_by_size": dict(zip(map(int, sizes), map(float, rhos))),
         "shrinking_targets": list(shrinks[shrinks].index)},
    )


def rule_t7(tables) -> Verdict:
    """NTG = error(pretrained) - error(scratch) = acc(scratch) - acc(pretrained), per cell, over seeds. The claim
    predicts NTG > 0 for the two targets least similar to the source, each at its largest size. Supported when such
    a cell has NTG whose 95% interval lies above 0; mixed when NTG > 0 on average somewhere but not so in that
    quadrant; not supported when NTG <= 0 on average in every cell (no negative transfer at this scale)."""
    gains = transfer_gains(tables(GRID))
    gains["ntg"] = -gains["gain"]
    cells = summarise(gains, by=["target", "n_per_class"], value="ntg")
    similarity = similarity_by_target(tables(SIMILARITY)).sort_values()
    dissimilar = list(similarity.index[:2])
    quadrant = at_largest_size(cells[cells.target.isin(dissimilar)])
    largest = "/".join(map(str, sorted(set(quadrant.n_per_class))))
    worst = cells.loc[cells["mean"].idxmax()]
    verdict = ladder((quadrant["low"] > 0).any(), mixed=(cells["mean"] > 0).any())
    return Verdict(
        "T7", verdict, round(100 * float(quadrant["mean"].max()), 1),
        f"largest NTG, dissimilar targets at {largest}/class (points)",
        f"predicted quadrant: {', '.join(dissimilar)} at {largest}/class, NTG "
        + ", ".join(f"{r.target} {100 * r['mean']:+.1f} [{100 * r.low:+.1f}, {100 * r.high:+.1f}]"
                    for _, r in quadrant.iterrows())
        + f"; largest NTG anywhere {100 * worst['mean']:+.1f} points ({worst.target}, {int(worst.n_per_class)}/class).",
        {"cells": cells.to_dict("records")},
    )


def steps_to_reach(curve, threshold: float, never: float) -> float:
    """First step at which a validation curve reaches ``threshold``; ``never`` if it does not."""
    reached = curve[curve["val_accuracy"] >= threshold]
    return float(reached["step"].min()) if len(reached) else never


def least_similar(tables) -> str:
    """The target least similar to the source (chapter 1's similarity table): where T8 looks."""
    return str(similarity_by_target(tables(SIMILARITY)).idxmin())


def rule_t8(tables, target: str | None = None) -> Verdict:
    """On ``target`` (None: the least similar one) at the largest size: the fixed accuracy is 90% of the scratch
    runs' best validation accuracy (mean over seeds). Supported when the paired difference steps(scratch) -
    steps(pretrained) to reach it has a 95% interval above 0; mixed when positive on average only; not supported
    otherwise. The final-accuracy gain at the same cell is reported beside it (the claim is about the case where
    that gain is small)."""
    target = target or least_similar(tables)
    curves = tables(CURVES)
    curves = curves[curves.target == target]
    largest = curves["n_per_class"].max()
    curves = curves[curves.n_per_class == largest]
    best = curves.groupby(["init", "seed"])["val_accuracy"].max()
    threshold = 0.9 * best["scratch"].mean()
    never = float(curves["step"].max()) * 2
    steps = {(init, seed): steps_to_reach(run, threshold, never) for (init, seed), run in curves.groupby(["init", "seed"])}
    seeds = sorted({seed for _, seed in steps})
    saved = np.array([steps[("scratch", s)] - steps[("pretrained", s)] for s in seeds])
    mean, low, high = bootstrap_ci(saved)
    verdict = ladder(low > 0, mixed=mean > 0)
    ratio = np.mean([steps[("scratch", s)] for s in seeds]) / np.mean([steps[("pretrained", s)] for s in seeds])
    final = transfer_gains(tables(GRID))
    final = final[(final.target == target) & (final.n_per_class == largest)]["gain"]
    final_ci = bootstrap_ci(final.to_numpy())
    return Verdict(
        "T8", verdict, round(float(ratio), 2), "steps(scratch) / steps(pretrained) to the fixed accuracy",
        f"{target} at {largest}/class, fixed accuracy {threshold:.3f}: pretrained saves {mean:.0f} steps "
        f"(95% CI {low:.0f} to {high:.0f}); final test-accuracy gain there {100 * final_ci[0]:+.1f} points "
        f"(95% CI {100 * final_ci[1]:+.1f} to {100 * final_ci[2]:+.1f}).",
        {"threshold": threshold, "steps": {f"{k[0]}/{k[1]}": v for k, v in steps.items()}, "final_gain": final_ci},
    )


# ------------------------------------------------------------------------------------------ primary tests (issue 14)

def _no_collapsed_run(tables) -> dict[str, str]:
    collapsed = collapsed_runs(tables(GRID), ["target", "n_per_class", "init"])
    return {"no collapsed run": describe_runs(collapsed, ["target", "n_per_class", "init"])} if len(collapsed) else {}


def _t7_differences(tables):
    gains = transfer_gains(tables(GRID))
    dissimilar = list(similarity_by_target(tables(SIMILARITY)).sort_values().index[:2])
    cell = at_largest_size(gains[gains.target.isin(dissimilar)])
    return seed_means(cell.assign(ntg=-cell["gain"]), "ntg", scale=100)


def _t8_differences(tables, target: str | None = None):
    target = target or least_similar(tables)
    curves = tables(CURVES)
    curves = curves[(curves.target == target)]
    curves = curves[curves.n_per_class == curves.n_per_class.max()]
    threshold = 0.9 * curves.groupby(["init", "seed"])["val_accuracy"].max()["scratch"].mean()
    never = float(curves["step"].max()) * 2
    steps = {key: steps_to_reach(run, threshold, never) for key, run in curves.groupby(["init", "seed"])}
    return np.array([steps["scratch", s] - steps["pretrained", s] for s in sorted({s for _, s in steps})])


PRIMARY = {
    "T1": Primary(
        PrimaryTest("test accuracy of the pretrained start minus the scratch start, per seed averaged over every "
                    "target and size", "greater", 2.0, method="t", unit="points",
                    pairing="runs sharing a seed (training sample, classifier initialisation, batch order)",
                    preconditions=("no collapsed run",)),
        lambda tables: seed_means(transfer_gains(tables(GRID)), "gain", scale=100), _no_collapsed_run),
    "T7": Primary(
        PrimaryTest("negative transfer gap (scratch minus pretrained test accuracy) on the two targets least "
                    "similar to the source, each at its largest size, per seed", "greater", 1.0, method="t",
                    unit="points", pairing="runs sharing a seed", preconditions=("no collapsed run",)),
        _t7_differences, _no_collapsed_run),
    "T8": Primary(
        PrimaryTest("training steps the scratch start needs minus those the pretrained start needs to reach 90% of "
                    "scratch's best validation accuracy, on the far target at the largest size, per seed",
                    "greater", 25.0, method="t", unit="steps", pairing="runs sharing a seed",
                    preconditions=("no collapsed run",)),
        _t8_differences, _no_collapsed_run),
}
