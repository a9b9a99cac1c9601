"""Chapter 5, regularizers and normalisation: each set-up at a trade-off chosen on validation (R1-R8)."""

from __future__ import annotations

import pandas as pd

from ..finetune.protocol import Protocol
from ..results.selection import select_on_validation
from ..runs.transfer import TransferRun, run_many
from .common import _lr_lookup, protocol_for, tuned_learning_rates

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {
    "similarity": "regularizer_similarity",
    "sweep": "regularizer_sweep",
    "grid": "regularizer_grid",
    "large": "regularizer_large",
}


def regularizer_weights(profile, protocols: dict[str, Protocol], *, progress: bool = True) -> pd.DataFrame:
    """The trade-off sweep: every set-up of ``profile.regularization.setups`` with a loss weight, at its default weight
    times each of ``profile.regularization.weight_scales``, on each regularizer target (``protocols[target]``) at
    ``profile.tuning_size`` with the first seed. One row per run, with the column ``scale``."""
    from ..regularizers.setups import DEFAULT_WEIGHTS, TRADE_OFF_SETUPS

    swept = [name for name in profile.regularization.setups if name in TRADE_OFF_SETUPS]
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
        for target in profile.regularization.targets
        for name in swept
        for scale in profile.regularization.weight_scales
    ]
    sweep = run_many(specs, progress=progress)
    sweep["scale"] = [round(w / DEFAULT_WEIGHTS[r], 6) for w, r in zip(sweep.regularizer_weight, sweep.regularizer)]
    return sweep


def regularizer_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Regularised fine-tuning of the pretrained source model, each set-up at a trade-off chosen on validation.

    Every target of ``profile.regularization.targets`` gets its tuned pretrained learning rate
    (:func:`tuned_learning_rates`) and ``profile.regularization.steps`` steps. The weight of each set-up is chosen per
    target on validation accuracy from the sweep of :func:`regularizer_weights`; StochNorm keeps its default p. Then
    every set-up runs over ``profile.regularization.sizes`` x ``profile.seeds`` (``grid``), and
    ``profile.regularization.large_setups`` also at ``profile.regularization.large_size`` images per class on
    ``profile.regularization.large_targets`` (``large``), at the same schedule and weights.

    Returns the tidy frames ``sweep`` (one row per sweep run), ``chosen`` (target, regularizer, weight,
    best_val_accuracy), ``grid`` and ``large`` (one row per run, the weight in column ``weight``).
    """
    from ..regularizers.setups import DEFAULT_WEIGHTS

    unswept = set(profile.regularization.large_targets) - set(profile.regularization.targets)
    if unswept:  # their weights would silently fall back to the defaults
        raise ValueError(
            f"regularization.large_targets {sorted(unswept)} are not among regularization.targets "
            f"{profile.regularization.targets}, where the weights are chosen"
        )
    lr_of = _lr_lookup(tuned_learning_rates(profile, progress=progress))
    steps = profile.regularization.steps or profile.steps
    protocols = {
        target: protocol_for(profile, lr_of[target, "pretrained"]).with_(steps=steps)
        for target in {*profile.regularization.targets, *profile.regularization.large_targets}
    }
    sweep = regularizer_weights(profile, protocols, progress=progress)
    chosen = select_on_validation(sweep, by=["target", "regularizer"], param="regularizer_weight")
    weight_of = {(row.target, row.regularizer): row.regularizer_weight for row in chosen.itertuples()}

    def spec(target, n, name, seed):
        weight = weight_of.get((target, name), DEFAULT_WEIGHTS[name])
        return TransferRun(target, n, True, profile.arch, protocols[target], seed, name, weight)

    grid = [
        spec(target, n, name, seed)
        for target in profile.regularization.targets
        for n in profile.regularization.sizes
        for name in profile.regularization.setups
        for seed in profile.seeds
    ]
    large = [
        spec(target, profile.regularization.large_size, name, seed)
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
