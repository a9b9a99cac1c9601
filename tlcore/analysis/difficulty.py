"""How hard is a sample, judged without the models being compared: the k-disagreeing-neighbours score (kDN, Smith
et al. 2014), the share of its k nearest labelled reference images that carry another label."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.neighbors import NearestNeighbors

from .. import data

REAL_SIDE = 32  # real-tier images are compared at this side: neighbours in 150,000 dimensions would be noise


def image_tensor(dataset) -> torch.Tensor:
    """(N, C, H, W) images of ``dataset``: an embedded dataset's own tensor; a real-tier one's evaluation view (no
    random crop or flip) pooled to ``REAL_SIDE`` pixels."""
    if hasattr(dataset, "images"):
        return dataset.images
    view = data.evaluation_view(dataset)
    return torch.stack([F.adaptive_avg_pool2d(view[i][0].float(), REAL_SIDE) for i in range(len(view))])


def _standardised_pixels(images: torch.Tensor) -> np.ndarray:
    """Each image flattened and scaled to zero mean and unit variance (constant images stay zero), so neighbours
    reflect shape rather than brightness or contrast."""
    pixels = images.flatten(1).double().numpy()
    centred = pixels - pixels.mean(axis=1, keepdims=True)
    scale = centred.std(axis=1, keepdims=True)
    return np.divide(centred, scale, out=np.zeros_like(centred), where=scale > 0)


def knn_disagreement(reference, samples, *, k: int = 10) -> np.ndarray:
    """For every image of ``samples``: the share of its ``k`` nearest ``reference`` images (Euclidean, on
    standardised pixels) whose label differs from its own; shape (N,), values in [0, 1]. ``reference`` and
    ``samples`` are image datasets (embedded, with ``images`` (N, C, H, W), or real-tier: see :func:`image_tensor`)
    with ``labels``; they should be disjoint."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if len(reference) < k:
        raise ValueError(f"the reference set has {len(reference)} images, fewer than k = {k}")
    reference_images, sample_images = image_tensor(reference), image_tensor(samples)
    if tuple(reference_images.shape[1:]) != tuple(sample_images.shape[1:]):
        raise ValueError(f"image shapes differ: reference {tuple(reference_images.shape[1:])}, "
                         f"samples {tuple(sample_images.shape[1:])}")
    index = NearestNeighbors(n_neighbors=k).fit(_standardised_pixels(reference_images))
    _, neighbours = index.kneighbors(_standardised_pixels(sample_images))
    reference_labels = np.asarray(reference.labels)
    return (reference_labels[neighbours] != np.asarray(samples.labels)[:, None]).mean(axis=1)
