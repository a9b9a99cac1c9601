"""The real tier: torchvision datasets and image folders, behind the same ``load`` as the embedded world.

Nothing is downloaded unless asked (``download=True``); offline, a missing dataset fails at once with a message that
names the folder that was searched and how to fill it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..seeding import rng
from .real_specs import REAL, RealSpec, per_class_available  # noqa: F401  (re-exported: the tier's table)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DATA_ENV = "TLCORE_DATA"


class DatasetNotAvailable(FileNotFoundError):
    """A real-tier dataset is not on disk and may not be downloaded here."""


def data_root() -> Path:
    return Path(os.environ.get(DATA_ENV, Path.home() / ".cache" / "tlcore" / "data"))


@dataclass
class RealImageDataset(Dataset):
    """A view of an indexable image dataset: chosen indices, a transform, class names, and the labels up front."""

    base: Any
    indices: np.ndarray
    labels: torch.Tensor
    classes: Sequence[str]
    transform: Callable | None
    name: str
    split: str
    info: dict = field(default_factory=dict)
    evaluation_transform: Callable | None = None  # what evaluation_view() reads with; None: ``transform``

    def evaluation_view(self) -> "RealImageDataset":
        """The same images without training augmentation (a training split's random crops and flips), as features
        for probes and transferability metrics must be read: deterministic, and the same crop in every pass."""
        if self.evaluation_transform is None or self.evaluation_transform is self.transform:
            return self
        return replace(self, transform=self.evaluation_transform)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, _ = self.base[int(self.indices[index])]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def default_transform(image_size: int = 224, train: bool = False) -> Callable:
    """ImageNet-style preprocessing for timm backbones; random crop and flip only for training."""
    from torchvision import transforms as T

    if train:
        ops = [T.RandomResizedCrop(image_size, scale=(0.35, 1.0)), T.RandomHorizontalFlip()]
    else:
        ops = [T.Resize(int(image_size * 256 / 224)), T.CenterCrop(image_size)]
    return T.Compose([*ops, T.Lambda(lambda im: im.convert("RGB")), T.ToTensor(),
                      T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def _open(spec: RealSpec, part: str, root: Path, download: bool):
    """The official ``part`` ("train", "val" or "test") of ``spec``'s torchvision dataset (of a stand-in: its
    generated ImageFolder, whatever ``root`` says)."""
    import torchvision.datasets as tvd

    if spec.standin:
        from .standins import folder

        return tvd.ImageFolder(str(folder(spec.name) / spec.splits[part]["part"]))
    try:
        return getattr(tvd, spec.torchvision_class)(root=str(root), download=download, **spec.splits[part])
    except RuntimeError as error:  # torchvision's "Dataset not found or corrupted"
        raise DatasetNotAvailable(
            f"real-tier dataset {spec.name!r} ({spec.description}) is not in {root}. On a machine with internet run "
            f"tlcore.data.load({spec.name!r}, download=True) or `python -m tlcore data {spec.name} --download`, or "
            f"set ${DATA_ENV} to a folder that holds torchvision's {spec.torchvision_class} files. ({error})"
        ) from None


def _targets(base) -> np.ndarray:
    for attribute in ("targets", "_labels", "labels", "y", "_samples"):
        value = getattr(base, attribute, None)
        if value is not None:
            if attribute == "_samples":
                value = [label for _, label in value]
            return np.asarray(value, dtype=np.int64)
    return np.asarray([base[i][1] for i in range(len(base))], dtype=np.int64)


def _class_names(base, labels: np.ndarray) -> list[str]:
    names = getattr(base, "classes", None) or getattr(base, "categories", None)
    return list(names) if names else [str(c) for c in range(int(labels.max()) + 1)]


def split_indices(labels: np.ndarray, split: str, n_per_class: int | None, seed: int, *, name: str,
                  val_per_class: int, test_per_class: int = 0) -> np.ndarray:
    """Seeded per-class blocks [test | val | train] of ``labels``; ``train`` takes the first ``n_per_class``."""
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        members = members[rng(name, seed, int(c)).permutation(len(members))]
        blocks = {"test": members[:test_per_class],
                  "val": members[test_per_class : test_per_class + val_per_class],
                  "train": members[test_per_class + val_per_class :]}
        part = blocks[split]
        if len(part) == 0:
            raise ValueError(
                f"{name} class {int(c)} has {len(members)} images: up to {test_per_class} are held out for test and "
                f"then up to {val_per_class} for val, which leaves none for {split}; add images, or load it with "
                "smaller test_per_class= / val_per_class=")
        if split == "train" and n_per_class is not None:
            if n_per_class > len(part):
                raise ValueError(f"dataset {name!r} has only {len(part)} training images of class {int(c)}; asked for "
                                 f"n_per_class={n_per_class}")
            part = part[:n_per_class]
        chosen.append(part)
    return np.sort(np.concatenate(chosen))


def check_training_size(name: str, n_per_class: int | None, available: int) -> None:
    """A clear error when ``n_per_class`` training images per class are asked of a dataset that has fewer."""
    if n_per_class is not None and n_per_class > available:
        spec = REAL.get(name)
        where = f"{spec.description}, official splits {_split_names(spec)}" if spec else "its training part"
        raise ValueError(f"dataset {name!r} ({where}) has {available} training images per class; asked for "
                         f"n_per_class={n_per_class}. Use at most {available} (see tlcore.data.real.REAL).")


def _split_names(spec: RealSpec) -> str:
    return "/".join(f"{k}={v}" for k, v in spec.splits.items() if v is not None) or "none"


def load_real(name: str, split: str, n_per_class: int | None, seed: int, *, root: str | Path | None = None,
              download: bool = False, image_size: int | None = None, val_per_class: int | None = None,
              transform: Callable | None = None, decoded: bool = False) -> RealImageDataset:
    """``split`` as the dataset defines it: an official split where it has one (Flowers-102 and DTD and FGVC-Aircraft
    have train / val / test); otherwise seeded per-class blocks carved from the official training part (val:
    ``val_per_class``, default the spec's ``carve_val``; test, for Caltech-101 only: ``carve_test``). ``train``
    takes a seeded ``n_per_class`` images of every class. ``decoded=True`` returns the split decoded once to a
    memory-mapped uint8 cache (:func:`tlcore.data.decoded.decode`) with augmentation on the device.
    ``image_size``: the side the model sees (None: the spec's, 224 for torchvision datasets)."""
    spec = REAL[name]
    image_size = spec.image_size if image_size is None else image_size
    carve_val = spec.carve_val if val_per_class is None else val_per_class
    if split == "train":
        available = per_class_available(name, "train") + (0 if spec.official("val") else spec.carve_val - carve_val)
        check_training_size(name, n_per_class, available)
    root = Path(root) if root is not None else data_root()
    part = split if spec.official(split) else "train"
    base = _open(spec, part, root, download)
    labels = _targets(base)
    if split != "train" and spec.official(split):
        indices = np.arange(len(labels))
    else:
        indices = split_indices(labels, split, n_per_class, seed, name=name,
                                val_per_class=0 if spec.official("val") else carve_val,
                                test_per_class=0 if spec.official("test") else spec.carve_test)
    custom = transform is not None
    transform, evaluation = _transforms(transform, image_size, split)
    info = {"role": "real-tier", "seed": seed, "image_size": image_size, "part": part,
            "source": f"{spec.torchvision_class}:{spec.splits[part]}:{root}"}
    dataset = RealImageDataset(base, indices, torch.from_numpy(labels[indices]), _class_names(base, labels),
                               transform, name, split, info, evaluation)
    return _decoded(dataset, custom) if decoded else dataset


def _decoded(dataset: RealImageDataset, custom_transform: bool):
    if custom_transform:
        raise ValueError("decoded=True crops, flips and normalises on the device itself; it takes no transform=")
    from .decoded import decode

    return decode(dataset)


def load_folder(path: str | Path, split: str, n_per_class: int | None, seed: int, *, image_size: int = 224,
                val_per_class: int = 5, test_per_class: int = 10,
                transform: Callable | None = None, decoded: bool = False) -> RealImageDataset:
    """Any ``root/class_name/image.jpg`` folder, split per class by seed into test | val | train blocks."""
    from torchvision.datasets import ImageFolder

    path = Path(path)
    if not path.is_dir():
        raise DatasetNotAvailable(f"image folder {str(path)!r} does not exist")
    base = ImageFolder(str(path))
    labels = np.asarray(base.targets, dtype=np.int64)
    indices = split_indices(labels, split, n_per_class, seed, name=f"folder:{path.name}",
                            val_per_class=val_per_class, test_per_class=test_per_class)
    custom = transform is not None
    transform, evaluation = _transforms(transform, image_size, split)
    info = {"role": "folder", "seed": seed, "image_size": image_size, "part": "all", "source": f"folder:{path}"}
    dataset = RealImageDataset(base, indices, torch.from_numpy(labels[indices]), list(base.classes), transform,
                               f"folder:{path}", split, info, evaluation)
    return _decoded(dataset, custom) if decoded else dataset


def _transforms(transform: Callable | None, image_size: int, split: str) -> tuple[Callable, Callable]:
    """(transform, evaluation transform): a caller's transform serves both; by default the training split gets
    random crops and flips and its evaluation view the centre crop of the other splits."""
    if transform is not None:
        return transform, transform
    return default_transform(image_size, train=split == "train"), default_transform(image_size, train=False)
