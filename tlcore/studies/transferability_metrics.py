"""Chapter 4, transferability metrics: score the candidates before fine-tuning, then fine-tune them (M1, M2)."""

from __future__ import annotations

import pandas as pd

from .. import data, models
from ..remembered import remembered
from ..runs.transfer import run_many
from .common import ranking_runs

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {
    "scores": "transferability_scores",
    "accuracy": "transferability_accuracy",
    "correlations": "transferability_correlations",
    "baselines": "transferability_baselines",
    "tau": "transferability_tau",
    "seed_scores": "transferability_seed_scores",
}


def transferability_study(profile, *, metrics=None, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Score every candidate source model on every target before fine-tuning, then fine-tune each on each.

    Scores use the target's training split at ``profile.ranking.size`` images per class (first seed): every metric
    of :data:`tlcore.metrics.METRICS` (or ``metrics``) and the sanity baselines that look at nothing of the target
    (parameter count, reported source accuracy). Each candidate is then fine-tuned from its pretrained weights with
    one protocol for all (``profile.ranking.lr``, ``profile.ranking.steps``), for every seed.
    Returns ``scores`` (target, model, metric, score), ``baselines`` (the same columns, one row per baseline) and
    ``accuracy`` (one row per fine-tuning run). ``seed_scores`` has the metrics' scores per seed (column seed): the
    seed's training sample scored on the candidates as that seed's runs start from them (with
    ``profile.ranking.per_seed_pretraining``, pretrained with the same seed), so that a seed's ranking and its
    fine-tuned accuracies share a pretraining.
    """
    from ..metrics import METRICS

    metrics = list(metrics or METRICS)
    candidates, size = list(profile.ranking.candidates), profile.ranking.size

    def scored(seed: int) -> pd.DataFrame:
        return pd.concat([candidate_scores(candidates, target, size, seed, metrics,
                                           pretrain_seed=profile.ranking.pretrain_seed(seed))
                          for target in profile.targets], ignore_index=True)

    columns = ["model", "metric", "score", "target"]
    seed_scores = pd.concat([scored(seed).assign(seed=seed) for seed in profile.seeds], ignore_index=True)
    ranked = seed_scores[seed_scores.seed == profile.seeds[0]]
    accuracy = run_many(ranking_runs(profile, profile.ranking.candidates), progress=progress).rename(
        columns={"arch": "model"}
    )
    return {"scores": ranked[ranked.kind == "metric"][columns].reset_index(drop=True),
            "baselines": ranked[ranked.kind == "baseline"][columns].reset_index(drop=True), "accuracy": accuracy,
            "seed_scores": seed_scores[seed_scores.kind == "metric"][[*columns, "seed"]].reset_index(drop=True)}


@remembered("scores", depends=lambda arguments: models.source_keys(*arguments["candidates"],
                                                                  pretrain_seeds=(arguments["pretrain_seed"],)))
def candidate_scores(candidates: list[str], target: str, n_per_class: int, seed: int, metrics: list[str],
                     pretrain_seed: int = 0) -> pd.DataFrame:
    """Every metric's and baseline's score of every pretrained candidate (its pretraining ``pretrain_seed``) on
    ``target``'s training sample (``seed``, ``n_per_class`` images per class): columns model, metric, score, kind,
    target."""
    from ..metrics import rank_models

    candidates_ = {name: models.create(name, pretrained=True, pretrain_seed=pretrain_seed, progress=False).eval()
                   for name in candidates}
    train = data.load(target, "train", n_per_class, seed=seed)
    return rank_models(candidates_, train, metrics=metrics, progress=False, baselines=True).assign(target=target)
