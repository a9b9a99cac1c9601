"""Chapter 3, which source model: source models that differ in one thing, probed and fine-tuned on every target (T2,
T5, T6, S6). The embedded tier compares the zoo's variants, pretrained here; the real tier compares published timm
weights (:mod:`tlcore.models.timm_sources`), whose source accuracy is the published ImageNet top-1."""

from __future__ import annotations

import pandas as pd

from .. import models
from ..models.timm_sources import TIMM_SOURCES, timm_source_frame
from ..runs.transfer import run_many
from .common import ranking_runs

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {"sources": "source_models", "finetuned": "source_model_finetuned", "probes": "source_model_probes",
          "pretrainings": "source_model_pretrainings"}


def source_model_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Which source model transfers best? For every zoo model of ``profile.source_choice.roles``: its source accuracy
    (``sources``, one row per model), the linear-probe test accuracy of its frozen features on every target at
    ``profile.ranking.size`` images per class (``probes``, one row per model x target x seed), and, for
    ``profile.ranking.candidates`` plus ``profile.source_choice.finetuned``, fine-tuned accuracy at the ranking
    protocol of :func:`transferability_study` (``finetuned``, one row per run; the candidates' runs are the same
    runs). With ``profile.ranking.per_seed_pretraining`` seed s starts from (and probes) each model pretrained with
    seed s; ``pretrainings`` has the source accuracy of every pretraining used (one row per model x pretrain_seed),
    and ``sources`` their mean."""
    from ..analysis.probes import probe_frame

    finetuned_names = finetuned_models(profile)
    roles = dict(profile.source_choice.roles)
    if all(name in TIMM_SOURCES for name in roles.values()):  # the real tier: published weights, one pretraining
        sources = timm_source_frame(list(roles.values())).assign(role=list(roles))
        pretrainings = sources[["model", "source_val_accuracy", "source_test_accuracy", "pretrain_seconds"]].assign(
            pretrain_seed=0)
    else:
        roles.update({name: name for name in finetuned_names if name not in roles.values()})  # T6: every source
        pretrain_seeds = tuple(dict.fromkeys(profile.ranking.pretrain_seed(seed) for seed in profile.seeds))
        pretrainings = pretraining_frame(list(dict.fromkeys(roles.values())), pretrain_seeds)
        sources = source_model_frame(roles, pretrainings)
    baselines = profile.source_choice.baselines
    sources = sources.assign(baseline=[None if r == "reference" else baselines.get(r, "reference")
                                       for r in sources["role"]])
    finetuned = run_many(ranking_runs(profile, finetuned_names), progress=progress).rename(columns={"arch": "model"})
    probes = probe_frame(list(sources["model"]), profile.targets, n_per_class=profile.ranking.size, seeds=profile.seeds,
                         per_seed_pretraining=profile.ranking.per_seed_pretraining)
    return {"sources": sources, "probes": probes, "finetuned": finetuned, "pretrainings": pretrainings}


def finetuned_models(profile) -> list[str]:
    """The models chapter 3 fine-tunes: chapter 4's candidates, then ``profile.source_choice.finetuned``."""
    return list(dict.fromkeys([*profile.ranking.candidates, *profile.source_choice.finetuned]))


def pretraining_frame(names, pretrain_seeds=(0,)) -> pd.DataFrame:
    """One row per zoo model of ``names`` and pretraining seed: model, pretrain_seed, the source accuracy recorded
    when it was pretrained (validation and test) and the seconds it took. Pretrains any model not in the cache."""
    rows = []
    for name in names:
        for seed in pretrain_seeds:
            provenance = models.source_provenance(name, seed)
            rows.append({"model": name, "pretrain_seed": seed,
                         "source_val_accuracy": provenance["source_val_accuracy"],
                         "source_test_accuracy": provenance["source_test_accuracy"],
                         "pretrain_seconds": provenance["seconds"]})
    return pd.DataFrame(rows, columns=["model", "pretrain_seed", "source_val_accuracy", "source_test_accuracy",
                                       "pretrain_seconds"])


def source_model_frame(roles: dict[str, str], pretrainings: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per zoo model of ``roles`` (role -> model name): role, model, the source accuracy recorded when it
    was pretrained (the mean over the pretrainings of ``pretrainings``, see :func:`pretraining_frame`; default: the
    first pretraining only), how many pretrainings, and what distinguishes its recipe (depth, width, steps, source
    images, loss). Pretrains any model not yet in the cache."""
    if not roles:
        raise ValueError("no source roles given: this profile names no zoo models to compare (set source_choice.roles)")
    unknown = sorted(set(roles.values()) - set(models.ZOO))
    if unknown:
        raise KeyError(f"source roles name models outside the zoo: {unknown}; the zoo has {sorted(models.ZOO)}")
    if pretrainings is None:
        pretrainings = pretraining_frame(list(dict.fromkeys(roles.values())))
    mean = pretrainings.groupby("model")[["source_val_accuracy", "source_test_accuracy", "pretrain_seconds"]].mean()
    count = pretrainings.groupby("model")["pretrain_seed"].nunique()
    rows = []
    for role, name in roles.items():
        entry = models.ZOO[name]
        rows.append(
            {
                "role": role,
                "model": name,
                "source_val_accuracy": mean.loc[name, "source_val_accuracy"],
                "source_test_accuracy": mean.loc[name, "source_test_accuracy"],
                "pretrainings": int(count.loc[name]),
                "blocks": sum(entry.layers),
                "width": entry.channels[-1],
                "pretrain_steps": entry.protocol.steps,
                "source_per_class": entry.source_per_class,
                "label_smoothing": entry.protocol.label_smoothing,
                "drop_rate": entry.drop_rate,
                "pretrain_seconds": mean.loc[name, "pretrain_seconds"],
            }
        )
    return pd.DataFrame(rows)
