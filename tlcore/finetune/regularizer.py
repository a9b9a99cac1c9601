"""The regularizer interface: a term ``fit`` adds to the loss, and what it may look at in a step."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .augment import MixedBatch


@dataclass
class StepContext:
    """What a regularizer may look at during one training step.

    ``features`` (N, D) are the pre-logit features and ``logits`` (N, C) the classifier's outputs for ``inputs``
    (after augmentation and MixUp); ``labels`` (N,) are the batch's labels (with MixUp, those of the unpermuted
    samples; ``mixup`` holds lambda and the permutation). ``generator`` is the loop's seeded generator, for
    regularizers that draw (DANN's target batches); ``total_steps`` is ``protocol.steps``.
    """

    model: nn.Module
    inputs: torch.Tensor
    labels: torch.Tensor
    features: torch.Tensor
    logits: torch.Tensor
    step: int
    generator: torch.Generator | None = None
    total_steps: int = 0
    mixup: MixedBatch | None = None


class TransferRegularizer(nn.Module):
    """A term added to the loss. Subclasses implement ``forward`` on plain tensors and ``penalty(ctx)`` to say
    which tensors of the step they need; the loop adds ``weight * penalty(ctx)``.

    ``attach(model)`` is called once before the first step (e.g. to hook the model's stages) and ``detach()`` after
    the last. Parameters of the regularizer that require gradients and are not the model's (Co-Tuning's source head,
    DANN's domain classifier) are trained in an extra optimizer group at the protocol's learning rate.
    """

    def penalty(self, ctx: StepContext) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def attach(self, model: nn.Module) -> None:
        """Called by ``fit`` before training; the default does nothing."""

    def detach(self) -> None:
        """Called by ``fit`` after training (also after an error); the default does nothing."""
