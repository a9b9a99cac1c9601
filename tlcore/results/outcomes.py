"""Stored outcomes of runs that measure more than a :class:`~tlcore.finetune.loop.RunRecord` holds (source-task
accuracy after fine-tuning, accuracy on a shifted domain): a JSON dict per configuration, computed once."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ..storage import computed_once, config_hash, results_dir, write_json_atomic
from .store import STORE_VERSION


def outcome_path(config: dict) -> Path:
    key = config_hash({"store_version": STORE_VERSION, **config}, 20)
    return results_dir() / "outcomes" / key[:2] / f"{key}.json"


def stored_outcome(config: dict, compute: Callable[[], dict]) -> dict:
    """The outcome of ``config``: read if this exact configuration was computed before, else ``compute()``d and
    stored. ``compute`` returns a JSON-able dict of numbers."""
    path = outcome_path(config)

    def compute_and_store() -> dict:
        outcome = compute()
        write_json_atomic(path, outcome)
        return outcome

    return computed_once(path, lambda: _read(path), compute_and_store)


def _read(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        path.unlink()  # a damaged outcome is recomputed, never trusted
        return None
