"""Verdict rules of the chapter "What to transfer: layers, freezing, probing" (claims T3, T4, P3, H2).

Tables (written by the chapter):
- ``probe_vs_finetune``: one row per (target, n_per_class, seed): finetune_accuracy (chapter 1's pretrained run),
  probe_accuracy (linear probe on the same model's frozen penultimate features, same samples), gap = the difference.
- ``stage_probes``: one row per (target, n_per_class, seed, stage): val_accuracy, test_accuracy of a linear probe on
  that stage's pooled features; ``last`` marks the last stage.
- ``reinit_tuning``: one row per run: target, transferred_stages (k), reinitialised_stages, lr, seed, val_accuracy,
  test_accuracy — every learning rate with every seed.
- ``target_similarity``: chapter 1's measured similarity (probe gain) per (target, seed).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..data.embedded import EMBEDDED
from ..results.selection import select_on_validation
from ..studies.what_to_transfer import TABLES as STUDY_TABLES
from .ladder import ladder
from .primary import Primary, collapsed_runs, describe_runs, seed_means, similarity_by_target
from .primary_test import PrimaryTest
from .registry import Verdict
from .stats import bootstrap_ci, format_points, summarise

PROBE_GAP, STAGE_PROBES, REINIT_TUNING, SIMILARITY = (
    STUDY_TABLES["probe_gap"], STUDY_TABLES["stage_probes"], STUDY_TABLES["tuning"], STUDY_TABLES["similarity"])


def _similarity(tables, targets) -> pd.Series:
    """Mean measured similarity of ``targets``, most similar first; ``KeyError`` for a target never measured."""
    similarity = similarity_by_target(tables(SIMILARITY))
    missing = sorted(set(targets) - set(similarity.index))
    if missing:
        raise KeyError(f"no measured similarity for target(s) {missing} in table {SIMILARITY!r}")
    return similarity.reindex(list(targets)).sort_values(ascending=False)


def _rank_correlation(x, y) -> float:
    """Spearman rho; 0 when either side is constant (no ordering to correlate)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y).statistic)


def rule_t3(tables) -> Verdict:
    """gap = test accuracy of fine-tuning minus that of a linear probe on the same model's frozen features (same
    samples, probe strength chosen on validation), per target, size and seed. (a) Fine-tuning beats the probe: the
    mean gap over targets and sizes has its 95% bootstrap interval over seeds above 0. (b) The gap is larger for
    less similar targets: per seed, Spearman rho across targets between measured similarity and the gap (mean over
    sizes); its 95% bootstrap interval over seeds lies below 0. Supported when (a) and (b) hold; mixed when (a)
    holds and (b) does not (or (a) fails but the least similar target's gap has its interval above 0); not
    supported otherwise."""
    gaps = tables(PROBE_GAP)
    per_target = gaps.groupby(["target", "seed"], as_index=False)["gap"].mean()
    similarity = _similarity(tables, per_target["target"].unique())
    overall = bootstrap_ci(gaps.groupby("seed")["gap"].mean().to_numpy())
    rhos = []
    for _, seed_rows in per_target.groupby("seed"):
        seed_gaps = seed_rows.set_index("target")["gap"]
        rhos.append(_rank_correlation(similarity[seed_gaps.index].to_numpy(), seed_gaps.to_numpy()))
    rho = bootstrap_ci(rhos)
    cells = summarise(per_target, by=["target"], value="gap").set_index("target").reindex(similarity.index)
    least = similarity.index[-1]
    beats, ordered = overall[1] > 0, rho[2] < 0
    verdict = ladder(beats and ordered, mixed=beats or cells.loc[least, "low"] > 0)
    return Verdict(
        "T3", verdict, round(100 * overall[0], 1), "mean gap fine-tune - probe (points)",
        f"fine-tune - probe, mean over targets and sizes {format_points(overall)} points; per target (most similar "
        "first): " + ", ".join(f"{t} {100 * r['mean']:+.1f}" for t, r in cells.iterrows())
        + f"; Spearman rho(similarity, gap) {rho[0]:+.2f} (95% CI {rho[1]:+.2f} to {rho[2]:+.2f}).",
        {"overall": overall, "rho": rho, "per_target": cells["mean"].to_dict()},
    )


