"""Verdict rules of the chapter "What is transferred" (claims P1, P2, P4).

Tables (written by the chapter, from one set of fine-tuned models: pretrained and scratch starts x targets x seeds):
- ``transferred_pairs``: one row per (target, init, seed_a, seed_b) pair of fine-tuned models: relative parameter
  distance, error and loss barriers along the linear path between them, error overlap (Jaccard of their test errors).
- ``transferred_cka``: one row per (target, seed, stage): linear CKA between the source model's and the fine-tuned
  model's activations of that stage on the target's test images.
- ``transferred_samples``: one row per (target, seed, sample): the sample's difficulty (k-disagreeing neighbours in
  pixel space, computed without any of the compared models) and whether the pretrained and the scratch model of that
  seed classify it correctly.
- ``transferred_runs``: one row per fine-tuned model (target, init, seed, test_accuracy), for the primary tests'
  check that no run collapsed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..studies.what_is_transferred import TABLES as STUDY_TABLES
from .ladder import from_parts, ladder
from .primary import Primary, collapsed_runs, describe_runs
from .primary_test import PrimaryTest
from .registry import Verdict
from .stats import bootstrap_ci

PAIRS, CKA, SAMPLES = STUDY_TABLES["pairs"], STUDY_TABLES["cka"], STUDY_TABLES["samples"]
BASIN_ERROR_BARRIER = 0.02  # a pretrained pair is "in one basin" when its mean error barrier is below 2 points
DIFFICULTY_BINS = 3


def _pair_differences(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (target, seed pair): scratch minus pretrained barrier and distance, pretrained minus scratch overlap, so
    that every column is positive in the claim's direction."""
    wide = pairs.pivot_table(index=["target", "seed_a", "seed_b"], columns="init",
                             values=["error_barrier", "relative_distance", "error_overlap"])
    return pd.DataFrame({
        "barrier": wide[("error_barrier", "scratch")] - wide[("error_barrier", "pretrained")],
        "distance": wide[("relative_distance", "scratch")] - wide[("relative_distance", "pretrained")],
        "overlap": wide[("error_overlap", "pretrained")] - wide[("error_overlap", "scratch")],
    }).dropna().reset_index()


def rule_p1(tables) -> Verdict:
    """Per target and pair of seeds, three differences that are positive when the claim holds: error barrier along
    the linear path (scratch - pretrained), relative parameter distance (scratch - pretrained), and error overlap,
    the Jaccard index of the two models' test errors (pretrained - scratch); 95% bootstrap over seed pairs.
    Supported when all six (3 measures x 2 targets) intervals lie above 0 and the pretrained pairs' mean error
    barrier is below 2 points on every target (one basin); not supported when fewer than half of the six are
    positive on average; mixed otherwise."""
    pairs = tables(PAIRS)
    diffs = _pair_differences(pairs)
    rows = []
    for target, group in diffs.groupby("target", sort=True):
        for measure in ("barrier", "distance", "overlap"):
            mean, low, high = bootstrap_ci(group[measure].to_numpy())
            rows.append({"target": target, "measure": measure, "mean": mean, "low": low, "high": high})
    cells = pd.DataFrame(rows)
    pretrained_barrier = pairs[pairs.init == "pretrained"].groupby("target")["error_barrier"].mean()
    one_basin = bool((pretrained_barrier < BASIN_ERROR_BARRIER).all())
    verdict = ladder((cells["low"] > 0).all() and one_basin, not_supported=(cells["mean"] > 0).mean() < 0.5)
    barriers = pairs.groupby(["target", "init"])["error_barrier"].mean()
    return Verdict(
        "P1", verdict, round(100 * float(barriers.xs("scratch", level="init").mean()
                                         - barriers.xs("pretrained", level="init").mean()), 1),
        "error barrier, scratch minus pretrained pairs (points)",
        "; ".join(f"{t}: error barrier pretrained {100 * barriers[t, 'pretrained']:.1f} vs scratch "
                  f"{100 * barriers[t, 'scratch']:.1f} points" for t in sorted(pairs.target.unique()))
        + ". Differences in the claim's direction (mean [95% CI]): "
        + ", ".join(f"{r.target} {r.measure} {r['mean']:+.3f} [{r.low:+.3f}, {r.high:+.3f}]"
                    for _, r in cells.iterrows())
        + f". Pretrained pairs in one basin (barrier < {100 * BASIN_ERROR_BARRIER:.0f} points): {one_basin}.",
        {"cells": cells.to_dict("records"), "barriers": {f"{t}/{i}": float(v) for (t, i), v in barriers.items()}},
    )


