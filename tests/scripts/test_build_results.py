"""``make results``' stretch log: a recompute spread over several stretches of work adds up their wall times."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))  # build_results imports build_book from beside it
SPEC = importlib.util.spec_from_file_location("build_results", SCRIPTS / "build_results.py")
build_results = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(build_results)


def test_a_stretch_is_updated_in_place_and_later_stretches_are_added(tmp_path):
    build_results.record_stretch(tmp_path, "2026-12-04T10:00:00Z", 15.0, jobs=2)
    build_results.record_stretch(tmp_path, "2026-12-04T10:00:00Z", 3600.04, jobs=2)  # the same stretch, later
    stretches = build_results.record_stretch(tmp_path, "2026-12-05T09:00:00Z", 60.0, jobs=1)
    assert [(s["started"], s["seconds"], s["jobs"]) for s in stretches] == [
        ("2026-12-04T10:00:00Z", 3600.0, 2), ("2026-12-05T09:00:00Z", 60.0, 1)]
    assert json.loads((tmp_path / build_results.STRETCHES).read_text()) == stretches
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically: nothing half-written left beside it


def test_a_log_that_is_not_a_list_of_stretches_is_refused_and_left_alone(tmp_path):
    path = tmp_path / build_results.STRETCHES
    path.write_text('{"started": "x"}')
    with pytest.raises(ValueError, match="not a list of stretches"):
        build_results.record_stretch(tmp_path, "2026-12-04T10:00:00Z", 1.0)
    assert path.read_text() == '{"started": "x"}'


def test_the_staging_store_is_committed_beside_the_store_and_never_read_as_part_of_it(tmp_path):
    from tlcore.store import Store, record_key

    assert build_results.REBUILD.parent == build_results.STORE  # inside the repository, so it can be committed
    config = {"what": "a staged outcome"}
    Store(tmp_path / "store" / build_results.REBUILD.name, chapter="01_x").put(record_key(config), "probes", config, 1)
    assert len(Store(tmp_path / "store" / build_results.REBUILD.name)) == 1
    assert len(Store(tmp_path / "store")) == 0  # the book's store reads its own folder's files only


def _record(key: str, seconds: float, date: str) -> dict:
    return {"key": key, "provenance": {"seconds": seconds, "date": date}}


def test_the_pace_compares_this_stretchs_records_with_their_stored_seconds():
    committed = {f"k{i}": 10.0 for i in range(12)}
    recomputed = [_record(f"k{i}", 16.0, "2026-12-04T22:00:00Z") for i in range(10)]
    recomputed += [_record("k10", 100.0, "2026-12-04T20:00:00Z"),  # an earlier stretch's, under another load
                   _record("new", 100.0, "2026-12-04T22:00:00Z")]  # a record the committed store lacks
    assert build_results.stretch_pace(committed, recomputed, "2026-12-04T21:53:36Z") == pytest.approx(1.6)


def test_the_pace_is_not_guessed_from_too_few_records():
    committed = {f"k{i}": 10.0 for i in range(12)}
    recomputed = [_record(f"k{i}", 16.0, "2026-12-04T22:00:00Z") for i in range(9)]
    assert build_results.stretch_pace(committed, recomputed, "2026-12-04T21:53:36Z") is None
    assert build_results.stretch_pace(committed, recomputed, "2026-12-04T21:53:36Z", minimum=9) == pytest.approx(1.6)


def test_each_chapter_has_its_own_pace_and_a_chapter_with_too_few_records_takes_the_slowest():
    expected = {"05_a": {f"a{i}": 100.0 for i in range(10)},  # stored before a speed-up: now a fifth as long
                "06_b": {f"b{i}": 10.0 for i in range(20)},   # now 1.8 times as long
                "07_c": {"c0": 10.0}}                          # too few recomputed to measure
    when = "2026-12-05T02:00:00Z"
    recomputed = ([_record(f"a{i}", 20.0, when) for i in range(10)] + [_record(f"b{i}", 18.0, when) for i in range(10)]
                  + [_record("c0", 30.0, when)])
    paces = build_results.chapter_paces(expected, recomputed, "2026-12-05T01:05:00Z")
    assert paces["05_a"] == pytest.approx(0.2) and paces["06_b"] == pytest.approx(1.8)
    assert paces["07_c"] == pytest.approx(1.8)  # not its own 3.0 from one record, nor the stretch's 0.37
    assert build_results.chapter_paces(expected, recomputed[:5], "2026-12-05T01:05:00Z") == {
        "05_a": None, "06_b": None, "07_c": None}
