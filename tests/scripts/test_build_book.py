"""The book builder's scheduler: chapters side by side, in an order that respects what each reads from others."""
import importlib.util
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

SPEC = importlib.util.spec_from_file_location("build_book", Path(__file__).resolve().parents[2] / "scripts" / "build_book.py")
build_book = sys.modules["build_book"] = importlib.util.module_from_spec(SPEC)  # dataclasses look it up
SPEC.loader.exec_module(build_book)

PAGES = [f"notebooks/{n:02d}_chapter" for n in range(1, 11)] + ["book/claims"]


class FakeProcess:
    """Finishes ``seconds`` after it starts, with ``returncode``; records who ran alongside it."""

    def __init__(self, log, page, seconds=0.05, returncode=0):
        self.log, self.page, self.returncode = log, page, None
        self.finish_at, self.final = time.monotonic() + seconds, returncode
        self.terminated = False
        log.append(("start", page))

    def poll(self):
        if self.returncode is None and time.monotonic() >= self.finish_at:
            self.returncode = self.final
            self.log.append(("end", self.page))
        return self.returncode

    def terminate(self):
        self.terminated = True


def fake_runner(log, failing=(), profiles=None):
    def runner(page, profile, threads):
        if profiles is not None:
            profiles[page] = profile
        return FakeProcess(log, page, returncode=1 if page in failing else 0)
    return runner


def most_at_once(log):
    running, most = 0, 0
    for event, _ in log:
        running += 1 if event == "start" else -1
        most = max(most, running)
    return most


def test_plan_starts_the_longest_chapters_first_and_waits_for_what_each_reads():
    planned = {p.path: p for p in build_book.plan(PAGES)}
    order = [p.path for p in build_book.plan(PAGES)]
    assert order[:3] == ["notebooks/03_chapter", "notebooks/05_chapter", "notebooks/01_chapter"]
    assert planned["notebooks/04_chapter"].after == {"notebooks/03_chapter"}
    assert planned["notebooks/10_chapter"].after == set()
    assert planned["book/claims"].after == set(PAGES[:10])
    assert planned["notebooks/02_chapter"].after == set()


def test_execute_runs_jobs_at_once_and_never_before_what_a_page_reads(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCORE_RESULTS", str(tmp_path))
    log, profiles = [], {}
    skipped = build_book.execute(PAGES, "smoke", jobs=2, runner=fake_runner(log, profiles=profiles))
    assert skipped == [] and most_at_once(log) == 2
    assert log.index(("start", "notebooks/04_chapter")) > log.index(("end", "notebooks/03_chapter"))
    ends_before_claims = [page for event, page in log[:log.index(("start", "book/claims"))] if event == "end"]
    assert set(ends_before_claims) == set(PAGES[:10])  # a book page reads every chapter's results
    assert log[-2:] == [("start", "book/claims"), ("end", "book/claims")]
    assert profiles["notebooks/01_chapter"] == "smoke" and profiles["book/claims"] is None  # book pages: no parameters
    timings = pd.read_csv(tmp_path / "tables" / "book_timings.csv")
    assert sorted(timings["page"]) == sorted(PAGES) and (timings["jobs"] == 2).all()


def test_a_failing_chapter_stops_the_build_and_names_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCORE_RESULTS", str(tmp_path))
    with pytest.raises(SystemExit, match="05_chapter failed"):
        build_book.execute(PAGES, "smoke", jobs=2, runner=fake_runner([], failing={"notebooks/05_chapter"}))


def test_chapters_after_the_window_are_skipped_but_the_book_pages_still_run(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCORE_RESULTS", str(tmp_path))
    log = []
    skipped = build_book.execute(PAGES, "smoke", jobs=2, start_chapters_until=time.monotonic() - 1,
                                 runner=fake_runner(log))
    assert sorted(skipped) == sorted(PAGES[:10])
    assert log == [("start", "book/claims"), ("end", "book/claims")]


def test_papermills_injected_parameters_cell_is_hidden_and_the_chapters_own_stays(tmp_path):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell('profile = "embedded"', metadata={"tags": ["parameters"]}),
                      nbformat.v4.new_code_cell('profile = "smoke"', metadata={"tags": ["injected-parameters"]}),
                      nbformat.v4.new_code_cell("setup")]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(notebook, path)
    build_book.hide_injected_parameters(path)
    tags = [cell.metadata.get("tags", []) for cell in nbformat.read(path, as_version=4).cells]
    assert tags == [["parameters"], ["injected-parameters", "remove-cell"], []]
    build_book.hide_injected_parameters(tmp_path / "not_executed.ipynb")  # a page that was skipped: nothing to do


def test_the_staged_book_carries_its_stylesheet(tmp_path, monkeypatch):
    monkeypatch.setattr(build_book, "STAGING", tmp_path / "src")
    build_book.stage()
    assert (tmp_path / "src" / "_static" / "chapters.css").exists()
    assert (tmp_path / "src" / "notebooks" / "01_does_transfer_help.ipynb").exists()