def near_and_far(cka: pd.DataFrame) -> tuple[str, str]:
    """The near and the far target of P2, as the study marked them (``role``, from the profile's
    ``transferred.targets``)."""
    if "role" not in cka:
        raise ValueError(f"table {CKA} has no role column: execute chapter 8 again")
    roles = cka.dropna(subset=["role"]).groupby("role")["target"].first()
    return roles["near"], roles["far"]


def rule_p2(tables, near: str | None = None, far: str | None = None) -> Verdict:
    """Linear CKA between the source model and the fine-tuned model, per stage, on target test images; 95%
    bootstrap over seeds. (A) depth: CKA(first stage) - CKA(last stage) has its interval above 0 on both the near and
    the far target (lower layers change less). (B) task: CKA(last stage) on the near target minus that on the far
    target, paired by seed, has its interval above 0 (the top changes more for a dissimilar task). Supported when A
    and B hold, mixed when one of them holds, not supported when neither does."""
    cka = tables(CKA)
    if near is None or far is None:
        near, far = near_and_far(cka)
    stages = sorted(cka["stage"].unique())
    first, last = stages[0], stages[-1]
    wide = cka.pivot_table(index=["target", "seed"], columns="stage", values="cka")
    depth = {t: bootstrap_ci((wide.loc[t][first] - wide.loc[t][last]).to_numpy()) for t in (near, far)}
    top = (wide.loc[near][last] - wide.loc[far][last]).dropna()
    task = bootstrap_ci(top.to_numpy())
    holds_a = all(d[1] > 0 for d in depth.values())
    holds_b = task[1] > 0
    verdict = from_parts(holds_a, holds_b)
    means = cka.groupby(["target", "stage"])["cka"].mean()
    return Verdict(
        "P2", verdict, round(float(depth[far][0]), 2), f"CKA({first}) - CKA({last}) on {far}",
        f"CKA(source, fine-tuned) from {first} to {last}: "
        + "; ".join(f"{t} " + " → ".join(f"{means[t, s]:.2f}" for s in stages) for t in (near, far))
        + ". (A) first - last stage: "
        + ", ".join(f"{t} {d[0]:+.2f} [{d[1]:+.2f}, {d[2]:+.2f}]" for t, d in depth.items())
        + f"; (B) last stage near - far {task[0]:+.2f} [{task[1]:+.2f}, {task[2]:+.2f}].",
        {"depth": depth, "task": task, "means": {f"{t}/{s}": float(v) for (t, s), v in means.items()}},
    )


