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

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DATA_ENV = "TLCORE_DATA"


class DatasetNotAvailable(FileNotFoundError):
    """A real-tier dataset is not on disk and may not be downloaded here."""


@dataclass(frozen=True)
class RealSpec:
    """A torchvision dataset as the dataset defines it: the constructor keywords of each official split (``None``
    where the dataset has no such split and it is carved by seed from the training part: ``carve_val`` and
    ``carve_test`` images per class), and ``per_class``, the fewest images any class has in each official split."""

    name: str
    torchvision_class: str
    splits: dict  # "train" / "val" / "test" -> torchvision keywords, or None: carved from the "train" part
    per_class: dict  # official split -> images per class in its smallest class (see the table's sources below)
    description: str
    carve_val: int = 10
    carve_test: int = 0

    def official(self, split: str) -> bool:
        return self.splits.get(split) is not None


# Per-class counts, smallest class of each official split. Sources: torchvision's dataset docs (pytorch.org/vision,
# datasets.Flowers102 / DTD / FGVCAircraft / OxfordIIITPet / StanfordCars / CIFAR10 / CIFAR100 / Caltech101) and the
# datasets' own pages and papers.
# - Flowers-102 (Nilsback & Zisserman 2008): train 1,020 and val 1,020 images = 10 per class; test 6,149, at least 20
#   per class (every class has 40 to 258 images).
# - DTD (Cimpoi et al. 2014): 5,640 images, 120 per class; each of the 10 partitions splits them 40 / 40 / 40 into
#   train / val / test (partition 1 here).
# - FGVC-Aircraft (Maji et al. 2013), variant level: 100 images of each of 100 variants split into train 3,334 /
#   val 3,333 / test 3,333, i.e. 33 or 34 per class in each.
# - Oxford-IIIT Pets (Parkhi et al. 2012): trainval 3,680 / test 3,669 over 37 breeds, about 100 per breed in each;
#   a few breeds have fewer. 93 (trainval) and 88 (test) are conservative lower bounds, not re-counted from the
#   annotation files here (the loader counts the real classes and says so when one is short).
# - Stanford Cars (Krause et al. 2013): train 8,144 / test 8,041 over 196 models (41.6 per class on average, "roughly
#   50-50" per class); the smallest class has 24 training images (recalled from the annotation files, not re-counted
#   here; the test count is the same conservative bound).
# - CIFAR-10 / CIFAR-100: 5,000 / 500 training and 1,000 / 100 test images per class.
# - Caltech-101 (Fei-Fei et al. 2004): no official split; 31 to 800 images per category, so after the carved 20 test
#   and 10 val images its smallest class keeps 1 training image.
REAL: dict[str, RealSpec] = {
    spec.name: spec
    for spec in (
        RealSpec("pets", "OxfordIIITPet", {"train": {"split": "trainval"}, "val": None, "test": {"split": "test"}},
                 {"train": 93, "test": 88}, "Oxford-IIIT Pets, 37 breeds"),
        RealSpec("flowers102", "Flowers102",
                 {"train": {"split": "train"}, "val": {"split": "val"}, "test": {"split": "test"}},
                 {"train": 10, "val": 10, "test": 20}, "Oxford 102 Flowers"),
        RealSpec("dtd", "DTD", {"train": {"split": "train", "partition": 1}, "val": {"split": "val", "partition": 1},
                                "test": {"split": "test", "partition": 1}},
                 {"train": 40, "val": 40, "test": 40}, "Describable Textures, 47 classes"),
        RealSpec("stanford_cars", "StanfordCars", {"train": {"split": "train"}, "val": None, "test": {"split": "test"}},
                 {"train": 24, "test": 24}, "Stanford Cars, 196 models"),
        RealSpec("fgvc_aircraft", "FGVCAircraft",
                 {"train": {"split": "train"}, "val": {"split": "val"}, "test": {"split": "test"}},
                 {"train": 33, "val": 33, "test": 33}, "FGVC Aircraft, 100 variants"),
        RealSpec("cifar10", "CIFAR10", {"train": {"train": True}, "val": None, "test": {"train": False}},
                 {"train": 5000, "test": 1000}, "CIFAR-10"),
        RealSpec("cifar100", "CIFAR100", {"train": {"train": True}, "val": None, "test": {"train": False}},
                 {"train": 500, "test": 100}, "CIFAR-100"),
        RealSpec("caltech101", "Caltech101", {"train": {}, "val": None, "test": None}, {"train": 31},
                 "Caltech-101 (no official split: val and test carved by seed)", carve_test=20),
    )
}


def per_class_available(name: str, split: str) -> int:
    """Images per class that ``load(name, split)`` can give (its smallest class), from the table above: an official
    split's own count; a carved val or test block's size; the training part less the blocks carved from it."""
    spec = REAL[name]
    if split not in ("train", "val", "test"):
        raise ValueError(f"unknown split {split!r}")
    if split != "train":
        return spec.per_class[split] if spec.official(split) else spec.carve_val if split == "val" else spec.carve_test
    return spec.per_class["train"] - (0 if spec.official("val") else spec.carve_val) - \
        (0 if spec.official("test") else spec.carve_test)


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


def _open_torchvision(spec: RealSpec, part: str, root: Path, download: bool):
    """The official ``part`` ("train", "val" or "test") of ``spec``'s torchvision dataset."""
    import torchvision.datasets as tvd

    try:
        return getattr(tvd, spec.torchvision_class)(root=str(root), download=download, **spec.splits[part])
    except RuntimeError as error:  # torchvision's "Dataset not found or corrupted"
        raise DatasetNotAvailable(
            f"real-tier dataset {spec.name!r} ({spec.description}) is not in {root}. On a machine with internet run "
            f"tlcore.data.load({spec.name!r}, download=True) or `python -m tlcore data {spec.name} --download`, or "
            f"set ${DATA_ENV} to a folder that holds torchvision's {spec.torchvision_class} files. ({error})"
        ) from None


def _targets(base) -> np.ndarray:
    for attribute in ("targets", "_labels", "y", "_samples"):
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
              download: bool = False, image_size: int = 224, val_per_class: int | None = None,
              transform: Callable | None = None, decoded: bool = False) -> RealImageDataset:
    """``split`` as the dataset defines it: an official split where it has one (Flowers-102 and DTD and FGVC-Aircraft
    have train / val / test); otherwise seeded per-class blocks carved from the official training part (val:
    ``val_per_class``, default the spec's ``carve_val``; test, for Caltech-101 only: ``carve_test``). ``train``
    takes a seeded ``n_per_class`` images of every class. ``decoded=True`` returns the split decoded once to a
    memory-mapped uint8 cache (:func:`tlcore.data.decoded.decode`) with augmentation on the device."""
    spec = REAL[name]
    carve_val = spec.carve_val if val_per_class is None else val_per_class
    if split == "train":
        available = per_class_available(name, "train") + (0 if spec.official("val") else spec.carve_val - carve_val)
        check_training_size(name, n_per_class, available)
    root = Path(root) if root is not None else data_root()
    part = split if spec.official(split) else "train"
    base = _open_torchvision(spec, part, root, download)
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
