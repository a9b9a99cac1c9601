"""k-nearest-neighbour accuracy of the features, cross-validated: a non-parametric baseline for the metrics."""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier

from ._validation import check_features, check_labels

K = 5
FOLDS = 5


def knn_accuracy(features: Any, labels: Any, *, k: int = K, folds: int = FOLDS, seed: int = 0) -> float:
    """Stratified k-fold accuracy of a k-nearest-neighbour classifier on the features, in [0, 1]. Higher is better.

    Each sample is predicted once, by the majority label of its k nearest (Euclidean) neighbours among the samples of
    the other folds (sklearn ``KNeighborsClassifier`` with uniform weights and exact, brute-force search); the score
    is the share predicted right. Folds come from sklearn ``StratifiedKFold(folds, shuffle=True,
    random_state=seed)``, so every class is spread evenly over the folds.

    A common yardstick in the transferability literature (and in self-supervised learning's k-NN probe): no model
    is fitted beyond storing the samples, so it shows what the raw geometry of the features gives away.

    Deterministic, and independent of the order of the samples: they are put in a canonical order (by label, then
    by their projection on a fixed pseudo-random direction, with a full lexicographic sort only when two different
    samples tie) before the folds are drawn, so permuting the input changes neither the folds nor which of two
    equidistant neighbours is taken. A tied vote goes to the smallest label (sklearn), so renaming the classes can
    change a tied prediction.

    Args:
        features: (N, D) float features of the target samples.
        labels: (N,) int target labels in 0..C-1, every class present, C >= 2.
        k: neighbours that vote, at least 1 and at most the size of the smallest training split.
        folds: cross-validation folds, at least 2 and at most the size of the smallest class (so that every fold
            holds every class).
        seed: seeds the assignment of samples to folds.
    """
    x = check_features(features)
    y, counts = check_labels(labels, len(x), name="labels", device=x.device)
    for value, name in ((k, "k"), (folds, "folds")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r}")  # noqa: TRY004 (the metrics' convention)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    smallest = int(counts.min())
    if not 2 <= folds <= smallest:
        raise ValueError(
            f"folds must lie in 2..{smallest} (the size of the smallest class, class {int(counts.argmin())}), "
            f"got {folds}"
        )
    points, targets = x.cpu().numpy(), y.cpu().numpy()
    order = _canonical_order(points, targets)
    points, targets = points[order], targets[order]
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(points, targets))
    smallest_train = min(len(train) for train, _ in splits)
    if k > smallest_train:
        raise ValueError(f"k must be at most {smallest_train}, the size of the smallest training split; got {k}")
    correct = 0
    for train, test in splits:
        classifier = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(points[train], targets[train])
        correct += int((classifier.predict(points[test]) == targets[test]).sum())
    return correct / len(targets)


def _canonical_order(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """A permutation that sorts the samples by content: by label, then by ``points @ v`` for a fixed direction v.

    Only identical samples tie on both keys in general; if two different ones do (features on a lattice), the rows
    themselves break the tie through a full lexicographic sort, so the order never depends on the input order.
    """
    direction = np.random.default_rng(20231002).standard_normal(points.shape[1])
    key = (points * direction).sum(axis=1)  # row by row, the same arithmetic wherever a row sits
    order = np.lexsort((key, targets))
    same_keys = (np.diff(key[order]) == 0) & (np.diff(targets[order]) == 0)
    if same_keys.any() and (points[order][1:][same_keys] != points[order][:-1][same_keys]).any():
        order = np.lexsort((*points.T[::-1], targets))
    return order
