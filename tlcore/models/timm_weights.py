"""Pretrained timm weights from a local file or folder instead of the Hugging Face hub.

Set ``$TLCORE_WEIGHTS`` to a checkpoint file (used for whichever timm model is created with ``pretrained=True``) or
to a folder holding, for model ``name`` (and, for a tagged name such as ``resnet50.a1_in1k``, its architecture
``resnet50``), any of::

    <folder>/<name>.safetensors        <folder>/<name>/model.safetensors
    <folder>/<name>.bin / .pth         <folder>/<name>/pytorch_model.bin

(``<name>/`` is how ``huggingface-cli download timm/<name> --local-dir <folder>/<name>`` lays a model out). The file
reaches timm through its own ``pretrained_cfg_overlay=dict(file=...)``, so timm's usual adaptation applies: a
classifier of another size is dropped and re-initialised, and a first convolution is adapted to ``in_chans``.
"""
from __future__ import annotations

import os
from pathlib import Path

WEIGHTS_ENV = "TLCORE_WEIGHTS"


class WeightsNotFound(FileNotFoundError):
    """``$TLCORE_WEIGHTS`` is set but holds no weights for the model asked for."""


def candidates(folder: Path, name: str) -> list[Path]:
    """Where a folder may hold ``name``'s weights, in the order they are tried."""
    names = [name] + ([name.split(".", 1)[0]] if "." in name else [])
    paths = []
    for model_name in names:
        paths += [folder / f"{model_name}.safetensors", folder / model_name / "model.safetensors",
                  folder / f"{model_name}.bin", folder / f"{model_name}.pth",
                  folder / model_name / "pytorch_model.bin"]
    return paths


def local_weights(name: str, location: str | os.PathLike | None = None) -> Path | None:
    """The weights file for timm model ``name`` from ``location`` (default ``$TLCORE_WEIGHTS``); ``None`` when
    neither is set; a :class:`WeightsNotFound` naming every path tried when they hold nothing for ``name``."""
    location = location if location is not None else os.environ.get(WEIGHTS_ENV) or None
    if location is None:
        return None
    path = Path(location).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        for candidate in candidates(path, name):
            if candidate.is_file():
                return candidate
        tried = ", ".join(str(p) for p in candidates(path, name))
        raise WeightsNotFound(f"${WEIGHTS_ENV} is the folder {str(path)!r}, which holds no weights for timm model "
                              f"{name!r}; tried {tried}")
    raise WeightsNotFound(f"${WEIGHTS_ENV} names {str(path)!r}, which does not exist (a weights file, or a folder "
                          f"holding <model>.safetensors or <model>/model.safetensors, was expected)")


def weights_overlay(name: str, kwargs: dict) -> dict:
    """``kwargs`` for ``timm.create_model`` with the local weights file (if any) added through
    ``pretrained_cfg_overlay``; a caller's own overlay keeps its other keys."""
    path = local_weights(name)
    if path is None:
        return kwargs
    overlay = dict(kwargs.get("pretrained_cfg_overlay") or {})
    overlay["file"] = str(path)
    return {**kwargs, "pretrained_cfg_overlay": overlay}
