"""Cached is not trusted: recompute stored records from nothing and compare them with what the store holds.

:func:`verify` draws records at random, spread over the chapters' files, and recomputes them in an empty store with an
empty model cache (so a zoo model a record needs is pretrained again, and a function's own stored inputs are computed
again too). The comparison ignores wall times and version strings (:data:`IGNORED`) and allows :data:`TOLERANCE` on
numbers: one torch thread on one machine kind reproduces a run bit for bit (the store's records were computed by the
book build with one thread per chapter), so any difference is a change of meaning, not noise.

"One machine kind" is torch's CPU capability (AVX2, AVX512, ...), which each record names in its provenance
(``cpu_capability``; records made before 2026-12-03 do not). The kernels torch picks for each round differently, and
over a pretraining and a fine-tuning the last-digit differences grow into other accuracies, so a record can only be
reproduced bit for bit on the kind that made it: :func:`verify` draws among those, and :func:`machine_kinds` counts
the rest. :func:`stale` lists records that the current code would no longer read.
"""
from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

from ..models.provenance import KIND as ZOO_KIND
from ..models.provenance import entry_from_config
from ..models.zoo import ZOO_VERSION, load_source_model
from ..remembered import recompute_call, remembered_function
from ..store import CACHE_ENV_NAMES, STORE_VERSION, Store, cpu_capability, scratch_folders
from .adaptation import AdaptationRun
from .continual import ContinualRun
from .spec import RunSpec, outcome
from .transfer import TransferRun

SPEC_KINDS: dict[str, type[RunSpec]] = {kind.__name__: kind for kind in (TransferRun, ContinualRun, AdaptationRun)}
# Wall times, dates and version strings differ between two computations of the same outcome; nothing else may.
IGNORED = frozenset({"seconds", "pretrain_seconds", "torch", "date"})
TOLERANCE = 0.0


def _register_zoo(store: Store) -> None:
    """Register every zoo entry the store describes (a chapter may have made one at run time: a DATL re-weighting)."""
    for record in store.records(ZOO_KIND):
        try:
            entry_from_config(record["config"])
        except (ValueError, KeyError, TypeError):
            continue  # a stale zoo record: listed by stale(), never recomputed


def recompute(record: dict) -> Any:
    """The value of ``record`` computed now, from its configuration, as the store keeps it (through JSON)."""
    kind, config = record["kind"], record["config"]
    if kind in SPEC_KINDS:
        value = outcome(SPEC_KINDS[kind].from_config(config))
        value = value.to_dict() if hasattr(value, "to_dict") else value
    elif kind == ZOO_KIND:
        entry = entry_from_config(config)
        value = load_source_model(entry.name, pretrain_seed=entry.seed, progress=False)[1]
    else:
        value = recompute_call(config)
    return json.loads(json.dumps(value))


def differences(stored: Any, fresh: Any, *, tolerance: float = TOLERANCE, where: str = "") -> list[str]:
    """Where ``fresh`` differs from ``stored`` (nested dicts and lists of numbers and strings), ignoring
    :data:`IGNORED` keys; numbers may differ by ``tolerance`` (NaN equals NaN)."""
    if isinstance(stored, dict) and isinstance(fresh, dict):
        found = []
        for key in sorted(set(stored) | set(fresh)):
            if key in IGNORED:
                continue
            if key not in stored or key not in fresh:
                found.append(f"{where}.{key}: only in the {'stored' if key in stored else 'recomputed'} record")
            else:
                found += differences(stored[key], fresh[key], tolerance=tolerance, where=f"{where}.{key}")
        return found
    if isinstance(stored, list) and isinstance(fresh, list):
        if len(stored) != len(fresh):
            return [f"{where}: {len(stored)} items stored, {len(fresh)} recomputed"]
        return [d for i, (a, b) in enumerate(zip(stored, fresh)) for d in
                differences(a, b, tolerance=tolerance, where=f"{where}[{i}]")]
    numbers = (int, float)
    if isinstance(stored, numbers) and isinstance(fresh, numbers) and not isinstance(stored, bool) \
            and not isinstance(fresh, bool):
        if (math.isnan(stored) and math.isnan(fresh)) or abs(stored - fresh) <= tolerance:
            return []
        return [f"{where}: stored {stored!r}, recomputed {fresh!r}"]
    return [] if stored == fresh else [f"{where}: stored {stored!r}, recomputed {fresh!r}"]


UNRECORDED = "unrecorded"


