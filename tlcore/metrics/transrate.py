"""TransRate, the coding-rate reduction of features by target labels (Huang et al., 2022)."""
from __future__ import annotations

from typing import Any

import torch

from ._linalg import logdet_identity_plus
from ._validation import check_features, check_labels, check_positive


def transrate(features: Any, target_labels: Any, eps: float = 1e-4) -> float:
    """TransRate: information the features carry about the labels, as a coding-rate difference. Higher is better.

    Huang et al., "Frustratingly Easy Transferability Estimation" (ICML 2022):
    ``TrR = R(Z) - R(Z | Y)`` with the coding rate ``R(Z) = 1/2 log det(I + Z^T Z / (N eps))`` of N samples Z and
    ``R(Z | Y) = sum_c (N_c / N) R(Z_c)``, Z_c the N_c samples of class c.

    Choices where the paper and its code differ:

    * Weighting: class frequencies N_c / N, as in the paper's definition (the rate reduction of Yu et al., 2020)
      and the official code's ``process_transrate_logs``. The snippet printed in the paper averages the per-class
      rates uniformly (1/C), which only agrees for balanced classes. With frequency weights, concavity of log det
      makes the score >= 0.
    * Distortion scale: ``1 / (N eps)`` as in the printed snippet with its default ``eps = 1e-4`` (the official code's
      ``eps`` is likewise the ``eps^2`` of the paper); the paper writes ``D / (N eps^2)``, i.e. a rescaled eps.
    * Normalisation: Z is centred by the mean over all samples (paper and code), then divided by its root mean
      squared sample norm ``||Z||_F / sqrt(N)``. A variant of the authors' code divides by ``||Z||_F`` instead; any
      global scale makes the score independent of the feature magnitude, which otherwise shifts the rates of
      differently scaled models by ``rank * log(scale)`` and decides a model ranking by itself. Dividing by the RMS
      norm rather than ``||Z||_F`` keeps ``eps`` meaning the same distortion whatever N is.

    Further differences from the official code (github.com/Long-Kai/TransRate, ``generate_transrate/transrate.py``
    and ``extract_result_utils.py``), which computes the rates from eigenvalues it saved per experiment:

    * Sample-wise L2 normalisation: it divides every centred sample by its own L2 norm before forming ``Z^T Z``
      (``pre_transrate(..., normalize=True)``). tlcore keeps each sample's length and removes only the one global
      scale above; per-sample normalisation discards how far a sample lies from the mean, which is part of how
      separable the classes are, and leaves Z no longer centred.
    * Division by rank(Z): it divides both R(Z) and R(Z | Y) by the rank of ``Z^T Z`` (``normalize_opt='rank'``,
      its default), a rate per dimension. tlcore reports the rate difference itself, as the paper defines TrR, so
      models whose features have different ranks are not rescaled by different factors.
    * Per-experiment eps: its model-selection script sets eps for each target dataset (7e-3, 1e-2, 1.5e-2 or 2e-2,
      ``extra_result_model_selection.py``), for some targets after scaling the eigenvalues of ``Z^T Z / N`` to sum
      to 1 (``normalize_eigz``). tlcore uses one eps for every dataset (default 1e-4), fixed before any fine-tuning
      result is seen, so the score needs no tuning against the accuracies it is meant to predict.
    * Projection: for model selection that script reads the eigenvalues of every covariance multiplied by
      ``pinv(cov(Z)) cov(E[Z | Y])`` (``pre_transrate_low_dim_proj``, a projection onto the class-mean directions,
      ``use_Z_proj=True``); tlcore computes the rates of the features themselves.

    The score is invariant to permuting samples, renaming classes, translating, rotating or rescaling the features.

    Args:
        features: (N, D) float features of the target samples.
        target_labels: (N,) int target labels in 0..C-1, every class present, C >= 2.
        eps: distortion, > 0.
    """
    check_positive(eps, "eps")
    x = check_features(features)
    y, counts = check_labels(target_labels, len(x), device=x.device)
    n = len(x)
    # One gather groups the samples of each class into contiguous rows; centring that fresh copy in place saves a
    # second (N, D) array.
    z = x[torch.argsort(y)]
    z -= z.mean(dim=0)
    mean_square_norm = float(torch.linalg.vector_norm(z)) ** 2 / n
    if mean_square_norm == 0:
        raise ValueError("features are constant across samples; TransRate is undefined")

    def rate(block: torch.Tensor) -> torch.Tensor:
        # Scaling Z to unit RMS norm is folded into the distortion: (Z / s)^T (Z / s) / (n eps) = Z^T Z / (n eps s^2).
        return logdet_identity_plus(block, 1 / (len(block) * eps * mean_square_norm)) / 2

    conditional_rate = sum(len(block) / n * rate(block) for block in torch.split(z, counts.tolist()))
    return float(rate(z) - conditional_rate)
