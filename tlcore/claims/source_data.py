"""Verdict rules of the chapter "Source data" (claims S1-S5).

Tables (written by the chapter, see :func:`tlcore.studies.source_data.source_data_study`):
- ``source_runs``: one fine-tuning run per row: model, source, target, seed, finetune_accuracy, probe_accuracy.
- ``source_roles``: claim, target, arm, model: which model plays which arm of each claim's comparison.
- ``source_emd``: model, source, target, seed, emd_similarity.
- ``source_random_probes``: model, target, seed, probe_accuracy: the same probe on a randomly initialised twin of
  each self-supervised model, the floor S5's precondition compares it with.
- ``source_matched``: target, model: S1's small matched sources; ``source_datl_weights``: DATL's class weights.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..studies.source_data import TABLES as STUDY_TABLES
from .ladder import ladder
from .primary import Primary, collapsed_runs, describe_runs
from .primary_test import PrimaryTest
from .registry import Verdict
from .stats import bootstrap_ci

RUNS, ROLES, EMD = STUDY_TABLES["runs"], STUDY_TABLES["roles"], STUDY_TABLES["emd"]
# What S1 and S2 manipulate (a matched small source; DATL's class weights): a tier that cannot make it says why there.
MATCHED, DATL = STUDY_TABLES["matched"], STUDY_TABLES["datl_weights"]
TABLES = (RUNS, ROLES)


def arm_differences(tables, claim: str, treated: str, control: str, column: str = "finetune_accuracy"
                    ) -> pd.DataFrame:
    """Per (target, seed): ``column`` of the treated arm's model minus the control arm's, for ``claim``."""
    roles = tables(ROLES)
    roles = roles[roles.claim == claim]
    runs = tables(RUNS)
    arms = {}
    for arm in (treated, control):
        chosen = roles[roles.arm == arm][["target", "model"]]
        if chosen.empty:
            raise ValueError(f"claim {claim} has no runs for arm {arm!r}")
        arms[arm] = chosen.merge(runs, on=["target", "model"]).set_index(["target", "seed"])[column]
    difference = (arms[treated] - arms[control]).dropna().rename("difference").reset_index()
    if difference.empty:
        raise ValueError(f"claim {claim}: arms {treated!r} and {control!r} share no (target, seed)")
    return difference


def _by_target(differences: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    return {target: bootstrap_ci(group["difference"].to_numpy()) for target, group in differences.groupby("target")}


def _pooled(differences: pd.DataFrame) -> tuple[float, float, float]:
    """Mean over targets per seed, then a bootstrap over seeds."""
    return bootstrap_ci(differences.groupby("seed")["difference"].mean().to_numpy())


def _describe(cells: dict, label: str) -> str:
    return f"{label}: " + ", ".join(f"{t} {100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"
                                    for t, (m, lo, hi) in cells.items()) + " points"


def _improves(tables, claim: str, treated: str, control: str, label: str) -> Verdict:
    """Supported: mean over targets > 0, some target's interval above 0 and none below 0; mixed: mean > 0."""
    differences = arm_differences(tables, claim, treated, control)
    cells = _by_target(differences)
    mean = _pooled(differences)[0]
    verdict = ladder(mean > 0 and any(lo > 0 for _, lo, _ in cells.values())
                     and not any(hi < 0 for *_, hi in cells.values()), mixed=mean > 0)
    probe = _by_target(arm_differences(tables, claim, treated, control, "probe_accuracy"))
    return Verdict(claim, verdict, round(100 * mean, 2), f"{label}, mean over targets (points)",
                   _describe(cells, f"{label}, fine-tuned") + "; " + _describe(probe, "linear probe") + ".",
                   {"cells": cells, "probe": probe})


