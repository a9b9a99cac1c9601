"""The one training loop every chapter uses: pretraining the zoo, fine-tuning, probing.

It touches the test split exactly once, after training, with the weights chosen on the validation split. Any
:class:`~tlcore.finetune.protocol.Protocol` combines with any list of :class:`TransferRegularizer`; every random
number (batch order, augmentation, MixUp, re-initialisation, stochastic layers that opt in) comes from the generator
that ``seed`` fixes, and a run resumed from its checkpoint ends with the same weights as one never interrupted.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..seeding import seed_everything
from .augment import mixup, mixup_cross_entropy, random_shift
from .evaluation import evaluate
from .execution import Execution, nhwc_unsafe_on_cpu
from .protocol import Protocol
from .record import RunRecord
from .regularizer import StepContext, TransferRegularizer
from .training import training

__all__ = ["fit", "nhwc_unsafe_on_cpu"]


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
    checkpoint_path: str | Path | None = None,
    compile: bool | str = False,
    amp: bool | None = None,
    channels_last: bool | None = None,
    flush_subnormals: bool = True,
) -> RunRecord:
    """Train ``model`` on ``train`` with ``protocol``, select on ``val``, report on ``test`` once.

    ``regularizers`` are ``(weight, module)`` pairs whose ``penalty`` is added to the cross-entropy. ``seed`` fixes
    batch order, augmentation, re-initialisation and anything random in the model's forward pass. ``config`` is
    copied into the record for provenance. The model is left holding the selected weights; ``requires_grad`` flags
    that the protocol switched off are switched back on.

    Execution options, which do not change what is computed beyond floating-point rounding: ``amp`` (bfloat16
    autocast) defaults to on for CUDA and off elsewhere; ``channels_last`` (NHWC) to on, as convolutions run faster
    in it with oneDNN on the CPU (a step of the embedded ResNet takes 0.82x the time, see benchmarks/finetune.py) as
    with cuDNN, except on the CPU for a model that :func:`nhwc_unsafe_on_cpu` flags; ``compile=True`` (or a backend
    name) compiles the training forward pass with ``torch.compile``. ``checkpoint_path`` (a directory) receives a
    checkpoint at every validation point and, if it already holds one of the same run (protocol, seed,
    regularizers), training resumes from it. ``flush_subnormals`` treats subnormal floats as zero on the CPU while
    the run trains and is tested (:meth:`~tlcore.finetune.execution.Execution.subnormals_flushed`): chapter 5's
    slowest L2 run took 110 s instead of 1,971 with it. It can change a run whose values would turn subnormal (three
    of chapter 5's twenty long L2 runs came out otherwise and were replaced in the store by their flushed records).
    """
    if len(train) == 0 or len(val) == 0:
        raise ValueError("train and val must be non-empty")
    execution = Execution.choose(model, device, amp, channels_last, compile, flush_subnormals)
    generator = seed_everything(seed)
    record = RunRecord(config={**(config or {}), "protocol": protocol.to_dict(), "seed": seed})
    # The whole run, test evaluation included, flushed: as the stored records were computed.
    with execution.subnormals_flushed():
        with training(model, train, protocol, regularizers, seed, generator, execution, record,
                      checkpoint_path) as run:
            state = run.state
            for step in tqdm(range(run.first_step, protocol.steps + 1), disable=not progress, desc="fit",
                             leave=False, mininterval=2.0):
                run.plan.set_mode(step)
                loss = _training_loss(model, run.forward, next(state.batches), step, protocol, regularizers,
                                      generator, execution)
                evaluating = step % protocol.eval_every == 0 or step == protocol.steps
                # A finiteness check synchronises with the device: every step on the CPU (free), else at
                # evaluations.
                if (not execution.on_cuda or evaluating) and not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower the learning rate "
                                             f"({protocol.lr})")
                state.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                state.optimizer.step()
                state.schedule.step()
                if evaluating:
                    run.validate(val, step, loss)
                    run.save_checkpoint(step)
                    if state.selection.stopped:
                        break
        model.load_state_dict(state.selection.state)
        record.val_accuracy = state.selection.accuracy
        if test is not None:
            record.test_accuracy, record.test_loss = evaluate(model, test, device=execution.device)
        record.seconds = run.elapsed()
    return record


def _training_loss(model, forward, batch, step, protocol, regularizers, generator,
                   execution: Execution) -> torch.Tensor:
    """Augment the batch, run the model, and return cross-entropy (mixed under MixUp) plus weighted penalties."""
    inputs, labels = batch
    if protocol.augment == "shift":
        inputs = random_shift(inputs, 2, generator)
    mixed = mixup(inputs, labels, protocol.mixup_alpha, generator) if protocol.mixup_alpha else None
    if mixed is not None:
        inputs = mixed.inputs
    inputs = execution.layout(inputs)
    with execution.autocast():
        features, logits = forward(inputs)
        if mixed is None:
            loss = F.cross_entropy(logits, labels, label_smoothing=protocol.label_smoothing)
        else:
            loss = mixup_cross_entropy(logits, mixed, protocol.label_smoothing)
        if regularizers:
            ctx = StepContext(model, inputs, labels, features, logits, step, generator, protocol.steps, mixed)
            loss = loss + sum(weight * reg.penalty(ctx) for weight, reg in regularizers)
    return loss
