"""Chapter 1, does transfer help? Pretrained against scratch over targets, sizes and seeds (T1, T7, T8)."""

from __future__ import annotations

import pandas as pd

from ..runs.transfer import TransferRun, run_many
from .common import _lr_lookup, protocol_for, tuned_learning_rates

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {"grid": "transfer_grid", "curves": "transfer_curves", "similarity": "target_similarity"}


def tuned_transfer_grid(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Pretrained vs scratch over ``profile.targets`` x ``profile.sizes`` x ``profile.seeds``, each (target, init)
    at its learning rate from :func:`tuned_learning_rates`. Returns the tidy frames ``chosen_lr``, ``grid`` (one row
    per run) and ``curves`` (one row per validation point)."""
    chosen = tuned_learning_rates(profile, progress=progress)
    lr_of = _lr_lookup(chosen)
    specs = [
        TransferRun(target, n, init == "pretrained", profile.arch, protocol_for(profile, lr_of[target, init]), seed)
        for target in profile.targets
        for n in profile.sizes
        for init in ("pretrained", "scratch")
        for seed in profile.seeds
    ]
    return {
        "chosen_lr": chosen,
        "grid": run_many(specs, progress=progress),
        "curves": run_many(specs, progress=False, curves=True),
    }
