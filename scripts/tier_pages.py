"""Real-tier pages: each chapter whose outcomes the results store also holds for another tier is executed a second
time, under that profile and from the store alone, as a page of its own beside the embedded one.

A GPU owner computes a chapter in the real tier (``make results PROFILE=real``, or ``make book PROFILE=real``) and
commits ``store/<chapter>@real.jsonl`` (:func:`tlcore.store.file_name`). From then on every build (CI's included:
no GPU, no dataset, no download) executes that chapter with ``profile=real`` and ``$TLCORE_STORE_ONLY`` set, so an
outcome the store lacks is an error, never a computation: the page's numbers, figures and verdicts are those the
GPU's records give, through the chapter's own code. The page is labelled (what tier, how many records, which GPU,
when) and listed under its chapter in the table of contents; the embedded page links to it. A tier whose records do
not cover the whole chapter is not shown, and the build says which outcome is missing. The tier's result tables go
to their own folder, so the claims page keeps reading the embedded tier's.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import nbformat
import yaml

from build_book import LOGS, STAGING, papermill_process

TIERS = {"real": "the real tier: timm ImageNet backbones fine-tuned on torchvision datasets"}


def tier_pages(chapters: list[str], profile: str, *, store: Path, results: Path, runner=None) -> list[str]:
    """Execute, under ``profile``, every page of ``chapters`` whose records of that tier ``store`` holds; returns
    the pages made (``notebooks/<chapter>_<profile>``, staged), already labelled, linked and in the staged TOC.
    ``runner`` starts a page as :func:`build_book.papermill_process` does (tests pass their own)."""
    from tlcore.store import READS_ENV, STORE_ONLY_ENV, Store, origin, read_keys, tier_files

    runner = runner or papermill_process
    held = tier_files(store, profile)
    made: dict[str, str] = {}
    for page in chapters:
        if Path(page).name not in held:
            continue
        output = f"{page}_{profile}"
        reads = results / f"tier-{profile}" / "reads" / Path(page).name  # the records the page reads: its label
        shutil.rmtree(reads, ignore_errors=True)
        env = {STORE_ONLY_ENV: "1", "TLCORE_STORE": str(store), "TLCORE_RESULTS": str(results / f"tier-{profile}"),
               "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), READS_ENV: str(reads)}
        start = time.perf_counter()
        process = runner(page, profile, 1, output=output, env=env)
        process.wait()
        if process.returncode != 0:
            (STAGING / f"{output}.ipynb").unlink(missing_ok=True)
            print(f"[book] {page} in the {profile} tier: not shown ({_last_error(output)})", flush=True)
            continue
        stored = Store(store)
        read = origin([record for key in sorted(read_keys(reads)) if (record := stored.get(key)) is not None])
        print(f"[book] {page} in the {profile} tier, from {read['records']} stored records: "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        label(STAGING / f"{output}.ipynb", profile, read)
        link(STAGING / f"{page}.ipynb", Path(output).name, profile)
        made[page] = output
    add_to_toc(STAGING / "_toc.yml", made)
    return list(made.values())


def _last_error(output: str) -> str:
    """The error a failed tier page ended with (the last line of its log naming one)."""
    log = LOGS / f"{Path(output).name}.log"
    lines = log.read_text().splitlines() if log.exists() else []
    errors = [line.strip() for line in lines if "Error" in line or "MissingOutcome" in line]
    return errors[-1][:400] if errors else f"see {log}"


def _after_title(notebook: Path, text: str, *, title_suffix: str = "") -> None:
    """Put ``text`` right under the page's title (the first Markdown cell's ``# `` line), and add ``title_suffix``
    to the title."""
    page = nbformat.read(notebook, as_version=4)
    cell = next(cell for cell in page.cells if cell.cell_type == "markdown")
    lines = cell.source.splitlines()
    title = next((i for i, line in enumerate(lines) if line.startswith("# ")), -1)
    if title >= 0 and title_suffix:
        lines[title] += title_suffix
    cell.source = "\n".join([*lines[:title + 1], "", text, "", *lines[title + 1:]])
    nbformat.write(page, notebook)


def label(notebook: Path, profile: str, read: dict) -> None:
    """Say on the tier's page, and in its title, what it is and where its numbers come from (``read``: the origin
    of the records it read)."""
    when = read["first"] if read["first"] == read["last"] else f"{read['first']} to {read['last']}"
    _after_title(notebook, f":::{{important}}\nThis is the chapter in {TIERS.get(profile, profile)}. Every number on "
                           f"it comes from the {read['records']} records of the results store it reads, computed in "
                           f"that tier ({', '.join(read['gpus'])}; {when}); nothing was trained to build it.\n:::",
                 title_suffix=f" ({profile} tier)")


def link(notebook: Path, tier_page: str, profile: str) -> None:
    """Point the embedded page at its tier page."""
    _after_title(notebook, f":::{{note}}\nThis chapter has also run in {TIERS.get(profile, profile)}: "
                           f"{{doc}}`its results and verdicts <{tier_page}>`.\n:::")


def add_to_toc(toc_path: Path, pages: dict[str, str]) -> None:
    """List each tier page (``pages``: chapter page -> its tier page) under its chapter in the staged table of
    contents."""
    if not pages:
        return
    toc = yaml.safe_load(toc_path.read_text())
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            if chapter["file"] in pages:
                chapter.setdefault("sections", []).append({"file": pages[chapter["file"]]})
    toc_path.write_text(yaml.safe_dump(toc, sort_keys=False))