def inner_minus_last(probes: pd.DataFrame) -> pd.DataFrame:
    """Per (target, seed): the inner stage with the best validation accuracy (ties: the deeper) and d = its test
    accuracy minus the last stage's. Columns target, seed, inner_stage, d."""
    rows = []
    for (target, seed), group in probes.groupby(["target", "seed"]):
        last = group[group["last"].astype(bool)]
        inner = group[~group["last"].astype(bool)].sort_values("stage")
        if len(last) != 1 or inner.empty:
            raise ValueError(f"{target}, seed {seed}: need one last stage and at least one inner stage")
        best = inner.loc[inner["val_accuracy"][::-1].idxmax()]
        rows.append({"target": target, "seed": seed, "inner_stage": int(best["stage"]),
                     "d": float(best["test_accuracy"] - last["test_accuracy"].iloc[0])})
    return pd.DataFrame(rows)


def rule_p3(tables) -> Verdict:
    """At the smallest size, per target and seed: the inner stage whose frozen pooled features give the best probe
    validation accuracy, and d = its test accuracy minus the last stage's. The two least similar targets (measured
    similarity) are the dissimilar ones. Supported when d on some dissimilar target has its 95% bootstrap interval
    over seeds above 0 and the mean d over the dissimilar targets exceeds that over the others; mixed when d > 0 on
    average on some dissimilar target otherwise; not supported when d <= 0 on average on both."""
    probes = tables(STAGE_PROBES)
    probes = probes[probes["n_per_class"] == probes["n_per_class"].min()]
    d = inner_minus_last(probes)
    similarity = _similarity(tables, d["target"].unique())
    dissimilar = list(similarity.index[-2:])
    cells = summarise(d, by=["target"], value="d").set_index("target").reindex(similarity.index)
    far, near = cells.loc[dissimilar], cells.drop(index=dissimilar)
    contrast = far["mean"].mean() > (near["mean"].mean() if len(near) else -np.inf)
    verdict = ladder((far["low"] > 0).any() and contrast, mixed=(far["mean"] > 0).any())
    stages = d.groupby("target")["inner_stage"].agg(lambda s: "/".join(map(str, sorted(set(s)))))
    return Verdict(
        "P3", verdict, round(100 * float(far["mean"].max()), 1),
        "best inner - last stage probe, dissimilar targets (points)",
        f"at {int(probes['n_per_class'].min())}/class, inner (chosen on validation) - last stage probe accuracy: "
        + ", ".join(f"{t} {format_points((r['mean'], r.low, r.high))} (stage {stages[t]})" for t, r in cells.iterrows())
        + f" points; dissimilar: {', '.join(dissimilar)}.",
        {"cells": cells.reset_index().to_dict("records"), "dissimilar": dissimilar},
    )


def reinit_at_chosen_lr(tuning: pd.DataFrame) -> pd.DataFrame:
    """The runs of ``reinit_tuning`` at each (target, k)'s learning rate chosen on mean validation accuracy."""
    chosen = select_on_validation(tuning, by=["target", "transferred_stages"], param="lr")
    return tuning.merge(chosen[["target", "transferred_stages", "lr"]], on=["target", "transferred_stages", "lr"])


def rule_t4(tables) -> Verdict:
    """Each k (stages transferred, the rest re-initialised) at its learning rate chosen on mean validation accuracy;
    test accuracy per seed. B = acc(most stages transferred) - acc(fewest), the benefit of transferring more.
    (a) Transfer more when similar: B(most similar target) - B(least similar target), paired by seed, has its 95%
    bootstrap interval above 0. (b) Transferring every stage is not always best: on some target the k chosen on
    validation is below the maximum and beats it on test on average. Supported when (a) and (b) hold; mixed when
    only one holds, or (a) holds on average only; not supported otherwise."""
    grid = reinit_at_chosen_lr(tables(REINIT_TUNING))
    similarity = _similarity(tables, grid["target"].unique())
    near, far = similarity.index[0], similarity.index[-1]
    ks = sorted(grid["transferred_stages"].unique())
    most, fewest = ks[-1], ks[0]
    wide = grid.pivot_table(index=["target", "seed"], columns="transferred_stages", values="test_accuracy")
    benefit = (wide[most] - wide[fewest]).unstack("target")
    contrast = bootstrap_ci((benefit[near] - benefit[far]).dropna().to_numpy())
    by_k = grid.groupby(["target", "transferred_stages"])[["val_accuracy", "test_accuracy"]].mean()
    partial_wins = {}
    for target in similarity.index:
        rows = by_k.loc[target]
        chosen_k = int(rows["val_accuracy"][::-1].idxmax())  # ties: transfer more
        if chosen_k < most:
            partial_wins[target] = (chosen_k, float(rows.loc[chosen_k, "test_accuracy"] - rows.loc[most, "test_accuracy"]))
    not_all = any(gain > 0 for _, gain in partial_wins.values())
    a_strong, a_weak = contrast[1] > 0, contrast[0] > 0
    verdict = ladder(a_strong and not_all, mixed=a_weak or not_all)
    return Verdict(
        "T4", verdict, round(100 * contrast[0], 1), "benefit of transferring more, near - far (points)",
        f"B = acc(k={most}) - acc(k={fewest}): {near} {100 * benefit[near].mean():+.1f}, {far} "
        f"{100 * benefit[far].mean():+.1f} points; near - far {format_points(contrast)}. k chosen on validation below "
        f"{most}: " + (", ".join(f"{t} k={k} ({100 * g:+.1f} points vs k={most})" for t, (k, g) in partial_wins.items())
                       or "none") + ".",  # (the k best on test is a maximum over test: not reported)
        {"contrast": contrast, "benefit": benefit.mean().to_dict(), "partial_wins": partial_wins},
    )


