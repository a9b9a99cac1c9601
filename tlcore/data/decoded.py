"""Real-tier splits decoded once: every image of a dataset's official part (or image folder) is read, resized and
centre-cropped to a square of ``stored_size(image_size)`` pixels and written as one raw uint8 array (N, 3, S, S) under
the data cache; later runs memory-map it. Cropping, flipping and normalisation then run on whole batches on the
model's device (:meth:`DecodedImageDataset.batch_transform`), so the CPU only copies bytes.

The file is named by a SHA-256 key of what it holds (the dataset's source, its image files and their sizes and
modification times, the stored size, the format), is written to a temporary file and renamed into place, and its
own SHA-256 is recorded beside it and checked once per process before it is read; a file that fails the check is
rebuilt. The evaluation view (centre crop) gives the same pixels, bit for bit, as the PIL path
(``Resize(S)`` + ``CenterCrop(image_size)``) whenever ``S - image_size`` is even, as for 224 -> 256.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .real import IMAGENET_MEAN, IMAGENET_STD, RealImageDataset, data_root

FORMAT = 1
_VERIFIED: set[tuple[str, int, int]] = set()  # (path, size, mtime_ns) checked in this process


def stored_size(image_size: int) -> int:
    """The side the images are stored at: what the evaluation transform resizes to before its centre crop."""
    return int(image_size * 256 / 224)


def cache_folder() -> Path:
    return data_root() / "decoded"


@dataclass
class DecodedImageDataset(Dataset):
    """Chosen images of a memory-mapped uint8 array. Items are ``(uint8 (3, S, S) tensor, label)``; a batch of them
    becomes model input through :meth:`batch_transform` (random resized crops and flips for a training split,
    the centre crop otherwise, then ImageNet normalisation), on whatever device the batch is on."""

    path: Path
    shape: tuple[int, int, int, int]
    indices: np.ndarray
    labels: torch.Tensor
    classes: Sequence[str]
    name: str
    split: str
    image_size: int
    train: bool
    info: dict = field(default_factory=dict)
    scale: tuple[float, float] = (0.35, 1.0)  # the PIL path's RandomResizedCrop scale
    _array: Any = field(default=None, repr=False, compare=False)

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = np.memmap(self.path, dtype=np.uint8, mode="r", shape=self.shape)
        return self._array

    def __getstate__(self) -> dict:  # worker processes started by "spawn" reopen the file instead of copying it
        return {**self.__dict__, "_array": None}

    def evaluation_view(self) -> "DecodedImageDataset":
        return replace(self, train=False) if self.train else self

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(np.array(self.array[int(self.indices[index])])), int(self.labels[index])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def batch_transform(self, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 (B, 3, S, S) -> normalised float32 (B, 3, image_size, image_size) on ``pixels``' device."""
        images = pixels.float().div_(255)
        if self.train:
            images = random_resized_crop(images, self.image_size, self.scale, generator)
        else:
            images = centre_crop(images, self.image_size)
        mean = torch.as_tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device).view(-1, 1, 1)
        std = torch.as_tensor(IMAGENET_STD, dtype=images.dtype, device=images.device).view(-1, 1, 1)
        return images.sub_(mean).div_(std)


def centre_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """torchvision's ``CenterCrop`` offsets, on a batch."""
    height, width = images.shape[-2:]
    top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
    return images[..., top : top + size, left : left + size]


