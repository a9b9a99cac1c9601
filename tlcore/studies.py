"""Studies: the multi-run experiments chapters are made of, each a few lines over :mod:`tlcore.experiment`."""
from __future__ import annotations

import pandas as pd

from . import data, models
from .experiment import TransferRun, run_many, select_on_validation
from .finetune.protocol import Protocol


def protocol_for(profile, lr: float) -> Protocol:
    """The chapter-wide fine-tuning protocol of ``profile`` at learning rate ``lr``."""
    return Protocol(lr=lr, steps=profile.steps, batch_size=profile.batch_size, eval_every=profile.eval_every)


def tuned_learning_rates(profile, *, progress: bool = True) -> pd.DataFrame:
    """The learning rate of each (target, init) chosen on validation accuracy, from ``profile.lr_grid[init]``, at
    ``profile.tuning_size`` images per class with the first seed. Returns the tidy frame of the choice (columns
    target, init, protocol_lr, best_val_accuracy); the tuning runs are stored, so every chapter shares them."""
    inits = {"pretrained": True, "scratch": False}
    tuning_specs = [
        TransferRun(target, profile.tuning_size, inits[init], profile.arch, protocol_for(profile, lr), profile.seeds[0])
        for target in profile.targets for init, lrs in profile.lr_grid.items() for lr in lrs
    ]
    return select_on_validation(run_many(tuning_specs, progress=progress), by=["target", "init"], param="protocol_lr")


def _lr_lookup(chosen: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(row.target, row.init): row.protocol_lr for row in chosen.itertuples()}


def tuned_transfer_grid(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Pretrained vs scratch over ``profile.targets`` x ``profile.sizes`` x ``profile.seeds``, each (target, init)
    at its learning rate from :func:`tuned_learning_rates`. Returns the tidy frames ``chosen_lr``, ``grid`` (one row
    per run) and ``curves`` (one row per validation point)."""
    chosen = tuned_learning_rates(profile, progress=progress)
    lr_of = _lr_lookup(chosen)
    specs = [
        TransferRun(target, n, init == "pretrained", profile.arch, protocol_for(profile, lr_of[target, init]), seed)
        for target in profile.targets for n in profile.sizes for init in ("pretrained", "scratch")
        for seed in profile.seeds
    ]
    return {"chosen_lr": chosen, "grid": run_many(specs, progress=progress),
            "curves": run_many(specs, progress=False, curves=True)}


def regularizer_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Fine-tune the pretrained source model on ``profile.regularizer_targets`` x ``profile.regularizer_sizes`` with
    every set-up of ``profile.regularizers`` (default weights), at each target's tuned pretrained learning rate, for
    every seed. Plain fine-tuning ("none") is the same run as in the transfer grid, so it is shared through the store.
    """
    lr_of = _lr_lookup(tuned_learning_rates(profile, progress=progress))
    specs = [
        TransferRun(target, n, True, profile.arch, protocol_for(profile, lr_of[target, "pretrained"]), seed, setup)
        for target in profile.regularizer_targets for n in profile.regularizer_sizes
        for setup in profile.regularizers for seed in profile.seeds
    ]
    return {"grid": run_many(specs, progress=progress).rename(columns={"regularizer_weight": "weight"})}


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
    accuracy = run_many(ranking_runs(profile, profile.candidates), progress=progress).rename(columns={"arch": "model"})
    return {"scores": pd.concat(frames, ignore_index=True), "accuracy": accuracy}


def ranking_runs(profile, names) -> list[TransferRun]:
    """Fine-tune each pretrained zoo model of ``names`` on every target at ``profile.ranking_size`` images per class,
    one protocol for all (``profile.ranking_lr``, ``profile.ranking_steps``), every seed."""
    protocol = protocol_for(profile, profile.ranking_lr).with_(steps=profile.ranking_steps)
    return [TransferRun(target, profile.ranking_size, True, name, protocol, seed)
            for target in profile.targets for name in names for seed in profile.seeds]


def source_model_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Which source model transfers best? For every zoo model of ``profile.source_roles``: its source accuracy
    (``sources``, one row per model), the linear-probe test accuracy of its frozen features on every target at
    ``profile.ranking_size`` images per class (``probes``, one row per model x target x seed), and, for
    ``profile.candidates`` plus ``profile.source_finetuned``, fine-tuned accuracy at the ranking protocol of
    :func:`transferability_study` (``finetuned``, one row per run; the candidates' runs are the same runs)."""
    from .analysis.source_models import probe_frame, source_model_frame

    finetuned_names = list(dict.fromkeys([*profile.candidates, *profile.source_finetuned]))
    roles = dict(profile.source_roles)
    roles.update({name: name for name in finetuned_names if name not in roles.values()})  # T6 needs every source
    sources = source_model_frame(roles)
    finetuned = run_many(ranking_runs(profile, finetuned_names), progress=progress).rename(columns={"arch": "model"})
    probes = probe_frame(list(sources["model"]), profile.targets, n_per_class=profile.ranking_size,
                         seeds=profile.seeds)
    return {"sources": sources, "probes": probes, "finetuned": finetuned}
