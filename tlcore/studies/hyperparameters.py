"""Hyper-parameter studies (chapter 6): an LR x momentum grid, schedule length, MixUp, the BiT rule against a grid,
and the linear-probe / quick fine-tune gap. Every run is a :class:`~tlcore.runs.transfer.TransferRun` of the pretrained
source model, so runs equal to chapter 1's (same protocol) come from the store.
"""

from __future__ import annotations

import pandas as pd

from .. import data
from ..analysis.grids import effective_learning_rate
from ..finetune.protocol import Protocol
from ..finetune.recipes import BIT_LR, bit_hyperrule
from ..runs.transfer import TransferRun, run_many
from .common import _lr_lookup, epoch_steps, protocol_for, tuned_learning_rates

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {
    "similarity": "hp_similarity",
    "grid": "hp_grid",
    "schedule": "hp_schedule",
    "mixup": "hp_mixup",
    "bit": "hp_bit_recipe",
    "probe_gap": "hp_probe_gap",
}


def grid_protocol(profile, lr: float, momentum: float) -> Protocol:
    """The chapter's protocol at ``lr`` and ``momentum``, shortened to ``profile.hp.steps`` steps."""
    return protocol_for(profile, lr).with_(steps=profile.hp.steps, momentum=momentum)


def chance_level(target: str) -> float:
    return 1.0 / data.num_classes(target)


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["diverged"] = frame["val_accuracy"].isna()
    frame["chance"] = frame["target"].map({t: chance_level(t) for t in frame["target"].unique()})
    return frame


def grid_targets(profile) -> tuple[str, ...]:
    """The targets of the learning-rate x momentum grid, of H1's similarity and of M3's probe gap: the profile's
    and ``hp.extra_targets``."""
    return tuple(dict.fromkeys(profile.targets + profile.hp.extra_targets))


def grid_setup(profile):
    """The set-up of the grid, H1's similarity and M3's probe gap: ``profile`` at ``hp.grid_seeds`` where the
    profile sets them (the rank correlations and the spread contrast need more seeds than the chapter's other
    experiments), else ``profile`` itself."""
    return profile.with_(seeds=profile.hp.grid_seeds) if profile.hp.grid_seeds else profile


def lr_momentum_grid(profile, *, progress: bool = True) -> pd.DataFrame:
    """Fine-tune on every :func:`grid_targets` target at ``hp.sizes[0]`` (and at every hp size on
    ``hp.large_targets``) for each (lr, momentum) in ``hp_lrs`` x ``hp_momenta``, every seed, ``hp_steps`` steps. One
    row per run, with the ``effective_lr``, whether it ``diverged`` and the target's ``chance`` accuracy."""
    specs = [
        TransferRun(target, n, True, profile.arch, grid_protocol(profile, lr, momentum), seed)
        for target in grid_targets(profile)
        for n in (profile.hp.sizes if target in profile.hp.large_targets else profile.hp.sizes[:1])
        for lr in profile.hp.lrs
        for momentum in profile.hp.momenta
        for seed in profile.seeds
    ]
    frame = _tidy(run_many(specs, progress=progress))
    frame["effective_lr"] = effective_learning_rate(frame["protocol_lr"], frame["protocol_momentum"])
    return frame


def schedule_study(profile, *, progress: bool = True) -> pd.DataFrame:
    """At each ``hp.large_targets`` target's tuned learning rate (chapter 1's choice): every schedule length of
    :func:`schedule_lengths`, at every hp size and seed. All are cosine decays to 0, so a short one also decays
    faster. Where a length is the chapter-wide one (``steps``) its runs are chapter 1's; a short one at a grid
    learning rate shares the grid's (momentum 0.9 is the default)."""
    lr_of = _lr_lookup(tuned_learning_rates(profile, progress=progress))
    specs = [
        TransferRun(
            target, n, True, profile.arch, protocol_for(profile, lr_of[target, "pretrained"]).with_(steps=steps), seed
        )
        for target in profile.hp.large_targets
        for n in profile.hp.sizes
        for steps in schedule_lengths(profile)
        for seed in profile.seeds
    ]
    return _tidy(run_many(specs, progress=progress))


def schedule_lengths(profile) -> list[int]:
    """H3's schedule lengths, shortest first: ``hp.schedule_steps``, else the grid's ``hp.steps`` and ``steps``."""
    return sorted(set(profile.hp.schedule_steps or (profile.hp.steps, profile.steps)))


def mixup_schedule(profile) -> dict[int, int]:
    """H4's steps at each of its sizes (:class:`~tlcore.studies.groups.HyperParameters` ``mixup_sizes`` and
    ``mixup_epochs``): about ``mixup_epochs`` passes over the training split, never fewer than the profile's steps."""
    return {n: epoch_steps(profile, profile.hp.mixup_target, n, profile.hp.mixup_epochs)
            for n in profile.hp.mixup_sizes or profile.sizes}


