"""Negative conditional entropy, NCE (Tran et al., 2019)."""
from __future__ import annotations

from typing import Any

import torch

from ._validation import check_labels, check_source_labels


def nce(source_labels: Any, target_labels: Any) -> float:
    """Negative conditional entropy ``-H(Y | Z)`` of target labels Y given source labels Z, in nats. Higher is better.

    Tran et al., "Transferability and Hardness of Supervised Classification Tasks" (ICCV 2019). The joint
    distribution of (Z, Y) is the empirical one over the N samples; the score is 0 when the target label is a function
    of the source label and ``-H(Y)`` when the two are independent.

    Args:
        source_labels: (N,) int hard source labels, e.g. the argmax of a source model's logits. Any integer values:
            the source classes that never occur simply have no mass.
        target_labels: (N,) int target labels in 0..C-1, every class present, C >= 2.
    """
    z = check_source_labels(source_labels)
    y, counts = check_labels(target_labels, len(z), against="source_labels", device=z.device)
    num_source, num_target = int(z.max()) + 1, len(counts)
    cells = torch.bincount(z * num_target + y, minlength=num_source * num_target)
    joint = cells.to(torch.float64).reshape(num_source, num_target) / len(y)
    conditional = joint / joint.sum(dim=1, keepdim=True)
    # 0 log 0 = 0: empty cells contribute nothing.
    present = joint > 0
    return float((joint[present] * conditional[present].log()).sum())
