"""What several chapters share: the chapter-wide protocol, the learning rates tuned on validation, the ranking runs."""

from __future__ import annotations

import math

import pandas as pd

from .. import data
from ..finetune.protocol import Protocol
from ..results.selection import select_on_validation
from ..runs.transfer import TransferRun, run_many


def protocol_for(profile, lr: float) -> Protocol:
    """The chapter-wide fine-tuning protocol of ``profile`` at learning rate ``lr``."""
    return Protocol(lr=lr, steps=profile.steps, batch_size=profile.batch_size, eval_every=profile.eval_every)


def epoch_steps(profile, target: str, n_per_class: int, epochs: float | None) -> int:
    """Steps for about ``epochs`` passes over ``n_per_class`` images of each of ``target``'s classes at the profile's
    batch size, never fewer than the profile's steps (a small target still gets the chapter-wide schedule); the
    profile's steps when ``epochs`` is None."""
    if epochs is None:
        return profile.steps
    return max(profile.steps, math.ceil(epochs * n_per_class * data.num_classes(target) / profile.batch_size))


def tuned_learning_rates(profile, *, targets=None, progress: bool = True) -> pd.DataFrame:
    """The learning rate of each (target, init) chosen on validation accuracy, from ``profile.lr_grid[init]``, at
    ``profile.tuning_size`` images per class with the first seed, for every target of ``targets`` (None: the
    profile's). Returns the tidy frame of the choice (columns target, init, protocol_lr, best_val_accuracy); the
    tuning runs are stored, so every chapter shares them."""
    inits = {"pretrained": True, "scratch": False}
    tuning_specs = [
        TransferRun(target, profile.tuning_size, inits[init], profile.arch, protocol_for(profile, lr), profile.seeds[0])
        for target in (profile.targets if targets is None else targets)
        for init, lrs in profile.lr_grid.items()
        for lr in lrs
    ]
    return select_on_validation(run_many(tuning_specs, progress=progress), by=["target", "init"], param="protocol_lr")


def _lr_lookup(chosen: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(row.target, row.init): row.protocol_lr for row in chosen.itertuples()}


def ranking_run(profile, target: str, name: str, seed: int) -> TransferRun:
    """Pretrained zoo model ``name`` fine-tuned on ``target`` at ``profile.ranking.size`` images per class with the
    ranking protocol (``profile.ranking.lr``, ``profile.ranking.steps``), from the pretraining
    :meth:`Ranking.pretrain_seed` gives ``seed``."""
    protocol = protocol_for(profile, profile.ranking.lr).with_(steps=profile.ranking.steps)
    return TransferRun(target, profile.ranking.size, True, name, protocol, seed,
                       pretrain_seed=profile.ranking.pretrain_seed(seed))


def ranking_runs(profile, names) -> list[TransferRun]:
    """:func:`ranking_run` for each zoo model of ``names`` on every target, every seed."""
    return [
        ranking_run(profile, target, name, seed)
        for target in profile.targets
        for name in names
        for seed in profile.seeds
    ]
