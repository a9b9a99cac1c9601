"""The one training loop every chapter uses: pretraining the zoo, fine-tuning, probing.

It touches the test split exactly once, after training, with the weights chosen on the validation split. Any
:class:`~tlcore.finetune.protocol.Protocol` combines with any list of :class:`TransferRegularizer`; every random
number (batch order, augmentation, MixUp, re-initialisation, stochastic layers that opt in) comes from the generator
that ``seed`` fixes, and a run resumed from its checkpoint ends with the same weights as one never interrupted.
"""
from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..seeding import seed_everything
from ..storage import config_hash
from .augment import mixup, mixup_cross_entropy, random_shift
from .batches import BatchStream
from .checkpoint import (flatten_optimizer_state, load_checkpoint, save_checkpoint, strip_prefix,
    unflatten_optimizer_state, with_prefix)
from .evaluation import evaluate
from .features import default_device
from .protocol import Protocol, TrainingPlan
from .record import RunRecord
from .regularizer import StepContext, TransferRegularizer
from .reinit import reinitialize_from_stage
from .schedules import lr_factor


@dataclass
class _Selection:
    """Validation bookkeeping: the selected weights, and the best accuracy seen for early stopping."""

    accuracy: float = -1.0
    state: dict | None = None
    top: float = -1.0
    stale: int = 0
    stopped: bool = False


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
    regularizers), training resumes from it.
    """
    if len(train) == 0 or len(val) == 0:
        raise ValueError("train and val must be non-empty")
    device = torch.device(device) if device is not None else default_device()
    on_cuda = device.type == "cuda"
    amp = on_cuda if amp is None else amp
    if channels_last is None:
        channels_last = on_cuda or not nhwc_unsafe_on_cpu(model)
    elif channels_last and not on_cuda and (unsafe := nhwc_unsafe_on_cpu(model)):
        raise ValueError(f"channels_last on the CPU would corrupt memory for this model ({unsafe}); leave "
                         "channels_last=None")
    generator = seed_everything(seed)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    for _, regularizer in regularizers:
        regularizer.to(device)
        regularizer.train()
    requires_grad = [(p, p.requires_grad) for p in model.parameters()]
    record = RunRecord(config={**(config or {}), "protocol": protocol.to_dict(), "seed": seed})
    selection = _Selection()
    attached: list[TransferRegularizer] = []
    restore_generators = _bind_generator(model, generator)
    start = time.perf_counter()
    seconds_before = 0.0
    try:
        plan = TrainingPlan(model, protocol)
        if protocol.reinit_from_stage is not None:
            reinitialize_from_stage(model, protocol.reinit_from_stage, _draw_seed(generator), plan.stages)
        groups = plan.parameter_groups()
        extra = _regularizer_parameters(regularizers, model)
        if extra:
            groups.append({"params": extra, "lr": protocol.lr, "name": "regularizers"})
        optimizer = _optimizer(groups, protocol)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(protocol))
        batches = BatchStream(train, protocol.batch_size, generator, device)
        fingerprint = config_hash({"protocol": protocol.to_dict(), "seed": seed, "train_size": len(train),
                                   "regularizers": [(float(w), type(r).__name__) for w, r in regularizers]})
        first_step = 1
        if checkpoint_path is not None:
            resumed = _resume(checkpoint_path, fingerprint, model, optimizer, schedule, batches, generator,
                              regularizers, record, selection)
            if resumed is not None:
                first_step, seconds_before = resumed
                if selection.stopped:  # an early-stopped run is finished
                    first_step = protocol.steps + 1
        forward = _features_and_logits(model)
        if compile:
            forward = torch.compile(forward, backend="inductor" if compile is True else compile)
        autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if amp else contextlib.nullcontext
        for _, regularizer in regularizers:
            regularizer.attach(model)
            attached.append(regularizer)
        for step in tqdm(range(first_step, protocol.steps + 1), disable=not progress, desc="fit", leave=False,
                         mininterval=2.0):
            plan.set_mode(step)
            loss = _training_loss(model, forward, next(batches), step, protocol, regularizers, generator,
                                  channels_last, autocast)
            evaluating = step % protocol.eval_every == 0 or step == protocol.steps
            # A finiteness check synchronises with the device: every step on the CPU (free), else at evaluations.
            if (not on_cuda or evaluating) and not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower the learning rate "
                                         f"({protocol.lr})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if evaluating:
                _validate(model, val, device, step, loss, protocol, len(train), record, selection)
                if checkpoint_path is not None:
                    _save(checkpoint_path, fingerprint, step, model, optimizer, schedule, batches, generator,
                          regularizers, record, selection, seconds_before + time.perf_counter() - start)
                if selection.stopped:
                    break
    finally:
        for regularizer in attached:
            regularizer.detach()
        restore_generators()
        for parameter, flag in requires_grad:
            parameter.requires_grad_(flag)
    model.load_state_dict(selection.state)
    record.val_accuracy = selection.accuracy
    if test is not None:
        record.test_accuracy, record.test_loss = evaluate(model, test, device=device)
    record.seconds = seconds_before + time.perf_counter() - start
    return record


def nhwc_unsafe_on_cpu(model: nn.Module) -> str | None:
    """The first convolution of ``model`` that oneDNN's CPU backward pass mishandles in channels-last layout, else
    None: a strided 1x1 convolution with fewer than 8 input channels writes past its workspace (oneDNN issue #6035:
    heap corruption or wrong weight gradients, found here as a crash of a 4-channel test model)."""
    for name, module in model.named_modules():
        if (isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and max(module.stride) > 1
                and module.in_channels < 8):
            return f"{name}: 1x1 stride-{max(module.stride)} convolution with {module.in_channels} input channels"
    return None


def _features_and_logits(model: nn.Module) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    def forward(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = model.forward_head(model.forward_features(inputs), pre_logits=True)
        return features, model.get_classifier()(features)
    return forward


def _training_loss(model, forward, batch, step, protocol, regularizers, generator, channels_last,
                   autocast) -> torch.Tensor:
    """Augment the batch, run the model, and return cross-entropy (mixed under MixUp) plus weighted penalties."""
    inputs, labels = batch
    if protocol.augment == "shift":
        inputs = random_shift(inputs, 2, generator)
    mixed = mixup(inputs, labels, protocol.mixup_alpha, generator) if protocol.mixup_alpha else None
    if mixed is not None:
        inputs = mixed.inputs
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    with autocast():
        features, logits = forward(inputs)
        if mixed is None:
            loss = F.cross_entropy(logits, labels, label_smoothing=protocol.label_smoothing)
        else:
            loss = mixup_cross_entropy(logits, mixed, protocol.label_smoothing)
        if regularizers:
            ctx = StepContext(model, inputs, labels, features, logits, step, generator, protocol.steps, mixed)
            loss = loss + sum(weight * reg.penalty(ctx) for weight, reg in regularizers)
    return loss


def _validate(model, val, device, step, loss, protocol, train_size, record, selection) -> None:
    """Evaluate on ``val`` and update the selection, including early stopping's verdict."""
    val_accuracy, val_loss = evaluate(model, val, device=device)
    record.history.append({"step": step, "epoch": step * protocol.batch_size / train_size,
                           "train_loss": loss.item(), "val_accuracy": val_accuracy, "val_loss": val_loss})
    if protocol.select == "last" or val_accuracy > selection.accuracy:
        selection.accuracy, record.best_step = val_accuracy, step
        selection.state = copy.deepcopy(model.state_dict())
    if val_accuracy > selection.top:
        selection.top, selection.stale = val_accuracy, 0
    else:
        selection.stale += 1
    selection.stopped = bool(protocol.patience) and selection.stale >= protocol.patience


