"""Stand-ins for the real tier's datasets: RGB image folders generated here, offline, in torchvision's ImageFolder
layout, so that the real tier's whole code path (image files, PIL transforms, official and carved splits, timm
backbones) runs without a download. They are what the ``real_smoke`` profile trains on.

Each stand-in copies the split structure of the dataset it stands in for: ``standin_flowers`` has official train /
val / test parts like Flowers-102, ``standin_pets`` official train and test parts with val carved from train like
Oxford-IIIT Pets. Their pictures are embedded-world images (glyphs, gratings, handwritten digits) in colour: each
image draws a foreground and a background colour, and is upsampled to ``SIDE`` pixels.

A stand-in is written once under ``cache_dir()/standins/<name>-<key>`` (the key hashes its definition and
``FORMAT``): into a temporary folder that is renamed into place when complete, with a manifest of every file's
SHA-256 that is checked once per process before the folder is used; a folder that fails the check is rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..seeding import rng
from ..storage import cache_dir, canonical_json, config_hash, exclusive

FORMAT = 1
SIDE = 72  # stored side: a 64 px training crop after the evaluation resize (64 * 256 / 224 = 73, cropped to 64)
_VERIFIED: set[str] = set()


@dataclass(frozen=True)
class StandIn:
    """A generated dataset: ``classes`` classes of embedded dataset ``content``; ``parts`` maps each official part
    (folder) to its images per class."""

    name: str
    stands_for: str
    content: str
    classes: int
    parts: dict

    def key(self) -> str:
        return config_hash({**asdict(self), "side": SIDE, "format": FORMAT}, 12)


STANDINS: dict[str, StandIn] = {
    spec.name: spec
    for spec in (
        StandIn("standin_flowers", "flowers102", "glyphs_near", 6, {"train": 10, "val": 4, "test": 8}),
        StandIn("standin_pets", "pets", "textures_far", 6, {"trainval": 24, "test": 8}),
        StandIn("standin_digits", "mnist", "digits_real", 5, {"train": 16, "test": 8}),
        StandIn("standin_digits_shifted", "svhn", "digits_real", 5, {"train": 16, "test": 8}),
    )
}


def folder(name: str) -> Path:
    """The stand-in's root (one subfolder per official part, each in ImageFolder layout), generated if missing."""
    spec = STANDINS[name]
    root = cache_dir() / "standins" / f"{name}-{spec.key()}"
    if _complete(root):
        return root
    with exclusive(root):
        if not _complete(root):
            _generate(spec, root)
    return root


def _complete(root: Path) -> bool:
    manifest = root / "manifest.json"
    if not manifest.exists():
        return False
    if str(root) in _VERIFIED:
        return True
    expected = json.loads(manifest.read_text())
    for relative, digest in expected.items():
        path = root / relative
        if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return False  # damaged: _generate replaces it, under the lock
    _VERIFIED.add(str(root))
    return True


def _generate(spec: StandIn, root: Path) -> None:
    from PIL import Image

    from .embedded import load_embedded

    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}."))
    try:
        manifest = {}
        shifted = spec.name.endswith("_shifted")
        for part, per_class in spec.parts.items():
            # Each part draws its own embedded sample (split names keep them disjoint), so parts share no image.
            source = load_embedded(spec.content, "test" if part == "test" else "train",
                                   per_class, seed=1000 + len(part))
            for c in range(spec.classes):
                (staging / part / f"class_{c:02d}").mkdir(parents=True)
                for i in range(per_class):
                    pixels = _coloured(source.images[c * per_class + i, 0], rng(spec.name, part, c, i), shifted)
                    relative = f"{part}/class_{c:02d}/{i:04d}.png"
                    Image.fromarray(pixels).save(staging / relative)
                    manifest[relative] = hashlib.sha256((staging / relative).read_bytes()).hexdigest()
        (staging / "manifest.json").write_text(canonical_json(manifest))
        if root.exists():  # a damaged copy: regenerated from nothing rather than trained on altered images
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _coloured(grey: torch.Tensor, generator: np.random.Generator, shifted: bool) -> np.ndarray:
    """A grey image in [0, 1] as an RGB uint8 picture of side ``SIDE``: strokes in one random colour on a background
    of another (``shifted``: on a noisy background, a colour analogue of MNIST-M)."""
    foreground, background = generator.random(3), generator.random(3) * 0.5
    big = F.interpolate(grey[None, None].float(), size=(SIDE, SIDE), mode="bilinear", align_corners=False)[0, 0]
    weight = big.clamp(0, 1).numpy()[..., None]
    if shifted:
        background = background + 0.5 * generator.random((SIDE, SIDE, 3))
    rgb = weight * foreground + (1 - weight) * background
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
