"""Linear centred kernel alignment (CKA, Kornblith et al. 2019): how similar two sets of representations of the
same inputs are, invariant to orthogonal transforms and isotropic scaling of either; and per-stage activations of a
timm-style network to compare with it."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ..finetune.features import ordered_batches


def linear_cka(x, y) -> float:
    """Linear CKA between ``x`` (n, p) and ``y`` (n, q), two representations of the same n inputs (rows match).

    CKA = ||Y'^T X'||_F^2 / (||X'^T X'||_F ||Y'^T Y'||_F) with column-centred X', Y'; computed through the n x n Gram
    matrices, so wide activations cost O(n^2 (p + q)). 1 for identical representations, in [0, 1] always.
    """
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must describe the same inputs: {x.shape[0]} rows vs {y.shape[0]}")
    if x.shape[0] < 2:
        raise ValueError("linear_cka needs at least 2 inputs")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    gram_x, gram_y = x @ x.T, y @ y.T
    norm_x, norm_y = np.linalg.norm(gram_x), np.linalg.norm(gram_y)
    if norm_x == 0 or norm_y == 0:
        raise ValueError("a representation is constant over the inputs; CKA is undefined")
    return float(np.sum(gram_x * gram_y) / (norm_x * norm_y))


def _as_matrix(values, name: str) -> np.ndarray:
    array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-d (inputs x features) array, got shape {array.shape}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} has non-finite values")
    return array


STAGES = ("layer1", "layer2", "layer3", "layer4")


@torch.inference_mode()
def stage_activations(model: nn.Module, dataset: Dataset, stages=STAGES, *, batch_size: int = 256) -> dict:
    """The flattened output of each named stage of ``model`` (eval mode, restored after) on every sample of
    ``dataset``: ``{stage: array (N, C*H*W)}``."""
    modules = dict(model.named_modules())
    missing = [s for s in stages if s not in modules]
    if missing:
        raise KeyError(f"model has no stage {missing}; its top-level modules are {[n for n, _ in model.named_children()]}")
    captured: dict[str, list] = {s: [] for s in stages}
    hooks = [modules[s].register_forward_hook(lambda _m, _i, out, s=s: captured[s].append(out.flatten(1).float().cpu()))
             for s in stages]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        for inputs, _ in ordered_batches(dataset, batch_size):
            model(inputs.to(device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return {s: torch.cat(parts).numpy() for s, parts in captured.items()}


def stagewise_cka(model_a: nn.Module, model_b: nn.Module, dataset: Dataset, stages=STAGES) -> dict[str, float]:
    """Linear CKA between ``model_a`` and ``model_b``'s activations of each stage on ``dataset``."""
    a, b = stage_activations(model_a, dataset, stages), stage_activations(model_b, dataset, stages)
    return {s: linear_cka(a[s], b[s]) for s in stages}
