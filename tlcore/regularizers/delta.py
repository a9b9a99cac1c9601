"""DELTA: DEep Learning Transfer using feature map with Attention (Li, Xiong, Wang, Liu, Huan & Wang, ICLR 2019)."""
from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..finetune.frozen import Frozen
from ..finetune.regularizer import StepContext, TransferRegularizer
from ..finetune.stages import Stage, StageOutputs, model_stages, select_stages
from ._data import TargetData, as_tensors, batched


class DELTA(TransferRegularizer):
    """Omega = mean over the batch of sum_stages sum_channels w_j * ||FM_j(w, x) - FM_j(w*, x)||^2 / (H W): the
    distance between the target model's feature maps and those of the frozen source model w*, at the output of each
    chosen stage (all by default), weighted per channel.

    * ``attention=True`` (DELTA): ``w_j`` comes from :func:`channel_attention` on ``data`` (target images and labels),
      computed once here; channels whose removal hurts the target task most are held closest to the source.
    * ``attention=False`` (DELTA's unweighted "feature-map" variant): ``w_j = 1``.

    Attention weights are scaled to average 1 over a stage's channels, so both variants share a scale; the squared
    distance is averaged over spatial positions (the paper sums them) so that stages of different resolutions weigh
    alike. Cost per step: the loop's own forward (the target maps come from hooks on it) plus one forward of the source
    copy without gradients.
    """

    def __init__(self, source_model: nn.Module, data: TargetData | None = None, *, stages: Iterable[int] | None = None,
                 attention: bool = True, temperature: float = 5.0, head: nn.Module | None = None,
                 max_samples: int = 256):
        super().__init__()
        if attention and data is None:
            raise ValueError("DELTA(attention=True) needs target data to measure channel importance; pass data= or "
                             "attention=False")
        self.source = Frozen(source_model)
        self.stage_indices = [s.index for s in select_stages(model_stages(self.source.module), stages)]
        chosen = self._stages(self.source.module)
        if attention:
            images, labels = as_tensors(data, max_samples)
            weights = channel_attention(self.source.module, images, labels, chosen, head=head,
                                        temperature=temperature)
        else:
            weights = [torch.ones(c) for c in _channel_counts(self.source.module, chosen, data)]
        self.attention = attention
        for i, w in enumerate(weights):
            self.register_buffer(f"weight{i}", w.float())
        # Hooked only now, so that the forward passes above leave nothing behind for the first penalty.
        self._source_outputs = StageOutputs(self.source.module, chosen, always=True)
        self._target_outputs: StageOutputs | None = None

    def _stages(self, model: nn.Module) -> list[Stage]:
        return select_stages(model_stages(model), self.stage_indices)

    @property
    def weights(self) -> list[torch.Tensor]:
        return [getattr(self, f"weight{i}") for i in range(len(self.stage_indices))]

    def forward(self, target_maps: Sequence[torch.Tensor], source_maps: Sequence[torch.Tensor],
                weights: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """``target_maps`` and ``source_maps``: per stage (N, C, H, W) (or (N, L, C) tokens); ``weights``: per stage
        (C,), default this regulariser's. A scalar."""
        weights = self.weights if weights is None else weights
        total = 0.0
        for target, source, weight in zip(target_maps, source_maps, weights, strict=True):
            per_channel = _per_channel_mean_square(target.float() - source.float())  # (N, C)
            total = total + (per_channel * weight).sum(1).mean()
        return total

    def attach(self, model: nn.Module) -> None:
        self._target_outputs = StageOutputs(model, self._stages(model))

    def detach(self) -> None:
        if self._target_outputs is not None:
            self._target_outputs.remove()
            self._target_outputs = None

    def penalty(self, ctx: StepContext) -> torch.Tensor:
        if self._target_outputs is None:
            raise RuntimeError("DELTA.penalty needs attach(model) first (fit does it)")
        targets = self._target_outputs.take()
        with torch.no_grad():
            self.source.module.forward_features(ctx.inputs)
        return self(targets, self._source_outputs.take())


def channel_attention(source_model: nn.Module, images: torch.Tensor, labels: torch.Tensor, stages: Sequence[Stage],
                      *, head: nn.Module | None = None, temperature: float = 5.0) -> list[torch.Tensor]:
    """DELTA's channel weights, one (C,) tensor per stage, from the loss increase when a channel is removed.

    The loss is the cross-entropy on the target ``images``/``labels`` of the frozen source features followed by
    ``head``; by default ``head`` is a linear classifier fitted here on those features (the source model's own
    classifier predicts source classes, so DELTA evaluates channels through a target classifier on the pretrained
    features). Removing channel j of a stage means zeroing it in the stage's output. Per stage the increases are
    standardised, passed through ``softmax(. / temperature)`` (the normalisation of DELTA's public implementation;
    the paper writes a plain softmax, which on loss differences of 1e-3 gives near-uniform weights) and scaled by
    the number of channels so that they average 1.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    was_training = source_model.training
    source_model.eval()
    device = next(source_model.parameters()).device
    labels = labels.to(device)
    features = lambda x: source_model.forward_head(source_model.forward_features(x), pre_logits=True)
    if head is None:
        head = fit_linear_head(batched(features, images, device), labels)
    head = head.to(device)

    def logits(x: torch.Tensor) -> torch.Tensor:
        return head(features(x))

    try:
        counts = _channel_counts(source_model, stages, (images[:2], labels[:2]))
        weights = []
        for stage, channels in zip(stages, counts):
            module = source_model.get_submodule(stage.output)
            losses = _ablated_losses(logits, module, channels, images, labels, device)
            increase = (losses[1:] - losses[0]).double()
            spread = increase.std(unbiased=False)
            z = (increase - increase.mean()) / spread if spread > 0 else torch.zeros_like(increase)
            weights.append((channels * torch.softmax(z / temperature, 0)).float())
    finally:
        source_model.train(was_training)
    return weights


@torch.no_grad()
def _ablated_losses(logits: Callable[[torch.Tensor], torch.Tensor], module: nn.Module, channels: int,
                    images: torch.Tensor, labels: torch.Tensor, device: torch.device, *, batch_size: int = 64,
                    max_stacked_elements: int = 2**25) -> torch.Tensor:
    """(channels + 1,) float64 mean cross-entropy of ``logits`` on ``images``: intact first, then with each channel
    of ``module``'s output zeroed in turn.

    The part of the network before ``module`` does not depend on the channel removed, so it runs once for many
    ablations: a hook replaces the output by one copy per ablation, stacked along the batch (at most
    ``max_stacked_elements`` values, 128 MB in float32), and only the layers after ``module`` see the larger batch.
    For a ResNet's last stage that leaves just pooling and the head per channel; over the four stages of the
    embedded models the attention takes a quarter of the time of one full forward per channel
    (benchmarks/finetune.py). A model whose later layers reuse an earlier tensor of the batch cannot take the
    stacked copies: that is detected (a shape error, or the intact copy disagreeing with a plain forward) and
    served by one full forward per channel instead.
    """
    variants = [None, *range(channels)]
    totals = torch.zeros(len(variants), dtype=torch.float64)
    labels = labels.to(device)
    for start in range(0, len(images), batch_size):
        x, y = images[start : start + batch_size].to(device), labels[start : start + batch_size]
        shape = []
        handle = module.register_forward_hook(lambda m, i, output: shape.append(output.shape))
        try:
            plain = F.cross_entropy(logits(x), y, reduction="sum").double().cpu()
        finally:
            handle.remove()
        per_forward = int(min(len(variants), max(1, max_stacked_elements // math.prod(shape[0]))))
        for first in range(0, len(variants), per_forward):
            group = variants[first : first + per_forward]
            handle = module.register_forward_hook(_stack_ablations(group))
            try:
                stacked = logits(x)
            except RuntimeError:  # the stacked batch met a tensor of the original batch size downstream
                stacked = None
            finally:
                handle.remove()
            if stacked is None or stacked.shape[0] != len(group) * len(x):
                return _ablated_losses_by_full_forward(logits, module, channels, images, labels, device)
            losses = F.cross_entropy(stacked, y.repeat(len(group)), reduction="none").view(len(group), -1).sum(1)
            losses = losses.double().cpu()
            if first == 0 and not torch.allclose(losses[0], plain, rtol=1e-4, atol=1e-6):
                return _ablated_losses_by_full_forward(logits, module, channels, images, labels, device)
            totals[first : first + len(group)] += losses
    return totals / len(images)


def _stack_ablations(variants: Sequence[int | None]):
    """A forward hook returning one copy of the output per entry of ``variants``: intact (None) or channel zeroed."""
    def hook(module, inputs, output):
        dim = _channel_dim(output)
        copies = [output if channel is None
                  else output.index_fill(dim, torch.tensor([channel], device=output.device), 0.0)
                  for channel in variants]
        return torch.cat(copies, dim=0)
    return hook


@torch.no_grad()
def _ablated_losses_by_full_forward(logits, module, channels, images, labels, device) -> torch.Tensor:
    """As :func:`_ablated_losses`, one full forward of every image per ablation (any model)."""
    def mean_loss() -> float:
        return float(F.cross_entropy(batched(logits, images, device), labels.to(device)))

    losses = [mean_loss()]
    for channel in range(channels):
        handle = module.register_forward_hook(_stack_ablations([channel]))
        try:
            losses.append(mean_loss())
        finally:
            handle.remove()
    return torch.tensor(losses, dtype=torch.float64)


def fit_linear_head(features: torch.Tensor, labels: torch.Tensor, *, weight_decay: float = 1e-4,
                    max_iter: int = 200) -> nn.Linear:
    """Multinomial logistic regression on ``features`` (N, D), fitted by full-batch L-BFGS from zero (deterministic)."""
    features, labels = features.detach().float(), labels.long()
    head = nn.Linear(features.shape[1], int(labels.max()) + 1).to(features.device)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    optimizer = torch.optim.LBFGS(head.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(head(features), labels) + 0.5 * weight_decay * head.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return head.requires_grad_(False)


def _channel_dim(t: torch.Tensor) -> int:
    return 1 if t.ndim == 4 else -1  # NCHW maps, or (N, L, C) tokens


def _per_channel_mean_square(difference: torch.Tensor) -> torch.Tensor:
    if difference.ndim == 4:
        return difference.pow(2).flatten(2).mean(2)
    return difference.pow(2).mean(1)


@torch.no_grad()
def _channel_counts(model: nn.Module, stages: Sequence[Stage], data: TargetData | None) -> list[int]:
    """Channels at each stage output, from ``feature_info`` when it names the module, else from one forward pass."""
    info = {entry.get("module"): entry.get("num_chs") for entry in getattr(model, "feature_info", [])
            if isinstance(entry, dict)}
    if all(info.get(stage.output) for stage in stages):
        return [int(info[stage.output]) for stage in stages]
    if data is None:
        raise ValueError("cannot tell the stages' channel counts from feature_info; pass data=")
    images, _ = as_tensors(data, 2)
    recorder = StageOutputs(model, stages, always=True)
    try:
        was_training = model.training
        model.eval()
        model.forward_features(images.to(next(model.parameters()).device))
        model.train(was_training)
        return [o.shape[_channel_dim(o)] for o in recorder.take()]
    finally:
        recorder.remove()
