"""Progressive neural networks (Rusu, Rabinowitz, Desjardins, Soyer, Kirkpatrick, Kavukcuoglu, Pascanu & Hadsell
2016), at the granularity of stages."""
from __future__ import annotations

import torch
from torch import nn

from ..finetune.frozen import Frozen
from ..finetune.stages import StageOutputs, model_stages


class LateralAdapter(nn.Module):
    """The paper's non-linear lateral adapter for convolutional columns, a(h) = U relu(V (alpha * h)): a learned
    scalar ``alpha`` (adjusting the scale of the source activations), a 1x1 convolution V to the target's width and a
    1x1 convolution U. Input (N, C_source, H, W), output (N, C_target, H, W)."""

    def __init__(self, source_channels: int, target_channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(()))
        self.reduce = nn.Conv2d(source_channels, target_channels, 1)
        self.project = nn.Conv2d(target_channels, target_channels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.project(torch.relu(self.reduce(self.alpha * h)))


class ProgressiveNet(nn.Module):
    """A frozen source column and a new target column joined by lateral connections.

    For each stage ``i`` of the (same-stage-structure) columns, the input of the target's stage ``i + 1`` — and,
    after the last stage, the input of the target's head — is the target's stage-``i`` output plus
    ``LateralAdapter_i(source stage-i output)``: the paper's h_i^(2) = f(W_i h_{i-1}^(2) + U_i a(h_{i-1}^(1))) with
    layers grouped into stages (the stem counts as part of stage 0) and the lateral added to the stage input.

    ``source`` is copied and frozen (:class:`~tlcore.finetune.frozen.Frozen`: no gradients, eval mode, no optimizer
    group), so it is bitwise unchanged by training and keeps solving its task. ``target`` is the new column, usually a
    freshly initialised model of the same architecture with the target's number of classes. The network exposes
    timm's ``forward_features``/``forward_head``/``get_classifier``, so ``fit`` trains it like any model; stage-wise
    protocol options do not apply to it. Stage outputs must be NCHW maps; channel counts come from ``feature_info``.
    """

    def __init__(self, source: nn.Module, target: nn.Module):
        super().__init__()
        self.source = Frozen(source)
        self.target = target
        source_stages, target_stages = model_stages(self.source.module), model_stages(target)
        if len(source_stages) != len(target_stages):
            raise ValueError(f"columns differ in depth: {len(source_stages)} and {len(target_stages)} stages")
        widths = [_channels(self.source.module, s.output) for s in source_stages]
        self.laterals = nn.ModuleList(LateralAdapter(c, _channels(target, t.output))
                                      for c, t in zip(widths, target_stages))
        self._source_outputs = StageOutputs(self.source.module, source_stages, always=True)
        self._lateral_inputs: list[torch.Tensor] | None = None
        for index, stage in enumerate(target_stages):
            target.get_submodule(stage.output).register_forward_hook(self._add_lateral(index))

    def _add_lateral(self, index: int):
        def hook(module, inputs, output):
            if self._lateral_inputs is None:
                raise RuntimeError("run the target column through ProgressiveNet.forward_features, not on its own")
            return output + self.laterals[index](self._lateral_inputs[index])
        return hook

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.source.module.forward_features(x)
        self._lateral_inputs = self._source_outputs.take()
        try:
            return self.target.forward_features(x)
        finally:
            self._lateral_inputs = None

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.target.forward_head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.target.get_classifier()

    def reset_classifier(self, num_classes: int, *args, **kwargs) -> None:
        self.target.reset_classifier(num_classes, *args, **kwargs)


def _channels(model: nn.Module, module_name: str) -> int:
    for entry in getattr(model, "feature_info", []):
        if isinstance(entry, dict) and entry.get("module") == module_name:
            return int(entry["num_chs"])
    raise ValueError(f"{type(model).__name__}.feature_info does not give the channels of stage output "
                     f"{module_name!r}; progressive networks need timm-style feature_info")
