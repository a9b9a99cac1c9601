"""Self-supervised pretraining without labels: SimCLR (Chen et al. 2020), compact.

Two random views of each image go through the backbone and a small projection head; the NT-Xent loss pulls the two
views of an image together and pushes the other ``2N - 2`` images of the batch away. Only the backbone is kept: the
projection head is thrown away afterwards, as in the paper. The views use what fits 32-pixel grey images: a random
shift, a random contrast and brightness change, and pixel noise.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..finetune.augment import random_shift
from ..finetune.features import default_device
from ..seeding import seed_everything


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's normalised-temperature cross-entropy for a batch of positive pairs ``(z1[i], z2[i])``.

    ``z1``, ``z2``: (N, D) projections of two views, N >= 2. Each of the 2N samples is classified among the other
    2N - 1 by cosine similarity / ``temperature``; the positive is its other view. Returns the mean over 2N.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both have shape (N, D); got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if len(z1) < 2:
        raise ValueError("NT-Xent needs at least 2 pairs in a batch (the other pairs are the negatives)")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, positives)


def uniform_loss(batch_size: int) -> float:
    """NT-Xent's value, ``log(2 N - 1)``, when the embeddings tell no image of a batch of ``batch_size`` pairs from any
    other (all cosine similarities equal): a SimCLR run whose loss stays there has learnt nothing, however long it
    ran, which is what a collapse to one embedding looks like."""
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2, got {batch_size}")
    return math.log(2 * batch_size - 1)


def random_view(images: torch.Tensor, generator: torch.Generator, *, max_shift: int = 4,
                contrast: tuple[float, float] = (0.6, 1.4), brightness: float = 0.15,
                noise: float = 0.08) -> torch.Tensor:
    """One random augmentation of a batch of images in [0, 1] (seeded by ``generator``)."""
    n = len(images)
    view = random_shift(images, max_shift, generator)
    # Random numbers are drawn on the CPU generator, so a seed gives the same views on any device.
    scale = torch.empty(n, 1, 1, 1).uniform_(*contrast, generator=generator).to(images.device)
    offset = torch.empty(n, 1, 1, 1).uniform_(-brightness, brightness, generator=generator).to(images.device)
    mean = view.mean(dim=(1, 2, 3), keepdim=True)
    view = (view - mean) * scale + mean + offset
    view = view + noise * torch.randn(view.shape, generator=generator).to(images.device)
    return view.clamp(0, 1)


def simclr_pretrain(model: nn.Module, images: torch.Tensor, *, steps: int, batch_size: int = 128, lr: float = 0.3,
                    weight_decay: float = 5e-4, temperature: float = 0.5, projection_dim: int = 64,
                    seed: int = 0) -> list[float]:
    """Train ``model``'s backbone (timm interface) with SimCLR on unlabelled ``images`` (N, C, H, W) in place.

    SGD with momentum 0.9 and a cosine schedule; batches are drawn without replacement, reshuffled each epoch.
    Returns the loss at every step.
    """
    if steps < 1 or batch_size < 2:
        raise ValueError(f"steps must be >= 1 and batch_size >= 2, got {steps} and {batch_size}")
    if len(images) < batch_size:
        raise ValueError(f"{len(images)} images cannot fill a batch of {batch_size}")
    generator = seed_everything(seed)
    device = default_device()
    width = model.num_features
    projection = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, projection_dim))
    model.to(device), projection.to(device)
    images = images.to(device)
    parameters = [*model.parameters(), *projection.parameters()]
    optimizer = torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    model.train()
    losses, order, cursor = [], torch.randperm(len(images), generator=generator), 0
    for _ in range(steps):
        if cursor + batch_size > len(order):
            order, cursor = torch.randperm(len(images), generator=generator), 0
        batch = images[order[cursor:cursor + batch_size].to(device)]
        cursor += batch_size
        views = torch.cat([random_view(batch, generator), random_view(batch, generator)])
        z = projection(model.forward_head(model.forward_features(views), pre_logits=True))
        loss = nt_xent_loss(z[:batch_size], z[batch_size:], temperature)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"SimCLR loss became {loss.item()}; lower the learning rate ({lr})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses
