"""Endless shuffled training batches whose position can be saved and restored (for exact resumption)."""
from __future__ import annotations

import os
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

WORKERS_ENV = "TLCORE_WORKERS"


def loader_options(device: torch.device | str | None, *, persistent: bool = False) -> dict:
    """DataLoader settings for datasets read from disk (the real tier): worker processes (``$TLCORE_WORKERS``, else
    up to 8 when training on CUDA and none on the CPU, where they would compete with the model for the cores) and
    pinned memory for asynchronous copies to CUDA."""
    on_cuda = torch.device(device or "cpu").type == "cuda"
    configured = os.environ.get(WORKERS_ENV, "")
    workers = int(configured) if configured.strip() else (min(8, os.cpu_count() or 1) if on_cuda else 0)
    options = {"num_workers": workers, "pin_memory": on_cuda}
    if workers:
        options.update(persistent_workers=persistent, prefetch_factor=4)
    return options


class BatchStream:
    """Shuffled batches of ``batch_size`` (the last incomplete batch of each epoch is dropped), drawn with
    ``generator``.

    In-memory datasets (an ``images`` tensor and ``labels``) are moved to ``device`` once and sliced there; others go
    through a ``DataLoader`` (workers and pinned memory per :func:`loader_options`). A dataset with a
    ``batch_transform`` (the decoded real tier: uint8 items) has each batch transformed on ``device``, with random
    numbers from a generator seeded by the epoch's draw from ``generator`` and the batch's position, so skipping
    batches on resumption replays nothing. Each epoch's permutation is drawn when its first batch is asked for, so the stream
    consumes the generator exactly as the original generator-function did. ``state_dict()`` is the generator state
    at the start of the current epoch and the number of batches taken from it; ``load_state_dict`` replays the
    epoch's draws and skips that many batches (the caller then restores the generator's current state).
    """

    def __init__(self, dataset: Dataset, batch_size: int, generator: torch.Generator, device: torch.device):
        self.dataset, self.generator, self.device = dataset, generator, device
        self.batch_size = min(batch_size, len(dataset))
        images = getattr(dataset, "images", None)
        self._tensors = None
        self._batch_transform = getattr(dataset, "batch_transform", None)
        self._augment_seed = 0
        if isinstance(images, torch.Tensor):
            self._tensors = (images.to(device), dataset.labels.to(device))
            self._per_epoch = len(self._tensors[1]) // self.batch_size
        else:
            self._loader = DataLoader(dataset, batch_size=self.batch_size, shuffle=True, drop_last=True,
                                      generator=generator, **loader_options(device, persistent=True))
            self._per_epoch = len(self._loader)
        self._epoch_state: torch.Tensor | None = None
        self._position = self._per_epoch  # "epoch exhausted": the first request starts one
        self._order = None
        self._iterator: Iterator | None = None

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._position >= self._per_epoch:
            self._start_epoch()
        self._position += 1
        if self._tensors is not None:
            start = (self._position - 1) * self.batch_size
            index = self._order[start : start + self.batch_size]
            return self._tensors[0][index], self._tensors[1][index]
        inputs, labels = next(self._iterator)
        inputs, labels = inputs.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)
        if self._batch_transform is not None:
            augment = torch.Generator().manual_seed(self._augment_seed + self._position)
            inputs = self._batch_transform(inputs, generator=augment)
        return inputs, labels

    def _start_epoch(self) -> None:
        self._epoch_state = self.generator.get_state()
        self._position = 0
        if self._tensors is not None:
            self._order = torch.randperm(len(self._tensors[1]), generator=self.generator).to(self.device)
        else:
            if self._batch_transform is not None:
                self._augment_seed = int(torch.randint(2**62, (1,), generator=self.generator))
            self._iterator = iter(self._loader)

    def state_dict(self) -> dict:
        return {"epoch_state": self._epoch_state, "position": self._position}

    def load_state_dict(self, state: dict) -> None:
        if state["epoch_state"] is None:  # saved before the first batch
            self._position = self._per_epoch
            return
        self.generator.set_state(state["epoch_state"])
        self._start_epoch()
        if self._tensors is None:
            for _ in range(state["position"]):
                next(self._iterator)
        self._position = state["position"]
