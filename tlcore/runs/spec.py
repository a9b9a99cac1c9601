"""What every kind of run shares: a specification as data, one :func:`run` that computes it once and keeps it in the
store, one :func:`run_many` that gathers runs into a tidy table, and one place where a diverged run is caught.

A kind (:class:`~tlcore.runs.transfer.TransferRun`, :class:`~tlcore.runs.continual.ContinualRun`,
:class:`~tlcore.runs.adaptation.AdaptationRun`) says what determines it (:meth:`RunSpec.config`, hashed into its
store key), what it contributes to a table (:meth:`RunSpec.summary`, :meth:`RunSpec.rows`), how it is trained
(:meth:`RunSpec.compute`) and what is stored when its loss diverges (:meth:`RunSpec.diverged`).
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import fields
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ..finetune.protocol import Protocol
from ..store import RESULTS_ENV, STORE_ENV, STORE_ONLY_ENV, config_hash, scratch_folders
from .executors import RayExecutor, executor_from_env
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

    def placeholder(self) -> Any:
        """An outcome of this run's shape with made-up accuracies (:func:`made_up`), never trained: what
        :func:`planning` gives a study so that it chooses, tabulates and asks for its next runs as it would."""
        raise NotImplementedError(f"{type(self).__name__} has no placeholder outcome, so it cannot be planned")

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


_planned: ContextVar[list | None] = ContextVar("tlcore_planned_runs", default=None)


def made_up(spec: RunSpec, what: str) -> float:
    """A made-up accuracy in [0.2, 0.8] for ``what`` of ``spec``, fixed by its key (a placeholder, never a result)."""
    return 0.2 + 0.6 * int(config_hash({"key": spec.key(), "what": what}, 8), 16) / 16**8


@contextmanager
def planning() -> Iterator[list[RunSpec]]:
    """Inside the block, every run asked for is listed (in the yielded list), not trained: it gets
    :meth:`RunSpec.placeholder` in a scratch store and results folder (removed afterwards), so a study runs through
    its grids, selections included, without data, weights or a GPU, and its run count and steps can be read
    (:mod:`tlcore.studies.plan`). Runs are computed here even if ``$TLCORE_EXECUTOR`` names a cluster."""
    listed: list[RunSpec] = []
    with scratch_folders((STORE_ENV, RESULTS_ENV), "tlcore-plan-"):
        token = _planned.set(listed)
        try:
            yield listed
        finally:
            _planned.reset(token)


def outcome(spec: RunSpec, *, progress: bool = False) -> Any:
    """``spec`` trained: its outcome, or, if its loss diverged, :meth:`RunSpec.diverged`. The one place where
    divergence is caught: a learning rate too high for a start is a result of a sweep, not a crash of the chapter;
    the run is stored as diverged (no accuracy), so validation-based selection passes over it. While
    :func:`planning`, the run is listed and its placeholder returned instead."""
    listed = _planned.get()
    if listed is not None:
        listed.append(spec)
        return spec.placeholder()
    try:
        return spec.compute(progress=progress)
    except FloatingPointError as error:
        return spec.diverged(error)


def run(spec: RunSpec, *, store: RunStore | None = None, progress: bool = False) -> Any:
    """The outcome of ``spec`` (a run record for a transfer run, a dict of numbers for the others): read from the
    store if this exact run was done before, else trained (a diverged run included) and stored. ``store`` is the run
    store (default: the committed results store); outcome dicts are kept in :attr:`RunStore.outcomes`."""
    if _planned.get() is not None:
        store = None  # a placeholder only ever goes to planning's scratch store, never to one a caller names
    where = spec.store(store if store is not None else RunStore())
    return where.computed(spec.key(), lambda: outcome(spec, progress=progress), config=spec.config(),
                          kind=type(spec).__name__)


def run_many(specs: Iterable[RunSpec], *, store: RunStore | None = None, progress: bool = True,
             curves: bool = False, executor: RayExecutor | None = None) -> pd.DataFrame:
    """Run (or fetch) every spec, of any kind; one tidy row per run (its summary and outcome), or with
    ``curves=True`` one row per validation point (transfer runs). The runs the store lacks are computed here, one
    after another, or by ``executor`` (default: the one ``$TLCORE_EXECUTOR`` names, :mod:`tlcore.runs.executors`)."""
    specs = list(specs)
    runs = store if store is not None else RunStore()
    executor = executor if executor is not None else executor_from_env()
    if executor is not None and _planned.get() is None and not os.environ.get(STORE_ONLY_ENV):
        for done in executor.compute(missing(specs, runs), progress=progress):
            where, key = done.spec.store(runs), done.spec.key()
            if where.get(key) is None:  # another chapter may have stored it meanwhile
                where.put(key, done.value, config=done.spec.config(), kind=type(done.spec).__name__,
                          provenance=done.provenance)
    rows = []
    for spec in tqdm(specs, disable=not progress, desc="runs", mininterval=2.0):
        rows.extend(spec.rows(run(spec, store=runs), curves=curves))
    frame = pd.DataFrame(rows)
    for kind in dict.fromkeys(type(spec) for spec in specs):
        frame = kind.tidy(frame)
    return frame


def missing(specs: Iterable[RunSpec], store: RunStore) -> list[RunSpec]:
    """The specs whose outcome ``store`` lacks, each key once, in the order given."""
    found: dict[str, RunSpec] = {}
    for spec in specs:
        key = spec.key()
        if key not in found and spec.store(store).get(key) is None:
            found[key] = spec
    return list(found.values())
