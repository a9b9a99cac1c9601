"""Chapter 1, does transfer help? Pretrained against scratch over targets, sizes and seeds (T1, T7, T8)."""

from __future__ import annotations

import pandas as pd

from ..finetune.protocol import Protocol
from ..runs.transfer import TransferRun, run_many
from .common import _lr_lookup, epoch_steps, protocol_for, tuned_learning_rates

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {"grid": "transfer_grid", "curves": "transfer_curves", "similarity": "target_similarity"}


def transfer_sizes(profile, target: str) -> tuple[int, ...]:
    """The sizes (images per class) chapter 1 runs ``target`` at: the profile's and the target's ``extra_sizes``."""
    return tuple(profile.sizes) + dict(profile.transfer.extra_sizes).get(target, ())


def transfer_protocol(profile, target: str, n_per_class: int, lr: float) -> Protocol:
    """The chapter-wide protocol at ``lr``, for about ``transfer.epochs`` epochs of ``target`` at ``n_per_class``
    (:func:`~tlcore.studies.common.epoch_steps`; with ``epochs`` None, the chapter-wide protocol itself)."""
    return protocol_for(profile, lr).with_(steps=epoch_steps(profile, target, n_per_class, profile.transfer.epochs))


def schedule_summary(profile) -> str:
    """Chapter 1's schedule in words, for every page that names it: "about 30 epochs at every size, never fewer than
    150 steps", or "150 steps at every size"."""
    if profile.transfer.epochs is None:
        return f"{profile.steps} steps at every size"
    return f"about {profile.transfer.epochs:g} epochs at every size, never fewer than {profile.steps} steps"


def tuned_transfer_grid(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Pretrained vs scratch over ``profile.targets`` x :func:`transfer_sizes` x ``profile.seeds``, each (target,
    init) at its learning rate from :func:`tuned_learning_rates` and each size for :func:`transfer_protocol`'s
    steps. Returns the tidy frames ``chosen_lr``, ``grid`` (one row per run) and ``curves`` (one row per validation
    point)."""
    chosen = tuned_learning_rates(profile, progress=progress)
    lr_of = _lr_lookup(chosen)
    specs = [
        TransferRun(target, n, init == "pretrained", profile.arch,
                    transfer_protocol(profile, target, n, lr_of[target, init]), seed)
        for target in profile.targets
        for n in transfer_sizes(profile, target)
        for init in ("pretrained", "scratch")
        for seed in profile.seeds
    ]
    return {
        "chosen_lr": chosen,
        "grid": run_many(specs, progress=progress),
        "curves": run_many(specs, progress=False, curves=True),
    }
