"""Time per training step of tlcore's ``fit`` against a plain PyTorch loop, and the overhead of each regulariser.

    python benchmarks/finetune.py                 # CPU (one thread) and, when present, CUDA
    python benchmarks/finetune.py --threads 2 --steps 100

Model: ``small_resnet`` narrow (layers 1-1-1-1, widths 16-128, 20 classes); data: 2000 random 32x32 one-channel
images, batch 64. Both loops do the same work per step — a seeded shuffled batch, forward, cross-entropy, backward,
SGD with momentum, a cosine schedule — and one validation pass at the end; no augmentation. Times are the median of
``--repeats`` alternating runs, divided by the number of steps; a warm-up run of each comes first. The regulariser
table is ``fit`` with one regulariser over plain ``fit`` (construction time, e.g. DELTA's attention, excluded).
The last table times DELTA's channel attention on 256 images, every stage: channel ablations stacked along the batch
after the ablated stage (tlcore) against one full forward per channel (the baseline), and the largest difference of
the weights.
"""
from __future__ import annotations

import argparse
import copy
import math
import statistics
import time

import torch
import torch.nn.functional as F

from tlcore.data.base import ImageDataset
from tlcore.finetune import Protocol, evaluate, fit, model_stages
from tlcore.models import small_resnet
from tlcore.normalization import convert_to_stochnorm
from tlcore.regularizers import BSS, DELTA, L2, L2SP, CoTuning, LwF, SampleBased, channel_attention
from tlcore.regularizers import delta as delta_module

CLASSES, SOURCE_CLASSES, SAMPLES, BATCH = 20, 30, 2000, 64


