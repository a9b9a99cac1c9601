"""The stages of a timm-style model: the one notion of "depth" that freezing, re-initialisation, per-stage learning
rates, DELTA, per-stage L2-SP and progressive networks share.

A stage is one coarse group of timm's ``model.group_matcher(coarse=True)`` (ResNet: ``layer1``..``layer4``; ConvNeXt:
``stages.0``..``stages.3``; ViT: each block). Two conventions make the partition cover the whole backbone:

* the **stem counts as part of stage 0** (``conv1``/``bn1`` of a ResNet, the patch embedding of a ViT), so "freeze the
  first k stages" and "transfer the first k stages" always include the stem and there is no separate stem switch;
* backbone parameters that the matcher leaves unmatched (a final norm such as ConvNeXt's ``head.norm``) count as part
  of the **last** stage. The classifier (``model.get_classifier()``) is never part of any stage.

Stage ``i``'s *output* is the output of the last top-level module of the stage that the matcher names (``layer{i+1}``
for a ResNet, ``blocks.i`` or the final ``norm`` for a ViT); it is the feature map DELTA compares and progressive
networks connect laterally.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
from timm.models._manipulate import group_with_matcher
from torch import nn

# A name no timm matcher can match: its group is the group of unmatched names.
_UNMATCHED_PROBE = "\0unmatched"


@dataclass(frozen=True)
class Stage:
    """One stage: its index (input to output), its parameters and modules (with their names), its output module."""

    index: int
    parameters: tuple[tuple[str, nn.Parameter], ...]
    modules: tuple[tuple[str, nn.Module], ...]
    output: str

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.parameters)

    def params(self) -> list[nn.Parameter]:
        return [p for _, p in self.parameters]


def model_stages(model: nn.Module) -> list[Stage]:
    """The stages of ``model``, input to output (see the module docstring for the conventions).

    Works for any model with timm's ``group_matcher`` and ``get_classifier``; raises ``ValueError`` otherwise.
    """
    if not (hasattr(model, "group_matcher") and hasattr(model, "get_classifier")):
        raise ValueError(f"{type(model).__name__} has no group_matcher/get_classifier; stage-wise options need a "
                         "timm-style model")
    matcher = model.group_matcher(coarse=True)
    if not isinstance(matcher, dict):
        raise ValueError(f"{type(model).__name__}.group_matcher returns a callable; stages need timm's dict form")
    head = model.get_classifier()
    head_params = {id(p) for p in head.parameters()}
    head_modules = {id(m) for m in head.modules()}
    params = [(n, p) for n, p in model.named_parameters() if id(p) not in head_params]
    modules = [(n, m) for n, m in model.named_modules() if n and id(m) not in head_modules]
    names = [n for n, _ in params] + [n for n, _ in modules] + [_UNMATCHED_PROBE]
    group = group_with_matcher(((n, None) for n in names), matcher, reverse=True)
    unmatched = group[_UNMATCHED_PROBE]
    stem = {n for n in names if _matches(matcher.get("stem"), n)}
    block_groups = sorted({group[n] for n in names[:-1] if n not in stem and group[n] != unmatched})
    if not block_groups:
        raise ValueError(f"{type(model).__name__}.group_matcher(coarse=True) matches no blocks")
    last = len(block_groups) - 1
    position = {g: i for i, g in enumerate(block_groups)}

    def stage_of(name: str, owns_state: bool) -> int | None:
        if name in stem:
            return 0
        if group[name] != unmatched:
            return position[group[name]]
        return last if owns_state else None  # unmatched: a trailing norm belongs to the last stage; glue does not

    stage_params: list[list] = [[] for _ in block_groups]
    stage_modules: list[list] = [[] for _ in block_groups]
    matched_modules: list[list[str]] = [[] for _ in block_groups]
    for name, parameter in params:
        stage_params[stage_of(name, True)].append((name, parameter))
    for name, module in modules:
        owns_state = bool(module._parameters) or bool(module._buffers)
        index = stage_of(name, owns_state)
        if index is not None:
            stage_modules[index].append((name, module))
            if group[name] != unmatched:
                matched_modules[index].append(name)
    stages = []
    for index in range(len(block_groups)):
        members = set(matched_modules[index])
        roots = [n for n in matched_modules[index] if n.rpartition(".")[0] not in members]
        stages.append(Stage(index, tuple(stage_params[index]), tuple(stage_modules[index]), roots[-1]))
    return stages


def check_stage_count(name: str, value: int, stages: Sequence[Stage]) -> None:
    """``ValueError`` naming ``name`` unless 0 <= value <= number of stages."""
    if not 0 <= value <= len(stages):
        raise ValueError(f"{name}={value} is out of range: the model has {len(stages)} stages (0..{len(stages)}; "
                         "the stem counts as part of stage 0)")


def select_stages(stages: Sequence[Stage], indices: Iterable[int] | None) -> list[Stage]:
    """The stages with the given indices (all when ``None``); ``ValueError`` for an index the model lacks."""
    if indices is None:
        return list(stages)
    chosen = sorted(set(int(i) for i in indices))
    bad = [i for i in chosen if not 0 <= i < len(stages)]
    if bad:
        raise ValueError(f"stage indices {bad} are out of range: the model has stages 0..{len(stages) - 1}")
    return [stages[i] for i in chosen]


def stage_parameters(model: nn.Module, indices: Iterable[int] | None = None) -> list[nn.Parameter]:
    """Parameters of the chosen stages of ``model`` (all stages, i.e. the whole backbone, when ``None``)."""
    return [p for stage in select_stages(model_stages(model), indices) for p in stage.params()]


class StageOutputs:
    """Forward hooks that keep the outputs of the chosen stages of ``model`` from the first forward pass after the
    last :meth:`take` — in a training step, the loop's own forward, even if a regulariser (DANN) runs the model again.

    Outputs are kept only while autograd records or ``always`` is set, so evaluation passes (inference mode) of a
    hooked model cost nothing extra. ``outputs`` is a list aligned with ``stages``; call ``remove()`` to unhook.
    """

    def __init__(self, model: nn.Module, stages: Sequence[Stage], *, always: bool = False):
        self.outputs: list[torch.Tensor | None] = [None] * len(stages)
        self._always = always
        self._handles = [model.get_submodule(stage.output).register_forward_hook(self._hook(i))
                         for i, stage in enumerate(stages)]

    def _hook(self, index: int):
        def keep(module: nn.Module, inputs, output) -> None:
            if self.outputs[index] is None and (self._always or torch.is_grad_enabled()):
                self.outputs[index] = output
        return keep

    def take(self) -> list[torch.Tensor]:
        """The kept outputs, forgotten here so that no graph outlives its step."""
        outputs, self.outputs = self.outputs, [None] * len(self.outputs)
        if any(o is None for o in outputs):
            raise RuntimeError("a hooked stage produced no output since the last take(); was the model run?")
        return outputs

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


def _matches(spec, name: str) -> bool:
    """Whether ``name`` matches one entry of a timm group_matcher (a regex, or a list of (regex, suffix))."""
    if spec is None:
        return False
    if isinstance(spec, str):
        return re.match(spec, name) is not None
    return any(re.match(entry[0], name) is not None for entry in spec)
