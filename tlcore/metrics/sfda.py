"""Self-challenging Fisher discriminant analysis, SFDA (Shao et al., 2022)."""
from __future__ import annotations

from typing import Any

import torch

from ._lda import adaptive_shrinkage, check_within_scatter, class_statistics, log_posterior
from ._validation import check_features, check_labels


def sfda(features: Any, labels: Any, *, log: bool = True) -> float:
    """SFDA: how well a Fisher-space Bayes classifier still fits the labels after hard samples are pushed towards
    the other classes. Higher is better; with ``log=True`` at most 0.

    Shao et al., "Not All Models Are Equal: Predicting Model Transferability in a Self-challenging Fisher Space"
    (ECCV 2022), code at github.com/TencentARC/SFDA (``metrics.py``: ``SFDA``, ``SFDA_Score``). With class means
    ``mu_c``, priors ``pi_c = N_c / N`` and the within-class scatter ``S_w = 1/N sum_i (x_i - mu_{y_i})(...)^T``:

    1. Regularised Fisher space. ``S_w`` is shrunk to ``S = (1 - lambda) S_w + lambda (tr S_w / D) I`` with the
       self-adaptive strength ``lambda = max(exp(-5 sigma_max(S_w)), 1e-10)``: little shrinkage for a widely
       spread scatter, much for a tight one. The Fisher directions W solve ``S_b w = rho S w``; the Bayes classifier
       with Gaussian classes in that space has ``p(c | x) = softmax_c(x^T W W^T mu_c - 1/2 mu_c^T W W^T mu_c
       + log pi_c)``.
    2. ConfMix, the self-challenge: each sample is mixed with the mean of the other classes' means,
       ``x_i <- w_i x_i + (1 - w_i) mean_{c != y_i} mu_c``, by its confidence ``w_i``, the probability of its own
       class after a second softmax over the posterior row (the authors' "soften the probability" step; it keeps
       every ``w_i`` in ``[1 / (e + C - 1), e / (e + C - 1)]``, so every sample is challenged and a
       misclassified one most).
    3. The classifier of step 1 is refitted on the mixed samples with the same ``lambda``, and the score is their
       mean log-likelihood ``1/N sum_i log p(y_i | x_i)``.

    Where tlcore departs from the authors' code, and why:

    * ``log=True`` (default) scores the mean log-probability, the log-likelihood the paper defines; the code drops
      the log "in case of instability" and averages the probabilities, which ``log=False`` reproduces. tlcore
      computes the log-posterior as a log-softmax, which is finite however confident the classifier is, so the
      instability does not arise.
    * The code projects on all D generalised eigenvectors W of ``(S_b, S)`` (``scipy.linalg.eigh``) and uses
      ``W W^T``. Those are S-orthonormal, ``W^T S W = I``, so ``W W^T = S^-1`` exactly: the Fisher-space classifier is
      linear discriminant analysis with the shrunk scatter, and tlcore computes it with one Cholesky solve
      ``S^-1 mu_c`` (``S_b`` drops out). Same posterior, without a D x D generalised eigenproblem.
    * ``sigma_max(S_w)`` is the exact largest eigenvalue; the code runs three power-iteration steps from
      ``S_w 1``, an estimate that depends on the orientation of the features and can undershoot (making lambda
      too large). With the exact value the score is invariant to rotating the features.
    * The code overwrites the caller's feature array with the mixed samples; tlcore leaves its input alone.

    The score is invariant to permuting the samples, renaming the classes, translating or rotating the features.
    Rescaling them changes it only through lambda (large features: lambda at its floor, an almost unregularised
    LDA; small ones: close to the nearest-mean classifier).

    Args:
        features: (N, D) float features of the target samples.
        labels: (N,) int target labels in 0..C-1, every class present, C >= 2.
        log: average log-probabilities (the paper) rather than probabilities (the authors' code).
    """
    x = check_features(features)
    y, counts = check_labels(labels, len(x), name="labels", device=x.device)
    priors = counts.to(torch.float64) / len(y)
    means, within = class_statistics(x, y, counts)
    check_within_scatter(within)
    shrinkage = adaptive_shrinkage(within)

    # ConfMix confidences: the own-class entry of softmax(posterior row).
    posterior = log_posterior(x, means, within, shrinkage, priors).exp()
    confidence = torch.softmax(posterior, dim=1).gather(1, y[:, None])
    others = (means.sum(dim=0) - means) / (len(counts) - 1)  # mean of the other classes' means, (C, D)
    mixed = others[y].mul_(1 - confidence).add_(confidence * x)

    mixed_means, mixed_within = class_statistics(mixed, y, counts)
    own = log_posterior(mixed, mixed_means, mixed_within, shrinkage, priors).gather(1, y[:, None]).squeeze(1)
    return float(own.mean() if log else own.exp().mean())

