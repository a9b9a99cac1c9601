"""What every run kind shares: one run/run_many, one place where divergence is stored, one store with a query."""
import json
import math

import numpy as np
import pytest
from factories import damage_record, one_run_of_each_kind, rekey_record

from tlcore.finetune import Protocol
from tlcore.finetune.record import RunRecord
from tlcore.runs import adaptation, continual, transfer
from tlcore.runs.adaptation import AdaptationRun
from tlcore.runs.continual import ContinualRun
from tlcore.runs.spec import RunSpec, run, run_many
from tlcore.runs.store import OutcomeStore, RunStore
from tlcore.runs.transfer import TransferRun

KINDS = {kind: (module, one_run_of_each_kind()[kind]) for kind, module in
         (("transfer", transfer), ("continual", continual), ("adaptation", adaptation))}
QUICK = KINDS["transfer"][1].protocol


def _diverged(outcome) -> str | None:
    return outcome.config.get("diverged") if isinstance(outcome, RunRecord) else outcome.get("diverged")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_diverged_run_of_every_kind_is_stored_once_and_never_trained_again(kind, tmp_results, monkeypatch):
    module, spec = KINDS[kind]
    calls = []

    def diverging_fit(*args, **kwargs):
        calls.append(1)
        raise FloatingPointError("loss became nan at step 1")

    monkeypatch.setattr(module, "fit", diverging_fit)
    store = RunStore()
    first = run(spec, store=store)
    again = run(spec, store=store)
    assert len(calls) == 1 and isinstance(spec, RunSpec)
    assert _diverged(first) == _diverged(again) == "loss became nan at step 1"
    kept = spec.store(store)
    assert len(kept) == 1 and kept.store.get(spec.key())["kind"] == type(spec).__name__  # once, under its key
    assert (kept is store) == (kind == "transfer")  # records in the run store, outcomes beside it
    row = run_many([spec], store=store, progress=False).iloc[0]
    assert math.isnan(row["val_accuracy"]) and len(calls) == 1


def test_a_diverged_continual_run_still_measures_the_source_before(tmp_results, monkeypatch):
    def diverging_fit(*args, **kwargs):
        raise FloatingPointError("loss became inf at step 2")

    spec = KINDS["continual"][1]
    monkeypatch.setattr(continual, "fit", diverging_fit)
    outcome = run(spec)
    assert list(outcome) == ["diverged", "val_accuracy", "test_accuracy", "source_accuracy_before", "source_accuracy"]
    assert 0 < outcome["source_accuracy_before"] <= 1 and np.isnan(outcome["source_accuracy"])
    frame = run_many([spec], progress=False)
    assert np.isnan(frame["forgetting"].item())


def test_an_adaptation_run_that_diverges_is_stored_as_diverged_not_raised(tmp_results):
    spec = AdaptationRun("glyphs_near", "glyphs_near_textured", 2, "dann", 2, "glyph_micro", True,
                         QUICK.with_(lr=1e12, select="last"), 0, hidden=16)
    frame = run_many([spec], progress=False)
    assert "loss became" in frame["diverged"].item()
    assert frame[["val_accuracy", "target_accuracy", "source_accuracy"]].isna().all(axis=None)
    assert {"labelled", "shifted", "method", "protocol_lr"} <= set(frame.columns)
    assert "diverged" in run(spec)  # read back from the store
    assert len(RunStore().outcomes) == 1


def test_outcome_kinds_keep_no_curves(tmp_results):
    with pytest.raises(ValueError, match="no validation curves"):
        KINDS["continual"][1].rows({"val_accuracy": 0.5}, curves=True)


def _put(store, *, seed, target="glyphs_near", lr=0.1, diverged=False):
    spec = TransferRun(target, 5, True, "glyph_micro", Protocol(lr=lr, steps=10), seed)
    # as fit stores it: the full protocol, not the key form the run was hashed from
    config = {**spec.config(), "protocol": spec.protocol.to_dict(), **({"diverged": "loss is nan"} if diverged else {})}
    store.put(spec.key(), RunRecord(config=config, val_accuracy=0.5, test_accuracy=0.4))
    return spec


def test_records_are_queried_by_configuration_and_skip_what_cannot_be_trusted(tmp_path):
    store = RunStore(tmp_path / "runs")
    wanted = [_put(store, seed=seed, diverged=seed == 1) for seed in range(3)]
    _put(store, seed=0, target="textures_far")  # another cell
    old = _put(store, seed=0, lr=0.3)
    rekey_record(store.root, old.key(), "0" * 20)  # a record of another store version: its key does not match
    damaged = damage_record(store.root, _put(store, seed=5).key())
    store = RunStore(tmp_path / "runs")
    found = list(store.records(target="glyphs_near", n_per_class=5, arch="glyph_micro"))
    assert sorted(s.key for s in found) == sorted(spec.key() for spec in wanted)
    assert [s.key for s in found] == sorted(s.key for s in found)  # key order, as the files are sorted
    by_key = {s.key: s for s in found}
    for spec in wanted:  # the configuration the key was hashed from, and the record itself
        assert by_key[spec.key()].config == spec.config()
        assert by_key[spec.key()].value.test_accuracy == 0.4
    assert "diverged" in by_key[wanted[1].key()].value.config
    assert len(list(store.records())) == 4 and len(list(store.records(seed=0))) == 2
    assert "{not json" in damaged.read_text()  # a query changes nothing
    assert len(store.store.problems()) == 2  # the damaged line and the record whose key does not match
    assert list(RunStore(tmp_path / "empty").records()) == []


def test_outcomes_live_beside_the_runs_with_the_same_interface(tmp_results):
    store = RunStore()
    assert store.outcomes.root == store.root == OutcomeStore().root  # one store, runs and outcomes by kind
    calls = []
    compute = lambda: calls.append(1) or {"accuracy": 0.5}
    config = {"kind": "test", "x": 1}
    key = store.outcomes.key(config)
    assert key == RunStore.key(config)  # one key function for both
    assert store.outcomes.computed(key, compute, config=config) == OutcomeStore().computed(key, compute, config=config) \
        == {"accuracy": 0.5}
    assert len(calls) == 1 and key in store.outcomes and len(store.outcomes) == 1 and len(store) == 0
    assert [tuple(s) for s in store.outcomes.records()] == [(key, config, {"accuracy": 0.5})]
    assert list(store.outcomes.records(kind="other")) == []
    with pytest.raises(ValueError, match="not the hash of its configuration"):
        store.outcomes.put(key, {"accuracy": 0.1}, config={"kind": "test", "x": 2})
    damage_record(store.root, key)
    assert OutcomeStore().get(key) is None
    json.dumps(OutcomeStore().computed(key, compute, config=config))
    assert len(calls) == 2