def rule_s1(tables) -> Verdict:
    """Two parts on the targets that have a matched small source, fine-tuned test accuracy, 95% bootstrap over seeds.
    (a) more source data helps: the letters model pretrained on 300 images per class minus the one pretrained on 20
    per class (same steps), averaged over those targets, has its interval above 0; (b) a smaller matched source beats
    the larger generic one: the small matched source (about 1,000 images) minus the default letters model (over
    30,000 images), interval above 0 on every matched target. Supported when (a) and (b) hold; mixed when either
    holds or (b)'s mean is > 0 on some target; not supported otherwise."""
    more = arm_differences(tables, "S1", "generic_many", "generic_few")
    match = arm_differences(tables, "S1", "matched_small", "generic_large")
    more_ci, match_cells = _pooled(more), _by_target(match)
    more_holds = more_ci[1] > 0
    match_holds = all(lo > 0 for _, lo, _ in match_cells.values())
    verdict = ladder(more_holds and match_holds,
                     mixed=more_holds or match_holds or any(m > 0 for m, *_ in match_cells.values()))
    match_mean = _pooled(match)[0]
    probe = _by_target(arm_differences(tables, "S1", "matched_small", "generic_large", "probe_accuracy"))
    return Verdict(
        "S1", verdict, round(100 * match_mean, 2), "small matched - large generic source, fine-tuned (points)",
        f"(a) more letters (300 vs 20 per class): {100 * more_ci[0]:+.1f} [{100 * more_ci[1]:+.1f}, "
        f"{100 * more_ci[2]:+.1f}] points, holds: {more_holds}; (b) "
        + _describe(match_cells, "small matched - large generic, fine-tuned") + f", holds: {match_holds}; "
        + _describe(probe, "linear probe") + ".",
        {"more": more_ci, "match": match_cells, "probe": probe})


def rule_s2(tables) -> Verdict:
    """d = fine-tuned test accuracy from the DATL-weighted pretraining minus from the unweighted one (same recipe and
    steps), per target with a 95% bootstrap over seeds. Supported when d averaged over targets is > 0, some target's
    interval lies above 0 and none lies below 0; mixed when the average is > 0 only; not supported otherwise."""
    return _improves(tables, "S2", "weighted", "unweighted", "weighted - unweighted")


def rule_s4(tables) -> Verdict:
    """d = fine-tuned test accuracy of letters -> intermediate (a small source close to the target) -> target minus
    letters -> target, per target with a 95% bootstrap over seeds. Supported when d averaged over targets is > 0,
    some target's interval lies above 0 and none lies below 0; mixed when the average is > 0 only; not supported
    otherwise."""
    return _improves(tables, "S4", "two_step", "one_step", "two-step - one-step")


def rule_s5(tables) -> Verdict:
    """d = accuracy from self-supervised (SimCLR) pretraining on related unlabelled images minus from supervised
    pretraining on the unrelated labelled letters, on the related target, for fine-tuning and for a linear probe,
    95% bootstrap over seeds. Supported when either d has its interval above 0 and neither has its interval below 0;
    mixed when either d is > 0 on average; not supported otherwise."""
    cells = {column: _pooled(arm_differences(tables, "S5", "selfsup_related", "supervised_unrelated", column))
             for column in ("finetune_accuracy", "probe_accuracy")}
    above = any(lo > 0 for _, lo, _ in cells.values())
    below = any(hi < 0 for *_, hi in cells.values())
    verdict = ladder(above and not below, mixed=any(m > 0 for m, *_ in cells.values()))
    ft, lp = cells["finetune_accuracy"], cells["probe_accuracy"]
    return Verdict(
        "S5", verdict, round(100 * ft[0], 2), "self-supervised related - supervised unrelated, fine-tuned (points)",
        f"self-supervised related - supervised unrelated: fine-tuned {100 * ft[0]:+.1f} [{100 * ft[1]:+.1f}, "
        f"{100 * ft[2]:+.1f}], linear probe {100 * lp[0]:+.1f} [{100 * lp[1]:+.1f}, {100 * lp[2]:+.1f}] points.",
        {"finetune": ft, "probe": lp})


def centred_rank_correlation(similarity: pd.Series, accuracy: pd.Series) -> float:
    """Spearman correlation over (model, target) pairs between EMD similarity and fine-tuned accuracy (two series
    indexed by (model, target)), both centred on each target's mean so that it measures which source suits a
    target, not which target is easy."""
    pairs = pd.concat([similarity.rename("similarity"), accuracy.rename("accuracy")], axis=1, join="inner")
    if len(pairs) < 3:
        raise ValueError(f"need at least 3 (source, target) pairs with both EMD and accuracy, got {len(pairs)}")
    centred = pairs - pairs.groupby(level="target").transform("mean")
    return float(spearmanr(centred["similarity"], centred["accuracy"]).statistic)


