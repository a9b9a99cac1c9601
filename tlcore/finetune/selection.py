"""Choosing the weights on the validation split: the best (or last) validation point, and early stopping."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from .evaluation import evaluate
from .protocol import Protocol
from .record import RunRecord


@dataclass
class Selection:
    """Validation bookkeeping: the selected weights, and the best accuracy seen for early stopping."""

    accuracy: float = -1.0
    state: dict | None = None
    top: float = -1.0
    stale: int = 0
    stopped: bool = False

    def observe(self, model: nn.Module, step: int, val_accuracy: float, protocol: Protocol,
                record: RunRecord) -> None:
        """Keep ``model``'s weights if the protocol selects them at ``step``; update early stopping's verdict."""
        if protocol.select == "last" or val_accuracy > self.accuracy:
            self.accuracy, record.best_step = val_accuracy, step
            self.state = copy.deepcopy(model.state_dict())
        if val_accuracy > self.top:
            self.top, self.stale = val_accuracy, 0
        else:
            self.stale += 1
        self.stopped = bool(protocol.patience) and self.stale >= protocol.patience

    def counters(self) -> dict:
        """The JSON-able part (everything but the weights), for a checkpoint."""
        return {"accuracy": self.accuracy, "top": self.top, "stale": self.stale, "stopped": self.stopped}

    def load_counters(self, counters: dict) -> None:
        self.accuracy, self.top = counters["accuracy"], counters["top"]
        self.stale, self.stopped = counters["stale"], counters["stopped"]


def validate(model: nn.Module, val: Dataset, device: torch.device, step: int, train_loss: torch.Tensor,
             protocol: Protocol, train_size: int, record: RunRecord, selection: Selection) -> None:
    """Evaluate on ``val``, add the point to ``record.history`` and let ``selection`` observe it."""
    val_accuracy, val_loss = evaluate(model, val, device=device)
    record.history.append({"step": step, "epoch": step * protocol.batch_size / train_size,
                           "train_loss": train_loss.item(), "val_accuracy": val_accuracy, "val_loss": val_loss})
    selection.observe(model, step, val_accuracy, protocol, record)
