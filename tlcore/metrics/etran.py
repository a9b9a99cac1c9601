"""Energy-based transferability, ETran (Gholami et al., 2023)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from ._combine import min_max, terms_table
from ._lda import adaptive_shrinkage, check_within_scatter, class_statistics, log_posterior
from ._validation import check_features, check_labels

# The authors' classification benchmark scores energy on the 0.5% of samples with the lowest log-sum-exp
# (``Energy_Score(X, 0.5, 'bot')``) and weighs the two min-max scaled terms 0.15 : 0.85 (``tw.py``).
ENERGY_FRACTION = 0.005
ENERGY_WEIGHT = 0.15


class ETranTerms(NamedTuple):
    """ETran's two classification terms for one model; higher is better for both."""

    energy: float  # mean log-sum-exp of the features over the lowest-energy-score fraction of the samples
    lda: float  # mean probability of the true class under shrunk LDA


def etran_terms(features: Any, labels: Any, *, energy_fraction: float = ENERGY_FRACTION) -> ETranTerms:
    """The energy and LDA terms of :func:`etran` for one model (see there)."""
    if not 0 < energy_fraction <= 1:
        raise ValueError(f"energy_fraction must lie in (0, 1], got {energy_fraction!r}")
    x = check_features(features)
    y, counts = check_labels(labels, len(x), name="labels", device=x.device)
    # Negative free energy of each sample, its features read as logits (temperature 1).
    scores = torch.logsumexp(x, dim=1)
    kept = max(1, int(energy_fraction * len(x) + 1e-9))
    energy = torch.topk(scores, kept, largest=False).values.mean()

    priors = counts.to(torch.float64) / len(y)
    means, within = class_statistics(x, y, counts)
    check_within_scatter(within)
    own = log_posterior(x, means, within, adaptive_shrinkage(within), priors).gather(1, y[:, None])
    return ETranTerms(float(energy), float(own.exp().mean()))


def etran(features: Any, labels: Any, *, energy_fraction: float = ENERGY_FRACTION) -> float:
    """ETran for classification: an energy score (is the target in-distribution for the model?) plus an LDA
    classification score. Higher is better. Returns the unscaled sum ``energy + lda`` of :func:`etran_terms`.

    Gholami et al., "ETran: Energy-Based Transferability Estimation" (ICCV 2023), code at
    github.com/mgholamikn/ETran (``metrics.py``: ``Energy_Score``, ``LDA``, ``LDA_Score``; ``tw.py``).

    * Energy term: the features of each sample, read as logits, have free energy ``E(x) = -logsumexp_d x_d``; an
      in-distribution sample has low energy. The term is the mean of ``-E`` over the ``energy_fraction`` of the
      samples with the highest energy (the least in-distribution ones; at least one sample), as in the authors'
      ``Energy_Score(X, 0.5, 'bot')``, which keeps 0.5%. ``energy_fraction=1`` averages over all samples.
    * LDA term: the mean probability of each sample's own class under linear discriminant analysis with the shrunk
      within-class scatter ``(1 - lambda) S_w + lambda (tr S_w / D) I``, ``lambda = max(exp(-5 sigma_max(S_w)),
      1e-10)`` (the regularisation ETran's code shares with SFDA; see :func:`tlcore.metrics.sfda`).
    * The paper's third term, an SVD-based regression score, scores regression targets (the box regression of
      object detection). It is optional for classification: the authors' classification benchmark (``tw.py``,
      method "etran") combines only the energy and LDA scores, although their README mentions the regression score
      too. tlcore omits it.

    Where tlcore departs from the authors' code, and why:

    * Combination: the authors min-max scale each term over the candidate models and rank by
      ``0.15 energy + 0.85 lda``. That needs every candidate, so :func:`etran` (one model) returns the plain sum of
      the two terms, and :func:`etran_combine` applies the authors' scaling to the terms of several models;
      :func:`tlcore.metrics.rank_models` reports the combined score for its "etran" rows.
    * LDA: their ``LDA`` passes the non-symmetric ``inv(S) S_b`` to ``numpy.linalg.eigh``, which reads one triangle
      of it and returns orthonormal vectors W; ``W W^T = I`` then turns their classifier into the nearest class
      mean under the Euclidean distance with unit variance, whatever the scatter. tlcore uses the scatter, as the
      paper describes LDA: ``W W^T = S^-1`` for S-orthonormal Fisher directions, i.e. one Cholesky solve.
    * ``sigma_max(S_w)`` is exact rather than three power-iteration steps, and at least one sample enters the energy
      term (their ``int(5) * N // 1000`` selects none below N = 200 and averages an empty array to NaN).

    The LDA term is invariant to translating, rotating and rescaling the features (up to lambda); the energy term
    is not: it reads the coordinates themselves, and grows with their scale. Both are invariant to permuting the
    samples and renaming the classes.

    Args:
        features: (N, D) float features of the target samples.
        labels: (N,) int target labels in 0..C-1, every class present, C >= 2.
        energy_fraction: share of the samples, in (0, 1], the energy term averages over (lowest scores first).
    """
    terms = etran_terms(features, labels, energy_fraction=energy_fraction)
    return terms.energy + terms.lda


def etran_combine(terms: Sequence[ETranTerms]) -> np.ndarray:
    """The authors' ETran score of several models: ``0.15 minmax(energy) + 0.85 minmax(lda)``, each term min-max
    scaled over the models given (a term equal for every model scales to 0). Returns one float per model."""
    table = terms_table(terms, ETranTerms._fields)
    energy, lda = min_max(table[:, 0]), min_max(table[:, 1])
    return ENERGY_WEIGHT * energy + (1 - ENERGY_WEIGHT) * lda