def random_resized_crop(images: torch.Tensor, size: int, scale: tuple[float, float],
                        generator: torch.Generator | None = None,
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """Per image: a crop of a uniform fraction ``scale`` of the area with log-uniform aspect ``ratio`` (clipped to
    the image instead of torchvision's redraws), at a uniform position, flipped with probability 1/2, resampled
    bilinearly to ``size`` by one batched ``grid_sample``. Random numbers come from ``generator`` (on the CPU)."""
    count = images.shape[0]
    draws = torch.rand(count, 5, generator=generator)
    area = scale[0] + (scale[1] - scale[0]) * draws[:, 0]
    log_ratio = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * draws[:, 1]
    width = torch.sqrt(area * log_ratio.exp()).clamp(max=1.0)  # fractions of the image's side
    height = torch.sqrt(area / log_ratio.exp()).clamp(max=1.0)
    centre_x = (1 - width) * (2 * draws[:, 2] - 1)  # normalised coordinates in [-1, 1]
    centre_y = (1 - height) * (2 * draws[:, 3] - 1)
    flip = torch.where(draws[:, 4] < 0.5, -1.0, 1.0)
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = width * flip, centre_x
    theta[:, 1, 1], theta[:, 1, 2] = height, centre_y
    theta = theta.to(images.device, images.dtype)
    grid = F.affine_grid(theta, [count, images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


class _Decoder(Dataset):
    """Image ``i`` of ``base`` as RGB, resized (shorter side) and centre-cropped to ``side``, uint8 (3, side, side)."""

    def __init__(self, base, side: int):
        self.base, self.side = base, side

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> torch.Tensor:
        from torchvision.transforms import functional as TF

        image, _ = self.base[index]
        image = TF.center_crop(TF.resize(image.convert("RGB"), self.side), self.side)
        return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def _files(base) -> list:
    for attribute in ("samples", "_samples", "_image_files", "_images", "index"):
        value = getattr(base, attribute, None)
        if value is not None:
            return [item[0] if isinstance(item, tuple) else item for item in value]
    return []


def cache_key(dataset: RealImageDataset, side: int) -> str:
    """SHA-256 of what the decoded file holds: source, image files (path, size, mtime), side, format."""
    files = []
    for path in _files(dataset.base):
        try:
            stat = os.stat(path)
            files.append((str(path), stat.st_size, stat.st_mtime_ns))
        except (OSError, TypeError):
            files.append((str(path),))
    described = {"format": FORMAT, "source": dataset.info.get("source", dataset.name), "count": len(dataset.base),
                 "side": side, "files": files}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path: Path, chunk: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, meta: dict) -> bool:
    stat = path.stat() if path.exists() else None
    if stat is None or stat.st_size != math.prod(meta["shape"]):
        return False
    token = (str(path), stat.st_size, stat.st_mtime_ns)
    if token not in _VERIFIED:
        if file_digest(path) != meta["sha256"]:
            return False
        _VERIFIED.add(token)
    return True


def _write(base, side: int, path: Path, workers: int) -> dict:
    """Decode every image of ``base`` into ``path`` atomically (temporary file, then rename); returns its metadata."""
    shape = (len(base), 3, side, side)
    temporary = path.with_name(f"{path.name}.tmp{os.getpid()}")
    array = np.memmap(temporary, dtype=np.uint8, mode="w+", shape=shape)
    digest, start = hashlib.sha256(), 0
    try:
        loader = DataLoader(_Decoder(base, side), batch_size=32, shuffle=False, num_workers=workers)
        for block in loader:
            rows = block.numpy()
            array[start : start + len(rows)] = rows
            digest.update(np.ascontiguousarray(rows).tobytes())
            start += len(rows)
        array.flush()
        del array
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return {"format": FORMAT, "shape": list(shape), "sha256": digest.hexdigest()}


def decode(dataset: RealImageDataset, *, folder: str | Path | None = None,
           workers: int | None = None) -> DecodedImageDataset:
    """``dataset`` (a real-tier split or image folder, default transforms) read from its decoded cache, which is
    built on first use: the whole underlying part, so every size and seed of that part shares one file."""
    image_size = int(dataset.info.get("image_size", 224))
    side = stored_size(image_size)
    folder = Path(folder) if folder is not None else cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    slug = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in dataset.name)[-40:]
    key = cache_key(dataset, side)
    path = folder / f"{slug}-{dataset.info.get('part', dataset.split)}-{side}-{key[:20]}.u8"
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    if meta is not None and not _verified(path, meta):
        warnings.warn(f"decoded cache {path} does not match its recorded SHA-256; rebuilding it", stacklevel=2)
        meta = None
    if meta is None:
        meta = _write(dataset.base, side, path, min(8, os.cpu_count() or 1) if workers is None else workers)
        temporary = meta_path.with_name(f"{meta_path.name}.tmp{os.getpid()}")
        temporary.write_text(json.dumps({**meta, "key": key, "name": dataset.name}))
        os.replace(temporary, meta_path)
        _VERIFIED.add((str(path), path.stat().st_size, path.stat().st_mtime_ns))
    return DecodedImageDataset(path, tuple(meta["shape"]), np.asarray(dataset.indices), dataset.labels,
                               list(dataset.classes), dataset.name, dataset.split, image_size,
                               dataset.split == "train", {**dataset.info, "decoded": str(path)})
