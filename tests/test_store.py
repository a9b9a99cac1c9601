"""The results store: records keyed by their configuration, one sorted file per chapter, written atomically, and
functions whose results are kept (remembered)."""
import json

import numpy as np
import pandas as pd
import pytest

from tlcore.remembered import decode, encode, remembered
from tlcore.store import MissingOutcome, Store, file_name, file_profile, record_key, tier_files


def _put(store, i, value=None):
    config = {"i": i}
    return store.put(record_key(config), "outcome", config, value if value is not None else {"x": i})


def test_records_go_to_their_chapter_file_sorted_by_key_with_provenance(tmp_path):
    first, second = Store(tmp_path, chapter="01_a"), Store(tmp_path, chapter="01_a")
    for i in (3, 1):
        _put(first, i)
    _put(second, 2)  # another process with its own view of the file: nothing of the first is lost
    _put(Store(tmp_path, chapter="02_b"), 4)
    lines = (tmp_path / "01_a.jsonl").read_text().splitlines()
    keys = [json.loads(line)["key"] for line in lines]
    assert len(keys) == 3 and keys == sorted(keys)
    reader = Store(tmp_path)
    assert len(reader) == 4 and reader.get(record_key({"i": 4}))["file"] == "02_b"
    provenance = reader.get(keys[0])["provenance"]
    assert {"store_version", "profile", "commit", "torch", "machine", "cpu_capability", "gpu", "threads", "seconds",
            "date"} <= set(provenance)
    import torch

    assert provenance["gpu"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")


def test_a_bad_write_leaves_the_file_as_it_was(tmp_path):
    store = Store(tmp_path, chapter="c")
    _put(store, 1)
    before = (tmp_path / "c.jsonl").read_bytes()
    with pytest.raises(ValueError, match="not the hash"):
        store.put("0" * 20, "outcome", {"i": 2}, 1)
    with pytest.raises(TypeError):
        _put(store, 3, value=object())
    assert (tmp_path / "c.jsonl").read_bytes() == before and not list(tmp_path.glob("*.tmp"))


def test_frames_and_arrays_survive_the_store_exactly():
    frame = pd.DataFrame({"n": [1, 2], "x": [0.1 + 0.2, np.nan], "s": ["a", "b"], "ok": [True, False]})
    back = decode(json.loads(json.dumps(encode({"frame": frame, "array": np.arange(3.0)}))))
    pd.testing.assert_frame_equal(back["frame"], frame)
    assert back["array"].dtype == np.float64 and back["array"].tolist() == [0.0, 1.0, 2.0]


def test_a_remembered_function_computes_once_per_arguments_and_dependencies(tmp_results):
    calls, dependency = [], {"version": 1}

    @remembered("test", depends=lambda arguments: dict(dependency))
    def square(x, *, power=2):
        calls.append(x)
        return pd.DataFrame({"x": [x], "y": [x ** power]})

    assert square(3).y.item() == square(3, power=2).y.item() == 9 and calls == [3]  # defaults are part of the key
    assert square(3, power=3).y.item() == 27 and calls == [3, 3]
    dependency["version"] = 2  # e.g. the zoo model it reads was pretrained again
    square(3)
    assert calls == [3, 3, 3] and square.compute(3).y.item() == 9 and len(Store()) == 3


def test_a_call_that_cannot_be_keyed_is_computed_and_not_kept(tmp_results):
    calls = []

    @remembered("test")
    def size(thing):
        calls.append(1)
        return len(thing)

    assert size(np.zeros(4)) == size(np.zeros(4)) == 4 and len(calls) == 2 and len(Store()) == 0


def test_prune_keeps_only_what_a_build_read(tmp_path, monkeypatch):
    from tlcore.store import read_keys

    monkeypatch.setenv("TLCORE_STORE_READS", str(tmp_path / "reads"))
    monkeypatch.setattr("tlcore.store._logged", set())
    writer = Store(tmp_path / "store", chapter="a")
    keys = [_put(writer, i)["key"] for i in range(3)]
    Store(tmp_path / "store", chapter="b").put(record_key({"i": 9}), "outcome", {"i": 9}, 0)
    read = read_keys(tmp_path / "reads")
    assert read == {*keys, record_key({"i": 9})}
    monkeypatch.setenv("TLCORE_PROFILE", "real")  # a real-tier record: the embedded build never reads it
    Store(tmp_path / "store", chapter="a").put(record_key({"i": 7}), "outcome", {"i": 7}, 0)
    assert Store(tmp_path / "store").prune({keys[0]}) == 3
    assert [r["key"] for r in Store(tmp_path / "store").records()] == sorted([keys[0], record_key({"i": 7})])
    assert not (tmp_path / "store" / "b.jsonl").exists() and (tmp_path / "store" / "a@real.jsonl").exists()


def test_each_tier_has_its_own_file_beside_the_chapters(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCORE_PROFILE", "real")
    Store(tmp_path, chapter="01_x").put(record_key({"i": 1}), "outcome", {"i": 1}, 1.0)
    monkeypatch.setenv("TLCORE_PROFILE", "embedded")
    Store(tmp_path, chapter="01_x").put(record_key({"i": 2}), "outcome", {"i": 2}, 2.0)
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == ["01_x.jsonl", "01_x@real.jsonl"]
    assert file_name("01_x", "real") == "01_x@real" and file_name("01_x", "") == "01_x"
    assert file_profile("01_x@real") == ("01_x", "real") and file_profile("01_x") == ("01_x", "embedded")
    held = tier_files(tmp_path, "real")
    assert list(held) == ["01_x"] and held["01_x"]["records"] == 1 and held["01_x"]["gpus"] == ["no GPU"]
    assert tier_files(tmp_path, "smoke") == {}
    assert len(Store(tmp_path)) == 2  # one store: both tiers' records are read


def test_a_store_only_build_refuses_to_compute(tmp_path, monkeypatch):
    store = Store(tmp_path)
    assert store.computed(record_key({"i": 1}), "outcome", {"i": 1}, lambda: 1.5) == 1.5
    monkeypatch.setenv("TLCORE_STORE_ONLY", "1")
    assert store.computed(record_key({"i": 1}), "outcome", {"i": 1}, lambda: 9.0) == 1.5  # stored: read
    with pytest.raises(MissingOutcome, match=r"lacks record \w+ \(kind outcome, configuration \{\"i\": 2\}\) and \$TLCORE_STORE_ONLY forbids"):
        store.computed(record_key({"i": 2}), "outcome", {"i": 2}, lambda: 2.5)
    assert len(Store(tmp_path)) == 1


def test_the_committed_store_with_its_staging_store_stays_within_50_mb():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "store"
    files = list(folder.rglob("*.jsonl"))
    assert files, f"no committed store under {folder}"
    assert sum(path.stat().st_size for path in files) <= 50 * 2**20, "the results store is over the issue's 50 MB"
