"""Checkpoints of a training run: tensors in safetensors, everything else in JSON, written atomically.

A checkpoint directory holds ``checkpoint.json`` and the ``state-<step>.safetensors`` file it names (with its
sha256). The tensor file is written first, under a temporary name renamed into place; the JSON, renamed into place
last, is the commit point: a run killed at any moment leaves either the previous checkpoint or the new one, never a
mixture, and older tensor files are deleted only after the new JSON is in place.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..storage import atomic_path, file_sha256, write_json_atomic

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
