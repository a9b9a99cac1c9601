"""Which source model? The zoo's own record of each model (source accuracy, depth, pretraining) and linear probes
of its frozen features on the targets: the measurements chapter 3 puts beside fine-tuned accuracy."""
from __future__ import annotations

import pandas as pd

from .. import data, models
from .similarity import linear_probe_accuracy


def source_model_frame(roles: dict[str, str]) -> pd.DataFrame:
    """One row per zoo model of ``roles`` (role -> model name): role, model, the source accuracy recorded when it
    was pretrained, and what distinguishes its recipe (depth, width, steps, source images, loss). Pretrains any
    model not yet in the cache."""
    if not roles:
        raise ValueError("no source roles given: this profile names no zoo models to compare (set source_roles)")
    unknown = sorted(set(roles.values()) - set(models.ZOO))
    if unknown:
        raise KeyError(f"source roles name models outside the zoo: {unknown}; the zoo has {sorted(models.ZOO)}")
    rows = []
    for role, name in roles.items():
        entry = models.ZOO[name]
        _, provenance = models.load_source_model(name, progress=False)
        rows.append({"role": role, "model": name, "source_val_accuracy": provenance["source_val_accuracy"],
                     "source_test_accuracy": provenance["source_test_accuracy"],
                     "blocks": sum(entry.layers), "width": entry.channels[-1],
                     "pretrain_steps": entry.protocol.steps, "source_per_class": entry.source_per_class,
                     "label_smoothing": entry.protocol.label_smoothing, "drop_rate": entry.drop_rate,
                     "pretrain_seconds": provenance["seconds"]})
    return pd.DataFrame(rows)


def probe_frame(names, targets, *, n_per_class: int, seeds) -> pd.DataFrame:
    """Linear-probe transfer (Kornblith et al.'s protocol): one row per (model, target, seed) with the test accuracy
    of a logistic regression on each pretrained model's frozen features of ``n_per_class`` training images per
    class (the seed's sample). No hyper-parameter is chosen, so the test split is read once per probe."""
    rows = []
    for name in names:
        model = models.create(name, pretrained=True, progress=False).eval()
        for target in targets:
            for seed in seeds:
                train = data.load(target, "train", n_per_class, seed=seed)
                test = data.load(target, "test", seed=seed)
                rows.append({"model": name, "target": target, "seed": seed, "n_per_class": n_per_class,
                             "probe_accuracy": linear_probe_accuracy(model, train, test)})
    return pd.DataFrame(rows)
