"""Can the real tier's data loading keep up with a ResNet-50 training step? Images per second for loading alone and
for loading plus a training step, and their ratio, on the CPU and on CUDA when present.

    python benchmarks/real_tier.py                              # 10 classes x 20 JPEGs of 256 px, batch 16
    python benchmarks/real_tier.py --classes 20 --per-class 50 --batch 64 --steps 20 --devices cuda

Data: a generated RGB ImageFolder in a temporary folder (smooth random colour fields plus noise, saved as JPEG at
quality 90, so decoding costs what a photograph's does), loaded through ``tlcore.data.load("folder:...")`` and
``tlcore.finetune.batches.BatchStream`` (what ``fit`` uses) in two ways:

- ``pil``: the PIL path, each image decoded, randomly crop-resized and flipped per item by torchvision in the
  DataLoader's workers (``--workers``; default: ``loader_options``, i.e. none on the CPU, up to 8 on CUDA).
- ``decoded``: the split decoded once to the memory-mapped uint8 cache (the one-time cost is printed), then uint8
  batches copied to the device and crop-resized, flipped and normalised there.

Model: timm ``resnet50`` without pretrained weights, SGD with momentum, cross-entropy; on CUDA with bfloat16
autocast and channels-last, as ``fit`` runs it there. ``model`` is the training step alone on a batch already on the
device; ``load+step`` pulls each batch from the stream and trains on it. ``keeps up`` is loading images/s over model
images/s: 1 or more means the model, not the data, sets the pace. Each figure is one timed run after a warm-up.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tlcore import data
from tlcore.finetune.batches import WORKERS_ENV, BatchStream


def write_folder(root: Path, classes: int, per_class: int, side: int, seed: int = 0) -> str:
    generator = np.random.default_rng(seed)
    for c in range(classes):
        (root / f"class_{c:02d}").mkdir(parents=True)
        for i in range(per_class):
            coarse = generator.random((8, 8, 3)) * 255
            field = np.asarray(Image.fromarray(coarse.astype(np.uint8)).resize((side, side), Image.BICUBIC), float)
            pixels = np.clip(field + generator.normal(0, 12, field.shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / f"class_{c:02d}" / f"{i}.jpg", quality=90)
    return f"folder:{root}"


def timed(fn, count: int, device: torch.device) -> float:
    """Seconds for ``count`` calls of ``fn`` (after one untimed call), synchronising CUDA."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(count):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def train_step(device: torch.device, classes: int):
    import timm

    model = timm.create_model("resnet50", pretrained=False, num_classes=classes).to(device)
    on_cuda = device.type == "cuda"
    if on_cuda:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(inputs: torch.Tensor, labels: torch.Tensor) -> None:
        if on_cuda:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_cuda):
            loss = F.cross_entropy(model(inputs), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def run(name: str, device: torch.device, args) -> list[tuple]:
    common = {"image_size": args.image_size, "val_per_class": 1, "test_per_class": 1}
    start = time.perf_counter()
    decoded = data.load(name, "train", seed=0, decoded=True, **common)
    decode_s = time.perf_counter() - start
    pil = data.load(name, "train", seed=0, **common)
    step = train_step(device, args.classes)
    fixed = next(BatchStream(decoded, args.batch, torch.Generator().manual_seed(0), device))
    model_s = timed(lambda: step(*fixed), args.steps, device)
    rows = []
    for kind, dataset in (("pil", pil), ("decoded", decoded)):
        stream = BatchStream(dataset, args.batch, torch.Generator().manual_seed(0), device)
        load_s = timed(lambda stream=stream: next(stream), args.load_batches, device)
        both_s = timed(lambda stream=stream: step(*next(stream)), args.steps, device)
        workers = stream._loader.num_workers
        load_ips, model_ips = args.batch * args.load_batches / load_s, args.batch * args.steps / model_s
        rows.append((device.type, kind, workers, load_ips, model_ips, args.batch * args.steps / both_s,
                     load_ips / model_ips))
    print(f"[{device.type}] one-time decode of {len(decoded.array)} images to {decoded.shape[1:]} uint8: "
          f"{decode_s:.2f} s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--side", type=int, default=256, help="generated JPEG side in pixels")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--load-batches", type=int, default=8, help="timed batches of loading alone")
    parser.add_argument("--workers", type=int, default=None, help=f"DataLoader workers (sets ${WORKERS_ENV})")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--devices", nargs="*", default=None, help="default: cpu, and cuda when present")
    args = parser.parse_args()
    if args.workers is not None:
        os.environ[WORKERS_ENV] = str(args.workers)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TLCORE_DATA"] = str(Path(tmp) / "cache")  # the decoded cache lives and dies with the run
        name = write_folder(Path(tmp) / "images", args.classes, args.per_class, args.side)
        for device in devices:
            rows += run(name, torch.device(device), args)
    print(f"\nresnet50, batch {args.batch}, {args.image_size} px, {args.classes} classes x {args.per_class - 2} "
          f"training JPEGs of {args.side} px; torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"{'device':<7}{'loader':<9}{'workers':>8}{'load img/s':>12}{'model img/s':>13}{'load+step img/s':>17}"
          f"{'keeps up':>10}")
    for device, kind, workers, load, model, both, ratio in rows:
        print(f"{device:<7}{kind:<9}{workers:>8}{load:>12.1f}{model:>13.1f}{both:>17.1f}{ratio:>9.1f}x")


if __name__ == "__main__":
    main()
