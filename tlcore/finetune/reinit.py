"""Transfer the first k stages, re-initialise the rest (Yosinski et al. 2014; the survey's "how many layers to
transfer"). Re-initialised means: as the model's own constructor would have initialised them, with a seeded RNG."""
from __future__ import annotations

import copy

import torch
from torch import nn

from .stages import Stage, check_stage_count, model_stages


def reinitialize_from_stage(model: nn.Module, first: int, seed: int,
                            stages: list[Stage] | None = None) -> list[str]:
    """Re-initialise stages ``first..`` of ``model`` in place; return the names of the tensors replaced.

    A CPU copy of the whole model is re-initialised the way a fresh instance is built — every submodule's
    ``reset_parameters()`` (PyTorch's defaults, which also reset BatchNorm statistics), then the model's own
    ``init_weights()`` when it has one (timm's ResNet: Kaiming-normal convolutions, zero-initialised last BN of each
    residual branch) — under ``torch.manual_seed(seed)`` in a forked RNG; the chosen stages' parameters and buffers
    are then copied over. The copy is re-initialised whole so that a stage's new weights depend on ``seed`` only,
    not on ``first``; the global RNG and the model's device are left alone.
    """
    stages = stages if stages is not None else model_stages(model)
    check_stage_count("reinit_from_stage", first, stages)
    if first == len(stages):
        return []
    fresh = copy.deepcopy(model).cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in fresh.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        init_weights = getattr(fresh, "init_weights", None)
        if callable(init_weights):
            try:
                init_weights()
            except TypeError:  # an init_weights that needs arguments is not the constructor's default
                pass
    replaced = []
    fresh_modules = dict(fresh.named_modules())
    with torch.no_grad():
        for stage in stages[first:]:
            for name, module in stage.modules:
                source = fresh_modules[name]
                for tensors, fresh_tensors in ((module._parameters, source._parameters),
                                               (module._buffers, source._buffers)):
                    for key, tensor in tensors.items():
                        if tensor is not None:
                            tensor.copy_(fresh_tensors[key])
                            replaced.append(f"{name}.{key}")
            # parameters owned by the model itself (a ViT's cls_token) are in stage.parameters but no stage module
            owned = {f"{n}.{k}" for n, m in stage.modules for k in m._parameters}
            for name, parameter in stage.parameters:
                if name not in owned:
                    parameter.copy_(fresh.get_parameter(name))
                    replaced.append(name)
    return replaced
