"""Where tlcore keeps caches and results, and how it writes them without leaving half-written files behind."""
from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from filelock import FileLock

CACHE_ENV = "TLCORE_CACHE"
RESULTS_ENV = "TLCORE_RESULTS"
PROFILE_ENV = "TLCORE_PROFILE"  # the profile a chapter executes under (set by the book build)
# Bump when the meaning of a stored outcome changes (the loop, the world), so that old records are not reused and
# tables computed from them read as stale.
STORE_VERSION = 2  # 2: augmentation by gather (the indexing version was not reproducible)


def cache_dir() -> Path:
    """Root of the model and data cache: ``$TLCORE_CACHE`` or ``~/.cache/tlcore``."""
    path = Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "tlcore"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_dir() -> Path:
    """Root of the run store and result tables: ``$TLCORE_RESULTS`` or ``./results`` beside the book."""
    path = Path(os.environ.get(RESULTS_ENV, _project_root() / "results"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The checked-out commit of the package's repository (12 hex digits), or "unknown" outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], check=False, cwd=Path(__file__).parent,
                              capture_output=True, text=True, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _project_root() -> Path:
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "_toc.yml").exists() and (candidate / "tlcore").is_dir():
            return candidate
    return here


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: dict, length: int = 16) -> str:
    """A short stable hash of a JSON-able config; key order does not matter."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:length]


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block finishes without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json_atomic(path: str | Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str))


def exclusive(path: str | Path) -> FileLock:
    """A lock that one process at a time holds on ``path`` (``path.lock`` beside it), for a result that two
    processes may set out to compute at once: the second waits, then finds the first one's result."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path) + ".lock")


T = TypeVar("T")


def computed_once(path: str | Path, read: Callable[[], T | None], compute: Callable[[], T]) -> T:
    """``read()`` if it finds the result, else ``compute()`` under :func:`exclusive` on ``path``, reading again
    once the lock is held: a process that waited for another one computing the same result reads it instead.
    ``compute`` must leave the result where ``read`` finds it."""
    result = read()
    if result is None:
        with exclusive(path):
            result = read()
            if result is None:
                result = compute()
    return result


# The embedded tier's records are in <chapter>.jsonl; another tier's in <chapter>@<profile>.jsonl, so that outcomes
# computed on a GPU (profile "real") sit beside the embedded ones and a rebuild of one tier never replaces the other's.
TIER_MARK = "@"
DEFAULT_PROFILES = ("", "embedded")


def file_name(chapter: str, profile: str | None = None) -> str:
    """The store file (without ``.jsonl``) of ``chapter``'s records computed under ``profile`` (default
    ``$TLCORE_PROFILE``): the chapter's own name in the embedded tier, ``<chapter>@<profile>`` in any other."""
    profile = os.environ.get(PROFILE_ENV, "") if profile is None else profile
    return chapter if profile in DEFAULT_PROFILES else f"{chapter}{TIER_MARK}{profile}"


def file_profile(file: str) -> tuple[str, str]:
    """(chapter, profile) of a store file's name (without ``.jsonl``): the inverse of :func:`file_name`."""
    chapter, _, profile = file.partition(TIER_MARK)
    return chapter, profile or "embedded"


@contextmanager
def scratch_folders(names, prefix: str) -> Iterator[str]:
    """For the block, each environment variable of ``names`` (e.g. :data:`CACHE_ENV_NAMES`) names a folder of its
    own in one fresh temporary folder (yielded), removed afterwards; the variables are then as they were."""
    saved = {name: os.environ.get(name) for name in names}
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        for name in saved:
            os.environ[name] = os.path.join(scratch, name.lower())
        try:
            yield scratch
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
