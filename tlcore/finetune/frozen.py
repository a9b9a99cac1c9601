"""A frozen copy of a model: the fixed reference that DELTA, LwF, Co-Tuning and progressive networks compare with."""
from __future__ import annotations

import copy

from torch import nn


class Frozen(nn.Module):
    """Holds a deep copy of ``module`` that never trains: its parameters have ``requires_grad=False``, it stays in
    eval mode whatever ``train()`` is called on its parents (so BatchNorm statistics stay the source's), and the
    training loop never gives it an optimizer group. It moves with ``.to()`` like any submodule.
    """

    def __init__(self, module: nn.Module, *, copy_module: bool = True):
        super().__init__()
        self.module = copy.deepcopy(module) if copy_module else module
        self.module.requires_grad_(False)
        self.module.eval()

    def train(self, mode: bool = True) -> "Frozen":
        # nn.Module.train recurses into children; stopping here keeps the frozen copy in eval mode.
        self.training = False
        self.module.eval()
        return self

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


def frozen_parameter_ids(model: nn.Module) -> set[int]:
    """ids of the parameters that live inside :class:`Frozen` submodules of ``model``."""
    return {id(p) for m in model.modules() if isinstance(m, Frozen) for p in m.parameters()}
