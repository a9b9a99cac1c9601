"""Chapter 4, transferability metrics: score the candidates before fine-tuning, then fine-tune them (M1, M2)."""

from __future__ import annotations

import pandas as pd

from .. import data, models
from ..runs.transfer import run_many
from .common import ranking_runs

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {
    "scores": "transferability_scores",
    "accuracy": "transferability_accuracy",
    "correlations": "transferability_correlations",
    "baselines": "transferability_baselines",
    "tau": "transferability_tau",
}


def transferability_study(profile, *, metrics=None, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Score every candidate source model on every target before fine-tuning, then fine-tune each on each.

    Scores use the target's training split at ``profile.ranking.size`` images per class (first seed): every metric
    of :data:`tlcore.metrics.METRICS` (or ``metrics``) and the sanity baselines that look at nothing of the target
    (parameter count, reported source accuracy). Each candidate is then fine-tuned from its pretrained weights with
    one protocol for all (``profile.ranking.lr``, ``profile.ranking.steps``), for every seed.
    Returns ``scores`` (target, model, metric, score), ``baselines`` (the same columns, one row per baseline) and
    ``accuracy`` (one row per fine-tuning run).
    """
    from ..metrics import METRICS, rank_models

    candidates = {
        name: models.create(name, pretrained=True, progress=False).eval() for name in profile.ranking.candidates
    }
    frames = []
    for target in profile.targets:
        train = data.load(target, "train", profile.ranking.size, seed=profile.seeds[0])
        ranked = rank_models(candidates, train, metrics=metrics or tuple(METRICS), progress=False, baselines=True)
        frames.append(ranked.assign(target=target))
    ranked = pd.concat(frames, ignore_index=True)
    columns = ["model", "metric", "score", "target"]
    accuracy = run_many(ranking_runs(profile, profile.ranking.candidates), progress=progress).rename(
        columns={"arch": "model"}
    )
    return {"scores": ranked[ranked.kind == "metric"][columns].reset_index(drop=True),
            "baselines": ranked[ranked.kind == "baseline"][columns].reset_index(drop=True), "accuracy": accuracy}
