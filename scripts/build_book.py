"""Execute every chapter with papermill, then render the book with Jupyter Book v1.

    python scripts/build_book.py [--profile embedded|real|smoke] [--only 01 ...] [--no-html]
                                 [--start-chapters-within SECONDS]

Chapters run in the order of ``_toc.yml``; the book's executable pages (the world, claims at a glance) run after
them because they read the chapters' results.
Executed copies go to ``_build/src`` (a staging copy of the book), never over the paired sources in ``notebooks/``.
Each chapter's wall time is printed and written to ``results/tables/book_timings.csv``. A failing chapter stops the
build with a non-zero exit.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGING = ROOT / "_build" / "src"


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
    for folder in ("book", "notebooks"):
        shutil.copytree(ROOT / folder, STAGING / folder, ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))


def execute(pages: list[str], profile: str, start_chapters_until: float | None = None) -> list[str]:
    """Execute ``pages`` in order; returns the chapters skipped because ``start_chapters_until`` (a
    ``time.monotonic()`` value) had passed before they could start. The book's own pages always run."""
    import pandas as pd
    import papermill

    timings, skipped = [], []
    tables = Path(os.environ["TLCORE_RESULTS"]) / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    for page in pages:
        if page.startswith("notebooks/") and start_chapters_until is not None and time.monotonic() > start_chapters_until:
            print(f"[book] SKIPPED {page}: the time allowed for starting chapters has run out", flush=True)
            skipped.append(page)
            continue
        source, target = ROOT / f"{page}.ipynb", STAGING / f"{page}.ipynb"
        parameters = {"profile": profile} if page.startswith("notebooks/") else {}
        print(f"[book] executing {page} ({profile}) ...", flush=True)
        start = time.perf_counter()
        papermill.execute_notebook(str(source), str(target), parameters=parameters, cwd=str(target.parent),
                                   kernel_name="python3", progress_bar=False, request_save_on_cell_execute=False)
        seconds = time.perf_counter() - start
        timings.append({"page": page, "profile": profile, "seconds": round(seconds, 1)})
        print(f"[book] {page}: {seconds:.1f} s", flush=True)
        pd.DataFrame(timings).to_csv(tables / "book_timings.csv", index=False)  # pages after this one show it
    print(f"[book] all chapters: {sum(t['seconds'] for t in timings):.1f} s", flush=True)
    return skipped


def render() -> None:
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(STAGING), "--path-output", str(ROOT)],
                   check=True)
    print(f"[book] HTML rendered in {time.perf_counter() - start:.1f} s: {ROOT / '_build' / 'html' / 'index.html'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="embedded", choices=["embedded", "real", "smoke"])
    parser.add_argument("--only", nargs="*", default=[], help="chapter number prefixes to execute (default: all)")
    parser.add_argument("--no-html", action="store_true", help="execute the chapters but do not render")
    parser.add_argument("--start-chapters-within", type=float, default=None, metavar="SECONDS",
                        help="start no chapter later than this many seconds after launch (CI's time limit); skipped "
                             "chapters are listed and the book is still rendered; exit status 3 if any was skipped")
    args = parser.parse_args(argv)
    os.environ.setdefault("TLCORE_RESULTS", str(ROOT / "results"))
    os.environ.setdefault("TLCORE_CACHE", str(ROOT / ".cache" / "tlcore"))
    if args.profile != "real":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    until = time.monotonic() + args.start_chapters_within if args.start_chapters_within is not None else None
    stage()
    skipped = execute(executable_pages(args.only), args.profile, until)
    if not args.no_html:
        render()
    if skipped:
        print(f"[book] {len(skipped)} chapter(s) not executed for lack of time: {', '.join(skipped)}", flush=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
