"""Augmentation drawn from the training loop's generator: random shifts and MixUp (Zhang et al. 2018).

timm's ``Mixup`` draws lambda from numpy's global state; here every random number comes from the ``torch.Generator``
that ``fit`` seeds, so a run with MixUp is a pure function of its seed (and resumes exactly from a checkpoint).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from scipy.special import betaincinv


@dataclass
class MixedBatch:
    """``inputs = lam * x + (1 - lam) * x[permutation]``; the loss mixes the labels the same way."""

    inputs: torch.Tensor
    labels: torch.Tensor
    permutation: torch.Tensor
    lam: float

    @property
    def other_labels(self) -> torch.Tensor:
        return self.labels[self.permutation]


def sample_beta(alpha: float, generator: torch.Generator) -> float:
    """One draw of Beta(alpha, alpha) by inverting its CDF at a uniform from ``generator``."""
    u = float(torch.rand((), generator=generator, dtype=torch.float64))
    return float(betaincinv(alpha, alpha, u))


def mixup(inputs: torch.Tensor, labels: torch.Tensor, alpha: float, generator: torch.Generator) -> MixedBatch:
    """Mix a batch ``inputs`` (N, ...) with a seeded permutation of itself, lambda ~ Beta(alpha, alpha)."""
    if alpha <= 0:
        raise ValueError(f"mixup needs alpha > 0, got {alpha}")
    lam = sample_beta(alpha, generator)
    permutation = torch.randperm(len(inputs), generator=generator).to(inputs.device)
    mixed = inputs.mul(lam).add_(inputs[permutation], alpha=1.0 - lam)
    return MixedBatch(mixed, labels, permutation, lam)


def mixup_cross_entropy(logits: torch.Tensor, batch: MixedBatch, label_smoothing: float = 0.0) -> torch.Tensor:
    """``lam * CE(logits, y) + (1 - lam) * CE(logits, y[permutation])``."""
    return (batch.lam * F.cross_entropy(logits, batch.labels, label_smoothing=label_smoothing)
            + (1.0 - batch.lam) * F.cross_entropy(logits, batch.other_labels, label_smoothing=label_smoothing))


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by an integer offset in [-max_shift, max_shift]^2, filling with zeros."""
    n, c, h, w = images.shape
    offsets = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator).to(images.device)
    padded = F.pad(images, (max_shift,) * 4)
    rows = torch.arange(h, device=images.device)[None, :] + max_shift - offsets[:, :1]
    cols = torch.arange(w, device=images.device)[None, :] + max_shift - offsets[:, 1:]
    # One gather over the flattened padded image. (The earlier form, advanced indexing of a permuted view with
    # broadcast index tensors, gives the same values but corrupts the heap on torch 2.14's CPU kernels.)
    index = (rows[:, :, None] * (w + 2 * max_shift) + cols[:, None, :]).reshape(n, 1, h * w).expand(n, c, h * w)
    return padded.flatten(2).gather(2, index).view(n, c, h, w)
