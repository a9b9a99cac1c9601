"""How ``fit`` computes, which changes nothing beyond floating-point rounding: device, bfloat16 autocast, channels-last
(NHWC) memory layout with the guard oneDNN needs on the CPU, ``torch.compile`` of the training forward pass, and
subnormal numbers flushed to zero on the CPU."""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .features import default_device


@dataclass(frozen=True)
class Execution:
    """The execution options of one run, resolved: see :meth:`choose` for the defaults."""

    device: torch.device
    amp: bool
    channels_last: bool
    compile: bool | str = False
    flush_subnormals: bool = True

    @classmethod
    def choose(cls, model: nn.Module, device: torch.device | str | None, amp: bool | None,
               channels_last: bool | None, compile: bool | str = False, flush_subnormals: bool = True) -> Execution:
        """Resolve ``fit``'s options: the default device, ``amp`` on for CUDA only, ``channels_last`` on except on
        the CPU for a model :func:`nhwc_unsafe_on_cpu` flags (asking for it there raises ``ValueError``)."""
        device = torch.device(device) if device is not None else default_device()
        on_cuda = device.type == "cuda"
        amp = on_cuda if amp is None else amp
        if channels_last is None:
            channels_last = on_cuda or not nhwc_unsafe_on_cpu(model)
        elif channels_last and not on_cuda and (unsafe := nhwc_unsafe_on_cpu(model)):
            raise ValueError(f"channels_last on the CPU would corrupt memory for this model ({unsafe}); leave "
                             "channels_last=None")
        return cls(device, amp, channels_last, compile, flush_subnormals)

    @property
    def on_cuda(self) -> bool:
        return self.device.type == "cuda"

    def place(self, module: nn.Module) -> None:
        """Move ``module`` to the device, in channels-last layout if that is on."""
        module.to(self.device)
        if self.channels_last:
            module.to(memory_format=torch.channels_last)

    def layout(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs`` in the memory layout the model's weights use."""
        return inputs.contiguous(memory_format=torch.channels_last) if self.channels_last else inputs

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()

    @contextlib.contextmanager
    def subnormals_flushed(self):
        """Within the block, CPU float arithmetic treats subnormal numbers as zero (``torch.set_flush_denormal``, on
        the calling thread, which with one torch thread is every operation's), if ``flush_subnormals``.

        Why: L2 towards zero leaves the weights that get no gradient in float32's subnormal range, where each
        operation on them costs many times a normal one (benchmarks/subnormals.py: a step 1.69x as long, 1.03x
        flushed). Torch has no getter for the flag, so leaving the block restores its default, off."""
        if not self.flush_subnormals:
            yield
            return
        torch.set_flush_denormal(True)
        try:
            yield
        finally:
            torch.set_flush_denormal(False)

    def forward(self, model: nn.Module) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """The training forward pass ``inputs -> (pre-logit features, logits)``, compiled if asked for."""
        forward = features_and_logits(model)
        if self.compile:
            forward = torch.compile(forward, backend="inductor" if self.compile is True else self.compile)
        return forward


def features_and_logits(model: nn.Module) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    def forward(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = model.forward_head(model.forward_features(inputs), pre_logits=True)
        return features, model.get_classifier()(features)
    return forward


def nhwc_unsafe_on_cpu(model: nn.Module) -> str | None:
    """The first convolution of ``model`` that oneDNN's CPU backward pass mishandles in channels-last layout, else
    None: a strided 1x1 convolution with fewer than 8 input channels writes past its workspace (oneDNN issue #6035:
    heap corruption or wrong weight gradients, found here as a crash of a 4-channel test model)."""
    for name, module in model.named_modules():
        if (isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and max(module.stride) > 1
                and module.in_channels < 8):
            return f"{name}: 1x1 stride-{max(module.stride)} convolution with {module.in_channels} input channels"
    return None
