"""Set-up and tear-down of one ``fit`` run, so that the loop itself only trains.

:func:`training` places the model and regularizers on the device, gives the loop's generator to the modules that
opt in, builds the protocol's plan, re-initialisation, optimizer and schedule, resumes from a checkpoint, attaches
the regularizers; on the way out (also after an error) it detaches them, gives the modules their generators back
and switches back on the ``requires_grad`` flags the protocol switched off. Set-up draws from the generator in a
fixed order (re-initialisation's seed, then the batch stream's), which seeded runs depend on.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from ..storage import config_hash
from .batches import BatchStream
from .checkpoint import TrainingState, resume_training_state, save_training_state
from .execution import Execution
from .protocol import Protocol, TrainingPlan
from .record import RunRecord
from .regularizer import TransferRegularizer
from .reinit import reinitialize_from_stage
from .schedules import lr_factor
from .selection import Selection, validate


@dataclass
class Training:
    """A run set up to train: its checkpointed ``state``, the protocol's ``plan``, the training ``forward`` pass,
    and the step to start from (after the last checkpointed one when resuming)."""

    state: TrainingState
    plan: TrainingPlan
    protocol: Protocol
    execution: Execution
    forward: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    train_size: int
    checkpoint_path: str | Path | None
    started: float
    seconds_before: float = 0.0
    first_step: int = 1

    def elapsed(self) -> float:
        """Seconds spent on the run, across resumptions."""
        return self.seconds_before + time.perf_counter() - self.started

    def validate(self, val: Dataset, step: int, train_loss: torch.Tensor) -> None:
        validate(self.state.model, val, self.execution.device, step, train_loss, self.protocol, self.train_size,
                 self.state.record, self.state.selection)

    def save_checkpoint(self, step: int) -> None:
        """Checkpoint the run after ``step``, if it has a checkpoint directory."""
        if self.checkpoint_path is not None:
            save_training_state(self.checkpoint_path, self.state, step, self.elapsed())


@contextlib.contextmanager
def training(model: nn.Module, train: Dataset, protocol: Protocol,
             regularizers: Sequence[tuple[float, TransferRegularizer]], seed: int, generator: torch.Generator,
             execution: Execution, record: RunRecord, checkpoint_path: str | Path | None) -> Iterator[Training]:
    """Set up a run of ``protocol`` on ``train`` (see the module's docstring) and undo it afterwards."""
    execution.place(model)
    for _, regularizer in regularizers:
        regularizer.to(execution.device)
        regularizer.train()
    requires_grad = [(p, p.requires_grad) for p in model.parameters()]
    attached: list[TransferRegularizer] = []
    restore_generators = bind_generator(model, generator)
    started = time.perf_counter()
    try:
        run = _start(model, train, protocol, regularizers, seed, generator, execution, record, checkpoint_path,
                     started)
        for _, regularizer in regularizers:
            regularizer.attach(model)
            attached.append(regularizer)
        yield run
    finally:
        for regularizer in attached:
            regularizer.detach()
        restore_generators()
        for parameter, flag in requires_grad:
            parameter.requires_grad_(flag)


def _start(model, train, protocol, regularizers, seed, generator, execution, record, checkpoint_path,
           started) -> Training:
    """Plan, re-initialisation, optimizer, schedule and batch stream, then the checkpoint's state if there is one."""
    plan = TrainingPlan(model, protocol)
    if protocol.reinit_from_stage is not None:
        reinitialize_from_stage(model, protocol.reinit_from_stage, _draw_seed(generator), plan.stages)
    optimizer = _optimizer(plan.parameter_groups(), regularizers, model, protocol)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(protocol))
    batches = BatchStream(train, protocol.batch_size, generator, execution.device)
    state = TrainingState(model, optimizer, schedule, batches, generator, regularizers, record, Selection(),
                          _fingerprint(protocol, seed, len(train), regularizers))
    resumed = resume_training_state(checkpoint_path, state) if checkpoint_path is not None else None
    first_step, seconds_before = resumed if resumed is not None else (1, 0.0)
    if resumed is not None and state.selection.stopped:  # an early-stopped run is finished
        first_step = protocol.steps + 1
    return Training(state, plan, protocol, execution, execution.forward(model), len(train), checkpoint_path,
                    started, seconds_before, first_step)


def _fingerprint(protocol: Protocol, seed: int, train_size: int, regularizers) -> str:
    return config_hash({"protocol": protocol.to_dict(), "seed": seed, "train_size": train_size,
                        "regularizers": [(float(w), type(r).__name__) for w, r in regularizers]})


def _draw_seed(generator: torch.Generator) -> int:
    return int(torch.randint(0, 2**62, (), generator=generator))


def _optimizer(groups: list[dict], regularizers, model: nn.Module, protocol: Protocol) -> torch.optim.Optimizer:
    """The protocol's optimizer over its parameter ``groups``, plus a group for the regularizers' own parameters."""
    extra = _regularizer_parameters(regularizers, model)
    if extra:
        groups.append({"params": extra, "lr": protocol.lr, "name": "regularizers"})
    if protocol.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=protocol.lr, momentum=protocol.momentum,
                               weight_decay=protocol.weight_decay)
    return torch.optim.AdamW(groups, lr=protocol.lr, weight_decay=protocol.weight_decay)


def _regularizer_parameters(regularizers, model: nn.Module) -> list[nn.Parameter]:
    """Trainable parameters the regularizers own (not the model's), each once."""
    seen = {id(p) for p in model.parameters()}
    owned = []
    for _, regularizer in regularizers:
        for parameter in regularizer.parameters():
            if parameter.requires_grad and id(parameter) not in seen:
                seen.add(id(parameter))
                owned.append(parameter)
    return owned


def bind_generator(model: nn.Module, generator: torch.Generator) -> Callable[[], None]:
    """Give the loop's generator to modules that draw in their forward pass and opt in with
    ``uses_loop_generator = True`` and a ``generator`` attribute (StochNorm); return the undo."""
    bound = [(m, m.generator) for m in model.modules() if getattr(m, "uses_loop_generator", False)]
    for module, _ in bound:
        module.generator = generator

    def restore() -> None:
        for module, previous in bound:
            module.generator = previous
    return restore
