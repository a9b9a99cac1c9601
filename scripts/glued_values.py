"""Record every value the book's pages glue under one profile, or compare them with a recording.

    python scripts/glued_values.py record FILE [--profile smoke] [--only 01 ...]   (--only: re-record those chapters)
    python scripts/glued_values.py compare FILE [--profile smoke] [--only 01 ...]
    python scripts/glued_values.py diff OLD_DIR NEW_DIR [--names _verdict _primary]

Each page is executed by papermill into a temporary folder against a fresh, empty results folder (so nothing is read
from an earlier build), chapters before the book's own pages, one torch thread, one page at a time. A glued value is
recorded as its text representation. ``compare`` exits non-zero and names every value that differs, is missing or is
new: the check that a refactoring changed no number on any page.

``diff`` executes nothing: it compares the glued values of two builds' executed pages (``_build/src/notebooks`` of a
build against the committed store and of one against a recomputed store, say), page by page for the pages both hold,
optionally only the names ending in ``--names``: what a recomputation did to the verdicts.

The file names the machine kind it was recorded on (``"_machine": {"cpu_capability": ...}``, torch's CPU capability):
the kernels torch picks for AVX2 and AVX-512 round differently, and chapters that pretrain zoo models print other
values on another kind. ``--only`` refuses to mix kinds in one file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from build_book import executable_pages  # noqa: E402

from tlcore.store import cpu_capability  # noqa: E402


MACHINE = "_machine"


def glued(notebook) -> dict[str, str]:
    """``{name: text}`` of every value a notebook glued, in cell order (a name glued twice keeps the last)."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook", {})
            if "name" in scrapbook:
                data = output.get("data", {})
                prefix = scrapbook.get("mime_prefix", "")
                values[scrapbook["name"]] = (data.get(f"{prefix}text/markdown")  # glued Markdown: its text
                                             or data.get(f"{prefix}text/plain", data.get("text/plain", "")))
    return values


def record(profile: str, only: list[str]) -> dict[str, dict[str, str]]:
    import nbformat
    import papermill

    pages = executable_pages(only)
    values = {}
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["TLCORE_RESULTS"] = str(Path(scratch) / "results")
        os.environ["TLCORE_STORE"] = str(Path(scratch) / "store")  # a scratch store: never the committed one
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ["TLCORE_CACHE"] = os.environ.get("TLCORE_CACHE", str(ROOT / ".cache" / "tlcore"))
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
        for page in pages:
            source = ROOT / f"{page}.ipynb"
            output = Path(scratch) / f"{Path(page).name}.ipynb"
            print(f"[glued] {page}", flush=True)
            papermill.execute_notebook(str(source), str(output), parameters={"profile": profile} if page.startswith("notebooks/") else {},
                                       cwd=str(source.parent), kernel_name="python3", progress_bar=False)
            values[page] = glued(nbformat.read(output, as_version=4))
    return values


def executed_pages(folder: Path) -> dict[str, dict[str, str]]:
    """``{"notebooks/<stem>": glued values}`` of every executed notebook in ``folder``."""
    import nbformat

    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a folder of executed notebooks")
    return {f"notebooks/{path.stem}": glued(nbformat.read(path, as_version=4))
            for path in sorted(folder.glob("*.ipynb"))}


def diff_builds(old: Path, new: Path, names: list[str]) -> list[str]:
    """The glued values that differ between two builds' executed pages, on the pages both hold.

    ``names``: keep only values whose name ends with one of these (all values when empty).
    """
    before, after = executed_pages(old), executed_pages(new)
    pages = sorted(set(before) & set(after))
    if not pages:
        raise SystemExit(f"{old} and {new} hold no executed page in common")

    def kept(values):
        return {name: text for name, text in values.items() if not names or name.endswith(tuple(names))}
    return differences({page: kept(before[page]) for page in pages}, {page: kept(after[page]) for page in pages})


def differences(before: dict, after: dict) -> list[str]:
    lines = []
    for page in sorted(set(before) | set(after)):
        old, new = before.get(page, {}), after.get(page, {})
        for name in sorted(set(old) | set(new)):
            if name not in new:
                lines.append(f"{page}: {name} missing (was {old[name]!r})")
            elif name not in old:
                lines.append(f"{page}: {name} new ({new[name]!r})")
            elif old[name] != new[name]:
                lines.append(f"{page}: {name} {old[name]!r} -> {new[name]!r}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("record", "compare", "diff"))
    parser.add_argument("file", type=Path, help="the recording (record, compare) or the old build's pages (diff)")
    parser.add_argument("new", type=Path, nargs="?", help="diff: the new build's executed pages")
    parser.add_argument("--names", nargs="*", default=[], help="diff: only names ending in these")
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--only", nargs="*", default=[])
    args = parser.parse_args(argv)
    if args.action == "diff":
        if args.new is None:
            parser.error("diff needs two folders of executed pages: OLD_DIR NEW_DIR")
        lines = diff_builds(args.file, args.new, args.names)
        for line in lines:
            print(line)
        print(f"[glued] {len(lines)} differences")
        return 1 if lines else 0
    kind = cpu_capability()
    if args.action == "compare" and not args.file.exists():
        parser.error(f"{args.file} does not exist: record it first")
    existing = json.loads(args.file.read_text()) if args.file.exists() else {}
    if args.action == "record" and args.only and existing:
        recorded_on = existing.get(MACHINE, {}).get("cpu_capability")
        if recorded_on != kind:
            parser.error(f"{args.file} was recorded on CPU capability {recorded_on}, this machine is {kind}: "
                         "re-record every page here (no --only) rather than mix machine kinds in one file")
    values = record(args.profile, args.only)
    if args.action == "record":
        if args.only and existing:  # re-record those chapters; the book's pages, which read every chapter's
            # results, and the other chapters keep their recording
            values = {**existing, **{page: v for page, v in values.items() if page.startswith("notebooks/")}}
        values[MACHINE] = {"cpu_capability": kind}
        args.file.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
        print(f"[glued] {sum(map(len, values.values())) - 1} values from {len(values) - 1} pages on {kind} -> "
              f"{args.file}")
        return 0
    before = existing
    recorded_on = before.pop(MACHINE, {}).get("cpu_capability")
    if recorded_on != kind:
        print(f"[glued] recorded on CPU capability {recorded_on}, compared on {kind}: pages that pretrain zoo models "
              "may differ for that reason alone")
    if args.only:
        before = {page: v for page, v in before.items() if page in values}
    lines = differences(before, values)
    for line in lines:
        print(line)
    print(f"[glued] {len(lines)} differences in {sum(map(len, values.values()))} values from {len(values)} pages")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
