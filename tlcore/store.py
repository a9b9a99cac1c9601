"""The results store: every outcome a chapter reads, kept in a folder committed with the book.

A record is one JSON line ``{"key", "kind", "config", "value", "provenance"}``: ``config`` is everything that
determines ``value`` (its key is the hash of it), ``kind`` says how to recompute it (``python -m tlcore verify``) and
``provenance`` where, when and how fast it was computed (store version, profile, commit, package versions, machine,
threads, seconds). Records live in one file per chapter, ``<root>/<chapter>.jsonl`` (the chapter that computed a
record first; ``shared.jsonl`` outside a chapter), sorted by key so that a recomputed store gives the same files.
A write rewrites its chapter's file atomically under a lock, so two chapters executing side by side never lose a
record and a killed process never leaves half a line behind. A record that cannot be read is never trusted: it is
skipped (and listed by :meth:`Store.problems`), so what needs it is computed again.

:func:`tlcore.remembered.remembered` keeps what a function returns in the store, under the hash of its arguments.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# PROFILE_ENV, STORE_VERSION and the tiers' file names live in storage, where the result tables' stamps read them too.
from .storage import (CACHE_ENV, PROFILE_ENV, RESULTS_ENV, STORE_VERSION, _project_root, atomic_path,  # noqa: F401
                      config_hash, exclusive, file_name, file_profile, git_commit, scratch_folders)

STORE_ENV = "TLCORE_STORE"
# Where everything computed is kept: the store, the model cache, the results folder (tables, fine-tuned weights).
CACHE_ENV_NAMES = (STORE_ENV, CACHE_ENV, RESULTS_ENV)
CHAPTER_ENV = "TLCORE_CHAPTER"
SHARED = "shared"


def store_dir() -> Path:
    """The store's folder: ``$TLCORE_STORE`` or ``store/`` beside the book (committed with it)."""
    path = Path(os.environ.get(STORE_ENV) or _project_root() / "store")
    path.mkdir(parents=True, exist_ok=True)
    return path


def record_key(config: dict) -> str:
    """The key of the record ``config`` determines (its store version included)."""
    return config_hash({"store_version": STORE_VERSION, **config}, 20)


