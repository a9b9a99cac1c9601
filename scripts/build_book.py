"""Execute every chapter with papermill, then render the book with Jupyter Book v1.

    python scripts/build_book.py [--profile embedded|real|smoke|real_smoke] [--only 01 ...] [--no-html] [--jobs N]
                                 [--start-chapters-within SECONDS] [--executor local|ray [--address HOST:PORT]]

Chapters execute ``--jobs`` at a time (default: one per core, at most four), each in its own papermill process
with an equal share of the cores as torch threads: the embedded models are too small for two threads to help one
run much, so two chapters side by side finish sooner than one chapter with two threads. Chapters that read what
others store wait for them (``RUNS_AFTER``); a run or zoo model that two chapters need at once is computed once
(the run store and the zoo lock each entry while it is computed). The book's own executable pages (the world, claims
at a glance) run after every chapter, because they read the chapters' results. A chapter whose outcomes the store
also holds for the real tier gets a second page, executed from the store alone (``scripts/tier_pages.py``).
Executed copies go to ``_build/src`` (a staging copy of the book), never over the paired sources in ``notebooks/``;
each page's log goes to ``_build/logs``. Each page's wall time is printed and written to
``results/tables/book_timings.csv``. A failing page stops the build with a non-zero exit.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGING = ROOT / "_build" / "src"
LOGS = ROOT / "_build" / "logs"
# Chapter prefix -> prefixes of the chapters whose stored results it reads. Chapter 4 scores the candidates chapter 3
# fine-tunes. (Chapter 10 ranked its advice among every run the book made until its rivals were declared.)
RUNS_AFTER = {"04": ("03",)}
# The longest chapters (in the embedded tier) start first, so that the short ones fill the time around them.
START_FIRST = ("03", "05", "01")


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    return files


def executable_pages(only: list[str]) -> list[str]:
    """Chapters (notebooks/) in toc order, then the book's own executable pages, which read the chapters' results."""
    pages = [f for f in toc_files() if (ROOT / f"{f}.ipynb").exists()]
    chapters = [p for p in pages if p.startswith("notebooks/")]
    chapters = [p for p in chapters if not only or any(Path(p).name.startswith(o) for o in only)]
    return chapters + [p for p in pages if not p.startswith("notebooks/")]


def stage() -> None:
    if STAGING.exists():
        shutil.rmtree(STAGING)
    STAGING.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, STAGING / name)
    shutil.copytree(ROOT / "_static", STAGING / "_static")
    for folder in ("book", "notebooks"):
        shutil.copytree(ROOT / folder, STAGING / folder, ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))


@dataclass
class Page:
    path: str  # as in _toc.yml, without suffix
    after: set[str] = field(default_factory=set)  # pages that must finish first

    @property
    def is_chapter(self) -> bool:
        return self.path.startswith("notebooks/")


def plan(pages: list[str]) -> list[Page]:
    """``pages`` in the order they start (``START_FIRST``, then as given) with what each must wait for:
    ``RUNS_AFTER`` among chapters, and every chapter before a book page."""
    chapters = [p for p in pages if p.startswith("notebooks/")]
    prefix = {p: Path(p).name.split("_")[0] for p in chapters}
    first = sorted((p for p in chapters if prefix[p] in START_FIRST), key=lambda p: START_FIRST.index(prefix[p]))
    planned = []
    for page in first + [p for p in pages if p not in first]:
        if page.startswith("notebooks/"):
            wanted = RUNS_AFTER.get(prefix[page], ())
            after = {c for c in chapters if c != page and prefix[c] in wanted}
        else:
            after = set(chapters)
        planned.append(Page(page, after))
    return planned


def execute(pages: list[str], profile: str, *, jobs: int = 1, start_chapters_until: float | None = None,
            runner=None) -> list[str]:
    """Execute ``pages``, up to ``jobs`` at once, in order as far as ``RUNS_AFTER`` allows; returns the chapters
    skipped because ``start_chapters_until`` (a ``time.monotonic()`` value) had passed before they could start.
    The book's own pages always run. ``runner(page, profile, threads)`` returns a started ``Popen``-like process
    (tests pass a fake)."""
    import pandas as pd

    runner = runner or papermill_process
    threads = max(1, (os.cpu_count() or 1) // jobs)
    tables = Path(os.environ["TLCORE_RESULTS"]) / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    waiting, running, done, skipped, timings = plan(pages), {}, set(), [], []
    while waiting or running:
        while len(running) < jobs and (ready := [p for p in waiting if p.after <= done]):
            page = ready[0]
            waiting.remove(page)
            if page.is_chapter and start_chapters_until is not None and time.monotonic() > start_chapters_until:
                print(f"[book] SKIPPED {page.path}: the time allowed for starting chapters has run out", flush=True)
                skipped.append(page.path)
                done.add(page.path)  # what waits for it runs on whatever results exist
                continue
            print(f"[book] executing {page.path} ({profile}, {threads} thread(s)) ...", flush=True)
            running[page.path] = (runner(page.path, profile if page.is_chapter else None, threads), time.perf_counter())
        if waiting and not running:
            raise RuntimeError(f"pages wait on each other: {[p.path for p in waiting]}")
        time.sleep(0.2)
        for path, (process, start) in list(running.items()):
            if process.poll() is None:
                continue
            del running[path]
            seconds = time.perf_counter() - start
            if process.returncode != 0:
                for other, _ in running.values():
                    other.terminate()
                log = LOGS / f"{Path(path).name}.log"
                tail = log.read_text()[-6000:] if log.exists() else ""
                raise SystemExit(f"[book] {path} failed (exit {process.returncode}); its log {log} ends:\n{tail}")
            done.add(path)
            timings.append({"page": path, "profile": profile, "threads": threads, "jobs": jobs,
                            "seconds": round(seconds, 1)})
            print(f"[book] {path}: {seconds:.1f} s", flush=True)
            pd.DataFrame(timings).to_csv(tables / "book_timings.csv", index=False)  # pages after this one show it
    print(f"[book] all pages: {sum(t['seconds'] for t in timings):.1f} s of work", flush=True)
    return skipped


def hide_injected_parameters(notebook: Path) -> None:
    """Tag papermill's injected parameters cell ``remove-cell``: the page shows the chapter's own parameters cell and
    the parameters table the chapter prints, not a second cell of assignments."""
    import nbformat

    if not notebook.exists():
        return
    executed = nbformat.read(notebook, as_version=4)
    injected = [cell for cell in executed.cells if "injected-parameters" in cell.metadata.get("tags", [])]
    for cell in injected:
        cell.metadata["tags"] = [*cell.metadata["tags"], "remove-cell"]
    if injected:
        nbformat.write(executed, notebook)


def papermill_process(page: str, profile: str | None, threads: int, *, output: str | None = None,
                      env: dict | None = None) -> subprocess.Popen:
    """Start papermill on ``page`` (``profile`` None: no parameters) with ``threads`` torch threads, into the staged
    page ``output`` (default ``page``) with variables ``env`` added; its output goes to ``_build/logs/<output>.log``."""
    output = output or page
    source, target = ROOT / f"{page}.ipynb", STAGING / f"{output}.ipynb"
    command = [sys.executable, "-m", "papermill", str(source), str(target), "--cwd", str(target.parent),
               "-k", "python3", "--no-progress-bar", "--no-request-save-on-cell-execute"]
    if profile is not None:
        command += ["-p", "profile", profile]
    # Records a chapter computes go to its own file of the results store, with the profile in their provenance.
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "TLCORE_CHAPTER": Path(page).name, "TLCORE_PROFILE": profile or "", **(env or {})}
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / f"{Path(output).name}.log", "w") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def render() -> None:
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(STAGING), "--path-output", str(ROOT)],
                   check=True)
    print(f"[book] HTML rendered in {time.perf_counter() - start:.1f} s: {ROOT / '_build' / 'html' / 'index.html'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="embedded", choices=["embedded", "real", "smoke", "real_smoke"])
    parser.add_argument("--only", nargs="*", default=[], help="chapter number prefixes to execute (default: all)")
    parser.add_argument("--no-html", action="store_true", help="execute the chapters but do not render")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                        help="chapters executed at once (default: one per core, at most 4)")
    parser.add_argument("--start-chapters-within", type=float, default=None, metavar="SECONDS",
                        help="start no chapter later than this many seconds after launch (CI's time limit); skipped "
                             "chapters are listed and the book is still rendered; exit status 3 if any was skipped")
    parser.add_argument("--prune-store", action="store_true",
                        help="after executing every page, remove the records of the results store no page read "
                             "(outcomes of an older budget or recipe)")
    parser.add_argument("--executor", choices=["local", "ray"], default="local",
                        help="where chapters compute the runs the store lacks: here (default) or as Ray tasks")
    parser.add_argument("--address", default=None, metavar="HOST:PORT",
                        help="the Ray cluster (with --executor ray; default: a local instance for this build)")
    parser.add_argument("--no-tiers", action="store_true",
                        help="do not add the pages of other tiers (the real tier's) that the results store holds")
    args = parser.parse_args(argv)
    if args.address and args.executor != "ray":
        parser.error("--address names a Ray cluster: use it with --executor ray")
    if args.prune_store and args.only:
        parser.error("--prune-store needs every page executed (not --only)")
    os.environ.setdefault("TLCORE_RESULTS", str(ROOT / "results"))
    os.environ.setdefault("TLCORE_CACHE", str(ROOT / ".cache" / "tlcore"))
    if args.profile.endswith("smoke"):  # toy outcomes stay out of the committed results store
        os.environ.setdefault("TLCORE_STORE", str(Path(os.environ["TLCORE_RESULTS"]) / f"store-{args.profile}"))
    if args.profile != "real":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    until = time.monotonic() + args.start_chapters_within if args.start_chapters_within is not None else None
    from tlcore.runs.executors import use_executor

    address = use_executor(args.executor, args.address)
    if address:
        print(f"[book] the runs the store lacks go to the Ray cluster at {address}", flush=True)
    stage()
    pages = executable_pages(args.only)
    reads = Path(os.environ["TLCORE_RESULTS"]) / "store-reads"
    if args.prune_store:
        shutil.rmtree(reads, ignore_errors=True)
        os.environ["TLCORE_STORE_READS"] = str(reads)
    skipped = execute(pages, args.profile, jobs=args.jobs, start_chapters_until=until)
    if args.prune_store and not skipped:
        from tlcore.store import Store, read_keys

        print(f"[book] pruned {Store().prune(read_keys(reads), profile=args.profile)} records no page read", flush=True)
    if args.profile == "embedded" and not args.no_tiers:  # other tiers' pages, where the store holds their outcomes
        from tier_pages import TIERS, tier_pages

        from tlcore.store import store_dir

        for tier in TIERS:
            pages += tier_pages([p for p in pages if p.startswith("notebooks/")], tier, store=store_dir(),
                                results=Path(os.environ["TLCORE_RESULTS"]))
    for page in pages:
        hide_injected_parameters(STAGING / f"{page}.ipynb")
    if not args.no_html:
        render()
    if skipped:
        print(f"[book] {len(skipped)} chapter(s) not executed for lack of time: {', '.join(skipped)}", flush=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
