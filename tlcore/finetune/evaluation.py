"""Accuracy and predictions of a model on a dataset, in a fixed order, with no gradient."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from .features import ordered_batches


@torch.inference_mode()
def evaluate(model: nn.Module, dataset: Dataset, *, device: torch.device | str | None = None,
             batch_size: int = 512) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on ``dataset``; the model's train/eval mode is restored."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct, loss_sum, count = 0, 0.0, 0
    try:
        for inputs, labels in ordered_batches(dataset, batch_size):
            inputs, labels = inputs.to(device), labels.to(device)
            logits = model(inputs)
            loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
            correct += int((logits.argmax(1) == labels).sum())
            count += len(labels)
    finally:
        model.train(was_training)
    return correct / count, loss_sum / count


def predict(model: nn.Module, dataset: Dataset, *, device: torch.device | str | None = None,
            batch_size: int = 512) -> np.ndarray:
    """Predicted class per sample, shape (N,)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        predictions = [model(x.to(device)).argmax(1).cpu() for x, _ in ordered_batches(dataset, batch_size)]
        return torch.cat(predictions).numpy()
