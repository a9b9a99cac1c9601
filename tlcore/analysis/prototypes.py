"""Few-shot classification without training: the nearest-prototype classifier on frozen features (Snell et al.
2017's prototypes, with SimpleShot's L2 normalisation, Wang et al. 2019)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..finetune.features import extract_features


def _as_array(x) -> np.ndarray:
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


class PrototypeClassifier:
    """Each class is the mean of its training features (its prototype); a sample takes the class of the nearest
    prototype in Euclidean distance. With ``normalize=True`` features are scaled to unit length before averaging and
    before comparing, so "nearest" is "largest cosine similarity"."""

    def __init__(self, normalize: bool = True):
        self.normalize = normalize
        self.prototypes_: np.ndarray | None = None
        self.classes_: np.ndarray | None = None

    def _prepare(self, features) -> np.ndarray:
        x = _as_array(features).astype(np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must have shape (N, D), got {x.shape}")
        if self.normalize:
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x

    def fit(self, features, labels) -> PrototypeClassifier:
        x, y = self._prepare(features), _as_array(labels)
        if len(x) == 0 or len(x) != len(y):
            raise ValueError(f"need as many labels as feature rows (and some), got {len(x)} rows and {len(y)} labels")
        self.classes_ = np.unique(y)
        self.prototypes_ = np.stack([x[y == c].mean(axis=0) for c in self.classes_])
        return self

    def predict(self, features) -> np.ndarray:
        if self.prototypes_ is None:
            raise ValueError("PrototypeClassifier is not fitted: call fit(features, labels) first")
        x = self._prepare(features)
        if x.shape[1] != self.prototypes_.shape[1]:
            raise ValueError(f"features have {x.shape[1]} dimensions, the prototypes {self.prototypes_.shape[1]}")
        distances = ((x[:, None, :] - self.prototypes_[None, :, :]) ** 2).sum(axis=2)
        return self.classes_[distances.argmin(axis=1)]

    def score(self, features, labels) -> float:
        """Accuracy on ``(features, labels)``."""
        return float((self.predict(features) == _as_array(labels)).mean())


def prototype_accuracy(model: nn.Module, train, evaluation, *, normalize: bool = True) -> float:
    """Accuracy on ``evaluation`` of the prototypes of ``model``'s frozen features of ``train``."""
    train_x, train_y = extract_features(model, train)
    eval_x, eval_y = extract_features(model, evaluation)
    return PrototypeClassifier(normalize).fit(train_x, train_y).score(eval_x, eval_y)
