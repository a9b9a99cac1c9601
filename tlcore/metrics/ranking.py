"""How well a transferability metric ranks models: agreement between metric scores and measured accuracies."""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from ._validation import check_paired_scores


def weighted_kendall_tau(scores: Any, accuracies: Any) -> float:
    """Weighted Kendall's tau between metric scores and fine-tuned accuracies, one entry per model (1-D, >= 2).

    ``scipy.stats.weightedtau`` with its default hyperbolic weights, which count swaps among the best models more
    than swaps among the worst; the agreement measure of You et al. (LogME, ICML 2021) and later transferability
    benchmarks. 1 for the same ranking, -1 for the reversed one.
    """
    scores, accuracies = check_paired_scores(scores, accuracies)
    _check_not_constant(scores, "scores")
    _check_not_constant(accuracies, "accuracies")
    return float(stats.weightedtau(scores, accuracies).statistic)


def pearson(scores: Any, accuracies: Any) -> float:
    """Pearson correlation between metric scores and accuracies, one entry per model (1-D, >= 2)."""
    scores, accuracies = check_paired_scores(scores, accuracies)
    _check_not_constant(scores, "scores")
    _check_not_constant(accuracies, "accuracies")
    return float(stats.pearsonr(scores, accuracies).statistic)


def top1_relative_accuracy(scores: Any, accuracies: Any) -> float:
    """Accuracy of the model the metric ranks first, divided by the best accuracy; 1 when the metric picks the best.

    Ties in the top score count pessimistically (the worst of the tied models), so the result does not depend on
    the order the models are listed in. Accuracies must be non-negative with a positive maximum.
    """
    scores, accuracies = check_paired_scores(scores, accuracies)
    if accuracies.min() < 0 or accuracies.max() <= 0:
        raise ValueError("accuracies must be non-negative with a positive maximum")
    picked = accuracies[scores == scores.max()].min()
    return float(picked / accuracies.max())


def _check_not_constant(values: np.ndarray, name: str) -> None:
    if np.all(values == values[0]):
        raise ValueError(f"{name} are all equal; a rank correlation is undefined")
