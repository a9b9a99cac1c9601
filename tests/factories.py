"""Tiny models and random image sets that the fine-tuning, regulariser and adaptation tests share."""
import torch

from tlcore.data.base import ImageDataset
from tlcore.models import small_resnet


def tiny(num_classes=5, seed=0, channels=(4, 8, 8, 8)):
    """A small_resnet narrow enough to train in milliseconds, initialised from ``seed``."""
    torch.manual_seed(seed)
    return small_resnet(channels=channels, num_classes=num_classes)


def data(n, seed=0, classes=5, shift=0.0):
    """``n`` random 16x16 images (brightened by ``shift``, clipped to [0, 1]) with random labels."""
    g = torch.Generator().manual_seed(seed)
    return ImageDataset((torch.rand(n, 1, 16, 16, generator=g) + shift).clamp(0, 1),
                        torch.randint(0, classes, (n,), generator=g), [str(c) for c in range(classes)])


class CountingDataset(ImageDataset):
    """An ImageDataset that counts how often its images are read: the test split must be read once per run."""

    reads = 0

    @property
    def images(self):
        CountingDataset.reads += 1
        return self.__dict__["images"]

    @images.setter
    def images(self, value):
        self.__dict__["images"] = value
