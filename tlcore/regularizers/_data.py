"""Target data handed to a regulariser at construction (DELTA's attention, Co-Tuning's label relationship)."""
from __future__ import annotations

from typing import Callable

import torch
from torch.utils.data import DataLoader, Dataset

TargetData = Dataset | tuple[torch.Tensor, torch.Tensor]


def as_tensors(data: TargetData, max_samples: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)`` of ``data`` (a dataset or a tuple), at most ``max_samples`` of them, evenly spaced so that
    a class-sorted dataset keeps every class."""
    if isinstance(data, tuple):
        images, labels = data
    elif isinstance(getattr(data, "images", None), torch.Tensor):
        images, labels = data.images, data.labels
    else:
        batches = list(DataLoader(data, batch_size=256, shuffle=False, num_workers=0))
        images, labels = torch.cat([b[0] for b in batches]), torch.cat([torch.as_tensor(b[1]) for b in batches])
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"need as many labels as images (and some), got {len(images)} and {len(labels)}")
    if max_samples is not None and len(images) > max_samples:
        index = torch.linspace(0, len(images) - 1, max_samples).round().long()
        images, labels = images[index], labels[index]
    return images, labels.long()


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, device: torch.device,
            batch_size: int = 256) -> torch.Tensor:
    """``fn`` applied to ``images`` in batches on ``device``, concatenated on ``device``."""
    return torch.cat([fn(images[i : i + batch_size].to(device)) for i in range(0, len(images), batch_size)])
