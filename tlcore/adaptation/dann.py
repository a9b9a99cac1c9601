"""Domain-adversarial training (DANN; Ganin, Ustinova, Ajakan, Germain, Larochelle, Laviolette, Marchand &
Lempitsky, JMLR 2016) as a regulariser of the one training loop."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ..finetune.loop import fit
from ..finetune.protocol import Protocol
from ..finetune.record import RunRecord
from ..finetune.regularizer import StepContext, TransferRegularizer
from ..regularizers._data import TargetData, as_tensors


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The gradient reversal layer R_lambda: identity forward, gradient multiplied by ``-scale`` backward."""
    return _ReverseGradient.apply(x, scale)


class GradientReversal(nn.Module):
    """:func:`reverse_gradient` as a module with a settable ``scale`` (lambda)."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(x, self.scale)


def dann_lambda(progress: float, gamma: float = 10.0) -> float:
    """The paper's adaptation factor lambda_p = 2 / (1 + exp(-gamma p)) - 1, rising from 0 to ~1 as training
    progress p goes from 0 to 1 (it suppresses the noisy domain signal early on)."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


class DomainClassifier(nn.Module):
    """The paper's domain classifier for deep features: features (N, D) -> two hidden layers with ReLU and dropout
    -> one logit (N,) for "target domain". Width 1024 in the paper."""

    def __init__(self, in_features: int, hidden: int = 1024, dropout: float = 0.5):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(1)


class DANN(TransferRegularizer):
    """The domain-adversarial loss: BCE of a domain classifier telling the labelled source batch (the loop's batch,
    label 0) from a batch of unlabelled target-domain images (label 1), seen through a gradient reversal layer.

    The domain classifier (trained in the loop's extra optimizer group) minimises the loss; the reversed gradient
    makes the feature extractor maximise it, scaled by ``lambda_p`` (:func:`dann_lambda`, from the step's progress
    unless ``fixed_lambda`` is given). Use weight 1 in the loss list to match the paper. Each step draws
    ``batch_size`` target images (with replacement) from the loop's seeded generator and runs them through the model
    with gradients: one extra forward. The two domains go through BatchNorm in separate batches (the loop's forward
    is the source batch). A source-only baseline is plain ``fit`` without this term.
    """

    def __init__(self, target_domain: TargetData | torch.Tensor, features: int, *, hidden: int = 1024,
                 dropout: float = 0.5, gamma: float = 10.0, fixed_lambda: float | None = None):
        super().__init__()
        images = target_domain if isinstance(target_domain, torch.Tensor) else as_tensors(target_domain)[0]
        # Not persistent: the data is an argument, not state, and need not be copied into every checkpoint.
        self.register_buffer("target_images", images, persistent=False)
        self.classifier = DomainClassifier(features, hidden, dropout)
        self.reversal = GradientReversal()
        self.gamma, self.fixed_lambda = gamma, fixed_lambda

    def forward(self, source_features: torch.Tensor, target_features: torch.Tensor) -> torch.Tensor:
        """Domain BCE (mean over both batches) of (N_s, D) source and (N_t, D) target features, after reversal."""
        logits = self.classifier(self.reversal(torch.cat([source_features, target_features]).float()))
        domains = torch.cat([logits.new_zeros(len(source_features)), logits.new_ones(len(target_features))])
        return F.binary_cross_entropy_with_logits(logits, domains)

    def penalty(self, ctx: StepContext) -> torch.Tensor:
        if ctx.generator is None:
            raise RuntimeError("DANN.penalty needs the loop's generator in the step context")
        progress = ctx.step / ctx.total_steps if ctx.total_steps else 1.0
        self.reversal.scale = self.fixed_lambda if self.fixed_lambda is not None else dann_lambda(progress, self.gamma)
        index = torch.randint(len(self.target_images), (len(ctx.inputs),), generator=ctx.generator)
        target = self.target_images[index.to(self.target_images.device)]
        target = target.to(ctx.inputs.device, memory_format=torch.preserve_format)
        target_features = ctx.model.forward_head(ctx.model.forward_features(target), pre_logits=True)
        return self(ctx.features, target_features)


def fit_dann(model: nn.Module, source_train: Dataset, target_domain: TargetData, val: Dataset,
             test: Dataset | None = None, *, protocol: Protocol = Protocol(), weight: float = 1.0, hidden: int = 1024,
             **fit_kwargs) -> RunRecord:
    """Unsupervised domain adaptation by DANN: ``fit`` on the labelled ``source_train`` with the adversarial term on
    unlabelled ``target_domain`` images; ``val``/``test`` as in ``fit`` (labelled target data, when one has them).
    Other keyword arguments (``seed``, ``checkpoint_path``, ...) go to ``fit``."""
    features = getattr(model.get_classifier(), "in_features", None)
    if features is None:
        raise ValueError("fit_dann needs a linear classifier to read the feature width from")
    dann = DANN(target_domain, features, hidden=hidden)
    return fit(model, source_train, val, test, protocol=protocol, regularizers=[(weight, dann)], **fit_kwargs)