def _draw_seed(generator: torch.Generator) -> int:
    return int(torch.randint(0, 2**62, (), generator=generator))


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


def _bind_generator(model: nn.Module, generator: torch.Generator) -> Callable[[], None]:
    """Give the loop's generator to modules that draw in their forward pass and opt in with
    ``uses_loop_generator = True`` and a ``generator`` attribute (StochNorm); return the undo."""
    bound = [(m, m.generator) for m in model.modules() if getattr(m, "uses_loop_generator", False)]
    for module, _ in bound:
        module.generator = generator

    def restore() -> None:
        for module, previous in bound:
            module.generator = previous
    return restore


def _save(path, fingerprint, step, model, optimizer, schedule, batches, generator, regularizers, record,
          selection, seconds) -> None:
    optimizer_tensors, optimizer_rest = flatten_optimizer_state(optimizer.state_dict())
    tensors = {**with_prefix("model.", model.state_dict()), **with_prefix("optim.", optimizer_tensors),
               "rng.loop": generator.get_state(), "rng.torch": torch.get_rng_state()}
    if selection.state is not None:
        tensors.update(with_prefix("best.", selection.state))
    for i, (_, regularizer) in enumerate(regularizers):
        tensors.update(with_prefix(f"reg{i}.", regularizer.state_dict()))
    device = next(model.parameters()).device
    if device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    stream = batches.state_dict()
    if stream["epoch_state"] is not None:
        tensors["batches.epoch_state"] = stream["epoch_state"]
    meta = {"fingerprint": fingerprint, "optimizer": optimizer_rest, "schedule": schedule.state_dict(),
            "batches_position": stream["position"], "history": record.history, "best_step": record.best_step,
            "selection": {"accuracy": selection.accuracy, "top": selection.top, "stale": selection.stale,
                          "stopped": selection.stopped},
            "seconds": seconds}
    save_checkpoint(path, step, tensors, meta)


