"""The one training loop every chapter uses: pretraining the zoo, fine-tuning, probing.

It touches the test split exactly once, after training, with the weights chosen on the validation split.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..analysis.features import default_device
from ..seeding import seed_everything
from .protocol import Protocol, parameter_groups, set_train_mode


@dataclass
class StepContext:
    """What a regularizer may look at during one training step."""

    model: nn.Module
    inputs: torch.Tensor
    labels: torch.Tensor
    features: torch.Tensor
    logits: torch.Tensor
    step: int


class TransferRegularizer(nn.Module):
    """A term added to the loss. Subclasses implement ``forward`` on plain tensors and ``penalty(ctx)`` to say
    which tensors of the step they need; the loop adds ``weight * penalty(ctx)``."""

    def penalty(self, ctx: StepContext) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class RunRecord:
    """A tidy record of one training run."""

    config: dict
    history: list[dict] = field(default_factory=list)
    best_step: int = 0
    val_accuracy: float = float("nan")
    test_accuracy: float = float("nan")
    test_loss: float = float("nan")
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunRecord":
        return cls(**data)

    def history_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)


def fit(
    model: nn.Module,
    train: Dataset,
    val: Dataset,
    test: Dataset | None = None,
    *,
    protocol: Protocol = Protocol(),
    regularizers: Sequence[tuple[float, TransferRegularizer]] = (),
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    config: dict | None = None,
) -> RunRecord:
    """Train ``model`` on ``train`` with ``protocol``, select on ``val``, report on ``test`` once.

    ``regularizers`` are ``(weight, module)`` pairs whose ``penalty`` is added to the cross-entropy. ``seed`` fixes
    batch order, augmentation and anything random in the model's forward pass (dropout). ``config`` is copied into
    the record for provenance. The model is left holding the selected weights.
    """
    if len(train) == 0 or len(val) == 0:
        raise ValueError("train and val must be non-empty")
    device = torch.device(device) if device is not None else default_device()
    generator = seed_everything(seed)
    model.to(device)
    for _, regularizer in regularizers:
        regularizer.to(device)
    groups = parameter_groups(model, protocol)
    optimizer = _optimizer(groups, protocol)
    schedule = _schedule(optimizer, protocol)
    batches = _batch_stream(train, protocol.batch_size, generator, device)
    record = RunRecord(config={**(config or {}), "protocol": protocol.to_dict(), "seed": seed})
    best_accuracy, best_state = -1.0, None
    start = time.perf_counter()
    for step in tqdm(range(1, protocol.steps + 1), disable=not progress, desc="fit", leave=False, mininterval=2.0):
        set_train_mode(model, protocol)
        inputs, labels = next(batches)
        if protocol.augment == "shift":
            inputs = random_shift(inputs, 2, generator)
        features = model.forward_head(model.forward_features(inputs), pre_logits=True)
        logits = model.get_classifier()(features)
        loss = F.cross_entropy(logits, labels, label_smoothing=protocol.label_smoothing)
        if regularizers:
            ctx = StepContext(model, inputs, labels, features, logits, step)
            loss = loss + sum(weight * reg.penalty(ctx) for weight, reg in regularizers)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower the learning rate ({protocol.lr})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % protocol.eval_every == 0 or step == protocol.steps:
            val_accuracy, val_loss = evaluate(model, val, device=device)
            record.history.append({"step": step, "epoch": step * protocol.batch_size / len(train),
                                   "train_loss": loss.item(), "val_accuracy": val_accuracy, "val_loss": val_loss})
            if protocol.select == "last" or val_accuracy > best_accuracy:
                best_accuracy, record.best_step = val_accuracy, step
                best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    record.val_accuracy = best_accuracy
    if test is not None:
        record.test_accuracy, record.test_loss = evaluate(model, test, device=device)
    record.seconds = time.perf_counter() - start
    return record


@torch.inference_mode()
def evaluate(model: nn.Module, dataset: Dataset, *, device: torch.device | str | None = None,
             batch_size: int = 512) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on ``dataset``; the model's train/eval mode is restored."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct, loss_sum, count = 0, 0.0, 0
    try:
        for inputs, labels in _ordered_batches(dataset, batch_size, device):
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
        return torch.cat([model(x).argmax(1).cpu() for x, _ in _ordered_batches(dataset, batch_size, device)]).numpy()


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by an integer offset in [-max_shift, max_shift]^2, filling with zeros."""
    n, _, h, w = images.shape
    offsets = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator).to(images.device)
    padded = F.pad(images, (max_shift,) * 4)
    rows = (torch.arange(h, device=images.device)[None, :] + max_shift - offsets[:, :1])
    cols = (torch.arange(w, device=images.device)[None, :] + max_shift - offsets[:, 1:])
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _optimizer(groups: list[dict], protocol: Protocol) -> torch.optim.Optimizer:
    if protocol.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=protocol.lr, momentum=protocol.momentum,
                               weight_decay=protocol.weight_decay)
    return torch.optim.AdamW(groups, lr=protocol.lr, weight_decay=protocol.weight_decay)


def _schedule(optimizer: torch.optim.Optimizer, protocol: Protocol) -> torch.optim.lr_scheduler.LRScheduler:
    total = protocol.steps
    if protocol.schedule == "cosine":
        factor = lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    elif protocol.schedule == "step":
        factor = lambda step: 0.1 ** sum(step >= m * total for m in (0.3, 0.6, 0.9))
    else:
        factor = lambda step: 1.0
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _batch_stream(dataset: Dataset, batch_size: int, generator: torch.Generator,
                  device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled batches; in-memory datasets are sliced on the device, others go through a DataLoader."""
    batch_size = min(batch_size, len(dataset))
    images = getattr(dataset, "images", None)
    if isinstance(images, torch.Tensor):
        images, labels = images.to(device), dataset.labels.to(device)
        while True:
            order = torch.randperm(len(labels), generator=generator).to(device)
            for start in range(0, len(order) - batch_size + 1, batch_size):
                index = order[start : start + batch_size]
                yield images[index], labels[index]
    else:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, generator=generator,
                            num_workers=0)
        while True:
            for inputs, labels in loader:
                yield inputs.to(device, non_blocking=True), labels.to(device, non_blocking=True)


def _ordered_batches(dataset: Dataset, batch_size: int, device: torch.device):
    images = getattr(dataset, "images", None)
    if isinstance(images, torch.Tensor):
        for start in range(0, len(images), batch_size):
            yield images[start : start + batch_size].to(device), dataset.labels[start : start + batch_size].to(device)
    else:
        for inputs, labels in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
            yield inputs.to(device), labels.to(device)
