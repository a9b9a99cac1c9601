"""The store every run is kept in, keyed by the hash of what determines it.

Transfer runs are :class:`~tlcore.finetune.record.RunRecord` JSON files (:class:`RunStore`); runs that measure more
than a record holds (source-task accuracy after fine-tuning, accuracy on a shifted domain) are JSON dicts of numbers
(:func:`stored_outcome`). An identical run asked for twice, by two chapters or by a re-execution, is computed once;
every write is atomic, so an interrupted run leaves no partial file behind.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ..finetune.record import RunRecord
from ..storage import computed_once, config_hash, exclusive, results_dir, write_json_atomic

# Bump when the meaning of a stored run changes (the loop, the world), so that old runs are not reused.
STORE_VERSION = 2  # 2: augmentation by gather (the indexing version was not reproducible)


class RunStore:
    """Run records on disk under ``root`` (default ``results_dir()/runs``)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else results_dir() / "runs"

    @staticmethod
    def key(config: dict) -> str:
        return config_hash({"store_version": STORE_VERSION, **config}, 20)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> RunRecord | None:
        path = self.path(key)
        if not path.exists():
            return None
        try:
            return RunRecord.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError):
            path.unlink()  # a damaged record is recomputed, never trusted
            return None

    def put(self, key: str, record: RunRecord) -> None:
        write_json_atomic(self.path(key), record.to_dict())

    def lock(self, key: str):
        """Held while run ``key`` is computed, so that chapters executing side by side compute it once."""
        return exclusive(self.path(key))

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __bool__(self) -> bool:
        return True  # a store is a place, not a collection: an empty one must not read as "no store" (store or ...)

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0


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
