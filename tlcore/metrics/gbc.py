"""Gaussian Bhattacharyya coefficient, GBC (Pándy et al., 2022)."""
from __future__ import annotations

from typing import Any

import torch

from ._linalg import class_sums
from ._validation import check_choice, check_features, check_labels

# Per-dimension variance floor of the authors' code: keeps constant features (and single-sample classes) finite.
VARIANCE_FLOOR = 1e-4
# Pairwise differences are formed for blocks of classes holding at most this many float64 numbers (32 MiB), small
# enough for the allocator to reuse one block's memory for the next instead of faulting in fresh pages.
_BLOCK_ELEMENTS = 1 << 22


def gbc(features: Any, target_labels: Any, covariance: str = "diagonal") -> float:
    """GBC: minus the total overlap of per-class Gaussians in feature space. Higher (closer to 0) is better.

    Pándy et al., "Transferability Estimation using Bhattacharyya Class Separability" (CVPR 2022). Each class c is
    modelled as ``N(mu_c, Sigma_c)`` with its sample mean and (population) per-dimension variances, floored at
    ``VARIANCE_FLOOR``. With ``Sigma = (Sigma_i + Sigma_j) / 2`` the Bhattacharyya distance is

        DB_ij = 1/8 (mu_i - mu_j)^T Sigma^-1 (mu_i - mu_j) + 1/2 log(det Sigma / sqrt(det Sigma_i det Sigma_j)),

    and ``GBC = -sum_{i != j} exp(-DB_ij)`` over ordered pairs of classes: 0 for perfectly separated classes, down
    to ``-C (C - 1)`` when all classes coincide.

    Args:
        features: (N, D) float features of the target samples (the paper reduces them with PCA first; pass reduced
            features for that protocol).
        target_labels: (N,) int target labels in 0..C-1, every class present, C >= 2.
        covariance: "diagonal" (per-dimension variances) or "spherical" (their mean, times the identity; the
            authors' code defaults to it). For "spherical" the determinants use all D dimensions,
            ``det(sigma I) = sigma^D``; the authors' code takes ``log sigma`` once instead of D times.
    """
    check_choice(covariance, "covariance", ("diagonal", "spherical"))
    x = check_features(features)
    y, counts = check_labels(target_labels, len(x), device=x.device)
    num_classes, d = len(counts), x.shape[1]
    means = class_sums(x, y, num_classes) / counts[:, None]
    # Two passes (deviations from the class mean) so large feature offsets cannot cancel the variances away; the
    # deviations are formed in place in one (N, D) buffer.
    deviations = means[y].sub_(x).square_()
    variances = (class_sums(deviations, y, num_classes) / counts[:, None]).clamp_min(VARIANCE_FLOOR)
    # A spherical variance stands for D equal diagonal entries in every determinant.
    entries_per_variance = 1
    if covariance == "spherical":
        variances, entries_per_variance = variances.mean(dim=1, keepdim=True), d
    log_dets = variances.log().sum(dim=1) * entries_per_variance

    rows_per_block = max(1, _BLOCK_ELEMENTS // (num_classes * d))
    total_overlap = torch.zeros((), dtype=torch.float64, device=x.device)
    for start in range(0, num_classes, rows_per_block):
        block = slice(start, start + rows_per_block)
        average = (variances[block, None, :] + variances[None, :, :]).mul_(0.5)  # (b, C, D), or (b, C, 1)
        mahalanobis = (means[block, None, :] - means[None, :, :]).square_().div_(average).sum(dim=2)
        log_det_average = average.log_().sum(dim=2) * entries_per_variance
        distance = mahalanobis / 8 + (log_det_average - (log_dets[block, None] + log_dets[None, :]) / 2) / 2
        overlap = torch.exp(-distance)
        overlap[torch.arange(overlap.shape[0]), torch.arange(start, start + overlap.shape[0])] = 0  # i == j
        total_overlap += overlap.sum()
    return -float(total_overlap)
