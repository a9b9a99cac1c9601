"""How similar is a target to the source? Measured, not assumed.

The measure is the *probe gain*: the accuracy of a linear classifier on the source model's frozen features minus the
accuracy of the same classifier on the features of a randomly initialised twin, both trained on a few target images
per class and scored on the target's validation split. It is positive when the source features carry what the target
needs beyond what any random convolutional features carry, and it is what later chapters and the advisor use.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

from .. import data, models
from .features import extract_features


def linear_probe_accuracy(model: nn.Module, train, evaluation, *, c: float = 1.0) -> float:
    """Accuracy on ``evaluation`` of an L2-regularised logistic regression fitted on ``model``'s features of
    ``train`` (standardised with the training statistics)."""
    train_x, train_y = extract_features(model, train)
    eval_x, eval_y = extract_features(model, evaluation)
    scaler = StandardScaler().fit(train_x.numpy())
    classifier = LogisticRegression(C=c, max_iter=2000)
    classifier.fit(scaler.transform(train_x.numpy()), train_y.numpy())
    return float((classifier.predict(scaler.transform(eval_x.numpy())) == eval_y.numpy()).mean())


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
