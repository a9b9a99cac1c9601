"""Budget raises of issue 13 computed ahead of the chapters that will read them.

    python scripts/pending_raises.py 01 --executor ray  # chapter 1's grid, its runs spread over a local Ray instance

(Chapter 6's 3 x 3 grid at 600 steps on six targets was the first raise computed this way, seed by seed in two
processes; it is in the profile since 2026-12-03.)

A raise costs more core-hours than one working session has, so it is computed into the committed store (each
chapter's file) in pieces, and each piece's records are committed as they finish. A chapter's profile is raised, and
its entry here deleted, in the submission that commits the last of them: until then the book reads the old budget
and CI never computes a raised chapter from nothing.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per process, as the book computes (bit-for-bit records)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

RAISES = {
    # Schedules matched in epochs (30 at every size, never fewer than the chapter's 150 steps) and the far target at
    # 500 per class, where negative transfer (T7) and convergence speed (T8) are asked about; the digits have 134
    # training images per class, so 100 stays their largest size. Learning rates are still tuned at 20 per class.
    "01_does_transfer_help": {"transfer": {"epochs": 30, "extra_sizes": (("textures_far", (500,)),)}},
}


def raised(chapter: str):
    from tlcore.chapter import start_chapter

    return start_chapter("embedded", small_effects=chapter.startswith(("05", "06"))).with_(**RAISES[chapter])


def compute(chapter: str) -> None:
    from tlcore.studies import does_transfer_help as transfer

    setup = raised(chapter)
    if chapter.startswith("01"):  # whole: its learning rates are tuned on the profile's first seed
        transfer.tuned_transfer_grid(setup)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", help="chapter number prefix (01)")
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
    compute(chapters[0])


if __name__ == "__main__":
    main(sys.argv[1:])