def cpu_capability() -> str:
    """torch's CPU capability here (e.g. ``AVX2``, ``AVX512``): which kernels, and so which rounding, it uses. A
    record is reproduced bit for bit only on the kind that computed it (see :mod:`tlcore.runs.verify`)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


@functools.lru_cache(maxsize=1)
def _machine() -> dict:
    import torch

    return {"commit": git_commit(), "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
            # The kernels torch picks (e.g. AVX2 or AVX512) change results bit for bit: verify compares like with like.
            "cpu_capability": cpu_capability(),
            # A real-tier outcome names the GPU it was computed on ("" on a machine without one).
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""}


def provenance(seconds: float) -> dict:
    """Where, when and how fast a record was computed."""
    import torch

    return {"store_version": STORE_VERSION, "profile": os.environ.get(PROFILE_ENV, ""), **_machine(),
            "threads": torch.get_num_threads(), "seconds": round(float(seconds), 3),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


STORE_ONLY_ENV = "TLCORE_STORE_ONLY"  # set: an outcome the store lacks is an error (MissingOutcome), not computed


class MissingOutcome(LookupError):
    """The store lacks an outcome and ``$TLCORE_STORE_ONLY`` forbids computing it (a tier read from the store)."""


class Store:
    """The records under ``root`` (default :func:`store_dir`); new ones go to the file of ``chapter`` (default
    ``$TLCORE_CHAPTER``, else ``shared``) for the profile they are computed under (:func:`file_name`)."""

    def __init__(self, root: str | Path | None = None, *, chapter: str | None = None):
        self.root = Path(root) if root is not None else store_dir()
        self.chapter = chapter or os.environ.get(CHAPTER_ENV) or SHARED
        self._index: dict[str, dict] = {}
        self._seen: dict[Path, tuple[int, int]] = {}
        self._problems: dict[Path, list[str]] = {}

    # ------------------------------------------------------------------ reading
    def files(self) -> list[Path]:
        return sorted(self.root.glob("*.jsonl")) if self.root.exists() else []

    def _refresh(self) -> None:
        """Read every file that changed since it was last read (another process may have added records)."""
        files = self.files()
        for path in files:
            stat = path.stat()
            if self._seen.get(path) == (stat.st_mtime_ns, stat.st_size):
                continue
            self._seen[path] = (stat.st_mtime_ns, stat.st_size)
            records, problems = _read_file(path)
            self._problems[path] = problems
            for record in records:
                self._index.setdefault(record["key"], {**record, "file": path.stem})

    def get(self, key: str) -> dict | None:
        """The record stored under ``key`` (with ``file``, the chapter file holding it), None if there is none."""
        if key not in self._index:
            self._refresh()
        record = self._index.get(key)
        if record is not None:
            _log_read(key)
        return record

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        self._refresh()
        return len(self._index)

    def __bool__(self) -> bool:
        return True  # a store is a place, not a collection: an empty one must not read as "no store"

    def records(self, kind: str | None = None) -> Iterator[dict]:
        """Every readable record (of ``kind``), in key order."""
        self._refresh()
        for key in sorted(self._index):
            if kind is None or self._index[key]["kind"] == kind:
                yield self._index[key]

    def problems(self) -> list[str]:
        """What cannot be trusted: unreadable lines, and records whose key is not the hash of their configuration."""
        self._refresh()
        found = [problem for path in self.files() for problem in self._problems.get(path, [])]
        for record in self._index.values():
            if record_key(record["config"]) != record["key"]:
                found.append(f"{record['file']}.jsonl: record {record['key']} does not match its configuration "
                             f"(expected key {record_key(record['config'])})")
        return found

    def summary(self) -> pd.DataFrame:
        """Where the results come from, one row per chapter file: records, the commit and date (UTC day) of its
        newest record, the store version(s) and the compute time of all its records (hours, one core each)."""
        rows = {}
        for record in self.records():
            origin = record.get("provenance", {})
            row = rows.setdefault(record["file"], {"file": record["file"], "records": 0, "date": "", "commit": "",
                                                   "store_versions": set(), "compute_hours": 0.0})
            row["records"] += 1
            row["compute_hours"] += origin.get("seconds", 0.0) / 3600
            row["store_versions"].add(origin.get("store_version"))
            if origin.get("date", "") >= row["date"]:
                row["date"], row["commit"] = origin.get("date", ""), origin.get("commit", "")
        frame = pd.DataFrame(list(rows.values()), columns=["file", "records", "date", "commit", "store_versions",
                                                           "compute_hours"])
        frame["date"] = frame["date"].str[:10]
        frame["store_versions"] = frame["store_versions"].map(lambda v: ", ".join(str(x) for x in sorted(v, key=str)))
        return frame.sort_values("file", ignore_index=True).round({"compute_hours": 2})

    # ------------------------------------------------------------------ writing
    def put(self, key: str, kind: str, config: dict, value: Any, *, seconds: float = 0.0,
            origin: dict | None = None) -> dict:
        """Store ``value`` under ``key`` (which must be the hash of ``config``) in this store's chapter file, with
        provenance ``origin`` (where it was computed: a cluster's worker) or, by default, this process's."""
        if record_key(config) != key:
            raise ValueError(f"key {key} is not the hash of its configuration ({record_key(config)})")
        record = {"key": key, "kind": kind, "config": config, "value": value,
                  "provenance": origin if origin is not None else provenance(seconds)}
        line = json.dumps(record, sort_keys=True, separators=(",", ":"))  # fails before anything is written
        path = self.root / f"{file_name(self.chapter, record['provenance'].get('profile', ''))}.jsonl"
        with exclusive(self.root / ".locks" / path.name):
            lines = {}
            if path.exists():
                for text in path.read_text().splitlines():
                    try:
                        lines[json.loads(text)["key"]] = text
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue  # an unreadable line is dropped: its record is being computed again
            lines[key] = line
            with atomic_path(path) as tmp:
                tmp.write_text("".join(lines[k] + "\n" for k in sorted(lines)))
        self._index[key] = {**record, "file": path.stem}
        _log_read(key)
        return record

    def prune(self, keep: set[str], *, profile: str = "embedded") -> int:
        """Remove every record of tier ``profile``'s files whose key is not in ``keep`` (the keys a whole build of
        that tier read; another tier's records are that tier's to prune); returns how many."""
        removed = 0
        for path in self.files():
            if file_profile(path.stem)[1] != profile:
                continue
            with exclusive(self.root / ".locks" / path.name):
                lines = path.read_text().splitlines()
                kept = [line for line in lines if _key_of(line) in keep]
                removed += len(lines) - len(kept)
                with atomic_path(path) as tmp:
                    tmp.write_text("".join(line + "\n" for line in kept))
                if not kept:
                    path.unlink()
        self._index, self._seen = {}, {}
        return removed

    def lock(self, key: str):
        """Held while record ``key`` is computed, so that chapters executing side by side compute it once."""
        return exclusive(self.root / ".locks" / key)

    def computed(self, key: str, kind: str, config: dict, compute: Callable[[], Any]) -> Any:
        """The value stored under ``key``, else ``compute()`` (under the key's lock), stored and returned."""
        record = self.get(key)
        if record is None:
            if os.environ.get(STORE_ONLY_ENV):
                raise MissingOutcome(f"the results store {self.root} lacks record {key} (kind {kind}, configuration "
                                     f"{json.dumps(config, sort_keys=True)[:300]}) and ${STORE_ONLY_ENV} forbids "
                                     "computing it")
            with self.lock(key):
                record = self.get(key)
                if record is None:
                    start = time.perf_counter()
                    value = compute()
                    record = self.put(key, kind, config, value, seconds=time.perf_counter() - start)
        return record["value"]


def tier_files(root: str | Path, profile: str) -> dict[str, dict]:
    """Chapter -> :func:`origin` of its records of tier ``profile`` under ``root``, for every chapter file of that
    tier (:func:`file_name`)."""
    found: dict[str, dict] = {}
    for path in sorted(Path(root).glob("*.jsonl")):
        chapter, tier = file_profile(path.stem)
        if tier == profile:
            found[chapter] = origin(_read_file(path)[0])
    return found


def origin(records: list[dict]) -> dict:
    """Where ``records`` come from: how many, the GPUs (``"no GPU"`` for a CPU's), the first and last date, the
    commits."""
    origins = [record.get("provenance", {}) for record in records]
    dates = sorted(origin.get("date", "")[:10] for origin in origins if origin.get("date"))
    return {"records": len(records), "gpus": sorted({origin.get("gpu") or "no GPU" for origin in origins}),
            "first": dates[0] if dates else "", "last": dates[-1] if dates else "",
            "commits": sorted({origin.get("commit", "") for origin in origins} - {""})}


READS_ENV = "TLCORE_STORE_READS"  # a folder: every key read or written is logged there (to prune what no build reads)
_logged: set[str] = set()


def _log_read(key: str) -> None:
    folder = os.environ.get(READS_ENV)
    if folder and key not in _logged:
        _logged.add(key)
        Path(folder).mkdir(parents=True, exist_ok=True)
        with open(Path(folder) / f"{os.getpid()}.keys", "a") as log:
            log.write(key + "\n")


def read_keys(folder: str | Path) -> set[str]:
    """Every key logged under ``folder`` (see ``READS_ENV``)."""
    return {line for path in Path(folder).glob("*.keys") for line in path.read_text().split()}


def _key_of(line: str) -> str | None:
    try:
        return json.loads(line)["key"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return None


def _read_file(path: Path) -> tuple[list[dict], list[str]]:
    records, problems = [], []
    for number, text in enumerate(path.read_text().splitlines(), 1):
        try:
            record = json.loads(text)
            if not (isinstance(record, dict) and {"key", "kind", "config", "value"} <= record.keys()
                    and isinstance(record["config"], dict)):
                raise ValueError("not a record")
            records.append(record)
        except (json.JSONDecodeError, ValueError) as error:
            problems.append(f"{path.name} line {number}: unreadable record ({error})")
    return records, problems
