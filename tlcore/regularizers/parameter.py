"""Parameter regularisation: L2 (weight decay as a loss term) and L2-SP (Li, Grandvalet & Davoine, ICML 2018)."""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import nn

from ..finetune.frozen import frozen_parameter_ids
from ..finetune.regularizer import StepContext, TransferRegularizer
from ..finetune.stages import stage_parameters


def _flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    # One concatenation and one reduction beat a Python sum of per-tensor norms by 2x on small models.
    return torch.cat([t.reshape(-1) for t in tensors])


def backbone_parameters(model: nn.Module, stages: Iterable[int] | None = None) -> list[nn.Parameter]:
    """The transferred parameters of ``model``: those of the chosen stages (see :mod:`tlcore.finetune.stages`), or,
    with ``stages=None``, every parameter outside the classifier and outside frozen submodules."""
    if stages is not None:
        return stage_parameters(model, stages)
    skip = {id(p) for p in model.get_classifier().parameters()} | frozen_parameter_ids(model)
    return [p for p in model.parameters() if id(p) not in skip]


class L2(TransferRegularizer):
    """Omega(w) = 1/2 * sum ||w||^2 over the given parameters.

    ``params`` is a module (all its parameters; with ``stages``, a model whose chosen stages are taken) or an
    iterable of tensors. With L2-SP, Li et al. put ``beta * L2`` on the new classifier only (see :class:`L2SP`).
    """

    def __init__(self, params: nn.Module | Iterable[torch.Tensor], *, stages: Iterable[int] | None = None):
        super().__init__()
        if isinstance(params, nn.Module):
            tensors = stage_parameters(params, stages) if stages is not None else list(params.parameters())
        elif stages is not None:
            raise ValueError("L2(stages=...) needs the model, not a list of tensors")
        else:
            tensors = list(params)
        if not tensors:
            raise ValueError("L2 got no parameters to regularise")
        # A plain list, not registered: these are the model's parameters, not the regularizer's own.
        self.tensors = tensors

    def forward(self, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """1/2 * sum of squares of ``weights`` (any shapes); a scalar."""
        return 0.5 * _flat(weights).pow(2).sum()

    def penalty(self, ctx: StepContext) -> torch.Tensor:
        return self(self.tensors)


class L2SP(TransferRegularizer):
    """L2-SP (Li et al. 2018): Omega(w) = 1/2 * ||w_S - w_S^0||^2, pulling the transferred weights w_S towards their
    values w_S^0 at construction (the starting point).

    The paper's full penalty is ``alpha/2 * ||w_S - w_S^0||^2 + beta/2 * ||w_new||^2`` with the second term on the
    new classifier only; in tlcore these are two entries of the loss list::

        regularizers = [(alpha, L2SP(model)), (beta, L2(model.get_classifier()))]

    ``stages`` restricts it to some stages (stem in stage 0), e.g. L2-SP on the lower stages and plain L2 on the
    upper ones (the survey's claim R5)::

        regularizers = [(alpha, L2SP(model, stages=[0, 1])), (alpha, L2(model, stages=[2, 3]))]

    Construct it on the model *before* training; re-initialised stages (``reinit_from_stage``) should get ``L2``.
    """

    def __init__(self, model: nn.Module, *, stages: Iterable[int] | None = None):
        super().__init__()
        self.tensors = backbone_parameters(model, stages)
        if not self.tensors:
            raise ValueError("L2SP found no transferred parameters to regularise")
        # One flat buffer: it moves with .to(), lands in checkpoints, and makes the penalty a single reduction.
        self.register_buffer("start", _flat([p.detach() for p in self.tensors]).clone())

    def forward(self, weights: Sequence[torch.Tensor], start: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """1/2 * ||weights - start||^2 with ``start`` a flat tensor or tensors shaped like ``weights``; a scalar."""
        start = start if isinstance(start, torch.Tensor) else _flat(start)
        return 0.5 * (_flat(weights) - start).pow(2).sum()

    def penalty(self, ctx: StepContext) -> torch.Tensor:
        return self(self.tensors, self.start)
