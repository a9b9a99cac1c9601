"""How hard is a sample, judged without the models being compared: the k-disagreeing-neighbours score (kDN, Smith
et al. 2014), the share of its k nearest labelled reference images that carry another label."""
from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors


def _standardised_pixels(dataset) -> np.ndarray:
    """Each image flattened and scaled to zero mean and unit variance (constant images stay zero), so neighbours
    reflect shape rather than brightness or contrast."""
    pixels = dataset.images.flatten(1).double().numpy()
    centred = pixels - pixels.mean(axis=1, keepdims=True)
    scale = centred.std(axis=1, keepdims=True)
    return np.divide(centred, scale, out=np.zeros_like(centred), where=scale > 0)


def knn_disagreement(reference, samples, *, k: int = 10) -> np.ndarray:
    """For every image of ``samples``: the share of its ``k`` nearest ``reference`` images (Euclidean, on
    standardised pixels) whose label differs from its own; shape (N,), values in [0, 1]. ``reference`` and
    ``samples`` are image datasets with ``images`` (N, C, H, W) and ``labels``; they should be disjoint."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if len(reference) < k:
        raise ValueError(f"the reference set has {len(reference)} images, fewer than k = {k}")
    if tuple(reference.images.shape[1:]) != tuple(samples.images.shape[1:]):
        raise ValueError(f"image shapes differ: reference {tuple(reference.images.shape[1:])}, "
                         f"samples {tuple(samples.images.shape[1:])}")
    index = NearestNeighbors(n_neighbors=k).fit(_standardised_pixels(reference))
    _, neighbours = index.kneighbors(_standardised_pixels(samples))
    reference_labels = np.asarray(reference.labels)
    return (reference_labels[neighbours] != np.asarray(samples.labels)[:, None]).mean(axis=1)