def rule_s3(tables) -> Verdict:
    """rho = Spearman rank correlation over (source, target) pairs between EMD similarity (Cui et al. 2018, features
    of the default letters model) and fine-tuned test accuracy, both centred per target; 95% interval from every
    draw of the seeds with replacement (the same seeds for both). Supported when rho >= 0.5 and the interval lies
    above 0; mixed when rho > 0; not supported otherwise."""
    import itertools

    roles = tables(ROLES)
    sources = roles[roles.claim == "S3"][["model", "target"]]
    accuracy = sources.merge(tables(RUNS), on=["model", "target"]).pivot_table(
        index=["model", "target"], columns="seed", values="finetune_accuracy")
    similarity = sources.merge(tables(EMD), on=["model", "target"]).pivot_table(
        index=["model", "target"], columns="seed", values="emd_similarity")
    seeds = [s for s in accuracy.columns if s in similarity.columns]
    if len(seeds) < 2:
        raise ValueError(f"S3 needs at least 2 seeds with both EMD and accuracy, got {seeds}")
    rho = centred_rank_correlation(similarity[seeds].mean(axis=1), accuracy[seeds].mean(axis=1))
    draws = itertools.product(seeds, repeat=len(seeds))
    samples = np.array([centred_rank_correlation(similarity[list(d)].mean(axis=1), accuracy[list(d)].mean(axis=1))
                        for d in draws])
    samples = samples[np.isfinite(samples)]
    low, high = np.quantile(samples, [0.025, 0.975]) if len(samples) else (np.nan, np.nan)
    verdict = ladder(rho >= 0.5 and low > 0, mixed=rho > 0)
    return Verdict("S3", verdict, round(rho, 3), "Spearman rho, EMD similarity vs fine-tuned accuracy",
                   f"rho = {rho:+.2f} [{low:+.2f}, {high:+.2f}] over {len(accuracy)} (source, target) pairs, "
                   f"centred per target.", {"rho": rho, "low": float(low), "high": float(high)})


# ------------------------------------------------------------------------------------------ primary tests (issue 14)

RANDOM_PROBE = STUDY_TABLES["random_probes"]  # the same linear probe on randomly initialised twins
SELFSUP_PROBE_MARGIN = 0.05  # a source that "learned": its probe at least 5 points above random features'


def _seed_means(tables, claim: str, treated: str, control: str) -> pd.Series:
    """Per seed: fine-tuned test accuracy, treated arm minus control arm, mean over the claim's targets (points)."""
    return 100 * arm_differences(tables, claim, treated, control).groupby("seed")["difference"].mean()


def _s1_differences(tables):
    """Per seed, the smaller of part (a) and part (b): both parts must hold, so the claim is tested on the weaker."""
    parts = pd.concat([_seed_means(tables, "S1", "generic_many", "generic_few"),
                       _seed_means(tables, "S1", "matched_small", "generic_large")], axis=1, join="inner")
    return parts.min(axis=1).sort_index().to_numpy()


def _s3_differences(tables):
    """Per seed: the target-centred Spearman correlation of that seed's EMD similarity with its fine-tuned accuracy."""
    sources = tables(ROLES).query("claim == 'S3'")[["model", "target"]]
    accuracy = sources.merge(tables(RUNS), on=["model", "target"]).set_index(["model", "target", "seed"])
    similarity = sources.merge(tables(EMD), on=["model", "target"]).set_index(["model", "target", "seed"])
    seeds = sorted(set(accuracy.index.get_level_values("seed")) & set(similarity.index.get_level_values("seed")))
    return np.array([centred_rank_correlation(similarity.xs(s, level="seed")["emd_similarity"],
                                              accuracy.xs(s, level="seed")["finetune_accuracy"]) for s in seeds])


def _no_collapsed_run(*claims: str):
    """The precondition "no collapsed run" over the fine-tuning runs of ``claims``' arms."""
    def check(tables) -> dict[str, str]:
        roles = tables(ROLES)
        pairs = roles[roles.claim.isin(claims)][["model", "target"]].drop_duplicates()
        runs = pairs.merge(tables(RUNS), on=["model", "target"])
        collapsed = collapsed_runs(runs, ["model", "target"], column="finetune_accuracy")
        return {"no collapsed run": describe_runs(collapsed, ["model", "target"], column="finetune_accuracy")
                } if len(collapsed) else {}
    return check


