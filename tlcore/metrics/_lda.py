"""Shrunk linear discriminant analysis shared by SFDA and ETran: class means, the within-class scatter, the adaptive
shrinkage of Shao et al. (2022) and the log-posterior of the Bayes classifier with the shrunk scatter."""
from __future__ import annotations

import math

import torch

from ._linalg import class_sums, gram

# lambda = exp(-SHRINKAGE_RATE * sigma_max(S_w)), floored at SHRINKAGE_FLOOR: the constants of the SFDA authors' code
# (``np.exp(-5 * largest_evals_w)``, ``max(..., 1e-10)``), which ETran's code reuses.
SHRINKAGE_RATE = 5.0
SHRINKAGE_FLOOR = 1e-10


def class_statistics(x: torch.Tensor, labels: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Class means (C, D) and the within-class scatter ``S_w = 1/N sum_i (x_i - mu_{y_i})(x_i - mu_{y_i})^T`` (D, D).

    ``S_w`` equals ``sum_c (N_c / N) cov_c`` with the maximum-likelihood class covariances, the prior-weighted scatter
    of the authors' code, but takes one Gram matrix of the deviations instead of C covariance matrices.
    """
    means = class_sums(x, labels, len(counts)) / counts[:, None]
    deviations = x - means[labels]
    return means, gram(deviations) / len(x)


def check_within_scatter(within: torch.Tensor) -> None:
    """Raise if the features do not vary within any class: the Gaussian class model then has no covariance."""
    if float(within.trace()) == 0:
        raise ValueError("features are constant within every class (zero within-class scatter); the Gaussian "
                         "class model is degenerate")


def adaptive_shrinkage(within: torch.Tensor) -> float:
    """``max(exp(-5 sigma_max(S_w)), 1e-10)``, with the largest eigenvalue ``sigma_max`` of ``within`` computed exactly.

    The authors estimate ``sigma_max`` with three power-iteration steps started from ``S_w 1``; that estimate depends
    on the orientation of the features (a rotation changes the start vector) and can fall far below the true value.
    Every diagonal entry is a Rayleigh quotient, so ``sigma_max >= max_i S_w[i, i]``: when that bound already puts
    lambda at the floor (the usual case for deep features) no eigenvalue is computed at all.
    """
    floor_reached_at = math.log(1 / SHRINKAGE_FLOOR) / SHRINKAGE_RATE
    if float(within.diagonal().max()) >= floor_reached_at:
        return SHRINKAGE_FLOOR
    largest = float(torch.linalg.eigvalsh(within)[-1])
    return max(math.exp(-SHRINKAGE_RATE * largest), SHRINKAGE_FLOOR)


def shrunk(within: torch.Tensor, shrinkage: float) -> torch.Tensor:
    """``(1 - lambda) S_w + lambda (tr S_w / D) I``: the scatter pulled towards a sphere of the same trace."""
    result = within * (1 - shrinkage)
    result.diagonal().add_(shrinkage * float(within.trace()) / len(within))
    return result


def log_posterior(
    x: torch.Tensor, means: torch.Tensor, within: torch.Tensor, shrinkage: float, priors: torch.Tensor
) -> torch.Tensor:
    """(N, C) ``log p(c | x_i)`` of the Gaussian Bayes classifier with class means ``means``, the shared covariance
    ``shrunk(within, shrinkage)`` and class ``priors``:

        log p(c | x) = x^T S^-1 mu_c - 1/2 mu_c^T S^-1 mu_c + log pi_c - logsumexp_k(same for k).

    Computed as a log-softmax, so a confident posterior keeps its digits instead of rounding to log 0.
    """
    weights = solve_psd(shrunk(within, shrinkage), means.T)  # S^-1 mu_c, (D, C)
    bias = -0.5 * (means.T * weights).sum(dim=0) + priors.log()
    return torch.log_softmax(x @ weights + bias, dim=1)


def solve_psd(matrix: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """``matrix^-1 rhs`` for a symmetric positive (semi-)definite ``matrix``: Cholesky, or where rounding leaves it
    numerically singular (a floor-level shrinkage of a rank-deficient scatter) the pseudo-inverse that drops
    eigenvalues below ``D * eps * largest``, the rounding level of the matrix."""
    factor, info = torch.linalg.cholesky_ex(matrix)
    if int(info) == 0:
        return torch.cholesky_solve(rhs, factor)
    values, vectors = torch.linalg.eigh(matrix)
    kept = values > len(matrix) * torch.finfo(matrix.dtype).eps * values.max()
    inverse_values = torch.where(kept, 1 / values, torch.zeros_like(values))
    return vectors @ (inverse_values[:, None] * (vectors.T @ rhs))
