"""Domain similarity from the earth mover's distance between class means (Cui et al., 2018)."""
from __future__ import annotations

import math
from typing import Any

import ot
import torch

from ._linalg import class_sums
from ._validation import check_features, check_labels, check_positive


def emd_similarity(
    source_features: Any,
    source_labels: Any,
    target_features: Any,
    target_labels: Any,
    gamma: float = 0.01,
) -> float:
    """Domain similarity ``exp(-gamma * EMD(S, T))`` in (0, 1]. Higher means the domains are closer.

    Cui et al., "Large Scale Fine-Grained Categorization and Domain-Specific Transfer Learning" (CVPR 2018). Each
    domain is the discrete distribution of its class-mean features, weighted by class frequency; the ground distance
    is Euclidean and the EMD is solved exactly by POT's network simplex (``ot.emd2``). Identical domains give 1.

    Args:
        source_features: (Ns, D) float features of the source images, from the model being assessed.
        source_labels: (Ns,) int source labels in 0..Cs-1, every class present (one class is enough).
        target_features: (Nt, D) float features of the target images, from the same model.
        target_labels: (Nt,) int target labels in 0..Ct-1, every class present (one class is enough).
        gamma: the paper's temperature, 0.01.
    """
    check_positive(gamma, "gamma")
    domains = []
    sides = ((source_features, source_labels, "source"), (target_features, target_labels, "target"))
    for features, labels, side in sides:
        x = check_features(features, name=f"{side}_features")
        y, counts = check_labels(
            labels, len(x), name=f"{side}_labels", against=f"{side}_features", device=x.device, min_classes=1
        )
        domains.append((class_sums(x, y, len(counts)) / counts[:, None], counts.to(torch.float64) / len(y)))
    (source_means, source_weights), (target_means, target_weights) = domains
    if source_means.shape[1] != target_means.shape[1]:
        raise ValueError(
            f"source_features have {source_means.shape[1]} dimensions but target_features have "
            f"{target_means.shape[1]}; both must come from the same model"
        )
    # The exact (non-matrix-multiply) kernel keeps the distance between identical means at exactly 0.
    ground_distance = torch.cdist(
        source_means, target_means.to(source_means.device), compute_mode="donot_use_mm_for_euclid_dist"
    )
    distance = ot.emd2(
        source_weights.cpu().numpy(), target_weights.cpu().numpy(), ground_distance.cpu().numpy()
    )
    return math.exp(-gamma * float(distance))