def this_machine_kind() -> str:
    """The kind records computed here name in their provenance: the GPU's name where torch has one (a real-tier
    record is reproduced on that GPU, never on a CPU), else the CPU capability."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else cpu_capability()


def machine_kind(record: dict) -> str:
    """The GPU ``record`` was computed on, else the CPU capability; :data:`UNRECORDED` for records older than
    that field."""
    origin = record.get("provenance", {})
    return origin.get("gpu") or origin.get("cpu_capability") or UNRECORDED


def machine_kinds(store: Store) -> Counter:
    """How many records of ``store`` each machine kind computed."""
    return Counter(machine_kind(record) for record in store.records())


def sample(store: Store, n: int, rng: random.Random, *, kind: str | None = None) -> list[dict]:
    """``n`` records drawn at random (only those computed on machine kind ``kind``, if given), spread over the
    chapter files: one from each file in turn, files in random order, until ``n`` are drawn or none is left."""
    by_file: dict[str, list[dict]] = {}
    for record in store.records():
        if kind is None or machine_kind(record) == kind:
            by_file.setdefault(record["file"], []).append(record)
    for records in by_file.values():
        rng.shuffle(records)
    files = sorted(by_file)
    rng.shuffle(files)
    drawn = []
    while len(drawn) < n and any(by_file.values()):
        for name in files:
            if by_file[name] and len(drawn) < n:
                drawn.append(by_file[name].pop())
    return drawn


@contextmanager
def from_nothing() -> Iterator[str]:
    """An empty store, model cache and results folder, and one torch thread, for the duration of the block. The
    store's records were computed with one torch thread per chapter; two threads sum in another order, so every
    recomputed number would differ in its last digits and a zoo model pretrained from nothing would drift further."""
    import torch

    threads = torch.get_num_threads()
    with scratch_folders(CACHE_ENV_NAMES, "tlcore-verify-") as scratch:
        torch.set_num_threads(1)
        try:
            yield scratch
        finally:
            torch.set_num_threads(threads)


def verify(store: Store, n: int, *, seed: int | None = None, tolerance: float = TOLERANCE, progress: bool = True,
           kind: str | None = None) -> tuple[int, list[tuple[dict, list[str]]]]:
    """Recompute ``n`` records of ``store`` drawn at random among those of machine kind ``kind`` (default: this
    machine's, :func:`this_machine_kind`; the others cannot be reproduced bit for bit here) from nothing (``seed``:
    None draws a fresh seed, returned): in one empty store and model cache for the whole sample (a zoo model two
    records need is pretrained once, but pretrained). Returns the seed and, per record, what differs (an empty list:
    it matches)."""
    seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    _register_zoo(store)
    drawn = sample(store, n, random.Random(seed), kind=kind or this_machine_kind())
    results = []
    with from_nothing():
        for record in tqdm(drawn, disable=not progress, desc="verify"):
            try:
                found = differences(record["value"], recompute(record), tolerance=tolerance)
            except Exception as error:  # noqa: BLE001  (a record that cannot be recomputed is a finding, not a crash)
                found = [f"cannot be recomputed: {type(error).__name__}: {error}"]
            results.append((record, found))
    return seed, results


def stale(store: Store) -> list[str]:
    """Records the current code would not read: of another store or zoo version, of a function that no longer
    exists or changed version, of a run whose configuration no longer describes a run (a zoo recipe changed)."""
    _register_zoo(store)
    found = []
    for record in store.records():
        kind, config, where = record["kind"], record["config"], f"{record['file']}.jsonl {record['key']}"
        if record.get("provenance", {}).get("store_version") != STORE_VERSION:
            found.append(f"{where}: store version {record.get('provenance', {}).get('store_version')}, "
                         f"now {STORE_VERSION}")
        elif kind == ZOO_KIND:
            version = config.get("recipe", {}).get("zoo_version")
            if version != ZOO_VERSION:
                found.append(f"{where}: zoo version {version}, now {ZOO_VERSION}")
        elif kind in SPEC_KINDS:
            try:
                SPEC_KINDS[kind].from_config(config)
            except (ValueError, KeyError, TypeError) as error:
                found.append(f"{where}: {kind} no longer has this configuration ({error})")
        elif "function" in config:
            try:
                if remembered_function(config).version != config.get("version"):
                    found.append(f"{where}: {config['function']} is now version "
                                 f"{remembered_function(config).version}, the record {config.get('version')}")
            except LookupError as error:
                found.append(f"{where}: {error}")
    return found
