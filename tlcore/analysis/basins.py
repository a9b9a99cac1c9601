"""Are two fine-tuned models in one basin? Their distance in parameter space, the loss and error along the straight
line between them, and how much their mistakes overlap (the measures of Neyshabur et al. 2020)."""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ..finetune.features import ordered_batches


def _parameters(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().double().cpu() for p in model.parameters()])


def parameter_distance(model_a: nn.Module, model_b: nn.Module, *, relative: bool = False) -> float:
    """Euclidean distance between the trainable parameters of two models of one architecture; with
    ``relative=True`` divided by the mean of their parameter norms (so models of different scale compare)."""
    a, b = _parameters(model_a), _parameters(model_b)
    if a.shape != b.shape:
        raise ValueError(f"models have different parameter counts ({a.numel()} vs {b.numel()})")
    distance = float(torch.linalg.vector_norm(a - b))
    if not relative:
        return distance
    scale = (float(torch.linalg.vector_norm(a)) + float(torch.linalg.vector_norm(b))) / 2
    return distance / scale if scale > 0 else 0.0


def interpolate(model_a: nn.Module, model_b: nn.Module, alpha: float) -> nn.Module:
    """A copy of ``model_a`` whose floating-point state is (1 - alpha) * a + alpha * b (integer buffers, such as
    BatchNorm's batch counters, are taken from ``a``)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    if state_a.keys() != state_b.keys():
        raise ValueError("models have different state keys; interpolation needs one architecture")
    mixed = {k: (torch.lerp(v, state_b[k].to(v.dtype), alpha) if v.is_floating_point() else v.clone())
             for k, v in state_a.items()}
    model = copy.deepcopy(model_a)
    model.load_state_dict(mixed)
    return model


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, dataset: Dataset, *, batch_size: int | None = None) -> nn.Module:
    """Replace every BatchNorm layer's running statistics by the mean and variance of its inputs over ``dataset``
    (an interpolated model's averaged statistics do not describe its own activations). In place.

    With ``batch_size=None`` the dataset is one batch and the statistics are exact; smaller batches save memory
    but give the average of per-batch statistics, which misses the spread of batch means."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches: exact statistics of the whole dataset
    was_training = model.training
    model.train()
    device = next(model.parameters()).device
    try:
        for inputs, _ in ordered_batches(dataset, batch_size or len(dataset)):
            model(inputs.to(device))
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        model.train(was_training)
    return model


@torch.inference_mode()
def evaluate_predictions(model: nn.Module, dataset: Dataset, *, batch_size: int = 512) -> tuple[np.ndarray, float]:
    """(per-sample correctness as a bool array, mean cross-entropy) of ``model`` in eval mode on ``dataset``."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct, losses = [], []
    try:
        for inputs, labels in ordered_batches(dataset, batch_size):
            logits = model(inputs.to(device))
            labels = torch.as_tensor(labels).to(device)
            correct.append((logits.argmax(1) == labels).cpu())
            losses.append(F.cross_entropy(logits, labels, reduction="none").cpu())
    finally:
        model.train(was_training)
    return torch.cat(correct).numpy(), float(torch.cat(losses).mean())


def interpolation_curve(model_a: nn.Module, model_b: nn.Module, evaluation: Dataset, *, points: int = 11,
                        batchnorm_data: Dataset | None = None) -> list[dict]:
    """Accuracy and loss on ``evaluation`` at ``points`` evenly spaced alphas from ``model_a`` (0) to ``model_b``
    (1). With ``batchnorm_data``, every point (the ends included, so the curve is one procedure) has its BatchNorm
    statistics recomputed on it; without, the running statistics are interpolated with the weights."""
    if points < 2:
        raise ValueError(f"an interpolation curve needs at least 2 points, got {points}")
    rows = []
    for alpha in np.linspace(0.0, 1.0, points):
        model = interpolate(model_a, model_b, float(alpha))
        if batchnorm_data is not None:
            recompute_batchnorm(model, batchnorm_data)
        correct, loss = evaluate_predictions(model, evaluation)
        rows.append({"alpha": float(alpha), "accuracy": float(correct.mean()), "loss": loss})
    return rows


def barrier(values, *, higher_is_worse: bool = True) -> float:
    """The largest excess of a curve over the straight line between its ends: max_alpha [v(alpha) - ((1 - alpha)
    v(0) + alpha v(1))] for a loss or an error; pass accuracies with ``higher_is_worse=False``. Values are taken
    at evenly spaced alphas. Zero when the curve never rises above its chord."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values)):
        raise ValueError("barrier needs a 1-d curve of at least 2 finite values")
    if not higher_is_worse:
        values = -values
    chord = np.linspace(values[0], values[-1], values.size)
    return float(max(0.0, np.max(values - chord)))


def error_overlap(correct_a, correct_b) -> float:
    """Jaccard index of two models' error sets on the same samples: |both wrong| / |either wrong| (1 when neither
    makes a mistake)."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"correctness vectors must be 1-d and of one length, got {a.shape} and {b.shape}")
    either = np.sum(~a | ~b)
    return float(np.sum(~a & ~b) / either) if either else 1.0
