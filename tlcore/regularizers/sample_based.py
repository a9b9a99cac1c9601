"""Sample-based regularisation (Jeon, Lee, Kang & Kim 2020, "Sample-based regularization: a transfer learning
strategy toward better generalization")."""
from __future__ import annotations

import torch

from ..finetune.regularizer import StepContext, TransferRegularizer


class SampleBased(TransferRegularizer):
    """Omega = mean over same-class pairs (i < j) in the batch of ||f_i - f_j||^2, with f the pre-logit features:
    samples of one class are pulled together, a regulariser that needs no source model.

    The sum over pairs is computed per class in closed form, sum_{i<j in c} ||f_i - f_j||^2 = n_c sum_i ||f_i||^2 -
    ||sum_i f_i||^2, so the cost is O(batch * dim) rather than a (batch, batch) distance matrix. A batch without any
    same-class pair gives 0. With MixUp, the labels of the unpermuted samples are used.
    """

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``features`` (batch, dim), ``labels`` (batch,); a scalar."""
        f = features.float()
        _, group, counts = torch.unique(labels, return_inverse=True, return_counts=True)
        sums = f.new_zeros(len(counts), f.shape[1]).index_add_(0, group, f)
        squares = f.new_zeros(len(counts)).index_add_(0, group, f.pow(2).sum(1))
        total = (counts.to(f.dtype) * squares - sums.pow(2).sum(1)).sum()
        pairs = (counts * (counts - 1) // 2).sum()
        return total / pairs.clamp_min(1).to(f.dtype)

    def penalty(self, ctx: StepContext) -> torch.Tensor:
        return self(ctx.features, ctx.labels)
