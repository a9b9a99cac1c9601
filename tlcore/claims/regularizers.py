"""Verdict rules of the chapter "Regularizers and normalisation" (claims R1-R8).

Tables (written by the chapter):
- ``regularizer_grid``: one run per row: target, n_per_class, regularizer ("none", "l2", "l2sp", "delta", "bss",
  "stochnorm", "l2sp_lower", "cotuning", "sample"), seed, test_accuracy; each set-up at its weight chosen on validation.
- ``regularizer_similarity``: target, seed, similarity (probe gain, see tlcore.analysis.probes).
- ``regularizer_large``: as the grid, for a few set-ups at one large size on some targets (claim R8).
- ``regularizer_sweep``: the validation sweep of the trade-off weights (shown, not used by a rule).
"""
from __future__ import annotations

from ..studies.regularizers import TABLES as STUDY_TABLES
from .ladder import from_parts, ladder
from .primary import similarity_by_target
from .registry import Verdict
from .stats import bootstrap_ci, format_points, paired_difference, summarise

GRID, SIMILARITY = STUDY_TABLES["grid"], STUDY_TABLES["similarity"]
LARGE, SWEEP = STUDY_TABLES["large"], STUDY_TABLES["sweep"]
LITTLE = 0.01  # "adds little" (claim R8): under one accuracy point


def _difference(grid, treated: str, control: str):
    return paired_difference(grid, by=["target", "n_per_class"], column="test_accuracy", arm="regularizer",
                             treated=treated, control=control, value="gain")


def _by_similarity(tables) -> tuple[str, str]:
    """(most similar, least similar) target by measured probe gain."""
    order = similarity_by_target(tables(SIMILARITY)).sort_values(ascending=False)
    return order.index[0], order.index[-1]


def _target_gain(gains, target):
    """Mean over sizes of the gain, per seed, for one target -> (mean, low, high)."""
    return bootstrap_ci(gains[gains.target == target].groupby("seed")["gain"].mean().to_numpy())


def _similar_beats(tables, claim: str, treated: str, control: str) -> Verdict:
    gains = _difference(tables(GRID), treated, control)
    similar, dissimilar = _by_similarity(tables)
    near, far = _target_gain(gains, similar), _target_gain(gains, dissimilar)
    verdict = ladder(near[1] > 0 and near[0] > far[0], mixed=near[0] > 0)
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
    verdict = from_parts(small_most, ordered, gate=never_hurts)
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
    verdict = ladder(mean > 0 and (cells["low"] > 0).any(), mixed=mean > 0)
    return Verdict(
        "R4", verdict, round(100 * mean, 2), f"StochNorm - BatchNorm at {smallest}/class (points)",
        "StochNorm - BatchNorm at the smallest size: " + ", ".join(
            f"{r.target} {100 * r['mean']:+.2f} [{100 * r.low:+.2f}, {100 * r.high:+.2f}]" for _, r in cells.iterrows())
        + " points.",
        {"cells": cells.to_dict("records")},
    )


def _seed_means(gains, value: str = "gain") -> tuple[float, float, float]:
    """Mean of ``value`` over all cells per seed, then (mean, low, high) over seeds."""
    return bootstrap_ci(gains.groupby("seed")[value].mean().to_numpy())


def rule_r5(tables) -> Verdict:
    """Per target, averaged over sizes with a 95% bootstrap over seeds: d_L2 = accuracy(L2-SP on the lower half of
    the stages + L2 on the upper half) - accuracy(L2 everywhere) and d_SP = the same minus accuracy(L2-SP everywhere).
    Supported when on some target both intervals lie above 0 (the mix beats either); mixed when on some target both
    means are > 0 without both intervals above 0; not supported when on no target the mix beats both on average."""
    grid = tables(GRID)
    rows = []
    for target in grid.target.unique():
        versus = {control: _target_gain(_difference(grid, "l2sp_lower", control), target) for control in ("l2", "l2sp")}
        rows.append((target, versus))
    verdict = ladder(any(all(ci[1] > 0 for ci in v.values()) for _, v in rows),
                     mixed=any(all(ci[0] > 0 for ci in v.values()) for _, v in rows))
    best = max(min(v["l2"][0], v["l2sp"][0]) for _, v in rows)
    return Verdict(
        "R5", verdict, round(100 * best, 2), "mix minus the better of all-L2 / all-L2-SP, best target (points)",
        "Mix (L2-SP lower, L2 upper) minus " + "; ".join(
            f"{target}: all-L2 {format_points(v['l2'], 2)}, all-L2-SP {format_points(v['l2sp'], 2)}" for target, v in rows) + " points.",
        {target: v for target, v in rows},
    )


