"""Chapter 2, what to transfer: keep the first k stages, re-initialise the rest (T3, T4, P3, H2)."""

from __future__ import annotations

import pandas as pd

from .. import models
from ..results.selection import select_on_validation
from ..runs.transfer import TransferRun, run_many
from .common import protocol_for
from .does_transfer_help import TABLES as _CHAPTER_1_TABLES

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {
    "probe_gap": "probe_vs_finetune",
    "stage_probes": "stage_probes",
    "tuning": "reinit_tuning",
    "grid": "reinit_grid",
    "similarity": _CHAPTER_1_TABLES["similarity"],
}


def reinit_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Transfer the first k stages of the pretrained source model and re-initialise the rest, for every k in
    ``profile.reinit.stages`` (k = the number of stages is plain fine-tuning) x learning rate in
    ``profile.reinit.lrs`` x seed, on ``profile.reinit.targets`` at ``profile.reinit.size`` images per class for
    ``profile.reinit.steps`` steps. Every learning rate runs with every seed, so the choice of learning rate per k,
    made on mean validation accuracy, can itself be compared across seeds.

    Returns ``tuning`` (one row per run: target, transferred_stages, reinitialised_stages, lr, seed, val_accuracy,
    test_accuracy), ``chosen`` (per target and k, the learning rate of best mean validation accuracy) and ``grid``
    (the runs at the chosen learning rates).
    """
    from ..finetune.stages import model_stages

    stages = len(model_stages(models.create(profile.arch, pretrained=False)))
    bad = [k for k in profile.reinit.stages if not 0 <= k <= stages]
    if bad:
        raise ValueError(f"reinit.stages {bad} out of range: {profile.arch} has {stages} stages")
    base = protocol_for(profile, profile.reinit.lrs[0]).with_(steps=profile.reinit.steps)
    specs = [
        TransferRun(
            target,
            profile.reinit.size,
            True,
            profile.arch,
            base.with_(lr=lr, reinit_from_stage=k if k < stages else None),
            seed,
        )
        for target in profile.reinit.targets
        for k in profile.reinit.stages
        for lr in profile.reinit.lrs
        for seed in profile.seeds
    ]
    tuning = run_many(specs, progress=progress)
    tuning["transferred_stages"] = [int(k) if pd.notna(k) else stages for k in tuning["protocol_reinit_from_stage"]]
    tuning["reinitialised_stages"] = stages - tuning["transferred_stages"]
    tuning = tuning.rename(columns={"protocol_lr": "lr"})[
        [
            "target",
            "n_per_class",
            "transferred_stages",
            "reinitialised_stages",
            "lr",
            "seed",
            "val_accuracy",
            "test_accuracy",
            "best_step",
            "seconds",
        ]
    ]
    chosen = select_on_validation(tuning, by=["target", "transferred_stages"], param="lr")
    grid = tuning.merge(chosen[["target", "transferred_stages", "lr"]], on=["target", "transferred_stages", "lr"])
    return {"tuning": tuning, "chosen": chosen, "grid": grid}
