"""Checkpoints of a training run: tensors in safetensors, everything else in JSON, written atomically.

A checkpoint directory holds ``checkpoint.json`` and the ``state-<step>.safetensors`` file it names (with its
sha256). The tensor file is written first, under a temporary name renamed into place; the JSON, renamed into place
last, is the commit point: a run killed at any moment leaves either the previous checkpoint or the new one, never a
mixture, and older tensor files are deleted only after the new JSON is in place.

:class:`TrainingState` gathers what ``fit`` checkpoints (weights, optimizer, schedule, batch stream, generators,
regularizers, record, selection); :func:`save_training_state` and :func:`resume_training_state` write and read it.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..storage import atomic_path, file_sha256, write_json_atomic
from .batches import BatchStream
from .record import RunRecord
from .regularizer import TransferRegularizer
from .selection import Selection

INDEX_FILE = "checkpoint.json"
FORMAT_VERSION = 1


def save_checkpoint(directory: str | Path, step: int, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write ``tensors`` and ``meta`` (JSON-able) as the checkpoint of ``step`` in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"state-{step:08d}.safetensors"
    # Own, contiguous CPU copies: safetensors refuses shared or strided (channels-last) storage.
    plain = {key: value.detach().to("cpu", copy=True).contiguous() for key, value in tensors.items()}
    with atomic_path(directory / name) as tmp:
        save_file(plain, str(tmp))
    index = {"format": FORMAT_VERSION, "step": step, "tensors": name, "sha256": file_sha256(directory / name),
             "meta": meta}
    write_json_atomic(directory / INDEX_FILE, index)
    for old in directory.glob("state-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return directory / INDEX_FILE


def load_checkpoint(directory: str | Path) -> tuple[int, dict[str, torch.Tensor], dict] | None:
    """``(step, tensors, meta)`` of the checkpoint in ``directory``, or ``None`` if there is none.

    A checkpoint whose tensor file does not match its recorded hash raises ``ValueError`` rather than resuming from
    damaged weights."""
    index_path = Path(directory) / INDEX_FILE
    if not index_path.exists():
        return None
    index = json.loads(index_path.read_text())
    if index.get("format") != FORMAT_VERSION:
        raise ValueError(f"checkpoint {index_path} has format {index.get('format')}, expected {FORMAT_VERSION}")
    tensor_path = index_path.parent / index["tensors"]
    if not tensor_path.exists() or file_sha256(tensor_path) != index["sha256"]:
        raise ValueError(f"checkpoint tensors {tensor_path} are missing or do not match their hash")
    return index["step"], load_file(str(tensor_path)), index["meta"]


def flatten_optimizer_state(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``optimizer.state_dict()`` into tensors (``"<param>.<key>"``) and a JSON-able rest."""
    tensors, rest = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value
            else:
                rest.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "other": rest}


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    """Inverse of :func:`flatten_optimizer_state`."""
    state: dict[int, dict] = {}
    for index, values in rest["other"].items():
        state.setdefault(int(index), {}).update(values)
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def with_prefix(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}{key}": value for key, value in tensors.items()}


def strip_prefix(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}


@dataclass
class TrainingState:
    """Everything a training run changes as it goes, so everything its checkpoint holds. ``fingerprint`` names the
    run (protocol, seed, data size, regularizers): a checkpoint of another run is refused."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    batches: BatchStream
    generator: torch.Generator
    regularizers: Sequence[tuple[float, TransferRegularizer]]
    record: RunRecord
    selection: Selection
    fingerprint: str


def save_training_state(directory: str | Path, state: TrainingState, step: int, seconds: float) -> None:
    """Checkpoint ``state`` after ``step``, ``seconds`` into the run."""
    optimizer_tensors, optimizer_rest = flatten_optimizer_state(state.optimizer.state_dict())
    tensors = {**with_prefix("model.", state.model.state_dict()), **with_prefix("optim.", optimizer_tensors),
               "rng.loop": state.generator.get_state(), "rng.torch": torch.get_rng_state()}
    if state.selection.state is not None:
        tensors.update(with_prefix("best.", state.selection.state))
    for i, (_, regularizer) in enumerate(state.regularizers):
        tensors.update(with_prefix(f"reg{i}.", regularizer.state_dict()))
    device = next(state.model.parameters()).device
    if device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    stream = state.batches.state_dict()
    if stream["epoch_state"] is not None:
        tensors["batches.epoch_state"] = stream["epoch_state"]
    meta = {"fingerprint": state.fingerprint, "optimizer": optimizer_rest, "schedule": state.schedule.state_dict(),
            "batches_position": stream["position"], "history": state.record.history,
            "best_step": state.record.best_step, "selection": state.selection.counters(), "seconds": seconds}
    save_checkpoint(directory, step, tensors, meta)


def resume_training_state(directory: str | Path, state: TrainingState) -> tuple[int, float] | None:
    """Load the checkpoint in ``directory`` into ``state``; ``(next step, seconds spent)``, or ``None`` if there is
    none. Raises ``ValueError`` for a checkpoint of another run."""
    loaded = load_checkpoint(directory)
    if loaded is None:
        return None
    step, tensors, meta = loaded
    if meta["fingerprint"] != state.fingerprint:
        raise ValueError(f"checkpoint in {directory} belongs to a different run (protocol, seed, data size or "
                         "regularizers differ); use another checkpoint_path")
    state.model.load_state_dict(strip_prefix("model.", tensors))
    state.optimizer.load_state_dict(unflatten_optimizer_state(strip_prefix("optim.", tensors), meta["optimizer"]))
    state.schedule.load_state_dict(meta["schedule"])
    for i, (_, regularizer) in enumerate(state.regularizers):
        regularizer.load_state_dict(strip_prefix(f"reg{i}.", tensors))
    best = strip_prefix("best.", tensors)
    device = next(state.model.parameters()).device
    state.selection.state = {k: v.to(device) for k, v in best.items()} if best else None
    state.selection.load_counters(meta["selection"])
    state.record.history, state.record.best_step = meta["history"], meta["best_step"]
    # The stream replays its epoch's draws first; then every generator returns to where the run stopped.
    state.batches.load_state_dict({"epoch_state": tensors.get("batches.epoch_state"),
                                   "position": meta["batches_position"]})
    state.generator.set_state(tensors["rng.loop"])
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)
    return step + 1, float(meta["seconds"])