def rule_r6(tables) -> Verdict:
    """d = accuracy(Co-Tuning) - accuracy(plain fine-tuning), averaged over targets and sizes per seed, 95% bootstrap
    over seeds, and per target. Supported when the interval of the average lies above 0 and no target has a negative
    mean; mixed when the average is > 0 otherwise; not supported when it is <= 0."""
    gains = _difference(tables(GRID), "cotuning", "none")
    overall = _seed_means(gains)
    per_target = {target: _target_gain(gains, target) for target in gains.target.unique()}
    verdict = ladder(overall[1] > 0 and all(ci[0] >= 0 for ci in per_target.values()), mixed=overall[0] > 0)
    return Verdict(
        "R6", verdict, round(100 * overall[0], 2), "Co-Tuning - plain fine-tuning, mean over the grid (points)",
        f"Co-Tuning - plain fine-tuning: {format_points(overall, 2)} points over the grid; per target "
        + ", ".join(f"{target} {format_points(ci, 2)}" for target, ci in per_target.items()) + ".",
        {"overall": overall, "per_target": per_target},
    )


def rule_r7(tables) -> Verdict:
    """d_X = accuracy(sample-based) - accuracy(X) for X in L2-SP, DELTA and BSS, averaged over targets and sizes per
    seed, 95% bootstrap over seeds. Supported when all three intervals lie above 0; mixed when all three means are
    > 0 but some interval reaches 0; not supported when some mean is <= 0."""
    grid = tables(GRID)
    versus = {control: _seed_means(_difference(grid, "sample", control)) for control in ("l2sp", "delta", "bss")}
    verdict = ladder(all(ci[1] > 0 for ci in versus.values()), mixed=all(ci[0] > 0 for ci in versus.values()))
    worst = min(ci[0] for ci in versus.values())
    return Verdict(
        "R7", verdict, round(100 * worst, 2), "sample-based minus its strongest rival, mean over the grid (points)",
        "Sample-based minus " + ", ".join(f"{control} {format_points(ci, 2)}" for control, ci in versus.items())
        + " points (mean over targets and sizes).",
        versus,
    )


def rule_r8(tables) -> Verdict:
    """g = accuracy(regulariser) - accuracy(plain fine-tuning) at the large size, for L2 and L2-SP on each target of
    the large table, 95% bootstrap over seeds (the weights chosen at the tuning size; the large size at its own
    schedule, ``regularization.large_epochs``). Supported when every interval of g lies below +1 point (extra
    regularisation adds little); mixed when every mean is below +1 point but some interval reaches it; not supported
    when some mean gain is +1 point or more. The gains at the grid's sizes
    are reported for contrast."""
    large, grid = tables(LARGE), tables(GRID)
    size = int(large.n_per_class.max())
    cells = {}
    for setup in ("l2", "l2sp"):
        gains = _difference(large, setup, "none")
        for target in gains.target.unique():
            cells[setup, target] = _target_gain(gains, target)
    small = summarise(_difference(grid[grid.target.isin(large.target.unique())], "l2sp", "none"),
                      by=["target", "n_per_class"], value="gain")
    verdict = ladder(all(ci[2] < LITTLE for ci in cells.values()), mixed=all(ci[0] < LITTLE for ci in cells.values()))
    best = max(ci[0] for ci in cells.values())
    return Verdict(
        "R8", verdict, round(100 * best, 2), f"largest regulariser gain at {size}/class (points)",
        f"Gain over plain fine-tuning at {size}/class: " + ", ".join(
            f"{setup} on {target} {format_points(ci, 2)}" for (setup, target), ci in cells.items())
        + " points; L2-SP at the grid sizes: " + ", ".join(
            f"{r.target} {r.n_per_class}/class {100 * r['mean']:+.2f}" for _, r in small.iterrows()) + " points.",
        {"large": {f"{s}/{t}": ci for (s, t), ci in cells.items()}, "small": small.to_dict("records")},
    )


# ------------------------------------------------------------------------------------------ primary tests (issue 14)

from .regularizers_primary import PRIMARY  # noqa: F401