def _s5_preconditions(tables) -> dict[str, str]:
    """"self-supervised source learned": on each S5 target, the self-supervised arm's linear probe (mean over seeds)
    is at least SELFSUP_PROBE_MARGIN above the same probe (size, split, seeds) on a randomly initialised twin of
    that model, mean over seeds; plus no collapsed run."""
    failed = dict(_no_collapsed_run("S5")(tables))
    roles = tables(ROLES)
    selfsup = roles[(roles.claim == "S5") & (roles.arm == "selfsup_related")][["model", "target"]]
    probe = selfsup.merge(tables(RUNS), on=["model", "target"]).groupby("target")["probe_accuracy"].mean()
    try:
        random = selfsup.merge(tables(RANDOM_PROBE), on=["model", "target"]).groupby("target")["probe_accuracy"].mean()
    except (FileNotFoundError, KeyError):  # results saved before the chapter measured its own floor
        random = pd.Series(dtype=float)
    short = []
    for target, accuracy in probe.items():
        if target not in random.index:
            short.append(f"{target}: self-supervised probe {accuracy:.3f}, no random-feature probe to compare with")
        elif accuracy - random[target] < SELFSUP_PROBE_MARGIN:
            short.append(f"{target}: self-supervised probe {accuracy:.3f} vs random features {random[target]:.3f}, "
                         f"{100 * (accuracy - random[target]):+.1f} points < {100 * SELFSUP_PROBE_MARGIN:.0f}")
    if short or probe.empty:
        failed["self-supervised source learned"] = "; ".join(short) or "no self-supervised probe"
    return failed


def _points(claim: str, quantity: str, sesoi: float, *, preconditions=("no collapsed run",)) -> PrimaryTest:
    return PrimaryTest(quantity, "greater", sesoi, method="t", unit="points", preconditions=preconditions,
                       pairing=f"{claim}'s two arms fine-tuned with the same seed (training sample, head "
                               "initialisation, batch order), each from its source model pretrained with that seed "
                               "where the profile pretrains per seed (the embedded tier)")


PRIMARY = {
    # 2 points: the size of gain that would make a practitioner choose one pretraining source over another.
    "S1": Primary(_points("S1", "the smaller, per seed, of (a) fine-tuned test accuracy from the letters model "
                                "pretrained on 300 minus on 20 images per class and (b) from the small matched "
                                "source minus the large generic one, each averaged over the matched targets", 2.0),
                  _s1_differences, _no_collapsed_run("S1")),
    # 1 point: re-weighting only changes the class mixture of pretraining; published DATL gains are a few points.
    "S2": Primary(_points("S2", "fine-tuned test accuracy from DATL-weighted minus unweighted pretraining, per seed "
                                "averaged over the DATL targets", 1.0),
                  lambda tables: _seed_means(tables, "S2", "weighted", "unweighted").sort_index().to_numpy(),
                  _no_collapsed_run("S2")),
    # 0.2: a rank correlation weaker than this would not help anyone choose a source.
    "S3": Primary(PrimaryTest("Spearman correlation over (source, target) pairs between EMD similarity and "
                              "fine-tuned test accuracy, both centred per target, computed separately per seed",
                              "greater", 0.2, method="t", unit="",
                              pairing="per seed: that seed's target sample for EMD and its fine-tuning runs",
                              preconditions=("no collapsed run",)),
                  _s3_differences, _no_collapsed_run("S3")),
    # 2 points: an extra pretraining stage costs a whole training run; a smaller gain does not repay it.
    "S4": Primary(_points("S4", "fine-tuned test accuracy of letters -> intermediate -> target minus letters -> "
                                "target, per seed averaged over the two-step targets", 2.0),
                  lambda tables: _seed_means(tables, "S4", "two_step", "one_step").sort_index().to_numpy(),
                  _no_collapsed_run("S4")),
    # 2 points, as S1: the gain that would decide which kind of pretraining to run.
    "S5": Primary(_points("S5", "fine-tuned test accuracy from self-supervised pretraining on related unlabelled "
                                "images minus supervised pretraining on unrelated labels, per seed (mean over the "
                                "S5 targets)", 2.0,
                          preconditions=("self-supervised source learned", "no collapsed run")),
                  lambda tables: _seed_means(tables, "S5", "selfsup_related", "supervised_unrelated"
                                             ).sort_index().to_numpy(), _s5_preconditions),
}
