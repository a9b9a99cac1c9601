"""Does a run recomputed on the same GPU give its record bit for bit? ``verify`` assumes so for a real-tier record
(it draws a GPU's records only on that GPU, with zero tolerance); this checks it, with and without torch's
deterministic algorithms.

    python benchmarks/gpu_reproducibility.py                      # chapter 1's first two real_smoke runs on CUDA
    python benchmarks/gpu_reproducibility.py --runs 4 --device cpu
    python benchmarks/gpu_reproducibility.py --resnet50 --steps 30   # a ResNet-50 from scratch at 224 px instead

Each run of chapter 1's ``real_smoke`` grid (generated RGB stand-ins, timm's tiny test networks without weights, the
real tier's code path: bfloat16 autocast and channels-last on CUDA) is computed from nothing three times, each in an
empty store and model cache: twice as ``fit`` runs it by default, then once under
``torch.use_deterministic_algorithms(True)`` (with ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which cuBLAS needs for it).
``--resnet50`` computes instead one run at the real tier's scale: timm's ResNet-50 (no weights needed: from scratch)
at 224 px on a generated JPEG folder (``benchmarks/real_tier.py``'s), ``--steps`` steps of batch 32. Printed per
run: seconds, test accuracy, and the fields of the second and third computation that differ from the first
(``tlcore.runs.verify.differences``, tolerance zero), with the largest difference in test accuracy.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts: set before any CUDA work

import torch  # noqa: E402

from real_tier import write_folder  # noqa: E402  (beside this file)
from tlcore.chapter import start_chapter  # noqa: E402
from tlcore.finetune.protocol import Protocol  # noqa: E402
from tlcore.runs.transfer import TransferRun  # noqa: E402
from tlcore.runs.verify import differences, from_nothing, recompute  # noqa: E402
from tlcore.studies.plan import chapter_runs  # noqa: E402


def computed(spec, deterministic: bool) -> tuple[dict, float]:
    """The record of ``spec`` computed from nothing, and its seconds."""
    torch.use_deterministic_algorithms(deterministic)
    try:
        with from_nothing():
            start = time.perf_counter()
            value = recompute({"kind": type(spec).__name__, "config": spec.config()})
            return value, time.perf_counter() - start
    finally:
        torch.use_deterministic_algorithms(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="how many of chapter 1's real_smoke runs")
    parser.add_argument("--device", default=None, help="default: cuda when present, else cpu")
    parser.add_argument("--resnet50", action="store_true", help="one ResNet-50 run at 224 px instead")
    parser.add_argument("--steps", type=int, default=30, help="--resnet50's training steps")
    args = parser.parse_args()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # fit's default device is CUDA whenever torch sees one
    profile = start_chapter("real_smoke")
    name = torch.cuda.get_device_name(0) if device == "cuda" else torch.backends.cpu.get_cpu_capability()
    with tempfile.TemporaryDirectory() as scratch:  # --resnet50's images live and die with the run
        specs = chapter_runs("01", profile)[:args.runs]
        if args.resnet50:
            target = write_folder(Path(scratch) / "images", classes=10, per_class=40, side=256)
            specs = [TransferRun(target, n_per_class=24, pretrained=False, arch="resnet50",
                                 protocol=Protocol(lr=0.1, steps=args.steps, batch_size=32,
                                                   eval_every=max(1, args.steps // 2)))]
        print(f"torch {torch.__version__} on {name}; {len(specs)} run(s), each from nothing")
        for spec in specs:
            first, seconds = computed(spec, deterministic=False)
            init = "pretrained" if spec.pretrained else "scratch"
            print(f"{spec.arch} on {spec.target}, {spec.n_per_class}/class, {init}, seed {spec.seed}: "
                  f"{seconds:.1f} s, test accuracy {first['test_accuracy']:.4f}")
            for label, deterministic in (("again", False), ("deterministic algorithms", True)):
                other, seconds = computed(spec, deterministic)
                found = differences(first, other)
                gap = abs(first["test_accuracy"] - other["test_accuracy"])
                print(f"  {label}: {seconds:.1f} s, {len(found)} fields differ, test accuracy differs by {gap:.4f}"
                      + "".join(f"\n    {line}" for line in found[:3]))


if __name__ == "__main__":
    main()
