"""The one dataset type every tlcore experiment sees, whatever tier it comes from."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset


@dataclass
class ImageDataset(Dataset):
    """Images held in memory as one tensor, with integer labels and class names.

    ``images``: float32 tensor (N, C, H, W) with values in [0, 1]; ``labels``: int64 tensor (N,) with values in
    0..len(classes)-1. Small embedded datasets live entirely in this form, so the training loop can slice batches
    from a tensor instead of going through a DataLoader.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: Sequence[str]
    name: str = "unnamed"
    split: str = "train"
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(self.images.shape)}")
        if self.labels.ndim != 1 or len(self.labels) != len(self.images):
            raise ValueError(
                f"labels must have shape ({len(self.images)},), got {tuple(self.labels.shape)}"
            )
        if not torch.isfinite(self.images).all():
            raise ValueError(f"dataset {self.name!r} ({self.split}) contains NaN or inf pixels")
        if len(self.labels) and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.classes)):
            raise ValueError(f"labels of {self.name!r} must lie in 0..{len(self.classes) - 1}")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def counts(self) -> np.ndarray:
        """Samples per class, shape (num_classes,)."""
        return np.bincount(self.labels.numpy(), minlength=self.num_classes)

    def subset(self, indices: Sequence[int] | torch.Tensor, split: str | None = None) -> "ImageDataset":
        indices = torch.as_tensor(indices, dtype=torch.long)
        return ImageDataset(
            self.images[indices], self.labels[indices], list(self.classes), self.name, split or self.split,
            dict(self.info),
        )

    def __repr__(self) -> str:
        return (
            f"ImageDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"classes={self.num_classes}, shape={self.image_shape})"
        )
