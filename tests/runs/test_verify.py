"""The results store is re-verified, not trusted: recomputed records match, and a planted difference is named."""
import json

import pytest
from factories import damage_record

from tlcore.analysis.probes import probe_similarity
from tlcore.cli import main
from tlcore.finetune import Protocol
from tlcore.models import source_provenance
from tlcore.runs import verify
from tlcore.runs.transfer import TransferRun, run
from tlcore.store import Store

QUICK = Protocol(lr=0.05, steps=4, batch_size=16, eval_every=2)


@pytest.fixture
def small_store(tmp_results, tmp_cache):
    """A store with one record of each kind a chapter writes: a zoo model, a fine-tuning run, a remembered call."""
    source_provenance("glyph_micro")
    run(TransferRun("glyphs_near", 2, True, "glyph_micro", QUICK, 0))
    probe_similarity("glyph_micro", ["glyphs_near"], n_per_class=2, seeds=[0])
    store = Store()
    assert sorted(r["kind"] for r in store.records()) == ["TransferRun", "probes", "zoo"]
    return store


def test_every_kind_of_record_is_recomputed_from_nothing_bit_for_bit(small_store):
    seed, results = verify.verify(small_store, 10, progress=False)
    assert len(results) == 3 and isinstance(seed, int)
    assert [found for _, found in results] == [[], [], []]


def test_records_of_a_seeded_pretraining_are_recomputed_from_that_pretraining(tmp_results, tmp_cache):
    source_provenance("glyph_micro", 1)
    run(TransferRun("glyphs_near", 2, True, "glyph_micro", QUICK, 1, pretrain_seed=1))
    store = Store()
    zoo = next(store.records("zoo"))
    assert zoo["config"]["entry"]["seed"] == 1
    seed, results = verify.verify(store, 10, progress=False)
    assert len(results) == 2 and [found for _, found in results] == [[], []]


def test_a_planted_difference_is_named_and_fails_the_command(small_store, capsys):
    record = next(small_store.records("TransferRun"))
    planted = {**record, "value": {**record["value"], "test_accuracy": record["value"]["test_accuracy"] + 0.01}}
    planted.pop("file")
    damage_record(small_store.root, record["key"], replacement=json.dumps(planted))
    assert main(["verify", "--sample", "3", "--store", str(small_store.root)]) == 1
    out, err = capsys.readouterr()
    assert f"DIFFERS {record['file']}.jsonl {record['key']} (TransferRun)" in out
    assert f"{record['key']} (TransferRun).test_accuracy: stored" in err
    assert "1 differ" in out


def test_an_unreadable_or_wrongly_keyed_record_fails_without_recomputing(small_store, capsys):
    assert main(["verify", "--store", str(small_store.root)]) == 0
    record = next(small_store.records("zoo"))
    damage_record(small_store.root, record["key"], replacement=json.dumps({**record, "key": "0" * 20}))
    damage_record(small_store.root, next(small_store.records("probes"))["key"])
    assert main(["verify", "--store", str(small_store.root)]) == 1
    err = capsys.readouterr().err
    assert "does not match its configuration" in err and "unreadable record" in err


def test_stale_records_are_listed(small_store):
    assert verify.stale(small_store) == []
    call = next(small_store.records("probes"))
    moved = {**call, "config": {**call["config"], "function": "tlcore.analysis.probes:gone"}}
    old = {**next(small_store.records("TransferRun"))}
    old["provenance"] = {**old["provenance"], "store_version": 1}
    for record in (moved, old):
        record.pop("file")
        damage_record(small_store.root, record["key"], replacement=json.dumps(record))
    found = verify.stale(Store(small_store.root))
    assert len(found) == 2
    assert any("store version 1" in line for line in found) and any("no longer exists" in line for line in found)


def test_differences_ignore_timings_and_allow_nan():
    assert verify.differences({"a": [1, float("nan")], "seconds": 3}, {"a": [1, float("nan")], "seconds": 4}) == []
    assert verify.differences({"a": 1.0}, {"a": 1.5}, tolerance=0.1) == [".a: stored 1.0, recomputed 1.5"]
    assert verify.differences({"a": 1}, {"b": 1}) == [".a: only in the stored record", ".b: only in the recomputed record"]


def test_the_sample_is_spread_over_chapter_files(tmp_path):
    store = Store(tmp_path)
    for chapter, n in (("one", 5), ("two", 1), ("three", 1)):
        writer = Store(tmp_path, chapter=chapter)
        for i in range(n):
            config = {"chapter": chapter, "i": i}
            from tlcore.store import record_key

            writer.put(record_key(config), "outcome", config, i)
    import random

    drawn = verify.sample(store, 3, random.Random(0))
    assert sorted(r["file"] for r in drawn) == ["one", "three", "two"]
    assert len(verify.sample(store, 100, random.Random(0))) == 7
    with pytest.raises(ValueError, match="--sample"):
        import argparse

        from tlcore.cli import _verify

        _verify(argparse.Namespace(sample=-1, store=str(tmp_path), stale=False, seed=None))


def test_records_are_recomputed_with_one_torch_thread_as_the_store_computed_them():
    import torch

    from tlcore.runs.verify import from_nothing

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with from_nothing():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_only_records_of_this_machine_kind_are_drawn_and_the_others_are_counted(small_store, capsys):
    here = verify.this_machine_kind()
    records = {r["kind"]: r for r in small_store.records()}
    assert {verify.machine_kind(r) for r in records.values()} == {here}  # new records name the kind they ran on
    for kind, provenance in (("probes", {"cpu_capability": "OTHER"}), ("TransferRun", {})):
        record = {k: v for k, v in records[kind].items() if k != "file"}
        record["provenance"] = {**{k: v for k, v in record["provenance"].items() if k != "cpu_capability"},
                                **provenance}
        damage_record(small_store.root, record["key"], replacement=json.dumps(record))
    store = Store(small_store.root)
    assert verify.machine_kinds(store) == {here: 1, "OTHER": 1, verify.UNRECORDED: 1}
    import random

    assert [r["kind"] for r in verify.sample(store, 10, random.Random(0), kind=here)] == ["zoo"]
    assert [r["kind"] for r in verify.sample(store, 10, random.Random(0), kind="OTHER")] == ["probes"]
    assert len(verify.sample(store, 10, random.Random(0))) == 3
    assert main(["verify", "--sample", "5", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert f"1 records were computed on this machine kind ({here})" in out
    assert f"the others (1 OTHER, 1 {verify.UNRECORDED}) were not drawn" in out
    assert "recomputed 1 records from nothing" in out
    assert f"WARNING: 5 records asked for, only 1 drawn: the store holds no more from this machine kind ({here})" in out


def test_a_record_computed_on_a_gpu_is_of_that_gpus_kind_never_a_cpus():
    assert verify.machine_kind({"provenance": {"gpu": "NVIDIA H200", "cpu_capability": "AVX512"}}) == "NVIDIA H200"
    assert verify.machine_kind({"provenance": {"gpu": "", "cpu_capability": "AVX2"}}) == "AVX2"
    assert verify.machine_kind({"provenance": {}}) == verify.UNRECORDED
    import torch

    assert verify.this_machine_kind() == (torch.cuda.get_device_name(0) if torch.cuda.is_available()
                                          else torch.backends.cpu.get_cpu_capability())
