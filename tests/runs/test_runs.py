
import pandas as pd
import pytest
from factories import damage_record

import tlcore
from tlcore import models
from tlcore.finetune import Protocol
from tlcore.results import load_table, save_table
from tlcore.runs import transfer as experiment
from tlcore.results.selection import select_on_validation
from tlcore.runs.store import RunStore
from tlcore.runs.transfer import TransferRun, run, run_many

QUICK = Protocol(lr=0.05, steps=6, batch_size=16, eval_every=3)


def test_identical_runs_are_computed_once(tmp_results, monkeypatch):
    spec = TransferRun("glyphs_near", 2, pretrained=False, arch="glyph_micro", protocol=QUICK, seed=0)
    store = RunStore()
    first = run(spec, store=store)
    assert len(store) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("an identical run must come from the store")

    monkeypatch.setattr(experiment, "fit", no_training)
    assert run(spec, store=store).history == first.history
    with pytest.raises(AssertionError):
        run(TransferRun("glyphs_near", 2, pretrained=False, arch="glyph_micro", protocol=QUICK, seed=1), store=store)


def test_a_run_another_process_is_computing_is_waited_for_not_computed_twice(tmp_results, monkeypatch):
    import threading

    spec = TransferRun("glyphs_near", 2, pretrained=False, arch="glyph_micro", protocol=QUICK, seed=0)
    store = RunStore()
    elsewhere = run(spec, store=RunStore(store.root.parent / "elsewhere"))
    assert len(store) == 0  # an empty store given to run() is the one it uses

    def no_training(*args, **kwargs):
        raise AssertionError("a run computed by the lock's holder must not be trained again")

    monkeypatch.setattr(experiment, "fit", no_training)
    results = []
    with store.lock(spec.key()):  # stands for a second chapter that is training this run
        waiting = threading.Thread(target=lambda: results.append(run(spec, store=store)))
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive() and not results  # it waits for the holder ...
        store.put(spec.key(), elsewhere)
    waiting.join(timeout=10)
    assert results and results[0].history == elsewhere.history  # ... then reads the holder's result


def test_run_keys_change_with_every_field():
    base = TransferRun("glyphs_near", 2, pretrained=False, arch="glyph_micro", protocol=QUICK, seed=0)
    variants = [TransferRun("glyphs_mid", 2, False, "glyph_micro", QUICK, 0),
                TransferRun("glyphs_near", 3, False, "glyph_micro", QUICK, 0),
                TransferRun("glyphs_near", 2, False, "glyph_micro", QUICK.with_(lr=0.1), 0),
                TransferRun("glyphs_near", 2, False, "glyph_micro", QUICK, 1)]
    assert len({base.key(), *(v.key() for v in variants)}) == 5


def test_a_pretraining_seed_changes_the_key_only_when_it_is_not_zero():
    base = TransferRun("glyphs_near", 2, True, "glyph_micro", QUICK, 1)
    assert "pretrain_seed" not in base.config()  # runs from before there were pretraining seeds keep their keys
    assert TransferRun("glyphs_near", 2, True, "glyph_micro", QUICK, 1, pretrain_seed=0).key() == base.key()
    seeded = TransferRun("glyphs_near", 2, True, "glyph_micro", QUICK, 1, pretrain_seed=1)
    assert seeded.key() != base.key()
    assert seeded.config()["source_key"] == models.seeded("glyph_micro", 1).key()
    assert TransferRun.from_config(seeded.config()) == seeded  # verify can rebuild it
    with pytest.raises(ValueError, match="needs a pretrained zoo model"):
        TransferRun("glyphs_near", 2, False, "glyph_micro", QUICK, 1, pretrain_seed=1)
    with pytest.raises(ValueError, match="not supported with regularizer"):
        TransferRun("glyphs_near", 2, True, "glyph_micro", QUICK, 1, regularizer="delta", pretrain_seed=1)


def test_a_damaged_record_is_recomputed_not_trusted(tmp_results):
    spec = TransferRun("glyphs_near", 2, pretrained=False, arch="glyph_micro", protocol=QUICK, seed=0)
    store = RunStore()
    first = run(spec, store=store)
    damaged = damage_record(store.root, spec.key())
    fresh = RunStore()  # another process reading the damaged file
    assert fresh.get(spec.key()) is None
    assert any("line 1: unreadable record" in problem for problem in fresh.store.problems())
    assert run(spec, store=fresh).test_accuracy == first.test_accuracy  # computed again, not trusted
    assert "{not json" not in damaged.read_text() and RunStore().store.problems() == []


