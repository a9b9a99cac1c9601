"""The store every run is kept in, keyed by the hash of what determines it.

Transfer runs are :class:`~tlcore.finetune.record.RunRecord` JSON files (:class:`RunStore`); runs that measure more
than a record holds (source-task accuracy after fine-tuning, accuracy on a shifted domain) are JSON dicts of numbers
(:class:`OutcomeStore`, the run store's sibling :attr:`RunStore.outcomes`, with the same interface). An identical run
asked for twice, by two chapters or by a re-execution, is computed once; every write is atomic, so an interrupted run
leaves no partial file behind.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from ..finetune.protocol import Protocol
from ..finetune.record import RunRecord
from ..storage import computed_once, config_hash, exclusive, results_dir, write_json_atomic

# Bump when the meaning of a stored run changes (the loop, the world), so that old runs are not reused.
STORE_VERSION = 2  # 2: augmentation by gather (the indexing version was not reproducible)


class Stored(NamedTuple):
    """One entry of a store: its key, the configuration its key was hashed from (None where the store does not keep
    it) and what was stored (a :class:`RunRecord`, an outcome dict)."""

    key: str
    config: dict | None
    value: Any


class _JsonStore:
    """JSON files under ``root``, one per key, in folders named by the key's first two characters."""

    folder = ""  # the default root is results_dir() / folder
    keeps_configs = False  # whether a stored value holds the configuration its key was hashed from

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else results_dir() / self.folder

    @staticmethod
    def key(config: dict) -> str:
        return config_hash({"store_version": STORE_VERSION, **config}, 20)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def _decode(self, data: Any) -> Any:
        return data

    def _encode(self, value: Any) -> Any:
        return value

    def _config_of(self, value: Any) -> dict | None:
        """The configuration ``value``'s key was hashed from, None if it cannot be read from ``value``."""
        return None

    def _load(self, path: Path) -> Any | None:
        """What ``path`` holds, None if it is missing or unreadable (left in place)."""
        if not path.exists():
            return None
        try:
            return self._decode(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError):
            return None

    def get(self, key: str) -> Any | None:
        path = self.path(key)
        value = self._load(path)
        if value is None and path.exists():
            path.unlink()  # a damaged entry is recomputed, never trusted
        return value

    def put(self, key: str, value: Any) -> None:
        write_json_atomic(self.path(key), self._encode(value))

    def lock(self, key: str):
        """Held while run ``key`` is computed, so that chapters executing side by side compute it once."""
        return exclusive(self.path(key))

    def computed(self, key: str, compute: Callable[[], Any]) -> Any:
        """What is stored under ``key``, else ``compute()`` (under the key's lock), stored and returned."""

        def compute_and_store():
            value = compute()
            self.put(key, value)
            return value

        return computed_once(self.path(key), lambda: self.get(key), compute_and_store)

    def records(self, **where) -> Iterator[Stored]:
        """Every readable entry, in key order, whose configuration has the values ``where`` names (e.g.
        ``store.records(target="glyphs_near", n_per_class=5)``). Unreadable files are skipped (not deleted: a query
        changes nothing); in a store that keeps configurations, so is every entry whose configuration cannot be read
        or no longer hashes to its key (an older store version). A store that keeps none (outcomes) yields every
        readable entry with ``config=None`` and cannot be filtered."""
        if where and not self.keeps_configs:
            raise ValueError(f"{type(self).__name__} keeps no configurations to filter by {sorted(where)}")
        for path in sorted(self.root.glob("*/*.json")) if self.root.exists() else []:
            value = self._load(path)
            config = self._config_of(value) if value is not None and self.keeps_configs else None
            if value is None or (self.keeps_configs and (config is None or self.key(config) != path.stem)):
                continue
            if all(config.get(k) == v for k, v in where.items()):
                yield Stored(path.stem, config, value)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __bool__(self) -> bool:
        return True  # a store is a place, not a collection: an empty one must not read as "no store" (store or ...)

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0


class RunStore(_JsonStore):
    """Run records on disk under ``root`` (default ``results_dir()/runs``); outcomes in :attr:`outcomes` beside it."""

    folder = "runs"
    keeps_configs = True

    @property
    def outcomes(self) -> OutcomeStore:
        """The sibling store of outcome dicts: an ``outcomes`` folder beside this store's ``runs``."""
        return OutcomeStore(self.root.parent / "outcomes")

    def _decode(self, data: Any) -> RunRecord:
        return RunRecord.from_dict(data)

    def _encode(self, record: RunRecord) -> dict:
        return record.to_dict()

    def _config_of(self, record: RunRecord) -> dict | None:
        """The record's configuration as its key was hashed from it: without ``diverged``, with the protocol in its
        key form (the loop records the full protocol). None if the record's protocol cannot be read."""
        try:
            config = {k: v for k, v in record.config.items() if k != "diverged"}
            config["protocol"] = Protocol.from_dict(config["protocol"]).key_dict()
        except (AttributeError, KeyError, TypeError, ValueError):
            return None
        return config


class OutcomeStore(_JsonStore):
    """Outcome dicts (JSON-able numbers) on disk under ``root`` (default ``results_dir()/outcomes``)."""

    folder = "outcomes"
