"""H-score (Bao et al., 2019) and its Ledoit-Wolf shrinkage variant (Ibrahim et al., 2022)."""
from __future__ import annotations

from typing import Any

import torch

from ._linalg import class_sums, eigh_projections, gram
from ._validation import check_features, check_labels


def h_score(features: Any, labels: Any, shrinkage: bool = False) -> float:
    """H-score: how well linear functions of the features separate the target classes. Higher is better.

    ``H(f) = tr(cov(f)^+ cov(E[f | y]))`` from Bao et al., "An Information-Theoretic Approach to Transferability in
    Task Transfer Learning" (ICIP 2019). With ``shrinkage=True`` the covariance is the Ledoit-Wolf estimate
    ``cov_a = (1 - a) cov(f) + a (tr cov(f) / D) I`` and the score is ``tr(cov_a^+ (1 - a) cov(E[f | y]))``, as in
    Ibrahim et al., "Newer is not always better: Rethinking transferability metrics, their peculiarities, stability
    and performance" (ECML-PKDD 2022); the shrinkage ``a`` is Ledoit and Wolf's closed form, identical to
    ``sklearn.covariance.ledoit_wolf``. It keeps the score stable when N is not much larger than D, where the plain
    covariance is ill-conditioned.

    Args:
        features: (N, D) float features of the target samples.
        labels: (N,) int target labels in 0..C-1, every class present, C >= 2.
        shrinkage: use the Ledoit-Wolf covariance.

    Both covariances are maximum-likelihood (divided by N): the plain score only depends on their ratio, and
    Ledoit-Wolf is defined on that estimate. The pseudo-inverse is taken in the eigenbasis of the covariance and drops
    eigenvalues below ``max(N, D) * eps * largest``, the rounding level of a Gram matrix, so duplicated or collinear
    features leave the score unchanged instead of inverting rounding noise.
    """
    x = check_features(features)
    y, counts = check_labels(labels, len(x), name="labels", device=x.device)
    n, d = x.shape
    centred = x - x.mean(dim=0)
    covariance = gram(centred) / n
    # cov(E[f|y]) = sum_c (n_c / N) m_c m_c^T with m_c the centred class mean, so the trace is a weighted sum of
    # squared Mahalanobis norms of the class means: only their coordinates in the eigenbasis are needed.
    class_means = class_sums(centred, y, len(counts)) / counts[:, None]
    eigenvalues, mean_coordinates = eigh_projections(covariance, class_means.T)
    shrink = _ledoit_wolf_shrinkage(centred, covariance) if shrinkage else 0.0
    # The shrunk covariance shares the eigenvectors; only the spectrum moves towards its mean.
    eigenvalues = (1 - shrink) * eigenvalues + shrink * covariance.trace() / d
    kept = eigenvalues > max(n, d) * torch.finfo(torch.float64).eps * eigenvalues.max()
    between = (mean_coordinates.square() * counts.to(torch.float64) / n).sum(dim=1)
    return float((1 - shrink) * (between[kept] / eigenvalues[kept]).sum())


def _ledoit_wolf_shrinkage(centred: torch.Tensor, covariance: torch.Tensor) -> float:
    """Ledoit-Wolf (2004) shrinkage of ``covariance = centred.T @ centred / N``, as sklearn computes it.

    sklearn's ``beta_`` sums every entry of ``(X*X).T @ (X*X)``, which equals ``sum_i ||x_i||^4``: O(N D) instead of a
    second D x D product.
    """
    n, d = centred.shape
    mean_variance = covariance.trace() / d
    covariance_norm2 = covariance.square().sum()
    fourth_moment = torch.linalg.vector_norm(centred, dim=1).pow(4).sum()
    beta = (fourth_moment / n - covariance_norm2) / (d * n)
    delta = (covariance_norm2 - d * mean_variance**2) / d  # ||cov - mean_variance * I||_F^2 / D
    beta = torch.minimum(beta, delta)  # never shrink past the identity target
    return 0.0 if float(beta) == 0 else float(beta / delta)
