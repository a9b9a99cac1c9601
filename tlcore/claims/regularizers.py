"""Verdict rules of the chapter "Regularizers and normalisation" (claims R1-R4).

Tables (written by the chapter):
- ``regularizer_grid``: one run per row: target, n_per_class, regularizer ("none", "l2", "l2sp", "delta", "bss",
  "stochnorm"), seed, test_accuracy.
- ``regularizer_similarity``: target, seed, similarity (probe gain, see tlcore.analysis.similarity).
"""
from __future__ import annotations

from .registry import Verdict
from .stats import bootstrap_ci, paired_difference, summarise

GRID, SIMILARITY = "regularizer_grid", "regularizer_similarity"


def _difference(grid, treated: str, control: str):
    return paired_difference(grid, by=["target", "n_per_class"], column="test_accuracy", arm="regularizer",
                             treated=treated, control=control, value="gain")


def _by_similarity(tables) -> tuple[str, str]:
    """(most similar, least similar) target by measured probe gain."""
    order = tables(SIMILARITY).groupby("target")["similarity"].mean().sort_values(ascending=False)
    return order.index[0], order.index[-1]


def _target_gain(gains, target):
    """Mean over sizes of the gain, per seed, for one target -> (mean, low, high)."""
    return bootstrap_ci(gains[gains.target == target].groupby("seed")["gain"].mean().to_numpy())


def _similar_beats(tables, claim: str, treated: str, control: str) -> Verdict:
    gains = _difference(tables(GRID), treated, control)
    similar, dissimilar = _by_similarity(tables)
    near, far = _target_gain(gains, similar), _target_gain(gains, dissimilar)
    if near[1] > 0 and near[0] > far[0]:
        verdict = "supported"
    elif near[0] > 0:
        verdict = "mixed"
    else:
        verdict = "not supported"
    return Verdict(
        claim, verdict, round(100 * near[0], 2), f"{treated} - {control} on the similar target (points)",
        f"{treated} - {control}, mean over sizes: {similar} (similar) {100 * near[0]:+.2f} "
        f"[{100 * near[1]:+.2f}, {100 * near[2]:+.2f}], {dissimilar} (dissimilar) {100 * far[0]:+.2f} "
        f"[{100 * far[1]:+.2f}, {100 * far[2]:+.2f}] points.",
        {"similar": near, "dissimilar": far},
    )


def rule_r1(tables) -> Verdict:
    """d = accuracy(L2-SP) - accuracy(L2), per target averaged over sizes, 95% bootstrap over seeds. Supported when d
    on the most similar target has its interval above 0 and exceeds d on the least similar target; mixed when d > 0
    on the similar target only on average or not more than on the dissimilar one; not supported when d <= 0 there."""
    return _similar_beats(tables, "R1", "l2sp", "l2")


def rule_r2(tables) -> Verdict:
    """d = accuracy(DELTA) - accuracy(L2-SP), per target averaged over sizes, 95% bootstrap over seeds. Supported
    when d on the most similar target has its interval above 0 and exceeds d on the least similar target; mixed when
    d > 0 on the similar target only on average or not more than on the dissimilar one; not supported otherwise."""
    return _similar_beats(tables, "R2", "delta", "l2sp")


def rule_r3(tables) -> Verdict:
    """Three parts: (a) BSS never hurts significantly: no (target, size) cell where the 95% interval of
    accuracy(BSS) - accuracy(plain) lies below 0; (b) its gain at the smallest size is at least its gain at the
    largest size on every target; (c) mean accuracy over the grid orders BSS > DELTA > L2-SP. Supported when all
    three hold, mixed when (a) and one of (b), (c) hold, not supported otherwise."""
    grid = tables(GRID)
    gains = _difference(grid, "bss", "none")
    cells = summarise(gains, by=["target", "n_per_class"], value="gain")
    never_hurts = not (cells["high"] < 0).any()
    sizes = sorted(cells.n_per_class.unique())
    by_target = cells.pivot(index="target", columns="n_per_class", values="mean")
    small_most = bool((by_target[sizes[0]] >= by_target[sizes[-1]]).all())
    means = grid.groupby("regularizer")["test_accuracy"].mean()
    ordered = bool(means["bss"] > means["delta"] > means["l2sp"])
    parts = sum([small_most, ordered])
    verdict = "supported" if never_hurts and parts == 2 else ("mixed" if never_hurts and parts == 1 else
                                                               "not supported")
    return Verdict(
        "R3", verdict, round(100 * float(cells["mean"].mean()), 2), "mean gain of BSS over plain fine-tuning (points)",
        f"(a) never significantly hurts: {never_hurts} (worst cell {100 * cells['mean'].min():+.2f} points); "
        f"(b) gain largest at {sizes[0]}/class on every target: {small_most}; (c) mean accuracy BSS "
        f"{means['bss']:.3f}, DELTA {means['delta']:.3f}, L2-SP {means['l2sp']:.3f}: ordered {ordered}.",
        {"cells": cells.to_dict("records"), "means": means.to_dict()},
    )


def rule_r4(tables) -> Verdict:
    """d = accuracy(StochNorm) - accuracy(plain BatchNorm fine-tuning) at the smallest size, per target with a 95%
    bootstrap over seeds. Supported when d averaged over targets is > 0 and some target's interval lies above 0;
    mixed when the average is > 0 only; not supported otherwise."""
    gains = _difference(tables(GRID), "stochnorm", "none")
    smallest = gains.n_per_class.min()
    cells = summarise(gains[gains.n_per_class == smallest], by=["target"], value="gain")
    mean = float(cells["mean"].mean())
    verdict = "supported" if mean > 0 and (cells["low"] > 0).any() else ("mixed" if mean > 0 else "not supported")
    return Verdict(
        "R4", verdict, round(100 * mean, 2), f"StochNorm - BatchNorm at {smallest}/class (points)",
        "StochNorm - BatchNorm at the smallest size: " + ", ".join(
            f"{r.target} {100 * r['mean']:+.2f} [{100 * r.low:+.2f}, {100 * r.high:+.2f}]" for _, r in cells.iterrows())
        + " points.",
        {"cells": cells.to_dict("records")},
    )
