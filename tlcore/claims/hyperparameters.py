"""Verdict rules of the chapter "Hyper-parameters" (claims T9, H1, H3, H4, H5, M3).

Tables (written by the chapter; accuracies of diverged runs are empty and score chance, column ``chance``):
- ``hp_grid``: one run per row: target, n_per_class, seed, protocol_lr, protocol_momentum, effective_lr,
  val_accuracy, test_accuracy, chance.
- ``hp_similarity``: target, seed, probe_pretrained, similarity (probe gain at the grid's smallest size).
- ``hp_schedule``: target, n_per_class, seed, protocol_steps, test_accuracy (short vs chapter-wide schedule).
- ``hp_mixup``: target, n_per_class, seed, protocol_mixup_alpha, test_accuracy.
- ``hp_bit_recipe``: seed, recipe ("grid" | "tuned_reference"), protocol_lr, schedule, bit_default, val_accuracy,
  test_accuracy, chance.
- ``hp_probe_gap``: target, seed, quick_ft, probe, gap (validation accuracies).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.grids import (effective_learning_rate, grid_spread, optimum, rank_correlation, score_diverged,
    seed_resamples)
from ..studies.hyperparameters import TABLES as STUDY_TABLES
from .ladder import ladder
from .registry import Verdict
from .stats import bootstrap_ci, paired_difference, summarise

GRID, SIMILARITY, SCHEDULE = STUDY_TABLES["grid"], STUDY_TABLES["similarity"], STUDY_TABLES["schedule"]
MIXUP, BIT, PROBE_GAP = STUDY_TABLES["mixup"], STUDY_TABLES["bit"], STUDY_TABLES["probe_gap"]
N_RESAMPLES = 1000
FAR_FROM_OPTIMAL = 0.05  # H5: the BiT default at least 5 points below the best known recipe
RECOVERED = 0.5  # H5: the grid recovers at least half of that gap


def _points(ci) -> str:
    return f"{100 * ci[0]:+.1f} (95% CI {100 * ci[1]:+.1f} to {100 * ci[2]:+.1f})"


def rule_t9(tables) -> Verdict:
    """Spread = max - min of test accuracy over the LR x momentum grid (a diverged run scores chance), per target,
    size and seed. d = spread(smallest size) - spread(largest size) on each target run at both, paired by seed and
    averaged over those targets per seed, with a 95% bootstrap interval over seeds. Supported when the interval lies
    above 0 and d > 0 on average on every such target; mixed when d > 0 on average only; not supported otherwise."""
    grid = score_diverged(tables(GRID))
    spread = grid_spread(grid)
    sizes = spread.groupby("target")["n_per_class"].agg(["min", "max", "nunique"])
    both = sizes[sizes["nunique"] >= 2]
    if both.empty:
        raise ValueError("T9 needs at least one target run at two sizes")
    rows = []
    for target, size in both.iterrows():
        s = spread[spread.target == target].pivot(index="seed", columns="n_per_class", values="spread")
        rows.append(pd.DataFrame({"target": target, "seed": s.index, "d": s[size["min"]] - s[size["max"]],
                                  "small": s[size["min"]], "large": s[size["max"]]}))
    d = pd.concat(rows, ignore_index=True)
    overall = bootstrap_ci(d.groupby("seed")["d"].mean().to_numpy())
    per_target = d.groupby("target")[["d", "small", "large"]].mean()
    every = bool((per_target["d"] > 0).all())
    verdict = ladder(overall[1] > 0 and every, mixed=overall[0] > 0)
    return Verdict(
        "T9", verdict, round(100 * overall[0], 1), "spread at the smallest minus the largest size (points)",
        f"spread(small) - spread(large) = {_points(overall)} points; per target (spread small -> large): "
        + ", ".join(f"{t} {100 * r.small:.1f} -> {100 * r.large:.1f}" for t, r in per_target.iterrows()) + ".",
        {"overall": overall, "per_target": per_target.to_dict("index")},
    )


def _bootstrap_rho(grid, size, x: pd.DataFrame, column: str) -> tuple[float, float, float]:
    """rho(x, log effective LR of the validation optimum) across targets at ``size``: the point value and a 95%
    interval over seed resamples, where each resample re-chooses every optimum and re-averages ``x[column]``.

    Plain arrays inside the loop (the optimum of :func:`tlcore.analysis.grids.optimum`, ties to the first
    cell in sorted order): a thousand resamples must take a second, not minutes."""
    wide = grid[grid.n_per_class == size].pivot_table(
        index=["target", "protocol_lr", "protocol_momentum"], columns="seed", values="val_accuracy").sort_index()
    seeds = list(wide.columns)
    values = wide.to_numpy()
    cells = wide.index.to_frame(index=False)
    targets = list(dict.fromkeys(cells["target"]))
    rows = [np.flatnonzero(cells["target"].to_numpy() == t) for t in targets]
    log_lr = np.log(effective_learning_rate(cells["protocol_lr"].to_numpy(), cells["protocol_momentum"].to_numpy()))
    x_wide = x.pivot_table(index="target", columns="seed", values=column).reindex(index=targets, columns=seeds)
    rhos = []
    for weights in seed_resamples(seeds, N_RESAMPLES):
        w = np.array([weights.get(s, 0) for s in seeds], dtype=float) / sum(weights.values())
        means = values @ w
        best = [log_lr[r[np.argmax(means[r])]] for r in rows]
        rhos.append(rank_correlation(pd.Series(x_wide.to_numpy() @ w, index=targets), pd.Series(best, index=targets)))
    low, high = np.quantile(rhos[1:], [0.025, 0.975])
    return rhos[0], float(low), float(high)


def rule_h1(tables) -> Verdict:
    """At the grid's smallest size, each target's optimum is the (lr, momentum) cell with the best mean validation
    accuracy over seeds; its effective learning rate is lr / (1 - momentum). rho = Spearman correlation across
    targets between measured similarity and log optimum effective LR, with a 95% interval from 1000 bootstrap
    resamples of seeds (the optimum re-chosen in each). Supported when rho < 0 and the interval lies below 0; mixed
    when rho < 0 only; not supported when rho >= 0 (a tie of every optimum counts as rho = 0)."""
    grid = score_diverged(tables(GRID))
    similarity = tables(SIMILARITY)
    # the image-statistics similarity where the table has it: none of the compared models (see similarity_by_target)
    column = "image_similarity" if "image_similarity" in similarity and similarity["image_similarity"].notna().all() \
        else "similarity"
    size = grid.n_per_class.min()
    rho, low, high = _bootstrap_rho(grid, size, similarity, column)
    best = optimum(grid[grid.n_per_class == size]).set_index("target")
    order = similarity.groupby("target")[column].mean().sort_values(ascending=False)
    verdict = ladder(rho < 0 and high < 0, mixed=rho < 0)
    return Verdict(
        "H1", verdict, round(rho, 2), "Spearman rho(similarity, optimum effective LR)",
        f"at {size}/class, rho = {rho:+.2f} (95% CI {low:+.2f} to {high:+.2f}); optimum (lr, momentum) by "
        "similarity: " + ", ".join(f"{t} ({best.loc[t, 'protocol_lr']:g}, {best.loc[t, 'protocol_momentum']:g})"
                                   for t in order.index if t in best.index) + ".",
        {"rho": (rho, low, high), "optimum": best.reset_index().to_dict("records")},
    )


def rule_m3(tables) -> Verdict:
    """gap = validation accuracy of a quick fine-tune at a fixed untuned learning rate minus that of a linear probe
    on frozen source features, per target (grid's smallest size). rho = Spearman correlation across targets between
    the mean gap and the log effective learning rate of the H1 optimum (same size), with a 95% interval from 1000
    bootstrap resamples of seeds shared by both. Supported when rho > 0 and the interval lies above 0 (a larger gap
    predicts a larger optimum); mixed when rho > 0 only; not supported when rho <= 0."""
    grid = score_diverged(tables(GRID))
    gaps = tables(PROBE_GAP)
    size = grid.n_per_class.min()
    rho, low, high = _bootstrap_rho(grid, size, gaps, "gap")
    mean_gap = gaps.groupby("target")["gap"].mean().sort_values(ascending=False)
    best = optimum(grid[grid.n_per_class == size]).set_index("target")
    verdict = ladder(rho > 0 and low > 0, mixed=rho > 0)
    return Verdict(
        "M3", verdict, round(rho, 2), "Spearman rho(FT - probe gap, optimum effective LR)",
        f"rho = {rho:+.2f} (95% CI {low:+.2f} to {high:+.2f}); gap (points) and optimum effective LR, largest gap "
        "first: " + ", ".join(f"{t} {100 * g:+.1f} / {best.loc[t, 'effective_lr']:g}" for t, g in mean_gap.items()
                              if t in best.index) + ".",
        {"rho": (rho, low, high), "gap": mean_gap.to_dict()},
    )


def rule_h3(tables) -> Verdict:
    """d = test accuracy(short schedule) - test accuracy(chapter-wide schedule), same learning rate, per target,
    size and seed. The interaction i = d(smallest size) - d(largest size), averaged over targets per seed, with a 95%
    bootstrap interval over seeds. Supported when the interval lies above 0 and d(smallest) >= 0 on average (small
    targets lose nothing from fewer updates); mixed when i > 0 on average only, or significantly but small targets
    still prefer the long schedule; not supported when i <= 0."""
    schedule = score_diverged(tables(SCHEDULE))
    short, long = schedule.protocol_steps.min(), schedule.protocol_steps.max()
    if short == long:
        raise ValueError("H3 needs two schedule lengths")
    d = paired_difference(schedule, by=["target", "n_per_class"], column="test_accuracy", arm="protocol_steps",
                          treated=short, control=long, value="d")
    small, large = d.n_per_class.min(), d.n_per_class.max()
    wide = d.pivot_table(index=["target", "seed"], columns="n_per_class", values="d")
    interaction = bootstrap_ci((wide[small] - wide[large]).groupby("seed").mean().to_numpy())
    d_small = bootstrap_ci(d[d.n_per_class == small].groupby("seed")["d"].mean().to_numpy())
    d_large = bootstrap_ci(d[d.n_per_class == large].groupby("seed")["d"].mean().to_numpy())
    verdict = ladder(interaction[1] > 0 and d_small[0] >= 0, mixed=interaction[0] > 0)
    return Verdict(
        "H3", verdict, round(100 * interaction[0], 1), f"(short - long) at {small} minus at {large}/class (points)",
        f"{short} vs {long} steps: short - long = {_points(d_small)} points at {small}/class and {_points(d_large)} "
        f"at {large}/class; interaction {_points(interaction)}.",
        {"interaction": interaction, "small": d_small, "large": d_large},
    )


def rule_h4(tables) -> Verdict:
    """gain = test accuracy with MixUp - without, per size and seed (95% bootstrap over seeds). The mid size is the
    median of the sizes run. Supported when the gain at the mid size has its interval above 0, exceeds the mean gain
    at every other size, and no other size's interval lies above 0 (it helps there *only*); mixed when the mid-size
    gain is > 0 on average but not all of that holds; not supported when it is <= 0."""
    mixup = score_diverged(tables(MIXUP))
    alpha = mixup.protocol_mixup_alpha.max()
    gains = paired_difference(mixup, by=["n_per_class"], column="test_accuracy", arm="protocol_mixup_alpha",
                              treated=alpha, control=0.0, value="gain")
    gains = gains.groupby(["n_per_class", "seed"], as_index=False)["gain"].mean()
    cells = summarise(gains, by=["n_per_class"], value="gain").set_index("n_per_class")
    sizes = sorted(cells.index)
    mid = sizes[len(sizes) // 2]
    others = cells.drop(index=mid)
    at_mid = cells.loc[mid]
    only = bool((others["low"] <= 0).all() and (others["mean"] < at_mid["mean"]).all())
    verdict = ladder(at_mid["low"] > 0 and only, mixed=at_mid["mean"] > 0)
    return Verdict(
        "H4", verdict, round(100 * at_mid["mean"], 1), f"MixUp gain at {mid}/class (points)",
        f"MixUp (alpha {alpha:g}) - plain: " + ", ".join(
            f"{n}/class {_points((r['mean'], r.low, r.high))}" for n, r in cells.iterrows()) + " points.",
        {"cells": cells.reset_index().to_dict("records")},
    )


def rule_h5(tables) -> Verdict:
    """On the far target: the BiT default (BiT's learning rate, default length) against (i) the best recipe this
    book knows (chapter 1's tuned one) and (ii) the cell of the learning rate x schedule grid with the best mean
    validation accuracy. gap = reference - default, gain = selected - default, paired by seed, 95% bootstrap over
    seeds; recovered = mean gain / mean gap. Supported when the gap is significant and large (interval above 0,
    mean >= 5 points), the selected cell has a larger learning rate than the default (its schedule,
    default or x2, is reported), the gain's interval lies above 0 and recovered >= 0.5; mixed when the gap is
    significant and the gain's interval lies above 0 but the rest does not hold; not supported otherwise."""
    bit = score_diverged(tables(BIT))
    grid = bit[bit.recipe == "grid"]
    means = grid.groupby(["protocol_lr", "schedule"])["val_accuracy"].mean()
    lr, schedule = means.sort_index().idxmax()
    default = grid[grid.bit_default].set_index("seed")["test_accuracy"]
    selected = grid[(grid.protocol_lr == lr) & (grid.schedule == schedule)].set_index("seed")["test_accuracy"]
    reference = bit[bit.recipe == "tuned_reference"].set_index("seed")["test_accuracy"]
    default_lr = float(grid[grid.bit_default].protocol_lr.iloc[0])
    gap = bootstrap_ci((reference - default).dropna().to_numpy())
    gain = bootstrap_ci((selected - default).dropna().to_numpy())
    recovered = gain[0] / gap[0] if gap[0] > 0 else float("nan")
    far_off = gap[1] > 0 and gap[0] >= FAR_FROM_OPTIMAL
    verdict = ladder(far_off and lr > default_lr and gain[1] > 0 and recovered >= RECOVERED,
                     mixed=gap[1] > 0 and gain[1] > 0)
    return Verdict(
        "H5", verdict, round(recovered, 2) if np.isfinite(recovered) else None, "fraction of the gap recovered",
        f"BiT default {100 * default.mean():.1f}%, best known (chapter 1's recipe) {100 * reference.mean():.1f}%: "
        f"gap {_points(gap)} points; selected on validation: lr {lr:g}, {schedule} schedule, "
        f"{100 * selected.mean():.1f}%, gain {_points(gain)} points, recovering {recovered:.0%} of the gap.",
        {"gap": gap, "gain": gain, "selected": (lr, schedule), "recovered": recovered},
    )


# ------------------------------------------------------------------------------------------ primary tests (issue 14)

from .hyperparameters_primary import PRIMARY  # noqa: F401