def _resume(path, fingerprint, model, optimizer, schedule, batches, generator, regularizers, record,
            selection) -> tuple[int, float] | None:
    """Load the checkpoint in ``path`` into the run's objects; ``(next step, seconds spent)`` or ``None``."""
    loaded = load_checkpoint(path)
    if loaded is None:
        return None
    step, tensors, meta = loaded
    if meta["fingerprint"] != fingerprint:
        raise ValueError(f"checkpoint in {path} belongs to a different run (protocol, seed, data size or "
                         "regularizers differ); use another checkpoint_path")
    model.load_state_dict(strip_prefix("model.", tensors))
    optimizer.load_state_dict(unflatten_optimizer_state(strip_prefix("optim.", tensors), meta["optimizer"]))
    schedule.load_state_dict(meta["schedule"])
    for i, (_, regularizer) in enumerate(regularizers):
        regularizer.load_state_dict(strip_prefix(f"reg{i}.", tensors))
    best = strip_prefix("best.", tensors)
    device = next(model.parameters()).device
    selection.state = {k: v.to(device) for k, v in best.items()} if best else None
    selection.accuracy, selection.top = meta["selection"]["accuracy"], meta["selection"]["top"]
    selection.stale, selection.stopped = meta["selection"]["stale"], meta["selection"]["stopped"]
    record.history, record.best_step = meta["history"], meta["best_step"]
    # The stream replays its epoch's draws first; then every generator returns to where the run stopped.
    batches.load_state_dict({"epoch_state": tensors.get("batches.epoch_state"),
                             "position": meta["batches_position"]})
    generator.set_state(tensors["rng.loop"])
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)
    return step + 1, float(meta["seconds"])


def _optimizer(groups: list[dict], protocol: Protocol) -> torch.optim.Optimizer:
    if protocol.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=protocol.lr, momentum=protocol.momentum,
                               weight_decay=protocol.weight_decay)
    return torch.optim.AdamW(groups, lr=protocol.lr, weight_decay=protocol.weight_decay)


