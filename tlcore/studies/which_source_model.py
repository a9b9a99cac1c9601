"""Chapter 3, which source model: the zoo's variants probed and fine-tuned on every target (T2, T5, T6, S6)."""

from __future__ import annotations

import pandas as pd

from .. import models
from ..runs.transfer import run_many
from .common import ranking_runs

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {"sources": "source_models", "finetuned": "source_model_finetuned", "probes": "source_model_probes"}


def source_model_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Which source model transfers best? For every zoo model of ``profile.source_choice.roles``: its source accuracy
    (``sources``, one row per model), the linear-probe test accuracy of its frozen features on every target at
    ``profile.ranking.size`` images per class (``probes``, one row per model x target x seed), and, for
    ``profile.ranking.candidates`` plus ``profile.source_choice.finetuned``, fine-tuned accuracy at the ranking
    protocol of :func:`transferability_study` (``finetuned``, one row per run; the candidates' runs are the same
    runs)."""
    from ..analysis.probes import probe_frame

    finetuned_names = list(dict.fromkeys([*profile.ranking.candidates, *profile.source_choice.finetuned]))
    roles = dict(profile.source_choice.roles)
    roles.update({name: name for name in finetuned_names if name not in roles.values()})  # T6 needs every source
    sources = source_model_frame(roles)
    finetuned = run_many(ranking_runs(profile, finetuned_names), progress=progress).rename(columns={"arch": "model"})
    probes = probe_frame(list(sources["model"]), profile.targets, n_per_class=profile.ranking.size, seeds=profile.seeds)
    return {"sources": sources, "probes": probes, "finetuned": finetuned}


def source_model_frame(roles: dict[str, str]) -> pd.DataFrame:
    """One row per zoo model of ``roles`` (role -> model name): role, model, the source accuracy recorded when it
    was pretrained, and what distinguishes its recipe (depth, width, steps, source images, loss). Pretrains any
    model not yet in the cache."""
    if not roles:
        raise ValueError("no source roles given: this profile names no zoo models to compare (set source_choice.roles)")
    unknown = sorted(set(roles.values()) - set(models.ZOO))
    if unknown:
        raise KeyError(f"source roles name models outside the zoo: {unknown}; the zoo has {sorted(models.ZOO)}")
    rows = []
    for role, name in roles.items():
        entry = models.ZOO[name]
        provenance = models.source_provenance(name)
        rows.append(
            {
                "role": role,
                "model": name,
                "source_val_accuracy": provenance["source_val_accuracy"],
                "source_test_accuracy": provenance["source_test_accuracy"],
                "blocks": sum(entry.layers),
                "width": entry.channels[-1],
                "pretrain_steps": entry.protocol.steps,
                "source_per_class": entry.source_per_class,
                "label_smoothing": entry.protocol.label_smoothing,
                "drop_rate": entry.drop_rate,
                "pretrain_seconds": provenance["seconds"],
            }
        )
    return pd.DataFrame(rows)
