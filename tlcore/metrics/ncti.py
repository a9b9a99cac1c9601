"""Neural-collapse informed transferability, NCTI (Wang et al., 2023)."""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from scipy import linalg
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from ._combine import min_max, terms_table
from ._linalg import smaller_gram
from ._validation import check_features, check_labels

# The authors reduce the features to 64 principal components and set the LDA shrinkage from the variance of the
# first 32: max(exp(-sum of their variances), 1e-10), with the unregularised SVD solver at the floor.
PCA_DIM = 64
SHRINKAGE_COMPONENTS = 32
SHRINKAGE_FLOOR = 1e-10


class NCTITerms(NamedTuple):
    """NCTI's three terms for one model."""

    seli: float  # nuclear norm of the centred LDA projection: spread over many directions (higher is better)
    ncc: float  # mean LDA probability of the true class: nearest-class-centre accuracy (higher is better)
    vc: float  # log of the summed nuclear norms of the per-class probability matrices (lower is better)


def ncti_terms(features: Any, labels: Any, *, pca_dim: int = PCA_DIM) -> NCTITerms:
    """The three terms of :func:`ncti` for one model (see there)."""
    x = check_features(features)
    y, counts = check_labels(labels, len(x), name="labels", device=x.device)
    if pca_dim < 1:
        raise ValueError(f"pca_dim must be a positive integer, got {pca_dim!r}")
    scores, variances = _principal_components(x, min(pca_dim, *x.shape))
    if len(variances) == 0:
        raise ValueError("features are constant across samples; NCTI's discriminant analysis is undefined")
    shrinkage = max(math.exp(-float(variances[:SHRINKAGE_COMPONENTS].sum())), SHRINKAGE_FLOOR)
    if shrinkage == SHRINKAGE_FLOOR:
        lda = LinearDiscriminantAnalysis(solver="svd")
    else:
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=shrinkage)
    labels_np = y.cpu().numpy()
    with warnings.catch_warnings():
        # Collinear principal components are expected (N < 64, or rank-deficient features); the SVD solver drops
        # their null space, which is what the authors' pipeline does too.
        warnings.filterwarnings("ignore", message="Variables are collinear")
        projected = lda.fit(scores, labels_np).transform(scores)
        posterior = lda.predict_proba(scores)
    projected = projected - projected.mean(axis=0)
    seli = float(linalg.svdvals(projected).sum())
    ncc = float(posterior[np.arange(len(labels_np)), labels_np].mean())
    # Stable sort groups each class's rows; np.split then hands out one (N_c, C) block per class.
    order = np.argsort(labels_np, kind="stable")
    blocks = np.split(posterior[order], np.cumsum(counts.cpu().numpy())[:-1])
    vc = math.log(sum(float(linalg.svdvals(block).sum()) for block in blocks))
    return NCTITerms(seli, ncc, vc)


def ncti(features: Any, labels: Any, *, pca_dim: int = PCA_DIM) -> float:
    """NCTI: how close the features already are to neural collapse on the target classes. Higher is better.
    Returns the unscaled ``seli + ncc - vc`` of :func:`ncti_terms`.

    Wang et al., "How Far Pre-trained Models Are from Neural Collapse on the Target Dataset Informs their
    Transferability" (ICCV 2023), code at github.com/BUserName/NCTI (``metrics.py``: ``NCTI_Score``;
    ``evaluate_metric_group1_cpu.py``). Fine-tuning drives features towards neural collapse; NCTI measures three of
    its signs on the features reduced to their first ``pca_dim`` principal components and projected by linear
    discriminant analysis (LDA; shrinkage ``max(exp(-v), 1e-10)`` with v the variance of the first 32 components,
    and sklearn's unregularised SVD solver at the floor, as in the authors' code):

    * ``seli``, simplex-ETF / SELI geometry: the nuclear norm of the centred LDA projections (N, min(C - 1, pca_dim)).
      Class means spread evenly over many discriminant directions give a large nuclear norm.
    * ``ncc``, nearest class centre: the mean LDA probability of each sample's own class.
    * ``vc``, within-class variability collapse: ``log sum_c ||P_c||_*``, P_c the (N_c, C) LDA probabilities of
      class c. A collapsed class has identical rows (rank one, small nuclear norm); a scattered one does not.

    The paper's score is ``seli + ncc - vc`` after min-max scaling each term over the candidate models (the authors'
    evaluation script). Scaling needs every candidate, so :func:`ncti` (one model) returns the unscaled
    combination, which ``seli`` dominates (it grows with N), and :func:`ncti_combine` applies the authors' scaling to
    the terms of several models; :func:`tlcore.metrics.rank_models` reports the combined score for its "ncti" rows.

    Where tlcore departs from the authors' code, and why: the principal components are exact (an eigendecomposition
    of the covariance, or of the Gram matrix when N < D); the code's ``PCA(n_components=64)`` lets sklearn choose
    a randomised solver with no seed for large inputs, so its scores change from run to run. With fewer than 64
    samples or dimensions tlcore keeps ``min(pca_dim, N, D)`` components, where the code stops with an error, and
    it leaves out components whose variance is at the rounding level (N centred samples span at most N - 1
    directions): they hold only rounding noise, which the LDA solvers would rescale to unit variance and fit.

    Invariant to permuting the samples, renaming the classes, translating or rotating the features; rescaling them
    changes the score only through the shrinkage (features with a total variance above ~23 in their first 32
    components get the unregularised solver).

    Args:
        features: (N, D) float features of the target samples.
        labels: (N,) int target labels in 0..C-1, every class present, C >= 2.
        pca_dim: principal components kept (64 in the paper), at most min(N, D) are used.
    """
    terms = ncti_terms(features, labels, pca_dim=pca_dim)
    return terms.seli + terms.ncc - terms.vc


def ncti_combine(terms: Sequence[NCTITerms]) -> np.ndarray:
    """The authors' NCTI score of several models: ``minmax(seli) + minmax(ncc) - minmax(vc)``, each term min-max
    scaled over the models given (a term equal for every model scales to 0). Returns one float per model."""
    table = terms_table(terms, NCTITerms._fields)
    return min_max(table[:, 0]) + min_max(table[:, 1]) - min_max(table[:, 2])


def _principal_components(x: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, k') coordinates of the centred ``x`` on its first k' <= k principal axes and their k' variances
    (descending, divided by N - 1 as sklearn's ``explained_variance_``); axes whose variance is at rounding level are
    left out. Only the k wanted eigenpairs are computed (LAPACK ``syevr``), from the D x D covariance or, when
    N < D, the N x N Gram matrix of the samples."""
    centred = x - x.mean(dim=0)
    small = smaller_gram(centred).cpu().numpy()
    size = len(small)
    values, vectors = linalg.eigh(small, subset_by_index=[size - k, size - 1])
    values, vectors = values[::-1], vectors[:, ::-1]
    # Components at the rounding level of the Gram matrix (N centred samples span at most N - 1 directions) carry
    # only noise, which LDA's solvers would standardise back to unit scale: drop them.
    kept = values > max(x.shape) * np.finfo(np.float64).eps * max(values[0], 0)
    values, vectors = values[kept], vectors[:, kept]
    if small.shape[0] == x.shape[1]:  # covariance side: project the samples on the axes
        scores = centred.cpu().numpy() @ vectors
    else:  # Gram side: the coordinates are the eigenvectors scaled by the singular values
        scores = vectors * np.sqrt(values)
    return np.ascontiguousarray(scores), values / max(len(x) - 1, 1)