def make_data(device_independent_seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
    g = torch.Generator().manual_seed(device_independent_seed)
    train = ImageDataset(torch.rand(SAMPLES, 1, 32, 32, generator=g), torch.randint(0, CLASSES, (SAMPLES,), generator=g),
                         [str(c) for c in range(CLASSES)])
    val = ImageDataset(torch.rand(256, 1, 32, 32, generator=g), torch.randint(0, CLASSES, (256,), generator=g),
                       [str(c) for c in range(CLASSES)])
    return train, val


def source_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return small_resnet((1, 1, 1, 1), (16, 32, 64, 128), num_classes=SOURCE_CLASSES)


def target_model(source: torch.nn.Module) -> torch.nn.Module:
    model = copy.deepcopy(source)
    model.reset_classifier(CLASSES)
    return model


def plain_loop(model, train, val, steps: int, device: torch.device) -> None:
    """The loop one would write by hand for the same work."""
    generator = torch.Generator().manual_seed(0)
    model.to(device).train()
    images, labels = train.images.to(device), train.labels.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer,
                                                 lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    per_epoch, order = len(labels) // BATCH, None
    for step in range(steps):
        if step % per_epoch == 0:
            order = torch.randperm(len(labels), generator=generator).to(device)
        index = order[(step % per_epoch) * BATCH:(step % per_epoch + 1) * BATCH]
        loss = F.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    evaluate(model, val, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(run, repeats: int) -> list[float]:
    run()  # warm-up: allocator, oneDNN/cuDNN plans, lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def benchmark(device: torch.device, steps: int, repeats: int) -> None:
    train, val = make_data()
    source = source_model()
    protocol = Protocol(lr=0.01, steps=steps, batch_size=BATCH, eval_every=steps, augment="none")

    def run_fit(build=lambda model: [], convert=None, channels_last=None):
        def run():
            model = target_model(source)
            if convert is not None:
                model = convert(model)
            fit(model, train, val, protocol=protocol, regularizers=build(model), device=device, progress=False,
                channels_last=channels_last)
            if device.type == "cuda":
                torch.cuda.synchronize()
        return run

    def run_plain():
        plain_loop(target_model(source), train, val, steps, device)

    # Alternate the loops so that drifts in machine load hit all alike. ``fit`` runs channels-last by default; the
    # plain loop and the NCHW row keep PyTorch's default layout, so the NCHW row is the like-for-like comparison.
    plain_times, fit_times, nchw_times = [], [], []
    run_plain(), run_fit()(), run_fit(channels_last=False)()
    for _ in range(repeats):
        plain_times += timed(run_plain, 1)[-1:]
        fit_times += timed(run_fit(), 1)[-1:]
        nchw_times += timed(run_fit(channels_last=False), 1)[-1:]
    plain, ours = statistics.median(plain_times) / steps, statistics.median(fit_times) / steps
    nchw = statistics.median(nchw_times) / steps
    print(f"\n## {device} ({torch.get_num_threads()} threads), {steps} steps, median of {repeats}")
    print(f"| loop | ms/step | ratio |\n|---|---|---|")
    print(f"| plain PyTorch (NCHW) | {plain * 1e3:.2f} | 1.00 |")
    print(f"| tlcore fit, NCHW | {nchw * 1e3:.2f} | {nchw / plain:.3f} |")
    print(f"| tlcore fit (default: channels-last) | {ours * 1e3:.2f} | {ours / plain:.3f} |")

    delta = DELTA(source.to(device), train, max_samples=128)
    cotuning = CoTuning.from_source_model(source, train, max_samples=512)
    regularizers = {
        "L2 (all weights)": lambda model: [(1e-4, L2(model))],
        "L2SP": lambda model: [(1e-2, L2SP(model))],
        "DELTA": lambda model: [(1e-2, delta)],
        "BSS": lambda model: [(1e-3, BSS())],
        "CoTuning": lambda model: [(1.0, cotuning)],
        "LwF": lambda model: [(1.0, LwF(source))],
        "SampleBased": lambda model: [(1e-3, SampleBased())],
    }
    print(f"\n| regulariser | ms/step | overhead vs plain fit |\n|---|---|---|")
    print(f"| (none) | {ours * 1e3:.2f} | 1.00 |")
    for name, build in regularizers.items():
        seconds = statistics.median(timed(run_fit(build), repeats)) / steps
        print(f"| {name} | {seconds * 1e3:.2f} | {seconds / ours:.2f} |")
    seconds = statistics.median(timed(run_fit(convert=lambda m: convert_to_stochnorm(m, 0.5)), repeats)) / steps
    print(f"| StochNorm (p=0.5) | {seconds * 1e3:.2f} | {seconds / ours:.2f} |")


def attention_benchmark(device: torch.device, repeats: int) -> None:
    train, _ = make_data()
    source = source_model().to(device)
    images, labels = train.images[:256], train.labels[:256]

    def attention():
        return channel_attention(source, images, labels, model_stages(source))

    stacked_path = delta_module._ablated_losses
    stacked_times = timed(attention, repeats)
    stacked_weights = attention()
    delta_module._ablated_losses = delta_module._ablated_losses_by_full_forward
    try:
        full_times = timed(attention, repeats)
        full_weights = attention()
    finally:
        delta_module._ablated_losses = stacked_path
    stacked, full = statistics.median(stacked_times), statistics.median(full_times)
    difference = max(float((a - b).abs().max()) for a, b in zip(stacked_weights, full_weights))
    channels = sum(len(w) for w in stacked_weights)
    print(f"\n| DELTA attention, {channels} channels, 256 images | s | ratio |\n|---|---|---|")
    print(f"| one full forward per channel | {full:.2f} | 1.00 |")
    print(f"| tlcore: ablations stacked after the stage | {stacked:.2f} | {stacked / full:.3f} |")
    print(f"largest difference of the weights: {difference:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (1 by default: on a shared machine OpenMP's spinning threads dominate)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    benchmark(torch.device("cpu"), args.steps, args.repeats)
    attention_benchmark(torch.device("cpu"), args.repeats)
    if torch.cuda.is_available():
        benchmark(torch.device("cuda"), args.steps * 5, args.repeats)
        attention_benchmark(torch.device("cuda"), args.repeats)


if __name__ == "__main__":
    main()
