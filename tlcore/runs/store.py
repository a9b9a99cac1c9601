"""Runs in the results store (:mod:`tlcore.store`), keyed by the hash of what determines them.

Transfer runs are :class:`~tlcore.finetune.record.RunRecord` s (:class:`RunStore`); runs that measure more than a
record holds (source-task accuracy after fine-tuning, accuracy on a shifted domain) are dicts of numbers
(:class:`OutcomeStore`, :attr:`RunStore.outcomes`, with the same interface, in the same store). An identical run
asked for twice, by two chapters or by a re-execution, is computed once.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from ..finetune.protocol import Protocol
from ..finetune.record import RunRecord
from ..store import STORE_VERSION, Store, record_key  # noqa: F401  (STORE_VERSION: where runs' meaning is versioned)


class Stored(NamedTuple):
    """One run of a store: its key, the configuration its key was hashed from and what was stored (a
    :class:`RunRecord`, an outcome dict)."""

    key: str
    config: dict
    value: Any


class OutcomeStore:
    """Outcome dicts (JSON-able numbers) of runs in the :class:`~tlcore.store.Store` under ``root`` (default: the
    committed store, :func:`~tlcore.store.store_dir`)."""

    kinds: tuple[str, ...] = ("ContinualRun", "AdaptationRun", "outcome")

    def __init__(self, root: str | Path | None = None):
        self.store = Store(root)
        self.root = self.store.root

    key = staticmethod(record_key)

    def _decode(self, value: Any) -> Any:
        return value

    def _encode(self, value: Any) -> Any:
        return value

    def get(self, key: str) -> Any | None:
        record = self.store.get(key)
        if record is None or record["kind"] not in self.kinds:
            return None
        try:
            return self._decode(record["value"])
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, key: str, value: Any, *, config: dict | None = None, kind: str | None = None,
            provenance: dict | None = None) -> None:
        """Store ``value`` under ``key``, the hash of ``config`` (default: the configuration ``value`` records),
        with ``provenance`` (default: this process's, :func:`tlcore.store.provenance`; an executor passes the
        worker's)."""
        config = config if config is not None else self._config_of(value)
        if config is None:
            raise ValueError(f"{type(self).__name__}.put needs the configuration that key {key} was hashed from")
        self.store.put(key, kind or self.kinds[-1], config, self._encode(value), origin=provenance)

    def _config_of(self, value: Any) -> dict | None:
        """The configuration a stored value records of itself, None if it records none."""
        return None

    def lock(self, key: str):
        """Held while run ``key`` is computed, so that chapters executing side by side compute it once."""
        return self.store.lock(key)

    def computed(self, key: str, compute: Callable[[], Any], *, config: dict, kind: str | None = None) -> Any:
        """What is stored under ``key``, else ``compute()`` (under the key's lock), stored and returned."""
        value = self.get(key)
        if value is None:
            value = self._decode(self.store.computed(key, kind or self.kinds[-1], config,
                                                     lambda: self._encode(compute())))
        return value

    def records(self, **where) -> Iterator[Stored]:
        """Every readable run of this store's kinds, in key order, whose configuration has the values ``where``
        names (e.g. ``store.records(target="glyphs_near", n_per_class=5)``)."""
        for record in self.store.records():
            if record["kind"] not in self.kinds or record_key(record["config"]) != record["key"]:
                continue
            config = record["config"]
            if all(config.get(k) == v for k, v in where.items()):
                value = self.get(record["key"])
                if value is not None:
                    yield Stored(record["key"], config, value)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __bool__(self) -> bool:
        return True  # a store is a place, not a collection: an empty one must not read as "no store"

    def __len__(self) -> int:
        return sum(1 for record in self.store.records() if record["kind"] in self.kinds)


class RunStore(OutcomeStore):
    """Run records in the store under ``root``; outcome dicts of other runs in :attr:`outcomes`, the same store."""

    kinds = ("TransferRun",)

    @property
    def outcomes(self) -> OutcomeStore:
        return OutcomeStore(self.root)

    def _decode(self, data: Any) -> RunRecord:
        return RunRecord.from_dict(data)

    def _encode(self, record: RunRecord) -> dict:
        return record.to_dict()

    def _config_of(self, record: RunRecord) -> dict | None:
        """The record's configuration as its key was hashed from it: without ``diverged``, with the protocol in its
        key form (the loop records the full protocol)."""
        try:
            config = {k: v for k, v in record.config.items() if k != "diverged"}
            config["protocol"] = Protocol.from_dict(config["protocol"]).key_dict()
        except (AttributeError, KeyError, TypeError, ValueError):
            return None
        return config
