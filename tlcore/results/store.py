"""The run store and the result tables.

Runs are JSON files keyed by the hash of their full configuration, so an identical run asked for twice — by two
chapters, or by a re-execution — is computed once. Tables are tidy CSV files that chapters write and the book and the
claims registry read. Every write is atomic: an interrupted run leaves no partial file behind.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..finetune.loop import RunRecord
from ..storage import atomic_path, config_hash, exclusive, results_dir, write_json_atomic

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


def tables_dir() -> Path:
    path = results_dir() / "tables"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_table(frame: pd.DataFrame, name: str) -> Path:
    """Write a tidy table ``name`` (letters, digits, underscores) that the book and the registry read."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"table name must be letters, digits and underscores, got {name!r}")
    path = tables_dir() / f"{name}.csv"
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def load_table(name: str) -> pd.DataFrame:
    path = tables_dir() / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"result table {name!r} does not exist yet ({path}); run the chapter that makes it")
    return pd.read_csv(path)


def has_table(name: str) -> bool:
    return (tables_dir() / f"{name}.csv").exists()
