"""LogME, the log of the maximum evidence of Bayesian linear regression (You et al., 2021)."""
from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from sklearn.exceptions import ConvergenceWarning

from ._linalg import class_sums, eigh_projections, gram
from ._validation import check_features, check_labels, check_positive, check_targets


class LogME:
    """Maximum evidence of a Bayesian linear model from features to each target, fitted for all targets at once.

    You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning" (ICML 2021). For each
    target column y (the indicator of one class, or one regression target) the model ``y = F w + noise`` with prior
    ``w ~ N(0, alpha^-1 I)`` and noise ``N(0, beta^-1)`` has log evidence

        L(alpha, beta) = D/2 log alpha + N/2 log beta - N/2 log 2 pi - beta/2 ||y - F m||^2 - alpha/2 ||m||^2
                         - 1/2 log det A,     A = alpha I + beta F^T F,   m = beta A^-1 F^T y,

    maximised by MacKay's fixed point ``gamma = sum_i beta s_i / (alpha + beta s_i)``, ``alpha = gamma / ||m||^2``,
    ``beta = (N - gamma) / ||y - F m||^2`` (s_i the eigenvalues of F^T F), started from alpha = beta = 1 as in the
    authors' code. LogME is the mean of ``L / N`` over targets.

    One eigendecomposition of F^T F (D x D), or of F F^T when N < D, serves every target: in its eigenbasis all the
    quantities above are sums over eigenvalues, so the fixed point runs on a (rank, targets) array instead of once per
    class. A target stops once its per-sample log evidence changes by at most ``tol`` between iterates; converged
    targets are frozen, so each sees exactly the iterates of its own per-class loop. The stopping rule watches the
    evidence rather than alpha / beta because a target the features carry no signal about has its maximum at
    alpha -> infinity (weights pinned at zero): alpha never settles there, the evidence does.

    Departures from the authors' code, all towards the formula above: the evidence is evaluated at the returned
    (alpha, beta) with the m of those same values (theirs reuses m from the previous iterate); no 1e-5 is added to
    the denominators; the tolerance is far tighter (theirs: 1e-3 relative change of alpha / beta, at most 11 steps);
    and when rank(F) < D the zero eigenvalues keep their ``log alpha`` terms in ``log det A``. The authors' code sums
    ``log(alpha + beta s_i)`` over the singular values it keeps, so it drops those terms in both of its branches: with
    N <= D (a thin SVD has only N values) and also with N > D, whose truncated SVD keeps only the singular values
    above 1e-10, so that rank-deficient features (duplicated, collinear or constant dimensions) lose
    ``(D - rank) / 2 log alpha`` there too.

    Args:
        regression: targets are real values (N,) or (N, K) instead of class labels.
        tol: change of the per-sample log evidence (nats) between iterates at which a target has converged.
        max_iter: fixed-point updates at most; a ``ConvergenceWarning`` is raised for targets still moving.

    Attributes (after :meth:`fit`), one entry per class or regression target:
        alpha_, beta_: (K,) float64 prior and noise precisions at the maximum.
        evidence_: (K,) float64 maximum log evidence divided by N.
        score_: float, the LogME score ``evidence_.mean()``.
        n_iter_: fixed-point updates made for the slowest target.
    """

    def __init__(self, regression: bool = False, *, tol: float = 1e-8, max_iter: int = 1000) -> None:
        self.regression = regression
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, features: Any, targets: Any) -> LogME:
        """Fit on (N, D) float ``features`` and ``targets``: (N,) int labels in 0..C-1 (every class present, C >= 2),
        or with ``regression=True`` (N,) or (N, K) float values."""
        check_positive(self.tol, "tol")
        x = check_features(features)
        n, d = x.shape
        if self.regression:
            y = check_targets(targets, n, device=x.device)
            squared_norms = y.square().sum(dim=0)
        else:
            labels, counts = check_labels(targets, n, device=x.device)
            squared_norms = counts.to(torch.float64)  # a one-hot column has squared norm n_c

        if n < d:
            # F = U S V^T, so V^T F^T y = S U^T y and the N x N Gram matrix suffices.
            targets_matrix = y if self.regression else torch.nn.functional.one_hot(labels, len(counts)).to(x.dtype)
            eigenvalues, projections = eigh_projections(gram(x, of_rows=True), targets_matrix)
            projections = eigenvalues.clamp_min(0).sqrt()[:, None] * projections
        else:
            # F^T y; for one-hot targets the class sums of the rows, O(N D) instead of O(N D C).
            features_times_targets = x.T @ y if self.regression else class_sums(x, labels, len(counts)).T
            eigenvalues, projections = eigh_projections(gram(x), features_times_targets)  # V^T F^T y
        eigenvalues = eigenvalues.clamp_min(0)  # a Gram matrix is PSD; rounding can push zero eigenvalues below 0
        if float(eigenvalues.max()) == 0:
            raise ValueError("features are all zero; the evidence has no maximum")
        spectrum = _Spectrum(eigenvalues, projections.square(), squared_norms, n, d)

        alpha, beta, evidence, self.n_iter_ = spectrum.maximise(self.tol, self.max_iter)
        self.alpha_, self.beta_, self.evidence_ = (v.cpu().numpy() for v in (alpha, beta, evidence))
        self.score_ = float(self.evidence_.mean())
        return self