def mixup_study(profile, *, progress: bool = True) -> pd.DataFrame:
    """MixUp (``mixup_alpha``) on and off on ``mixup_target`` at every size of :func:`mixup_schedule` and its
    steps, its tuned learning rate, every seed. At the profile's sizes and steps "off" is chapter 1's run."""
    lr = _lr_lookup(tuned_learning_rates(profile, progress=progress))[profile.hp.mixup_target, "pretrained"]
    specs = [
        TransferRun(
            profile.hp.mixup_target, n, True, profile.arch,
            protocol_for(profile, lr).with_(mixup_alpha=alpha, steps=steps), seed
        )
        for n, steps in mixup_schedule(profile).items()
        for alpha in (0.0, profile.hp.mixup_alpha)
        for seed in profile.seeds
    ]
    return _tidy(run_many(specs, progress=progress))


def bit_default(profile) -> Protocol:
    """The BiT-HyperRule protocol for ``bit_target`` at ``bit_size`` images per class, at ``bit_scale``."""
    # The training split has bit_size images of every class (the profile's sizes exist in its targets).
    images = profile.hp.bit_size * data.num_classes(profile.hp.bit_target)
    return bit_hyperrule(images, scale=profile.hp.bit_scale, batch_size=profile.batch_size)


def bit_recipe_study(profile, *, progress: bool = True) -> pd.DataFrame:
    """The survey's table 1 at our scale, on ``bit_target`` at ``bit_size`` per class, every seed.

    Rows are tagged by ``recipe``: ``grid`` for each learning rate of ``bit_lrs`` x schedule ("default" length or
    "x2" the steps, everything else the BiT rule's; the cell at BiT's rate and default length is the BiT default),
    and ``tuned_reference`` for chapter 1's recipe (its tuned rate, cosine schedule, best validation checkpoint): the
    best this book knows for the target, in the role of table 1's best known result.
    """
    default = bit_default(profile)
    lrs = sorted({*profile.hp.bit_lrs, BIT_LR})
    cells = [
        (lr, schedule, default.with_(lr=lr, steps=default.steps * factor))
        for lr in lrs
        for schedule, factor in (("default", 1), ("x2", 2))
    ]
    grid_specs = [
        TransferRun(profile.hp.bit_target, profile.hp.bit_size, True, profile.arch, protocol, seed)
        for _, _, protocol in cells
        for seed in profile.seeds
    ]
    grid = run_many(grid_specs, progress=progress)
    grid["recipe"] = "grid"
    grid["schedule"] = [schedule for _, schedule, _ in cells for _ in profile.seeds]
    lr = _lr_lookup(tuned_learning_rates(profile, progress=progress))[profile.hp.bit_target, "pretrained"]
    reference = run_many(
        [
            TransferRun(profile.hp.bit_target, profile.hp.bit_size, True, profile.arch, protocol_for(profile, lr), seed)
            for seed in profile.seeds
        ],
        progress=False,
    )
    reference["recipe"], reference["schedule"] = "tuned_reference", "chapter 1"
    frame = _tidy(pd.concat([grid, reference], ignore_index=True))
    frame["bit_default"] = (frame.recipe == "grid") & (frame.protocol_lr == BIT_LR) & (frame.schedule == "default")
    return frame


def probe_gap_study(profile, similarity: pd.DataFrame, *, progress: bool = True) -> pd.DataFrame:
    """Per target and seed: a quick fine-tune at a fixed, untuned learning rate (``quick_lr``, ``quick_steps``
    steps) at ``hp.sizes[0]`` per class, against the linear probe on frozen source features of ``similarity``
    (:func:`tlcore.analysis.probes.probe_similarity` at the same size and seeds). Both on validation data;
    ``gap`` = quick fine-tune - probe."""
    n = profile.hp.sizes[0]
    if set(similarity.n_per_class) != {n}:
        raise ValueError(
            f"the probes must be at hp.sizes[0]={n} images per class, got {sorted(set(similarity.n_per_class))}"
        )
    quick = run_many(quick_runs(profile), progress=progress)
    quick = quick[["target", "seed", "n_per_class", "val_accuracy"]].rename(columns={"val_accuracy": "quick_ft"})
    out = quick.merge(
        similarity[["target", "seed", "probe_pretrained"]].rename(columns={"probe_pretrained": "probe"}),
        on=["target", "seed"],
        validate="one_to_one",
    )
    out["gap"] = out["quick_ft"] - out["probe"]
    return out


def quick_runs(profile) -> list[TransferRun]:
    """:func:`probe_gap_study`'s quick fine-tunes: ``hp.quick_lr`` for ``hp.quick_steps`` steps at ``hp.sizes[0]``
    per class, every :func:`grid_targets` target and seed."""
    protocol = protocol_for(profile, profile.hp.quick_lr).with_(steps=profile.hp.quick_steps)
    return [TransferRun(target, profile.hp.sizes[0], True, profile.arch, protocol, seed)
            for target in grid_targets(profile) for seed in profile.seeds]