def difficulty_bin(difficulty: pd.Series, bins: int = DIFFICULTY_BINS) -> pd.Series:
    """Equal-count bins of ``difficulty`` (0 = easiest); ties are split by order of appearance, so the bins are
    deterministic even when many samples share a score."""
    ranks = difficulty.rank(method="first")
    return ((ranks - 1) * bins // len(difficulty)).astype(int)


def correctness_by_bin(samples: pd.DataFrame, bins: int = DIFFICULTY_BINS) -> pd.DataFrame:
    """Per (target, seed, difficulty bin): accuracy of the pretrained and the scratch model and their difference
    ``advantage``. Bins are cut per target on that target's difficulty scores."""
    samples = samples.copy()
    samples["bin"] = samples.groupby(["target", "seed"])["difficulty"].transform(lambda d: difficulty_bin(d, bins))
    out = samples.groupby(["target", "seed", "bin"], as_index=False)[["correct_pretrained", "correct_scratch"]].mean()
    out["advantage"] = out["correct_pretrained"] - out["correct_scratch"]
    return out


def extra_answer_difficulty(samples: pd.DataFrame) -> pd.DataFrame:
    """Per (target, seed): mean difficulty of the samples only the scratch model gets right minus that of the
    samples only the pretrained model gets right (NaN when either set is empty). Positive: the pretrained model's
    extra correct answers are the easier ones."""
    rows = []
    for (target, seed), group in samples.groupby(["target", "seed"], sort=True):
        pre, scr = group["correct_pretrained"].astype(bool), group["correct_scratch"].astype(bool)
        only_pre, only_scr = group.loc[pre & ~scr, "difficulty"], group.loc[scr & ~pre, "difficulty"]
        gap = only_scr.mean() - only_pre.mean() if len(only_pre) and len(only_scr) else np.nan
        rows.append({"target": target, "seed": seed, "only_pretrained": int(len(only_pre)),
                     "only_scratch": int(len(only_scr)), "difficulty_gap": gap})
    return pd.DataFrame(rows)


def rule_p4(tables) -> Verdict:
    """Difficulty is the k-disagreeing-neighbours score (share of a sample's 10 nearest reference images in pixel
    space with another label), computed without the compared models. (A) The difficulty gap, mean difficulty of the
    samples only the scratch model gets right minus that of the samples only the pretrained model gets right,
    averaged over targets per seed, has its 95% bootstrap interval above 0. (B) On every target the pretrained
    model's accuracy advantage over scratch (mean over seeds) is smaller in the hardest difficulty tercile than in the
    easiest. Supported when A and B hold; not supported when the mean gap is <= 0 (or undefined); mixed otherwise."""
    samples = tables(SAMPLES)
    gaps = extra_answer_difficulty(samples)
    per_seed = gaps.groupby("seed")["difficulty_gap"].mean().dropna()
    if per_seed.empty:
        return Verdict("P4", "not supported", None, "difficulty gap", "no seed had samples that only one model got "
                       "right, so the pretrained model's extra answers cannot be located", {})
    bins = correctness_by_bin(samples)
    advantage = bins.groupby(["target", "bin"])["advantage"].mean().unstack("bin")
    hardest, easiest = advantage.columns.max(), advantage.columns.min()
    struggles = bool((advantage[hardest] < advantage[easiest]).all())
    mean, low, high = bootstrap_ci(per_seed.to_numpy())
    verdict = ladder(low > 0 and struggles, not_supported=mean <= 0)
    return Verdict(
        "P4", verdict, round(mean, 3), "difficulty gap (scratch-only minus pretrained-only correct answers)",
        f"difficulty gap {mean:+.3f} (95% CI {low:+.3f} to {high:+.3f}); samples only pretrained / only scratch gets "
        "right, summed over seeds: " + ", ".join(
            f"{t} {int(g.only_pretrained.sum())} / {int(g.only_scratch.sum())}" for t, g in gaps.groupby("target"))
        + "; pretrained advantage easiest → hardest tercile (points): " + ", ".join(
            f"{t} {100 * row[easiest]:+.1f} → {100 * row[hardest]:+.1f}" for t, row in advantage.iterrows())
        + f"; smaller on the hardest tercile on every target: {struggles}.",
        {"gaps": gaps.to_dict("records"), "advantage": {f"{t}/{b}": float(v) for (t, b), v in advantage.stack().items()}},
    )


# ------------------------------------------------------------------------------------------ primary tests (issue 14)

RUNS = STUDY_TABLES["runs"]
MIN_EXTRA_ANSWERS = 5  # P4: fewer samples only one model gets right than this per (target, seed) locate nothing


def _p1_differences(tables):
    """Per seed pair: error barrier of the scratch pair minus the pretrained pair (points), mean over targets."""
    diffs = _pair_differences(tables(PAIRS))
    return (100 * diffs.groupby(["seed_a", "seed_b"])["barrier"].mean().sort_index()).to_numpy()


def _p2_differences(tables, near: str | None = None, far: str | None = None):
    """Per seed, the smallest of CKA(first) - CKA(last stage) on the near target, the same on the far target, and
    CKA(last stage) near minus far: every part of the claim must hold, so it is tested on the weakest."""
    cka = tables(CKA)
    if near is None or far is None:
        near, far = near_and_far(cka)
    wide = cka.pivot_table(index=["target", "seed"], columns="stage", values="cka")
    first, last = wide.columns.min(), wide.columns.max()
    parts = pd.concat([wide.loc[near][first] - wide.loc[near][last], wide.loc[far][first] - wide.loc[far][last],
                       wide.loc[near][last] - wide.loc[far][last]], axis=1, join="inner")
    return parts.min(axis=1).sort_index().to_numpy()


def _no_collapsed_run(inits, targets_from):
    """"no collapsed run" among the fine-tuned models (``transferred_runs``) of ``inits`` on the claim's targets."""
    def check(tables) -> dict[str, str]:
        try:
            runs = tables(RUNS)
        except (FileNotFoundError, KeyError):
            return {"no collapsed run": f"table {RUNS} is missing: the fine-tuned runs cannot be checked"}
        runs = runs[runs.init.isin(inits) & runs.target.isin(tables(targets_from)["target"].unique())]
        collapsed = collapsed_runs(runs, ["target", "init"])
        return {"no collapsed run": describe_runs(collapsed, ["target", "init"])} if len(collapsed) else {}
    return check


def _p4_preconditions(tables) -> dict[str, str]:
    """No collapsed model (accuracy over the samples, per target, init and seed) and, per (target, seed), at least
    MIN_EXTRA_ANSWERS samples that only the pretrained and only the scratch model gets right."""
    samples, failed = tables(SAMPLES), {}
    runs = samples.groupby(["target", "seed"])[["correct_pretrained", "correct_scratch"]].mean().reset_index().melt(
        id_vars=["target", "seed"], var_name="init", value_name="test_accuracy")
    collapsed = collapsed_runs(runs, ["target", "init"])
    if len(collapsed):
        failed["no collapsed run"] = describe_runs(collapsed, ["target", "init"])
    gaps = extra_answer_difficulty(samples)
    few = gaps[(gaps.only_pretrained < MIN_EXTRA_ANSWERS) | (gaps.only_scratch < MIN_EXTRA_ANSWERS)]
    if len(few):
        failed["extra answers on both sides"] = "; ".join(
            f"{r.target} seed {r.seed}: {r.only_pretrained} only pretrained, {r.only_scratch} only scratch"
            for r in few.head(3).itertuples()) + (f"; and {len(few) - 3} more" if len(few) > 3 else "") \
            + f" (fewer than {MIN_EXTRA_ANSWERS})"
    return failed


PRIMARY = {
    # 2 points: the barrier below which the rule calls a pair one basin; a smaller difference separates nothing.
    "P1": Primary(PrimaryTest("error barrier along the linear path between two fine-tuned models, scratch pair minus "
                              "pretrained pair, per pair of seeds averaged over the targets", "greater", 100 *
                              BASIN_ERROR_BARRIER, method="t", unit="points", preconditions=("no collapsed run",),
                              pairing="seed pairs (a, b): the pretrained and the scratch models fine-tuned with "
                                      "seeds a and b (pairs share models, so the three values are not independent)"),
                  _p1_differences, _no_collapsed_run(("pretrained", "scratch"), PAIRS)),
    # 0.05 CKA: changes of a few hundredths are within what two fine-tuning seeds differ by.
    "P2": Primary(PrimaryTest("the smallest, per seed, of CKA(first) - CKA(last stage) on the near and on the far "
                              "target and of last-stage CKA near minus far (CKA between the source model and the "
                              "fine-tuned one)", "greater", 0.05, method="t", unit="",
                              pairing="the model fine-tuned with each seed, on both targets",
                              preconditions=("no collapsed run",)),
                  _p2_differences, _no_collapsed_run(("pretrained",), CKA)),
    # 0.05: half of one disagreeing neighbour in ten, the difficulty score's resolution is 0.1.
    "P4": Primary(PrimaryTest("difficulty gap: mean difficulty of the samples only the scratch model gets right minus "
                              "those only the pretrained model gets right, per seed averaged over targets",
                              "greater", 0.05, method="t", unit="",
                              pairing="the pretrained and the scratch model fine-tuned with the same seed",
                              preconditions=("no collapsed run", "extra answers on both sides")),
                  lambda tables: extra_answer_difficulty(tables(SAMPLES)).groupby("seed")["difficulty_gap"].mean()
                  .sort_index().to_numpy(), _p4_preconditions),
}
