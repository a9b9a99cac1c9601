"""Why the book executes chapters side by side with one torch thread each: the same training runs, one after the
other with every core as torch threads, against one process per core with one thread each, timed in one session.

    python benchmarks/side_by_side.py              # 2 runs of 150 steps of the embedded ResNet
    python benchmarks/side_by_side.py --steps 300

Each run is ``fit`` of the embedded narrow ResNet (random init, 20 classes) on 2,000 random 32x32 images, batch 64,
as a chapter's fine-tuning runs are. Prints both wall times and their ratio.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ONE_RUN = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
from tlcore.data.base import ImageDataset
from tlcore.finetune import Protocol, fit
from tlcore.models import small_resnet
g = torch.Generator().manual_seed(0)
classes = [str(c) for c in range(20)]
train = ImageDataset(torch.rand(2000, 1, 32, 32, generator=g), torch.randint(0, 20, (2000,), generator=g), classes)
val = ImageDataset(torch.rand(200, 1, 32, 32, generator=g), torch.randint(0, 20, (200,), generator=g), classes)
torch.manual_seed(0)
fit(small_resnet(num_classes=20), train, val, protocol=Protocol(lr=0.05, steps=int(sys.argv[2]), eval_every=25),
    progress=False)
"""


def launch(threads: int, steps: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    return subprocess.Popen([sys.executable, "-c", ONE_RUN, str(threads), str(steps)], env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="runs side by side (and threads)")
    args = parser.parse_args()
    launch(1, 5).wait()  # warm-up: imports and oneDNN kernels
    start = time.perf_counter()
    for _ in range(args.cores):
        if launch(args.cores, args.steps).wait() != 0:
            raise SystemExit("a run failed")
    serial = time.perf_counter() - start
    start = time.perf_counter()
    if any(p.wait() != 0 for p in [launch(1, args.steps) for _ in range(args.cores)]):
        raise SystemExit("a run failed")
    side_by_side = time.perf_counter() - start
    print(f"{args.cores} runs of {args.steps} steps")
    print(f"| schedule | wall s | ratio |\n|---|---|---|")
    print(f"| one after the other, {args.cores} threads each | {serial:.1f} | 1.00 |")
    print(f"| side by side, 1 thread each | {side_by_side:.1f} | {side_by_side / serial:.2f} |")


if __name__ == "__main__":
    main()