def test_run_many_gives_tidy_rows_and_curves(tmp_results):
    specs = [TransferRun("glyphs_near", 2, pretrained=False, arch="glyph_micro", protocol=QUICK, seed=s)
             for s in (0, 1)]
    rows = run_many(specs, progress=False)
    curves = run_many(specs, progress=False, curves=True)
    assert list(rows.seed) == [0, 1] and {"test_accuracy", "val_accuracy", "init", "protocol_lr"} <= set(rows)
    assert len(curves) == 4 and list(curves.step) == [3, 6, 3, 6]


def test_selection_uses_validation_and_refuses_test():
    frame = pd.DataFrame({"target": ["a"] * 4, "lr": [0.1, 0.1, 0.3, 0.3], "val_accuracy": [0.5, 0.7, 0.9, 0.1],
                          "test_accuracy": [1.0, 1.0, 0.0, 0.0]})
    best = select_on_validation(frame, by=["target"], param="lr")
    assert best.lr.tolist() == [0.1] and best.best_val_accuracy.tolist() == [0.6]
    with pytest.raises(ValueError, match="never on the test split"):
        select_on_validation(frame, by=["target"], param="lr", metric="test_accuracy")


def test_tables_round_trip_and_names_are_checked(tmp_results):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    save_table(frame, "some_table")
    pd.testing.assert_frame_equal(load_table("some_table"), frame)
    with pytest.raises(ValueError, match="table name"):
        save_table(frame, "../escape")
    with pytest.raises(FileNotFoundError, match="run the chapter"):
        load_table("never_written")


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    from tlcore.storage import atomic_path

    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_profiles_apply_overrides_and_reject_unknown_names():
    profile = tlcore.studies.profiles.get_profile("embedded", seeds=(7,), sizes=None)
    assert profile.seeds == (7,) and profile.sizes == tlcore.studies.profiles.PROFILES["embedded"].sizes
    with pytest.raises(KeyError, match="unknown profile"):
        tlcore.studies.profiles.get_profile("huge")


def test_command_line_lists_and_reports(capsys, tmp_results):
    from tlcore.cli import main

    assert main(["datasets"]) == 0 and "glyphs_near" in capsys.readouterr().out
    assert main(["claims", "--planned"]) == 0
    out = capsys.readouterr().out
    assert "T1" in out and "B1" in out and "not run" in out
    with pytest.raises(SystemExit):
        main(["frobnicate"])


def test_a_diverging_learning_rate_is_stored_as_diverged_and_never_selected(tmp_results):
    specs = [TransferRun("glyphs_near", 2, pretrained=False, arch="glyph_micro", protocol=QUICK.with_(lr=lr), seed=0)
             for lr in (0.05, 1e12)]
    rows = run_many(specs, progress=False)
    assert rows.val_accuracy.isna().tolist() == [False, True]
    assert "diverged" in run(specs[1]).config
    assert select_on_validation(rows, by=["target"], param="protocol_lr").protocol_lr.tolist() == [0.05]


def test_command_line_ranks_candidate_models(capsys, tmp_cache):
    from tlcore.cli import main

    assert main(["rank", "glyphs_near", "--models", "glyph_micro", "glyph_micro_ls", "--n-per-class", "4",
                 "--metrics", "logme", "leep"]) == 0
    out = capsys.readouterr().out
    assert "glyph_micro_ls" in out and "logme" in out and "leep" in out


def test_command_line_reports_bad_input_in_one_line_with_exit_status_2(capsys, tmp_cache, tmp_path):
    from tlcore.cli import main

    assert main(["rank", "no_such_dataset", "--models", "glyph_micro"]) == 2
    assert "unknown dataset 'no_such_dataset'" in capsys.readouterr().err
    assert main(["rank", f"folder:{tmp_path / 'missing'}", "--models", "glyph_micro"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["rank", "glyphs_near", "--models", "glyph_micro", "--metrics", "accuracy"]) == 2
    error = capsys.readouterr().err
    assert "unknown metric" in error and "Traceback" not in error


def test_regularized_runs_are_distinct_runs_and_unknown_setups_are_rejected(tmp_results):
    plain = TransferRun("glyphs_near", 2, pretrained=True, arch="glyph_micro", protocol=QUICK, seed=0)
    assert plain.regularizer_weight == 0.0 and "regularizer" not in plain.config()
    l2sp = TransferRun("glyphs_near", 2, True, "glyph_micro", QUICK, 0, "l2sp")
    stronger = TransferRun("glyphs_near", 2, True, "glyph_micro", QUICK, 0, "l2sp", 0.1)
    assert l2sp.regularizer_weight == 0.01 and len({plain.key(), l2sp.key(), stronger.key()}) == 3
    assert run(l2sp).history != run(plain).history
    with pytest.raises(ValueError, match="unknown regularizer set-up"):
        TransferRun("glyphs_near", 2, True, "glyph_micro", QUICK, 0, "dropout")
