"""Log expected empirical prediction, LEEP (Nguyen et al., 2020)."""
from __future__ import annotations

from typing import Any

import torch

from ._linalg import class_sums
from ._validation import check_labels, check_probabilities

# Floor inside the log. Every expected empirical prediction is positive in exact arithmetic (a sample contributes its
# own mass to P(y_i | z)), so the floor only guards underflow and never changes a representable score.
LOG_EPSILON = 1e-12


def leep(source_probs: Any, target_labels: Any) -> float:
    """LEEP: average log-likelihood of the target labels under the source model's "dummy" classifier. Higher is better.

    Nguyen et al., "LEEP: A New Measure to Evaluate Transferability of Learned Representations" (ICML 2020). With
    ``theta = source_probs``, the empirical joint is ``P(y, z) = 1/N sum_{i: y_i = y} theta_iz``, the conditional
    ``P(y | z) = P(y, z) / P(z)``, and ``LEEP = 1/N sum_i log sum_z P(y_i | z) theta_iz``. It is 0 for source
    predictions that determine the target label and ``-H(Y)`` (``log 1/C`` for balanced classes) for uninformative
    ones, and is invariant to permuting samples, source classes or target classes.

    Args:
        source_probs: (N, Cs) float softmax outputs of the source model on the target samples; rows must sum to 1.
        target_labels: (N,) int target labels in 0..C-1, every class present, C >= 2.
    """
    theta = check_probabilities(source_probs)
    y, counts = check_labels(target_labels, len(theta), against="source_probs", device=theta.device)
    joint = class_sums(theta, y, len(counts)) / len(y)
    # A source class no sample puts mass on has P(z) = 0 and P(y, z) = 0; it never enters the sum, so 0 / tiny = 0.
    conditional = joint / joint.sum(dim=0).clamp_min(torch.finfo(theta.dtype).tiny)
    # sum_z theta_iz P(y_i | z) for every sample: one (N, Cs) x (Cs, C) product, then each sample's own column.
    expected_prediction = (theta @ conditional.T).gather(1, y[:, None]).squeeze(1)
    return float(expected_prediction.clamp_min(LOG_EPSILON).log().mean())
