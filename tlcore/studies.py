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
    protocol = protocol_for(profile, profile.ranking_lr).with_(steps=profile.ranking_steps)
    specs = [TransferRun(target, profile.ranking_size, True, name, protocol, seed)
             for target in profile.targets for name in profile.candidates for seed in profile.seeds]
    accuracy = run_many(specs, progress=progress).rename(columns={"arch": "model"})
    return {"scores": pd.concat(frames, ignore_index=True), "accuracy": accuracy}


def domain_adaptation_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Source-only training vs DANN: the pretrained source model learns the labelled domain of
    ``profile.adaptation_pair`` (``profile.adaptation_size`` images per class) for ``profile.neighbour_steps`` steps
    at the labelled domain's tuned pretrained learning rate; DANN also sees ``profile.adaptation_unlabelled``
    unlabelled images per class of the shifted domain. Both keep their final weights (``select="last"``), so no
    label of the shifted domain is used; accuracy is read on the shifted domain's test split, for every seed."""
    from .adaptation.domain_shift import AdaptationRun, run_adaptation_many

    labelled, shifted = profile.adaptation_pair
    lr = _lr_lookup(tuned_learning_rates(profile, progress=progress))[labelled, "pretrained"]
    protocol = protocol_for(profile, lr).with_(steps=profile.neighbour_steps, select="last")
    specs = [AdaptationRun(labelled, shifted, profile.adaptation_size, method, profile.adaptation_unlabelled,
                           profile.arch, True, protocol, seed)
             for method in ("source_only", "dann") for seed in profile.seeds]
    return {"runs": run_adaptation_many(specs)}


def continual_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Learn ``profile.continual_target`` (``profile.continual_size`` per class) from the pretrained source model
    with each of ``profile.continual_methods`` for ``profile.neighbour_steps`` steps, every seed, and score the
    source task before and after. Fine-tuning, LwF, L2-SP and the frozen probe use the target's tuned pretrained
    learning rate. The progressive network's new column starts from scratch: it uses the tuned scratch rate, lowered
    along the profile's learning-rate grid (scratch and pretrained values, descending) while its training diverges."""
    from .adaptation.forgetting import ContinualRun, first_stable, run_continual_many

    lr_of = _lr_lookup(tuned_learning_rates(profile, progress=progress))
    target = profile.continual_target
    scratch_lr = lr_of[target, "scratch"]
    fallback = sorted({lr for lrs in profile.lr_grid.values() for lr in lrs if lr <= scratch_lr}, reverse=True)
    specs = []
    for method in profile.continual_methods:
        for seed in profile.seeds:
            lr = scratch_lr if method == "progressive" else lr_of[target, "pretrained"]
            spec = ContinualRun(target, profile.continual_size, method, profile.arch,
                                protocol_for(profile, lr).with_(steps=profile.neighbour_steps), seed)
            specs.append(first_stable(spec, fallback) if method == "progressive" else spec)
    return {"runs": run_continual_many(specs)}


def few_shot_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """k-shot learning on ``profile.few_shot_targets`` for k in ``profile.few_shot_k``: fine-tuning the pretrained
    source model (chapter 1's protocol and tuned learning rate, so k in ``profile.sizes`` shares its runs) against
    the nearest-prototype classifier on the frozen source features, on the same k images per class, every seed.
    Returns ``runs``: target, k, method ("finetune" | "prototype"), seed, test_accuracy."""
    from .fewshot import prototype_accuracy

    lr_of = _lr_lookup(tuned_learning_rates(profile, progress=progress))
    specs = [TransferRun(target, k, True, profile.arch, protocol_for(profile, lr_of[target, "pretrained"]), seed)
             for target in profile.few_shot_targets for k in profile.few_shot_k for seed in profile.seeds]
    tuned = run_many(specs, progress=progress).assign(method="finetune")
    source = models.create(profile.arch, pretrained=True, progress=False).eval()
    prototypes = [{"target": target, "n_per_class": k, "seed": seed, "method": "prototype",
                   "test_accuracy": prototype_accuracy(source, data.load(target, "train", k, seed=seed),
                                                       data.load(target, "test", seed=seed))}
                  for target in profile.few_shot_targets for k in profile.few_shot_k for seed in profile.seeds]
    columns = ["target", "n_per_class", "seed", "method", "test_accuracy"]
    runs = pd.concat([tuned[columns], pd.DataFrame(prototypes)[columns]], ignore_index=True)
    return {"runs": runs.rename(columns={"n_per_class": "k"})}
