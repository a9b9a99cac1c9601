"""``make results``: recompute the results store from nothing, then put it in place of the committed one.

    python scripts/build_results.py [--profile embedded] [--jobs N] [--only 01 ...] [--executor ray [--address A]]

Every chapter is executed (as ``make book`` does, without rendering) against an empty staging store
(``store/rebuild``) and an empty model cache (``results/cache-rebuild``), so every zoo model is pretrained and every
outcome computed again. The staging store is the checkpoint: after a kill, the same command continues where it
stopped (a record is written only once it is complete). It lies inside the repository and is committed as it grows
(the book never reads it: a store reads only the ``*.jsonl`` files of its own folder), so a recompute longer than
one machine's life continues on another from a checkout; the model cache is not committed (weights), so a later
stretch pretrains again the zoo models it still needs, which on the same machine kind gives the same weights. While
chapters run, a progress bar counts the records of the committed store that have been recomputed, with each
chapter's estimated time left (the committed records' own compute seconds, per core, times the pace this stretch has
measured so far). When every page has executed, the staging files replace ``store/*.jsonl`` and the compute time per
chapter is printed and written to ``results/tables/results_timings.csv``. A recompute may take several stretches of
work: each stretch's wall time and machine kind are kept beside the staging store (``stretches.json``, updated every
15 seconds, so a killed stretch counts up to its last update), and the total over all stretches is printed and
written to ``results/tables/results_stretches.csv``. ``--only`` recomputes some chapters and replaces only their
files. ``--executor ray`` computes the runs as Ray tasks (``make results EXECUTOR=ray``; see
``scripts/build_book.py``).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_book import ROOT, executable_pages, execute, stage

STORE = ROOT / "store"
REBUILD = STORE / "rebuild"
STRETCHES = "stretches.json"


def record_stretch(folder: Path, started: str, seconds: float, **details) -> list[dict]:
    """Note in ``folder/stretches.json`` that the stretch which began at ``started`` (an ISO time, its identity) has
    run ``seconds`` of wall time so far, with ``details`` (jobs, executor, chapters); returns every stretch noted."""
    import json

    from tlcore.storage import write_json_atomic

    path = folder / STRETCHES
    stretches = json.loads(path.read_text()) if path.exists() else []
    if not isinstance(stretches, list):
        raise ValueError(f"{path} is not a list of stretches; remove it to start counting again")
    row = {"started": started, "seconds": round(seconds, 1), **details}
    stretches = [s for s in stretches if s.get("started") != started] + [row]
    write_json_atomic(path, stretches)
    return stretches


def _seconds_by_chapter(root: Path) -> dict[str, dict[str, float]]:
    from tlcore.store import Store

    by_chapter: dict[str, dict[str, float]] = {}
    for record in Store(root).records():
        by_chapter.setdefault(record["file"], {})[record["key"]] = record.get("provenance", {}).get("seconds", 0.0)
    return by_chapter


def stretch_pace(committed: dict[str, float], recomputed: list[dict], since: str,
                 minimum: int = 10) -> float | None:
    """How much longer this stretch takes per record than the committed store's own compute seconds: over the
    ``recomputed`` records (store records) dated at or after ``since`` (an ISO time: this stretch's start) whose key
    ``committed`` holds (key -> stored seconds), the sum of their new seconds over the sum of their stored ones.
    ``None`` until ``minimum`` such records exist. The stored seconds were measured on other machines and under other
    loads, so an estimate from them alone can be off by a factor; records the committed store lacks carry no estimate
    at all."""
    pairs = [(r["provenance"]["seconds"], committed[r["key"]]) for r in recomputed
             if r["key"] in committed and r.get("provenance", {}).get("date", "") >= since]
    if len(pairs) < minimum or sum(old for _, old in pairs) <= 0:
        return None
    return sum(new for new, _ in pairs) / sum(old for _, old in pairs)


def chapter_paces(expected: dict[str, dict[str, float]], recomputed: list[dict], since: str,
                  minimum: int = 10) -> dict[str, float | None]:
    """Each chapter's :func:`stretch_pace` over its own records (``expected``: chapter -> key -> stored seconds), or
    the slowest measured chapter's where the chapter has recomputed fewer than ``minimum`` (a cautious guess: an
    estimate that runs out early misleads more than one that runs long). Per chapter because the stored seconds are off
    by different factors in different chapters: chapter 5's long L2 runs were stored before subnormal flushing and now
    take a fifth of their stored seconds, while chapter 6's short runs take 1.8 times theirs."""
    paces = {chapter: stretch_pace(keys, recomputed, since, minimum) for chapter, keys in expected.items()}
    slowest = max((pace for pace in paces.values() if pace is not None), default=None)
    return {chapter: slowest if pace is None else pace for chapter, pace in paces.items()}


