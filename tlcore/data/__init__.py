"""Datasets: the embedded offline world and the real tier, behind one entry point, :func:`load`.

>>> train = load("glyphs_near", split="train", n_per_class=20, seed=0)
>>> train.images.shape
torch.Size([400, 1, 32, 32])
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import pandas as pd
import torch

from .base import ImageDataset
from .embedded import EMBEDDED, SPLITS, load_embedded
from .real import REAL, DatasetNotAvailable, RealImageDataset, load_folder, load_real

TARGETS = ("glyphs_near", "glyphs_mid", "textures_far", "digits_real")
SOURCE = "glyphs_source"

__all__ = ["load", "num_classes", "list_datasets", "evaluation_view", "picture", "union", "ImageDataset", "RealImageDataset", "DatasetNotAvailable",
           "TARGETS", "SOURCE"]


def load(name: str, split: str = "train", n_per_class: int | None = None, seed: int = 0, **kwargs):
    """Load dataset ``name``'s ``split`` ("train", "val" or "test").

    ``n_per_class`` sets the training size (validation and test sizes are fixed per dataset); ``seed`` fixes which
    samples are drawn, and the same arguments always give the same images. Names: see :func:`list_datasets`; also
    ``"folder:/path/to/images"`` for an ImageFolder tree. Real-tier keywords: ``root``, ``download``, ``image_size``.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if name in EMBEDDED:
        if kwargs:
            raise TypeError(f"embedded dataset {name!r} takes no extra arguments, got {sorted(kwargs)}")
        return _load_embedded_cached(name, split, n_per_class, seed)
    if name in REAL:
        return load_real(name, split, n_per_class, seed, **kwargs)
    if name.startswith("folder:"):
        return load_folder(name.removeprefix("folder:"), split, n_per_class, seed, **kwargs)
    raise KeyError(f"unknown dataset {name!r}; known: {', '.join([*EMBEDDED, *REAL])} or 'folder:PATH'")


def num_classes(name: str) -> int:
    """How many classes dataset ``name`` has: a real-tier dataset's from its spec (no download needed), an embedded
    one's from its validation split."""
    if name in REAL and REAL[name].classes:
        return REAL[name].classes
    return load(name, "val", seed=0).num_classes


def evaluation_view(dataset):
    """``dataset`` as features, probes and displays read it: a real-tier training split without its random crops and
    flips (:meth:`RealImageDataset.evaluation_view`); any other dataset as it is."""
    return dataset.evaluation_view() if hasattr(dataset, "evaluation_view") else dataset


def picture(dataset, index: int) -> np.ndarray:
    """Image ``index`` of ``dataset`` as a reader should see it, for ``imshow``: (H, W) grey in [0, 1] for the
    embedded world, (H, W, 3) RGB in [0, 1] for the real tier (its evaluation view, ImageNet normalisation undone)."""
    if isinstance(dataset, ImageDataset):
        return dataset.images[index, 0].numpy()
    from .real import IMAGENET_MEAN, IMAGENET_STD

    image = evaluation_view(dataset)[index][0]
    if image.dtype == torch.uint8:  # a decoded split: raw bytes, normalised on the device later
        image = image.float() / 255
    else:  # the real tier's transform normalises with ImageNet's statistics
        image = image * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]
    return image.clamp(0, 1).permute(1, 2, 0).numpy()


def union(first, second):
    """Two training samples of one dataset as one (e.g. the images two seeds' models were trained on): the images of
    ``first`` then those of ``second``, with ``first``'s transforms."""
    if isinstance(first, ImageDataset) and isinstance(second, ImageDataset):
        return ImageDataset(torch.cat([first.images, second.images]), torch.cat([first.labels, second.labels]),
                            first.classes, first.name, first.split)
    if isinstance(first, RealImageDataset) and isinstance(second, RealImageDataset) and \
            first.info.get("source") == second.info.get("source"):
        return replace(first, indices=np.concatenate([first.indices, second.indices]),
                       labels=torch.cat([first.labels, second.labels]))
    raise TypeError(f"cannot join {type(first).__name__} {first.name!r} and {type(second).__name__} "
                    f"{second.name!r}: they are not samples of one dataset")


@lru_cache(maxsize=64)
def _load_embedded_cached(name: str, split: str, n_per_class: int | None, seed: int) -> ImageDataset:
    return load_embedded(name, split, n_per_class, seed)


def list_datasets() -> pd.DataFrame:
    """One row per dataset: name, tier, role in the world, classes (embedded only), description."""
    rows = [{"name": s.name, "tier": "embedded", "role": s.role, "classes": len(s.classes()),
             "description": s.description} for s in EMBEDDED.values()]
    rows += [{"name": s.name, "tier": "real", "role": "real-tier", "classes": None, "description": s.description}
             for s in REAL.values()]
    return pd.DataFrame(rows)
