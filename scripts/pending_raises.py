"""Budget raises of issue 13 computed ahead of the chapters that will read them.

    python scripts/pending_raises.py 06 --seeds 10 11   # chapter 6's grid, seed by seed (one process per seed list)
    python scripts/pending_raises.py 06                 # every seed the raise adds to the profile's

(Chapter 6's 3 x 3 grid at 600 steps on six targets was the first raise computed this way, chapter 1's epoch-matched
schedules the second, both in the profile since 2026-12-03, and chapter 5's R8 at 500 per class the third, since
2026-12-04.)

A raise costs more core-hours than one working session has, so it is computed into the committed store (each
chapter's file) in pieces, and each piece's records are committed as they finish. A chapter's profile is raised, and
its entry here deleted, in the submission that commits the last of them: until then the book reads the old budget
and CI never computes a raised chapter from nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per process, as the book computes (bit-for-bit records)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

RAISES = {
    # The learning-rate x momentum grid at 25 seeds (not 10): the power analysis of the ten-seed verdicts asks for
    # about 25 for T9 and 26 for M3 (inconclusive with the effect in the claimed direction); H1 would need about 44.
    # The grid's runs and M3's quick fine-tunes are computed ahead, seed by seed (nothing in them is tuned on the
    # first seed); the linear probes beside them are not stored (seconds in the book).
    "06_hyperparameters": {"hp": {"grid_seeds": tuple(range(25))}},
}


def raised(chapter: str):
    from tlcore.chapter import start_chapter

    return start_chapter("embedded", small_effects=chapter.startswith(("05", "06"))).with_(**RAISES[chapter])


def compute(chapter: str, seeds: list[int]) -> None:
    from tlcore.runs.transfer import run_many
    from tlcore.studies import hyperparameters as hp

    setup = hp.grid_setup(raised(chapter))
    if chapter.startswith("06"):
        for seed in seeds:
            start = time.monotonic()
            hp.lr_momentum_grid(setup.with_(seeds=(seed,)))
            run_many(hp.quick_runs(setup.with_(seeds=(seed,))), progress=False)
            print(f"seed {seed}: {time.monotonic() - start:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", help="chapter number prefix (06)")
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="seeds to compute (default: those the raise adds to the profile's)")
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    args = parser.parse_args(argv)
    chapters = [c for c in RAISES if c.startswith(args.chapter)]
    if len(chapters) != 1:
        parser.error(f"no pending raise for {args.chapter!r}; pending: {', '.join(RAISES) or 'none'}")
    import torch

    from tlcore.runs.executors import use_executor

    torch.set_num_threads(1)
    os.environ["TLCORE_CHAPTER"] = chapters[0]
    use_executor(args.executor, None)
    if args.seeds is None:
        from tlcore.studies.profiles import get_profile

        current = set(get_profile("embedded").small_effect_seeds)
        args.seeds = [seed for seed in RAISES[chapters[0]]["hp"]["grid_seeds"] if seed not in current]
    compute(chapters[0], args.seeds)


if __name__ == "__main__":
    main(sys.argv[1:])