def best_lr_per_seed(tuning: pd.DataFrame) -> pd.DataFrame:
    """Per (target, seed, k): the learning rate with the best validation accuracy in that seed's runs (ties: the
    lower). Columns target, seed, transferred_stages, reinitialised_stages, lr."""
    runs = tuning.dropna(subset=["val_accuracy"]).sort_values("lr")
    best = runs.loc[runs.groupby(["target", "seed", "transferred_stages"])["val_accuracy"].idxmax()]
    return best[["target", "seed", "transferred_stages", "reinitialised_stages", "lr"]].reset_index(drop=True)


def rule_h2(tables) -> Verdict:
    """Per target and seed, the best learning rate of each k on validation, and Spearman rho across k between the
    number of re-initialised stages and that learning rate (0 when either is constant); per seed the mean over
    targets. Supported when rho's 95% bootstrap interval over seeds excludes 0 (the best learning rate moves with k,
    consistently across seeds); mixed when it does not but the learning rate chosen on mean validation accuracy
    differs between k on some target; not supported when that choice is the same for every k on every target."""
    tuning = tables(REINIT_TUNING)
    best = best_lr_per_seed(tuning)
    rhos = (best.groupby(["seed", "target"])
            .apply(lambda g: _rank_correlation(g["reinitialised_stages"], np.log(g["lr"])), include_groups=False)
            .groupby("seed").mean())
    rho = bootstrap_ci(rhos.to_numpy())
    chosen = select_on_validation(tuning, by=["target", "transferred_stages"], param="lr")
    varies = chosen.groupby("target")["lr"].nunique() > 1
    verdict = ladder(rho[1] > 0 or rho[2] < 0, mixed=varies.any())
    lrs = chosen.pivot(index="target", columns="transferred_stages", values="lr")
    return Verdict(
        "H2", verdict, round(rho[0], 2), "Spearman rho(re-initialised stages, best LR)",
        f"rho(re-initialised stages, best validation LR) {rho[0]:+.2f} (95% CI {rho[1]:+.2f} to {rho[2]:+.2f}) "
        "over seeds; LR chosen on mean validation accuracy by stages transferred: "
        + "; ".join(f"{t}: " + ", ".join(f"k={k} {lr:g}" for k, lr in row.items()) for t, row in lrs.iterrows())
        + ".",
        {"rho": rho, "rho_by_seed": rhos.to_dict(), "chosen": chosen.to_dict("records")},
    )


# ------------------------------------------------------------------------------------------ primary tests (issue 14)

def designed_extremes(tables, targets) -> tuple[list[str], list[str]]:
    """(similar, dissimilar) targets of a primary test, fixed by design: the embedded world's ``near`` and ``far``
    targets (similarity by construction, not measured from the probes the tests compare); for targets without both
    roles (the real tier), the most and the least similar by measured similarity."""
    roles = {t: EMBEDDED[t].role if t in EMBEDDED else None for t in targets}
    near, far = sorted(t for t in targets if roles[t] == "near"), sorted(t for t in targets if roles[t] == "far")
    if near and far:
        return near, far
    order = _similarity(tables, targets)
    return [order.index[0]], [order.index[-1]]


def _t3_differences(tables):
    gaps = tables(PROBE_GAP)
    near, far = designed_extremes(tables, gaps["target"].unique())
    by_seed = gaps.groupby(["seed", "target"])["gap"].mean().unstack("target")
    return 100 * (by_seed[far].mean(axis=1) - by_seed[near].mean(axis=1)).to_numpy()


