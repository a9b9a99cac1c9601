"""Studies: the multi-run experiments chapters are made of, each a few lines over :mod:`tlcore.experiment`."""
from __future__ import annotations

import pandas as pd

from . import data, models
from .experiment import TransferRun, run_many, select_on_validation
from .finetune.protocol import Protocol


def protocol_for(profile, lr: float) -> Protocol:
    """The chapter-wide fine-tuning protocol of ``profile`` at learning rate ``lr``."""
    return Protocol(lr=lr, steps=profile.steps, batch_size=profile.batch_size, eval_every=profile.eval_every)


def tuned_transfer_grid(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Pretrained vs scratch over ``profile.targets`` x ``profile.sizes`` x ``profile.seeds``.

    The learning rate of each (target, init) is chosen on validation accuracy at ``profile.tuning_size`` images per
    class with the first seed, from ``profile.lr_grid[init]``; the grid then runs with that rate. Returns the tidy
    frames ``tuning``, ``chosen_lr``, ``grid`` (one row per run) and ``curves`` (one row per validation point).
    """
    inits = {"pretrained": True, "scratch": False}
    tuning_specs = [
        TransferRun(target, profile.tuning_size, inits[init], profile.arch, protocol_for(profile, lr), profile.seeds[0])
        for target in profile.targets for init, lrs in profile.lr_grid.items() for lr in lrs
    ]
    tuning = run_many(tuning_specs, progress=progress)
    chosen = select_on_validation(tuning, by=["target", "init"], param="protocol_lr")
    lr_of = {(row.target, row.init): row.protocol_lr for row in chosen.itertuples()}
    specs = [
        TransferRun(target, n, inits[init], profile.arch, protocol_for(profile, lr_of[target, init]), seed)
        for target in profile.targets for n in profile.sizes for init in inits for seed in profile.seeds
    ]
    return {"tuning": tuning, "chosen_lr": chosen, "grid": run_many(specs, progress=progress),
            "curves": run_many(specs, progress=False, curves=True)}


def transferability_study(profile, *, metrics=None, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Score every candidate source model on every target before fine-tuning, then fine-tune each on each.

    Scores use the target's training split at ``profile.ranking_size`` images per class (first seed). Each candidate
    is then fine-tuned from its pretrained weights with one protocol for all (``profile.ranking_lr``,
    ``profile.ranking_steps``), for every seed.
    Returns ``scores`` (target, model, metric, score) and ``accuracy`` (one row per fine-tuning run).
    """
    from .metrics import DEFAULT_METRICS, rank_models

    candidates = {name: models.create(name, pretrained=True, progress=False).eval() for name in profile.candidates}
    frames = []
    for target in profile.targets:
        train = data.load(target, "train", profile.ranking_size, seed=profile.seeds[0])
        scores = rank_models(candidates, train, metrics=metrics or DEFAULT_METRICS, progress=False)
        frames.append(scores.assign(target=target))
    protocol = protocol_for(profile, profile.ranking_lr).with_(steps=profile.ranking_steps)
    specs = [TransferRun(target, profile.ranking_size, True, name, protocol, seed)
             for target in profile.targets for name in profile.candidates for seed in profile.seeds]
    accuracy = run_many(specs, progress=progress).rename(columns={"arch": "model"})
    return {"scores": pd.concat(frames, ignore_index=True), "accuracy": accuracy}
