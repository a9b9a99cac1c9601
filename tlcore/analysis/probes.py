"""Linear probes on frozen features: what a source model's fixed features are worth, stage by stage, against
fine-tuning the whole model, and as a measure of how similar a target is to the source.

A probe is an L2-regularised logistic regression on standardised features. Its regularisation strength is chosen on
the target's validation split from a small grid (the fine-tuned models it is compared with had their learning rate
chosen on validation too), and the test split is scored once, at the chosen strength.

The *probe gain* (:func:`probe_similarity`) is the accuracy of a linear classifier on the source model's frozen
features minus that on the features of a randomly initialised twin, both trained on a few target images per class and
scored on the target's validation split. It is positive when the source features carry what the target needs beyond
what any random convolutional features carry.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

from .. import data, models
from ..finetune.features import extract_features, extract_stage_features
from ..remembered import remembered

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
    """The same train/val/test samples a :class:`~tlcore.runs.transfer.TransferRun` with this seed uses."""
    return (data.load(target, "train", n_per_class, seed=seed), data.load(target, "val", seed=seed),
            data.load(target, "test", seed=seed))


@remembered("probes", depends=lambda arguments: models.source_keys(arguments["arch"]))
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


@remembered("probes", depends=lambda arguments: models.source_keys(arguments["arch"]))
def stage_probes(arch: str, targets, n_per_class: int, seeds, *, cs=PROBE_CS) -> pd.DataFrame:
    """A probe on each stage's pooled features of the pretrained ``arch`` (see
    :func:`~tlcore.finetune.features.extract_stage_features`), per target x seed at ``n_per_class`` images per class.

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



def linear_probe_accuracy(model: nn.Module, train, evaluation, *, c: float = 1.0) -> float:
    """Accuracy on ``evaluation`` of an L2-regularised logistic regression fitted on ``model``'s features of
    ``train`` (standardised with the training statistics)."""
    train_x, train_y = extract_features(model, train)
    eval_x, eval_y = extract_features(model, evaluation)
    scaler = StandardScaler().fit(train_x.numpy())
    classifier = LogisticRegression(C=c, max_iter=2000)
    classifier.fit(scaler.transform(train_x.numpy()), train_y.numpy())
    return float((classifier.predict(scaler.transform(eval_x.numpy())) == eval_y.numpy()).mean())


@remembered("probes", depends=lambda arguments: models.source_keys(arguments["arch"]))
def probe_similarity(arch: str, targets, *, n_per_class: int = 5, seeds=(0, 1, 2)) -> pd.DataFrame:
    """One row per (target, seed): probe accuracy on pretrained and on random features, and their difference."""
    source_model = models.create(arch, pretrained=True, progress=False).eval()
    rows = []
    for target in targets:
        for seed in seeds:
            train = data.load(target, "train", n_per_class, seed=seed)
            val = data.load(target, "val", seed=seed)
            random_model = models.create(arch, pretrained=False, seed=seed).eval()
            pretrained = linear_probe_accuracy(source_model, train, val)
            random = linear_probe_accuracy(random_model, train, val)
            rows.append({"target": target, "seed": seed, "n_per_class": n_per_class, "probe_pretrained": pretrained,
                         "probe_random": random, "similarity": pretrained - random})
    return pd.DataFrame(rows)


def similarity_order(frame: pd.DataFrame) -> list[str]:
    """Targets from most to least similar by mean probe gain."""
    return list(frame.groupby("target")["similarity"].mean().sort_values(ascending=False).index)


def _pretrain_seeds(arguments: dict) -> tuple[int, ...]:
    return tuple(arguments["seeds"]) if arguments["per_seed_pretraining"] else (0,)


@remembered("probes", depends=lambda arguments: models.source_keys(*arguments["names"],
                                                                  pretrain_seeds=_pretrain_seeds(arguments)))
def probe_frame(names, targets, *, n_per_class: int, seeds, per_seed_pretraining: bool = False) -> pd.DataFrame:
    """Linear-probe transfer (Kornblith et al.'s protocol): one row per (model, target, seed) with the test accuracy
    of a logistic regression on each pretrained model's frozen features of ``n_per_class`` training images per
    class (the seed's sample). No hyper-parameter is chosen, so the test split is read once per probe. With
    ``per_seed_pretraining`` seed s probes the model pretrained with seed s (column pretrain_seed)."""
    pretrain_seed_of = {seed: seed if per_seed_pretraining else 0 for seed in seeds}
    rows = []
    for name in names:
        pretrained = {s: models.create(name, pretrained=True, pretrain_seed=s, progress=False).eval()
                      for s in dict.fromkeys(pretrain_seed_of.values())}
        for target in targets:
            for seed in seeds:
                pretrain_seed = pretrain_seed_of[seed]
                train = data.load(target, "train", n_per_class, seed=seed)
                test = data.load(target, "test", seed=seed)
                rows.append({"model": name, "target": target, "seed": seed, "pretrain_seed": pretrain_seed,
                             "n_per_class": n_per_class,
                             "probe_accuracy": linear_probe_accuracy(pretrained[pretrain_seed], train, test)})
    return pd.DataFrame(rows)