def _t3_preconditions(tables) -> dict[str, str]:
    collapsed = collapsed_runs(tables(PROBE_GAP), ["target", "n_per_class"], column="finetune_accuracy")
    return {"no collapsed run": describe_runs(collapsed, ["target", "n_per_class"], column="finetune_accuracy")
            } if len(collapsed) else {}


def _t4_differences(tables):
    grid = reinit_at_chosen_lr(tables(REINIT_TUNING))
    near, far = designed_extremes(tables, grid["target"].unique())
    ks = sorted(grid["transferred_stages"].unique())
    wide = grid.pivot_table(index="seed", columns=["target", "transferred_stages"], values="test_accuracy")
    benefit = {t: wide[(t, ks[-1])] - wide[(t, ks[0])] for t in (*near, *far)}
    return 100 * (np.mean([benefit[t] for t in near], axis=0) - np.mean([benefit[t] for t in far], axis=0))


def _t4_preconditions(tables) -> dict[str, str]:
    collapsed = collapsed_runs(reinit_at_chosen_lr(tables(REINIT_TUNING)), ["target", "transferred_stages"])
    return {"no collapsed run": describe_runs(collapsed, ["target", "transferred_stages", "lr"])} \
        if len(collapsed) else {}


def _p3_differences(tables):
    probes = tables(STAGE_PROBES)
    d = inner_minus_last(probes[probes["n_per_class"] == probes["n_per_class"].min()])
    return seed_means(d[d["target"].isin(designed_extremes(tables, d["target"].unique())[1])], "d", scale=100)


def _h2_differences(tables):
    best = best_lr_per_seed(tables(REINIT_TUNING))
    return (best.groupby(["seed", "target"])
            .apply(lambda g: _rank_correlation(g["reinitialised_stages"], np.log(g["lr"])), include_groups=False)
            .groupby("seed").mean().sort_index().to_numpy())


def _h2_preconditions(tables) -> dict[str, str]:
    tuning = tables(REINIT_TUNING)
    best, grid = best_lr_per_seed(tuning)["lr"], sorted(tuning["lr"].unique())
    edge = [lr for lr in (grid[0], grid[-1]) if (best == lr).all()]
    return {"optimum inside the grid": f"the best validation learning rate is the grid's edge {edge[0]:g} for "
            f"every k, target and seed (grid {', '.join(f'{lr:g}' for lr in grid)})"} if edge else {}


_SHARED_SEED = "runs sharing a seed (training sample, initialisation of new layers, batch order)"
PRIMARY = {
    # 2 points: the difference in the fine-tune-minus-probe gap that would change a practitioner's choice of
    # protocol between a similar and a dissimilar target.
    "T3": Primary(
        PrimaryTest("gap (fine-tuned minus linear-probe test accuracy, same model and samples) on the far target "
                    "minus that on the near target (similarity by construction), per seed averaged over sizes",
                    "greater", 2.0, method="t", unit="points", pairing=_SHARED_SEED,
                    preconditions=("no collapsed run",)),
        _t3_differences, _t3_preconditions),
    # 2 points: a benefit of transferring more stages that differs by less than this between targets would not
    # change how many stages a practitioner transfers.
    "T4": Primary(
        PrimaryTest("benefit of transferring every stage over the fewest (test accuracy, each k at its learning "
                    "rate chosen on validation) on the near target minus that on the far target (similarity by "
                    "construction), per seed", "greater", 2.0, method="t", unit="points", pairing=_SHARED_SEED,
                    preconditions=("no collapsed run",)),
        _t4_differences, _t4_preconditions),
    # 2 points: a practitioner would only switch from the last layer's features to an inner one's for this much.
    "P3": Primary(
        PrimaryTest("test accuracy of a linear probe on the inner stage chosen on validation minus that on the last "
                    "stage, on the far target (by construction) at the smallest size, per seed", "greater", 2.0,
                    method="t", unit="points", pairing="probes on the same samples of one seed"),
        _p3_differences),
    # 0.2: a rank correlation below this over the four k would leave the learning rate to use per k unchanged;
    # the survey's direction: more re-initialised stages want a larger learning rate.
    "H2": Primary(
        PrimaryTest("Spearman rho across k between the number of re-initialised stages and the learning rate with "
                    "the best validation accuracy (log), per seed averaged over targets, against 0", "greater",
                    0.2, method="t", pairing="the learning-rate grid of one seed",
                    preconditions=("optimum inside the grid",)),
        _h2_differences, _h2_preconditions),
}
