"""What every kind of run shares: a specification as data, one :func:`run` that computes it once and keeps it in the
store, one :func:`run_many` that gathers runs into a tidy table, and one place where a diverged run is caught.

A kind (:class:`~tlcore.runs.transfer.TransferRun`, :class:`~tlcore.runs.continual.ContinualRun`,
:class:`~tlcore.runs.adaptation.AdaptationRun`) says what determines it (:meth:`RunSpec.config`, hashed into its
store key), what it contributes to a table (:meth:`RunSpec.summary`, :meth:`RunSpec.rows`), how it is trained
(:meth:`RunSpec.compute`) and what is stored when its loss diverges (:meth:`RunSpec.diverged`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ..finetune.protocol import Protocol
from .store import OutcomeStore, RunStore, record_key


class RunSpec(ABC):
    """A run as data: everything that determines its outcome, so that an identical run is computed once."""

    @abstractmethod
    def config(self) -> dict:
        """What determines the run: the dict its store key is hashed from (kept stable, or old runs are lost)."""

    def key(self) -> str:
        return RunStore.key(self.config())

    @classmethod
    def from_config(cls, config: dict) -> RunSpec:
        """The run whose :meth:`config` is ``config`` (as stored): how ``verify`` recomputes a stored run. Raises
        ValueError if no run of this kind has that configuration (a field renamed since, a zoo model changed)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in config.items() if k in names}
        if "protocol" in values:
            values["protocol"] = Protocol.from_dict(values["protocol"])
        spec = cls(**values)
        if record_key(spec.config()) != record_key(config):
            raise ValueError(f"no {cls.__name__} has the stored configuration {config}")
        return spec

    @abstractmethod
    def summary(self) -> dict:
        """The flat columns this run contributes to a tidy table."""

    @abstractmethod
    def compute(self, progress: bool = False) -> Any:
        """Train the run and return its outcome (JSON-able for the store); may raise ``FloatingPointError`` when the
        loss diverges."""

    @abstractmethod
    def diverged(self, error: FloatingPointError) -> Any:
        """The outcome stored for this run when its loss diverged with ``error`` (no accuracy)."""

    def store(self, runs: RunStore) -> OutcomeStore:
        """Where runs of this kind are kept, given the run store: by default its sibling outcome store."""
        return runs.outcomes

    def rows(self, outcome: Any, *, curves: bool = False) -> list[dict]:
        """The tidy rows of this run: by default one, its summary and its outcome."""
        if curves:
            raise ValueError(f"{type(self).__name__} keeps no validation curves")
        return [{**self.summary(), **outcome}]

    @classmethod
    def tidy(cls, frame: pd.DataFrame) -> pd.DataFrame:
        """Columns this kind derives from the whole table of :func:`run_many` (none by default)."""
        return frame


def outcome(spec: RunSpec, *, progress: bool = False) -> Any:
    """``spec`` trained: its outcome, or, if its loss diverged, :meth:`RunSpec.diverged`. The one place where
    divergence is caught: a learning rate too high for a start is a result of a sweep, not a crash of the chapter;
    the run is stored as diverged (no accuracy), so validation-based selection passes over it."""
    try:
        return spec.compute(progress=progress)
    except FloatingPointError as error:
        return spec.diverged(error)


def run(spec: RunSpec, *, store: RunStore | None = None, progress: bool = False) -> Any:
    """The outcome of ``spec`` (a run record for a transfer run, a dict of numbers for the others): read from the
    store if this exact run was done before, else trained (a diverged run included) and stored. ``store`` is the run
    store (default: the committed results store); outcome dicts are kept in :attr:`RunStore.outcomes`."""
    where = spec.store(store if store is not None else RunStore())
    return where.computed(spec.key(), lambda: outcome(spec, progress=progress), config=spec.config(),
                          kind=type(spec).__name__)


def run_many(specs: Iterable[RunSpec], *, store: RunStore | None = None, progress: bool = True,
             curves: bool = False) -> pd.DataFrame:
    """Run (or fetch) every spec, of any kind; one tidy row per run (its summary and outcome), or with
    ``curves=True`` one row per validation point (transfer runs)."""
    specs = list(specs)
    rows = []
    for spec in tqdm(specs, disable=not progress, desc="runs", mininterval=2.0):
        rows.extend(spec.rows(run(spec, store=store), curves=curves))
    frame = pd.DataFrame(rows)
    for kind in dict.fromkeys(type(spec) for spec in specs):
        frame = kind.tidy(frame)
    return frame
