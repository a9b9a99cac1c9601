"""The offline datasets of the embedded world, each a pure function of (split, n_per_class, seed)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..seeding import rng
from .base import ImageDataset
from .bundled import handwritten_digits
from .glyphs import RenderStyle, faces_covering, render
from .textures import TextureStyle, render_source_texture, render_texture, source_texture_classes, texture_classes
from .world import glyph_world

SPLITS = ("train", "val", "test")
# Backgrounds of the shifted glyph domain: strong gratings, so that the shift is large, with the textures' noise.
_BACKGROUND = TextureStyle(contrast=(0.25, 0.45), noise=(0.05, 0.15))


@dataclass(frozen=True)
class EmbeddedSpec:
    """How one embedded dataset is made and how large its splits are.

    ``role`` places it in the world: the source corpus, or a target at a stated distance from it (near, mid, far,
    real). ``max_train_per_class`` is None for procedural data (any size) and the pool size for bundled data.
    """

    name: str
    role: str
    description: str
    classes: Callable[[], list[str]]
    val_per_class: int
    test_per_class: int
    default_train_per_class: int
    max_train_per_class: int | None = None


def _glyph_classes(part: str) -> Callable[[], list[str]]:
    return lambda: ["".join(group) for group in getattr(glyph_world(), part)]


EMBEDDED: dict[str, EmbeddedSpec] = {
    spec.name: spec
    for spec in (
        EmbeddedSpec("glyphs_source", "source",
                     "Letters of the Latin, Greek and Cyrillic scripts (look-alikes merged), 16 font faces.",
                     _glyph_classes("source"), val_per_class=20, test_per_class=20, default_train_per_class=300),
        EmbeddedSpec("glyphs_near", "near",
                     "Held-out letters of the source scripts (no look-alike and no other case of them in the source).",
                     _glyph_classes("near"), val_per_class=10, test_per_class=30, default_train_per_class=20),
        EmbeddedSpec("glyphs_mid", "mid",
                     "Georgian letters: the same medium (rendered strokes), a script absent from the source.",
                     _glyph_classes("mid"), val_per_class=10, test_per_class=30, default_train_per_class=20),
        EmbeddedSpec("textures_far", "far",
                     "Noisy sinusoidal gratings, 10 orientations x 2 frequencies: no strokes, no letters.",
                     texture_classes, val_per_class=10, test_per_class=30, default_train_per_class=20),
        EmbeddedSpec("digits_real", "real",
                     "scikit-learn's handwritten digits (UCI, 8x8 scans), upsampled to 32x32.",
                     lambda: [str(d) for d in range(10)], val_per_class=10, test_per_class=30,
                     default_train_per_class=20, max_train_per_class=134),
        # Small sources that match one target better than the letters do (chapter 7, source data).
        EmbeddedSpec("digits_fonts", "source",
                     "The digits 0-9 rendered from the 16 font faces like the letters: a small source matched to "
                     "the handwritten digits.",
                     lambda: [str(d) for d in range(10)], val_per_class=20, test_per_class=20,
                     default_train_per_class=100),
        EmbeddedSpec("textures_source", "source",
                     "Noisy gratings at the 10 orientations half-way between the far target's and 2 other "
                     "frequencies: a small source matched to the gratings, sharing none of their classes.",
                     source_texture_classes, val_per_class=20, test_per_class=20, default_train_per_class=100),
        # The near target in a shifted domain (chapter 9, domain adaptation).
        EmbeddedSpec("glyphs_near_textured", "near, shifted domain",
                     "The near target's letters in another domain: each image is |glyph - grating|, the strokes "
                     "cut out of a random noisy grating (the grey-scale analogue of MNIST-M).",
                     _glyph_classes("near"), val_per_class=10, test_per_class=30, default_train_per_class=20),
    )
}


def load_embedded(name: str, split: str, n_per_class: int | None, seed: int) -> ImageDataset:
    spec = EMBEDDED[name]
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    per_class = {"val": spec.val_per_class, "test": spec.test_per_class}.get(
        split, spec.default_train_per_class if n_per_class is None else n_per_class
    )
    if split == "train" and (not isinstance(per_class, (int, np.integer)) or per_class < 1):
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    if spec.max_train_per_class is not None and split == "train" and per_class > spec.max_train_per_class:
        raise ValueError(
            f"{name} has only {spec.max_train_per_class} training images per class; asked for {per_class}"
        )
    classes = spec.classes()
    images = np.empty((len(classes) * per_class, 32, 32), np.float32)
    labels = np.repeat(np.arange(len(classes)), per_class)
    make = _SAMPLERS[name]
    for c in range(len(classes)):
        images[c * per_class : (c + 1) * per_class] = make(c, split, per_class, seed)
    return ImageDataset(
        torch.from_numpy(images[:, None]), torch.from_numpy(labels), classes, name, split,
        {"role": spec.role, "n_per_class": per_class, "seed": seed},
    )


def _glyph_sampler(part: str):
    def sample(c: int, split: str, count: int, seed: int) -> np.ndarray:
        group = getattr(glyph_world(), part)[c]
        out = np.empty((count, 32, 32), np.float32)
        for i in range(count):
            r = rng("glyphs", part, split, seed, c, i)
            char = group[int(r.integers(len(group)))]
            faces = faces_covering(char)
            out[i] = render(char, faces[int(r.integers(len(faces)))], r, RenderStyle())
        return out

    return sample


def _textured_glyph_sampler(c: int, split: str, count: int, seed: int) -> np.ndarray:
    # MNIST-M's recipe (Ganin et al. 2016) in grey: |glyph - background|, so a stroke shows as the background's
    # negative. The grating's class is drawn independently of the letter: the background carries no label. The
    # background is dimmed to [0, 0.5] so that strokes (then in [0.5, 1]) stay visible, as colour keeps them in
    # MNIST-M: with a full-range grey background the strokes vanished and no method beat chance (chapter 9).
    group = glyph_world().near[c]
    out = np.empty((count, 32, 32), np.float32)
    for i in range(count):
        r = rng("glyphs-textured", split, seed, c, i)
        char = group[int(r.integers(len(group)))]
        faces = faces_covering(char)
        glyph = render(char, faces[int(r.integers(len(faces)))], r, RenderStyle())
        background = 0.5 * render_texture(int(r.integers(len(texture_classes()))), r, _BACKGROUND)
        out[i] = np.abs(glyph - background)
    return out


def _texture_sampler(c: int, split: str, count: int, seed: int) -> np.ndarray:
    return np.stack([render_texture(c, rng("textures", split, seed, c, i)) for i in range(count)])


def _digit_sampler(c: int, split: str, count: int, seed: int) -> np.ndarray:
    # A finite pool: one seeded permutation per class, cut into disjoint test | val | train blocks.
    images, targets = handwritten_digits()
    members = np.flatnonzero(targets == c)
    order = members[rng("digits", seed, c).permutation(len(members))]
    spec = EMBEDDED["digits_real"]
    start = {"test": 0, "val": spec.test_per_class, "train": spec.test_per_class + spec.val_per_class}[split]
    return images[order[start : start + count]]


def _font_digit_sampler(c: int, split: str, count: int, seed: int) -> np.ndarray:
    char = str(c)
    faces = faces_covering(char)
    out = np.empty((count, 32, 32), np.float32)
    for i in range(count):
        r = rng("digits-fonts", split, seed, c, i)
        out[i] = render(char, faces[int(r.integers(len(faces)))], r, RenderStyle())
    return out


def _source_texture_sampler(c: int, split: str, count: int, seed: int) -> np.ndarray:
    return np.stack([render_source_texture(c, rng("textures-source", split, seed, c, i)) for i in range(count)])


_SAMPLERS = {
    "glyphs_source": _glyph_sampler("source"),
    "glyphs_near": _glyph_sampler("near"),
    "glyphs_mid": _glyph_sampler("mid"),
    "textures_far": _texture_sampler,
    "digits_real": _digit_sampler,
    "digits_fonts": _font_digit_sampler,
    "textures_source": _source_texture_sampler,
    "glyphs_near_textured": _textured_glyph_sampler,
}
