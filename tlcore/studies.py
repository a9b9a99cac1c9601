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


def regularizer_weights(profile, protocols: dict[str, Protocol], *, progress: bool = True) -> pd.DataFrame:
    """The trade-off sweep: every set-up of ``profile.regularizers`` with a loss weight, at its default weight times
    each of ``profile.regularizer_weight_scales``, on each regularizer target (``protocols[target]``) at
    ``profile.tuning_size`` with the first seed. One row per run, with the column ``scale``."""
    from .regularizers.setups import DEFAULT_WEIGHTS, TRADE_OFF_SETUPS

    swept = [name for name in profile.regularizers if name in TRADE_OFF_SETUPS]
    specs = [TransferRun(target, profile.tuning_size, True, profile.arch, protocols[target], profile.seeds[0], name,
                         float(f"{DEFAULT_WEIGHTS[name] * scale:.6g}"))
             for target in profile.regularizer_targets for name in swept for scale in profile.regularizer_weight_scales]
    sweep = run_many(specs, progress=progress)
    sweep["scale"] = [round(w / DEFAULT_WEIGHTS[r], 6) for w, r in zip(sweep.regularizer_weight, sweep.regularizer)]
    return sweep


def regularizer_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Regularised fine-tuning of the pretrained source model, each set-up at a trade-off chosen on validation.

    Every target of ``profile.regularizer_targets`` gets its tuned pretrained learning rate
    (:func:`tuned_learning_rates`) and ``profile.regularizer_steps`` steps. The weight of each set-up is chosen per
    target on validation accuracy from the sweep of :func:`regularizer_weights`; StochNorm keeps its default p. Then
    every set-up runs over ``profile.regularizer_sizes`` x ``profile.seeds`` (``grid``), and
    ``profile.regularizer_large_setups`` also at ``profile.regularizer_large_size`` images per class on
    ``profile.regularizer_large_targets`` (``large``), at the same schedule and weights.

    Returns the tidy frames ``sweep`` (one row per sweep run), ``chosen`` (target, regularizer, weight,
    best_val_accuracy), ``grid`` and ``large`` (one row per run, the weight in column ``weight``).
    """
    from .regularizers.setups import DEFAULT_WEIGHTS

    unswept = set(profile.regularizer_large_targets) - set(profile.regularizer_targets)
    if unswept:  # their weights would silently fall back to the defaults
        raise ValueError(f"regularizer_large_targets {sorted(unswept)} are not among regularizer_targets "
                         f"{profile.regularizer_targets}, where the weights are chosen")
    lr_of = _lr_lookup(tuned_learning_rates(profile, progress=progress))
    steps = profile.regularizer_steps or profile.steps
    protocols = {target: protocol_for(profile, lr_of[target, "pretrained"]).with_(steps=steps)
                 for target in {*profile.regularizer_targets, *profile.regularizer_large_targets}}
    sweep = regularizer_weights(profile, protocols, progress=progress)
    chosen = select_on_validation(sweep, by=["target", "regularizer"], param="regularizer_weight")
    weight_of = {(row.target, row.regularizer): row.regularizer_weight for row in chosen.itertuples()}

    def spec(target, n, name, seed):
        weight = weight_of.get((target, name), DEFAULT_WEIGHTS[name])
        return TransferRun(target, n, True, profile.arch, protocols[target], seed, name, weight)

    grid = [spec(target, n, name, seed) for target in profile.regularizer_targets for n in profile.regularizer_sizes
            for name in profile.regularizers for seed in profile.seeds]
    large = [spec(target, profile.regularizer_large_size, name, seed) for target in profile.regularizer_large_targets
             for name in profile.regularizer_large_setups for seed in profile.seeds]
    weight = {"regularizer_weight": "weight"}
    return {"sweep": sweep.rename(columns=weight), "chosen": chosen.rename(columns=weight),
            "grid": run_many(grid, progress=progress).rename(columns=weight),
            "large": run_many(large, progress=progress).rename(columns=weight)}


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
