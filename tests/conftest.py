"""Shared test set-up: offline, a results folder per test session, and the project's model cache.

The zoo cache is the project's own (``.cache/tlcore``, as the book build uses) so that a model pretrained by the
tests is reused by the book in CI; tests that exercise the cache itself use a temporary one.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TLCORE_CACHE", str(ROOT / ".cache" / "tlcore"))


@pytest.fixture(autouse=True, scope="session")
def _session_results(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    os.environ["TLCORE_RESULTS"] = str(results)
    os.environ["TLCORE_STORE"] = str(results / "store")  # never the committed store
    yield


@pytest.fixture(autouse=True)
def _no_profile_left_behind():
    """``start_chapter`` sets ``$TLCORE_PROFILE`` (and the weightless switch) for its process, as a notebook wants;
    in the tests' one process each test starts without them and leaves neither behind (the store names its files by
    the profile). Saved and restored by hand: ``monkeypatch.delenv`` of an unset variable would restore nothing."""
    saved = {name: os.environ.pop(name, None) for name in ("TLCORE_PROFILE", "TLCORE_WEIGHTLESS")}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """A fresh, empty model cache for this test only."""
    monkeypatch.setenv("TLCORE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def tmp_results(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCORE_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("TLCORE_STORE", str(tmp_path / "results" / "store"))
    return tmp_path / "results"


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models train fastest on one thread; on a busy 2-core machine OpenMP's spinning threads cost 10-50x."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