def logme(features: Any, target_labels: Any, regression: bool = False) -> float:
    """LogME score of ``features`` (N, D) float for ``target_labels`` (N,) int in 0..C-1; with ``regression=True``
    real targets (N,) or (N, K). Higher is better; see :class:`LogME` for the model and the solver."""
    return LogME(regression=regression).fit(features, target_labels).score_


class _Spectrum:
    """The evidence of every target expressed through the eigenvalues ``s`` (R,) of the Gram matrix, the squared
    projections ``z2`` (R, K) of ``F^T y`` on its eigenvectors, and ``||y||^2`` (K,)."""

    def __init__(self, s: torch.Tensor, z2: torch.Tensor, y_norm2: torch.Tensor, n: int, d: int) -> None:
        self.s, self.z2, self.y_norm2, self.n, self.d = s, z2, y_norm2, n, d

    def statistics(self, ratio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """gamma, ||m||^2 and ||y - F m||^2 (each (K,)) at ``ratio = alpha / beta`` (K,).

        With m = (F^T F + ratio I)^-1 F^T y: ||m||^2 = sum z2 / (s + r)^2, and expanding ||y - F m||^2 gives
        ||y||^2 - sum z2 (s + 2 r) / (s + r)^2, with no division by a possibly zero eigenvalue.
        """
        shifted = self.s[:, None] + ratio
        gamma = (self.s[:, None] / shifted).sum(dim=0)
        weight_norm2 = (self.z2 / shifted.square()).sum(dim=0)
        residual2 = self.y_norm2 - (self.z2 * (shifted + ratio) / shifted.square()).sum(dim=0)
        return gamma, weight_norm2, residual2

    def maximise(self, tol: float, max_iter: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """(alpha, beta, per-sample log evidence at them, updates made), all (K,) but the last."""
        alpha = torch.ones(self.z2.shape[1], dtype=torch.float64, device=self.z2.device)
        beta = torch.ones_like(alpha)
        previous = torch.full_like(alpha, -math.inf)
        moving = torch.ones_like(alpha, dtype=torch.bool)
        for updates in range(max_iter + 1):
            gamma, weight_norm2, residual2 = self.statistics(alpha / beta)
            evidence = self.log_evidence(alpha, beta, weight_norm2, residual2) / self.n
            # Converged targets stay frozen, so each one sees exactly the iterates of its own per-class loop.
            moving &= (evidence - previous).abs() > tol
            if not bool(moving.any()):
                return alpha, beta, evidence, updates
            if updates == max_iter:
                break
            alpha = torch.where(moving, gamma / weight_norm2, alpha)
            beta = torch.where(moving, (self.n - gamma) / residual2, beta)
            previous = evidence
        warnings.warn(
            f"LogME's fixed point did not converge to tol={tol} within max_iter={max_iter} for "
            f"{int(moving.sum())} target(s)",
            ConvergenceWarning,
            stacklevel=3,
        )
        return alpha, beta, evidence, max_iter

    def log_evidence(
        self, alpha: torch.Tensor, beta: torch.Tensor, weight_norm2: torch.Tensor, residual2: torch.Tensor
    ) -> torch.Tensor:
        """L(alpha, beta) (K,) given ||m||^2 and ||y - F m||^2 at ratio alpha / beta."""
        # log det A over all D eigenvalues of F^T F: those beyond the R computed ones are zero.
        log_det = (alpha + beta * self.s[:, None]).log().sum(dim=0) + (self.d - len(self.s)) * alpha.log()
        return (
            self.d / 2 * alpha.log()
            + self.n / 2 * beta.log()
            - self.n / 2 * math.log(2 * math.pi)
            - beta / 2 * residual2
            - alpha / 2 * weight_norm2
            - log_det / 2
        )
