"""How similar a target is to the source, measured from neither the compared models nor the outcomes.

The probe gain (:func:`tlcore.analysis.probes.probe_similarity`) is computed from the source model's features, so
using it as the x-axis of a claim whose y-axis is a fine-tuning or probe outcome of the same model builds a
correlation in. Two measures that are independent of every compared model:

- **by construction** (:data:`BY_CONSTRUCTION`): the embedded world's generators put *near* (held-out letters of the
  source scripts) closest, *mid* (Georgian, a script with no letter in the source) next and *far* (noisy gratings)
  furthest; the *real* target (scikit-learn's handwritten digits) is not built from the source's generators and has
  no constructed rank;
- **from image statistics** (:func:`image_similarity`): the Fréchet distance between Gaussians fitted to the
  source's and the target's images average-pooled to 8x8 grey pixels (a fixed sample per class, labels unused),
  turned into a similarity ``1 / (1 + distance)`` in (0, 1]. No network is involved.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg
import torch

from .. import data

BY_CONSTRUCTION = {"glyphs_near": 3, "glyphs_mid": 2, "textures_far": 1}  # higher: more similar to the source
POOLED = 8  # side of the pooled images
PER_CLASS = 20  # images per class of each sample (a fixed sample: the measure must not depend on the experiment)


def pooled_pixels(dataset) -> np.ndarray:
    """(N, POOLED * POOLED) grey pixels of ``dataset``'s images, average-pooled."""
    images = dataset.images.float()
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    grey = images.mean(dim=1, keepdim=True)
    return torch.nn.functional.adaptive_avg_pool2d(grey, POOLED).flatten(1).numpy().astype(np.float64)


def frechet_distance(a, b) -> float:
    """Squared 2-Wasserstein distance between Gaussians fitted to the rows of ``a`` and of ``b`` (both (N, D))."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"need two (N >= 2, D) samples of the same D, got {a.shape} and {b.shape}")
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def image_similarity(target: str, source: str = "glyphs_source", *, per_class: int = PER_CLASS, seed: int = 0
                     ) -> float:
    """``1 / (1 + Fréchet distance)`` between the pooled pixels of ``source``'s and ``target``'s training images
    (``per_class`` per class, sample ``seed``)."""
    distance = frechet_distance(pooled_pixels(data.load(source, "train", per_class, seed=seed)),
                                pooled_pixels(data.load(target, "train", per_class, seed=seed)))
    return 1.0 / (1.0 + max(distance, 0.0))


def similarity_frame(targets, source: str = "glyphs_source") -> pd.DataFrame:
    """One row per target: constructed_rank (NaN where the world does not construct one) and image_similarity."""
    return pd.DataFrame([{"target": t, "constructed_rank": BY_CONSTRUCTION.get(t, np.nan),
                          "image_similarity": image_similarity(t, source)} for t in targets])


def with_image_similarity(frame: pd.DataFrame, source: str = "glyphs_source") -> pd.DataFrame:
    """``frame`` (one or more rows per ``target``, e.g. :func:`~tlcore.analysis.probes.probe_similarity`'s) with the
    columns of :func:`similarity_frame` added per target. Targets outside the embedded world (the real tier, whose
    source images are not here) get NaN: claims then fall back to the probe gain and say so."""
    targets = list(dict.fromkeys(frame["target"]))
    embedded = [t for t in targets if t in data.EMBEDDED]
    measured = similarity_frame(embedded, source) if embedded else pd.DataFrame(
        columns=["target", "constructed_rank", "image_similarity"])
    return frame.merge(measured, on="target", how="left")
