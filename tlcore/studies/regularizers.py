"""Chapter 5, regularizers and normalisation: each set-up at a trade-off chosen on validation (R1-R8)."""

from __future__ import annotations

import pandas as pd

from ..finetune.protocol import Protocol
from ..results.selection import select_on_validation
from ..runs.transfer import TransferRun, run_many
from .common import _lr_lookup, epoch_steps, protocol_for, tuned_learning_rates

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {
    "similarity": "regularizer_similarity",
    "sweep": "regularizer_sweep",
    "grid": "regularizer_grid",
    "large": "regularizer_large",
}


def large_steps(profile, target: str) -> int:
    """Steps of R8's runs at ``profile.regularization.large_size`` on ``target``: about ``large_epochs`` epochs and
    never fewer than the grid's steps (BiT's point: a large target is given a longer schedule); the grid's steps when
    ``large_epochs`` is None."""
    group = profile.regularization
    steps = group.steps or profile.steps
    if group.large_epochs is None:
        return steps
    return max(steps, epoch_steps(profile, target, group.large_size, group.large_epochs))


def regularizer_weights(profile, protocols: dict[str, Protocol], *, progress: bool = True) -> pd.DataFrame:
    """The trade-off sweep: every set-up of ``profile.regularization.setups`` with a loss weight, at its default weight
    times each of ``profile.regularization.weight_scales``, on each regularizer target (``protocols[target]``) at
    ``profile.tuning_size`` with the first seed; on a large-size target that is not a regularizer target, only the
    set-ups R8 runs there (``large_setups``). One row per run, with the column ``scale``."""
    from ..regularizers.setups import DEFAULT_WEIGHTS, TRADE_OFF_SETUPS

    group = profile.regularization
    swept = {target: [name for name in group.setups if name in TRADE_OFF_SETUPS] for target in group.targets}
    for target in large_only_targets(profile):
        swept[target] = [name for name in group.large_setups if name in TRADE_OFF_SETUPS]
    specs = [
        TransferRun(
            target,
            profile.tuning_size,
            True,
            profile.arch,
            protocols[target],
            profile.seeds[0],
            name,
            float(f"{DEFAULT_WEIGHTS[name] * scale:.6g}"),
        )
        for target, names in swept.items()
        for name in names
        for scale in group.weight_scales
    ]
    sweep = run_many(specs, progress=progress)
    sweep["scale"] = [round(w / DEFAULT_WEIGHTS[r], 6) for w, r in zip(sweep.regularizer_weight, sweep.regularizer)]
    return sweep


def large_only_targets(profile) -> tuple[str, ...]:
    """R8's large-size targets that the grid does not run (their learning rate and weights are chosen all the same)."""
    group = profile.regularization
    return tuple(t for t in group.large_targets if t not in group.targets)


def regularizer_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Regularised fine-tuning of the pretrained source model, each set-up at a trade-off chosen on validation.

    Every target (of ``profile.regularization.targets`` and ``large_targets``) gets its tuned pretrained learning rate
    (:func:`tuned_learning_rates`, which tunes it there as chapter 1 does for its targets) and
    ``profile.regularization.steps`` steps. The weight of each set-up is chosen per
    target on validation accuracy from the sweep of :func:`regularizer_weights`; StochNorm keeps its default p. Then
    every set-up runs over ``profile.regularization.sizes`` x ``profile.seeds`` (``grid``), and
    ``profile.regularization.large_setups`` also at ``profile.regularization.large_size`` images per class on
    ``profile.regularization.large_targets`` (``large``), at the same weights and a schedule adapted to that size
    (:func:`large_steps`).

    Returns the tidy frames ``sweep`` (one row per sweep run), ``chosen`` (target, regularizer, weight,
    best_val_accuracy), ``grid`` and ``large`` (one row per run, the weight in column ``weight``).
    """
    from ..regularizers.setups import DEFAULT_WEIGHTS

    group = profile.regularization
    missing = [name for name in group.large_setups if name not in group.setups]
    if missing:  # a large set-up's weight is chosen by the sweep of the chapter's set-ups
        raise ValueError(f"regularization.large_setups {missing} are not among regularization.setups {group.setups}")
    lr_of = _lr_lookup(tuned_learning_rates(profile, progress=progress))
    if large_only_targets(profile):  # tuned as chapter 1 tunes its own targets (its runs are shared)
        lr_of |= _lr_lookup(tuned_learning_rates(profile, targets=large_only_targets(profile), progress=progress))
    steps = group.steps or profile.steps
    protocols = {
        target: protocol_for(profile, lr_of[target, "pretrained"]).with_(steps=steps)
        for target in {*group.targets, *group.large_targets}
    }
    sweep = regularizer_weights(profile, protocols, progress=progress)
    chosen = select_on_validation(sweep, by=["target", "regularizer"], param="regularizer_weight")
    weight_of = {(row.target, row.regularizer): row.regularizer_weight for row in chosen.itertuples()}

    def spec(target, n, name, seed, protocol=None):
        weight = weight_of.get((target, name), DEFAULT_WEIGHTS[name])
        return TransferRun(target, n, True, profile.arch, protocol or protocols[target], seed, name, weight)

    grid = [
        spec(target, n, name, seed)
        for target in profile.regularization.targets
        for n in profile.regularization.sizes
        for name in profile.regularization.setups
        for seed in profile.seeds
    ]
    large = [
        spec(target, profile.regularization.large_size, name, seed,
             protocols[target].with_(steps=large_steps(profile, target)))
        for target in profile.regularization.large_targets
        for name in profile.regularization.large_setups
        for seed in profile.seeds
    ]
    weight = {"regularizer_weight": "weight"}
    return {
        "sweep": sweep.rename(columns=weight),
        "chosen": chosen.rename(columns=weight),
        "grid": run_many(grid, progress=progress).rename(columns=weight),
        "large": run_many(large, progress=progress).rename(columns=weight),
    }
