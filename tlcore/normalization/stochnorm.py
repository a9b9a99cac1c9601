"""Stochastic Normalization (Kou, You, Long & Wang, NeurIPS 2020)."""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class StochNorm(_BatchNorm):
    """BatchNorm whose training-time statistics are chosen per channel at random: with probability ``p`` a channel
    is normalised with the moving statistics (the running mean/variance, which start as the source model's), else
    with the mini-batch statistics. In eval mode it is BatchNorm.

    ``p = 0`` is BatchNorm in training mode; ``p = 1`` normalises with the moving statistics, i.e. BatchNorm's eval
    output. The running statistics are updated from every mini-batch whatever the draw, as in the paper's code.
    Both branches are PyTorch's own batch-norm kernels and a channel's output is taken from one of them
    (``torch.where``), the paper's (1 - s) z_batch + s z_moving for binary s; at ``p`` of 0 or 1 only the needed
    branch is built.

    The mask (one Bernoulli(p) per channel per forward pass) is drawn from ``generator``; inside ``fit`` that is the
    loop's seeded generator (``uses_loop_generator``), elsewhere the given one or torch's default. The public
    implementation hard-codes ``p = 0`` in its constructor, draws from unseeded numpy and moves masks with ``.cuda()``.
    State-dict keys are BatchNorm's, so BatchNorm weights load into StochNorm and back.
    """

    uses_loop_generator = True

    def __init__(self, num_features: int, p: float = 0.5, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, generator: torch.Generator | None = None, device=None, dtype=None):
        _check_p(p)
        super().__init__(num_features, eps, momentum, affine, track_running_stats=True, device=device, dtype=dtype)
        self.p = float(p)
        self.generator = generator

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (N, C, ...), got {input.dim()}D")

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"

    def draw_mask(self, device: torch.device) -> torch.Tensor:
        """(C,) booleans, True where the moving statistics are used. ``p`` of 0 or 1 draws nothing, so that such a
        layer leaves the generator (and with it the loop's batch order) as BatchNorm would."""
        if self.p in (0.0, 1.0):
            return torch.full((self.num_features,), self.p == 1.0, dtype=torch.bool, device=device)
        generator = self.generator
        uniform = torch.rand(self.num_features, generator=generator,
                             device=generator.device if generator is not None else device)
        return (uniform < self.p).to(device)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        if not self.training:
            return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0,
                                self.eps)
        moving_mean, moving_var = self.running_mean.clone(), self.running_var.clone()  # before this batch's update
        self.num_batches_tracked += 1
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        # BatchNorm's training call: mini-batch statistics, and the running statistics' update, whatever the draw.
        batch = F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias, True, factor,
                             self.eps)
        if self.p == 0.0:
            return batch
        moving = F.batch_norm(input, moving_mean, moving_var, self.weight, self.bias, False, 0.0, self.eps)
        if self.p == 1.0:
            return moving
        use_moving = self.draw_mask(input.device).view((1, -1) + (1,) * (input.dim() - 2))
        return torch.where(use_moving, moving, batch)


def convert_to_stochnorm(model: nn.Module, p: float = 0.5, *, generator: torch.Generator | None = None) -> nn.Module:
    """Replace every ``nn.BatchNorm1d/2d/3d`` of ``model`` (in place) by a :class:`StochNorm` with the same weights,
    running statistics and hyper-parameters; returns ``model``.

    Subclasses of BatchNorm that do more (timm's ``BatchNormAct2d`` fuses an activation) are left alone with a
    warning, as are BatchNorms without running statistics (StochNorm needs the moving statistics).
    """
    _check_p(p)
    skipped = []
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if type(child) in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d) and child.track_running_stats:
                setattr(parent, name, _from_batchnorm(child, p, generator))
            elif isinstance(child, _BatchNorm) and not isinstance(child, StochNorm):
                skipped.append(f"{parent_name}.{name}".lstrip("."))
    if skipped:
        warnings.warn(f"convert_to_stochnorm left {len(skipped)} normalisation layers unchanged (BatchNorm "
                      f"subclasses or without running statistics): {skipped[:5]}")
    return model


def _from_batchnorm(bn: _BatchNorm, p: float, generator: torch.Generator | None) -> StochNorm:
    stoch = StochNorm(bn.num_features, p, bn.eps, bn.momentum, bn.affine, generator,
                      device=bn.running_mean.device, dtype=bn.running_mean.dtype)
    stoch.load_state_dict(bn.state_dict())
    stoch.train(bn.training)
    return stoch


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"StochNorm probability p must lie in [0, 1], got {p}")
