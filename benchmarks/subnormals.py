"""Subnormal weights: what L2 towards zero does to the time of a training step after thousands of steps.

    python benchmarks/subnormals.py                    # 3,000 decay steps, then 100 timed steps each way
    python benchmarks/subnormals.py --decay-steps 500  # a quick look (too few steps to reach the subnormal range)

L2 towards zero (``tlcore.regularizers.L2``) at R8's setting (weight 0.01, learning rate 0.3, momentum 0.9, so an
effective rate of 3) shrinks every weight that gets no gradient from the data by about 3% a step; after about 2,900
steps such a weight leaves float32's normal range (below 1.2e-38), and x86 arithmetic on subnormal numbers is an
order of magnitude slower. The script fine-tunes the benchmark model of ``benchmarks/finetune.py`` (random data, so
little gradient) with that L2 at a constant rate for ``--decay-steps`` steps, prints the fraction of its parameters
that are subnormal, then times ``--steps`` more steps of the same fit from there (1) as is, (2) with subnormals
flushed (``fit``'s ``flush_subnormals``, its default: subnormals read and written as zero), and (3) from the
undecayed model, the baseline; ratios are against (3), all measured in this run. Every fit but (2) runs with
``flush_subnormals=False``, as ``fit`` did before it flushed.

Chapter 5's L2 runs at 500 per class (4,688 steps) took 700 to 1,260 s against 90 to 150 s for plain and L2-SP
runs; what this script measures explains part of that, not all. Inside those runs flushing removes all of it
(the slowest took 110 s instead of 1,971), so ``fit`` now flushes by default. Flushing can change a run: three of
those twenty came out otherwise and were replaced in the store (``store/README.md``).
"""
from __future__ import annotations

import argparse
import copy
import time

import torch

from tlcore.finetune import Protocol, fit
from tlcore.regularizers import L2

from finetune import BATCH, make_data, source_model, target_model

WEIGHT, LR, MOMENTUM = 0.01, 0.3, 0.9  # R8's L2 on the far target (chapter 5's chosen weight and tuned rate)


def subnormal_fraction(model: torch.nn.Module) -> float:
    """Share of the parameters' entries that are non-zero and below float32's smallest normal magnitude."""
    tiny = torch.finfo(torch.float32).tiny
    counts = [((p != 0) & (p.abs() < tiny)).sum().item() for p in model.parameters()]
    return sum(counts) / sum(p.numel() for p in model.parameters())


def train(model: torch.nn.Module, data, steps: int, flush: bool = False) -> float:
    train_set, val_set = data
    protocol = Protocol(lr=LR, momentum=MOMENTUM, steps=steps, batch_size=BATCH, eval_every=steps, augment="none",
                        schedule="constant")
    start = time.perf_counter()
    fit(model, train_set, val_set, protocol=protocol, regularizers=[(WEIGHT, L2(model))], progress=False,
        flush_subnormals=flush)
    return (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decay-steps", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.decay_steps < 1 or args.steps < 1:
        parser.error("--decay-steps and --steps must be positive")
    torch.set_num_threads(args.threads)
    data = make_data()
    fresh = target_model(source_model())
    decayed = copy.deepcopy(fresh)
    train(decayed, data, args.decay_steps)
    print(f"after {args.decay_steps} steps of L2 (weight {WEIGHT}, lr {LR}, momentum {MOMENTUM}): "
          f"{100 * subnormal_fraction(decayed):.1f}% of the parameters are subnormal")
    baseline = train(copy.deepcopy(fresh), data, args.steps)
    as_is = train(copy.deepcopy(decayed), data, args.steps)
    flushed = train(copy.deepcopy(decayed), data, args.steps, flush=True)
    print(f"\n## CPU ({args.threads} thread(s)), {args.steps} steps each\n| model | ms/step | ratio |\n|---|---|---|")
    for name, seconds in (("undecayed (baseline)", baseline), ("decayed", as_is), ("decayed, flushed", flushed)):
        print(f"| {name} | {seconds * 1e3:.1f} | {seconds / baseline:.2f} |")


if __name__ == "__main__":
    main()
