"""Learning without Forgetting (Li & Hoiem, ECCV 2016 / TPAMI 2018)."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..finetune.frozen import Frozen
from ..finetune.regularizer import StepContext, TransferRegularizer


class LwF(TransferRegularizer):
    """L_old = -sum_k y'_o,k log yhat'_o,k with y' = softmax(logits / T): the old task's head, applied to the
    fine-tuned features, is distilled towards the responses of the original network on the same (augmented) images.

    The original network is kept frozen here and run once per step without gradients — equivalent to LwF's
    responses "recorded" before training, but valid under augmentation. The old head (a copy of the source
    classifier, theta_o) is trained jointly, as in the paper; LwF's warm-up (train only the new head first) is
    ``Protocol(lp_steps=...)``. ``T = 2`` as in the paper; no T^2 factor (the paper weights the term by lambda_o,
    the weight in the loss list).
    """

    def __init__(self, source_model: nn.Module, temperature: float = 2.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature
        self.source = Frozen(source_model)
        self.old_head = copy.deepcopy(source_model.get_classifier()).requires_grad_(True)

    def forward(self, new_logits: torch.Tensor, old_logits: torch.Tensor) -> torch.Tensor:
        """``new_logits``, ``old_logits``: (N, old classes); mean over the batch of the tempered cross-entropy."""
        t = self.temperature
        recorded = F.softmax(old_logits.float() / t, dim=1)
        return -(recorded * F.log_softmax(new_logits.float() / t, dim=1)).sum(1).mean()

    def penalty(self, ctx: StepContext) -> torch.Tensor:
        with torch.no_grad():
            old = self.source(ctx.inputs)
        return self(self.old_head(ctx.features), old)
