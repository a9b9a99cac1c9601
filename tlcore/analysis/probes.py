"""Linear probes on frozen features: what a source model's fixed features are worth, stage by stage and against
fine-tuning the whole model.

A probe is an L2-regularised logistic regression on standardised features. Its regularisation strength is chosen on
the target's validation split from a small grid (the fine-tuned models it is compared with had their learning rate
chosen on validation too), and the test split is scored once, at the chosen strength.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from .. import data, models
from .features import extract_features, extract_stage_features

PROBE_CS = (0.01, 0.1, 1.0)


def probe_on_features(train, val, test, *, cs=PROBE_CS) -> dict:
    """Fit a probe on ``train`` = (features, labels) for each inverse strength in ``cs``, keep the one with the best
    accuracy on ``val`` (ties: the strongest regularisation), and score it on ``test``.

    Returns ``{"c", "val_accuracy", "test_accuracy"}``. Features are standardised with the training statistics.
    """
    if not cs:
        raise ValueError("cs must name at least one regularisation strength")
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = (_arrays(split) for split in (train, val, test))
    if len(np.unique(train_y)) < 2:
        raise ValueError("a probe needs training labels of at least two classes")
    scaler = StandardScaler().fit(train_x)
    train_x, val_x, test_x = scaler.transform(train_x), scaler.transform(val_x), scaler.transform(test_x)
    best = None
    for c in sorted(cs):
        classifier = LogisticRegression(C=c, max_iter=2000).fit(train_x, train_y)
        val_accuracy = float((classifier.predict(val_x) == val_y).mean())
        if best is None or val_accuracy > best[1]:
            best = (c, val_accuracy, classifier)
    c, val_accuracy, classifier = best
    return {"c": c, "val_accuracy": val_accuracy, "test_accuracy": float((classifier.predict(test_x) == test_y).mean())}


def _arrays(split):
    features, labels = split
    features = features.numpy() if hasattr(features, "numpy") else np.asarray(features)
    labels = labels.numpy() if hasattr(labels, "numpy") else np.asarray(labels)
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"features must be (N, D) with one label per row, got {features.shape} and {labels.shape}")
    return features, labels


def _splits(target: str, n_per_class: int, seed: int):
    """The same train/val/test samples a :class:`~tlcore.experiment.TransferRun` with this seed uses."""
    return (data.load(target, "train", n_per_class, seed=seed), data.load(target, "val", seed=seed),
            data.load(target, "test", seed=seed))


def frozen_feature_probes(arch: str, targets, sizes, seeds, *, cs=PROBE_CS) -> pd.DataFrame:
    """A probe on the pretrained ``arch``'s penultimate features, per target x training size x seed.

    One row each: target, n_per_class, seed, c, val_accuracy, test_accuracy.
    """
    model = models.create(arch, pretrained=True, progress=False).eval()
    rows = []
    for target in targets:
        for seed in seeds:
            _, val, test = _splits(target, min(sizes), seed)
            val_features, test_features = extract_features(model, val), extract_features(model, test)
            for n in sizes:
                train = data.load(target, "train", n, seed=seed)
                result = probe_on_features(extract_features(model, train), val_features, test_features, cs=cs)
                rows.append({"target": target, "n_per_class": n, "seed": seed, **result})
    return pd.DataFrame(rows)


def stage_probes(arch: str, targets, n_per_class: int, seeds, *, cs=PROBE_CS) -> pd.DataFrame:
    """A probe on each stage's pooled features of the pretrained ``arch`` (see
    :func:`~tlcore.analysis.features.extract_stage_features`), per target x seed at ``n_per_class`` images per class.

    One row each: target, n_per_class, seed, stage (0 = nearest the input), last (whether it is the last stage),
    c, val_accuracy, test_accuracy.
    """
    model = models.create(arch, pretrained=True, progress=False).eval()
    rows = []
    for target in targets:
        for seed in seeds:
            features = [extract_stage_features(model, split) for split in _splits(target, n_per_class, seed)]
            (train, train_y), (val, val_y), (test, test_y) = features
            last = max(train)
            for stage in sorted(train):
                result = probe_on_features((train[stage], train_y), (val[stage], val_y), (test[stage], test_y),
                                           cs=cs)
                rows.append({"target": target, "n_per_class": n_per_class, "seed": seed, "stage": stage,
                             "last": stage == last, **result})
    return pd.DataFrame(rows)


def finetune_vs_probe(grid: pd.DataFrame, probes: pd.DataFrame) -> pd.DataFrame:
    """Pair every pretrained fine-tuning run of ``grid`` (chapter 1's ``transfer_grid``) with the probe on the same
    target, size and seed: columns target, n_per_class, seed, finetune_accuracy, probe_accuracy, gap (test accuracy,
    fine-tune minus probe). ``ValueError`` when a run has no probe to pair with."""
    keys = ["target", "n_per_class", "seed"]
    tuned = grid[grid["init"] == "pretrained"][keys + ["test_accuracy"]].rename(
        columns={"test_accuracy": "finetune_accuracy"})
    probed = probes[keys + ["test_accuracy"]].rename(columns={"test_accuracy": "probe_accuracy"})
    paired = tuned.merge(probed, on=keys, how="left", validate="one_to_one")
    unpaired = paired[paired["probe_accuracy"].isna()]
    if len(unpaired):
        raise ValueError(f"{len(unpaired)} fine-tuning runs have no probe on the same target, size and seed, e.g. "
                         f"{unpaired.iloc[0][keys].to_dict()}")
    paired["gap"] = paired["finetune_accuracy"] - paired["probe_accuracy"]
    return paired.reset_index(drop=True)