def _monitor(expected: dict[str, dict[str, float]], stop: threading.Event, jobs: int, stretch, started: str) -> None:
    """A progress bar over the committed records recomputed so far, with the estimated time left per chapter and
    the count of computed records the committed store lacks; calls ``stretch()`` at every update, to note the wall
    time this stretch has run. A recompute can compute records the committed store lacks and leave some of its
    records out (a choice a chapter makes on validation outcomes falls otherwise when those outcomes changed), so the
    bar may end short of its total and the time left is an estimate, scaled by :func:`chapter_paces` once this stretch
    (which began at ``started``) has recomputed enough records to measure it."""
    from tqdm.auto import tqdm

    from tlcore.store import Store

    committed = {key for keys in expected.values() for key in keys}  # each key is in one chapter's file
    with tqdm(total=len(committed), desc="records", unit="rec", mininterval=5, file=sys.stdout) as bar:
        while not stop.wait(15):
            stretch()
            recomputed = list(Store(REBUILD).records())
            done = {r["key"] for r in recomputed}
            paces = chapter_paces(expected, recomputed, started)
            left = {chapter: sum(s for k, s in keys.items() if k not in done) / 60 * (paces[chapter] or 1.0)
                    for chapter, keys in expected.items()}
            bar.n = len(committed & done)
            new = len(done - committed)
            measured = {c.split("_")[0]: p for c, p in sorted(paces.items()) if p is not None and left[c] >= 1}
            basis = ("at this stretch's pace (" + ", ".join(f"{c} {p:.2f}x" for c, p in measured.items())
                     + " the stored seconds)" if measured else "at the stored seconds")
            bar.set_postfix_str(", ".join(f"{c.split('_')[0]} {m:.0f} min" for c, m in sorted(left.items()) if m >= 1)
                                + f" (total {sum(left.values()) / jobs:.0f} min on {jobs} cores {basis}); "
                                + f"{new} new records")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="embedded", choices=["embedded", "real", "smoke", "real_smoke"])
    parser.add_argument("--only", nargs="*", default=[], help="chapter number prefixes to recompute (default: all)")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    parser.add_argument("--address", default=None, metavar="HOST:PORT", help="the Ray cluster (--executor ray)")
    args = parser.parse_args(argv)
    if args.address and args.executor != "ray":
        parser.error("--address names a Ray cluster: use it with --executor ray")
    REBUILD.mkdir(parents=True, exist_ok=True)
    os.environ["TLCORE_STORE"] = str(REBUILD)
    os.environ["TLCORE_CACHE"] = str(ROOT / "results" / "cache-rebuild")
    os.environ.setdefault("TLCORE_RESULTS", str(ROOT / "results"))
    if args.profile != "real":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tlcore.runs.executors import use_executor
    from tlcore.store import cpu_capability, file_profile

    use_executor(args.executor, args.address)
    pages = executable_pages(args.only)
    chapters = {Path(p).name for p in pages}
    expected = {c: keys for c, keys in _seconds_by_chapter(STORE).items()
                if file_profile(c)[1] == args.profile and (file_profile(c)[0] in chapters or not args.only)}
    stop = threading.Event()
    start = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    details = {"jobs": args.jobs, "executor": args.executor, "only": " ".join(args.only) or "all",
               "machine": cpu_capability()}

    def stretch() -> list[dict]:
        return record_stretch(REBUILD, started, time.perf_counter() - start, **details)

    stretch()
    monitor = threading.Thread(target=_monitor, args=(expected, stop, args.jobs, stretch, started), daemon=True)
    monitor.start()
    try:
        stage()
        execute(pages, args.profile, jobs=args.jobs)
    finally:
        stop.set()
        monitor.join()

    def ours(path: Path) -> bool:  # this profile's files: another tier's records are never replaced
        return file_profile(path.stem)[1] == args.profile

    computed = _seconds_by_chapter(REBUILD)
    for path in sorted(REBUILD.glob("*.jsonl")):
        if ours(path) and (file_profile(path.stem)[0] in chapters or not args.only):
            shutil.copy2(path, STORE / path.name)
    if not args.only:  # a chapter that no longer computes anything keeps no file
        for path in STORE.glob("*.jsonl"):
            if ours(path) and not (REBUILD / path.name).exists():
                path.unlink()
    import pandas as pd

    timings = pd.DataFrame([{"chapter": chapter, "records": len(keys), "compute_seconds": round(sum(keys.values()), 1)}
                            for chapter, keys in sorted(computed.items())])
    tables = Path(os.environ["TLCORE_RESULTS"]) / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    timings.to_csv(tables / "results_timings.csv", index=False)
    stretches = pd.DataFrame(stretch())
    stretches.to_csv(tables / "results_stretches.csv", index=False)
    print(timings.to_string(index=False))
    print(f"[results] {len(timings)} files, {timings.records.sum()} records, "
          f"{timings.compute_seconds.sum() / 3600:.2f} core-hours of compute, {(time.perf_counter() - start) / 60:.1f} "
          f"min wall this stretch, {stretches.seconds.sum() / 60:.1f} over {len(stretches)} stretch(es); store/ "
          f"replaced (commit it). Remove {REBUILD} to start again from nothing.")


if __name__ == "__main__":
    main()
