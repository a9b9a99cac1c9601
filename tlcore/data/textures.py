"""Procedural textures: noisy sinusoidal gratings whose class is (orientation, spatial frequency).

Nothing here looks like a letter: the information is in orientation and frequency over the whole image, not in strokes
at a place, which is why this is the *far* target. Jitter, random phase, low contrast and heavy noise keep it from
being trivially separable at small sizes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ORIENTATIONS_DEG = tuple(range(0, 180, 18))  # 10 orientations, 18 degrees apart
CYCLES_PER_IMAGE = (3.0, 4.5)  # two spatial frequencies


@dataclass(frozen=True)
class TextureStyle:
    size: int = 32
    orientation_jitter_deg: float = 6.0
    frequency_jitter: float = 0.12
    contrast: tuple[float, float] = (0.06, 0.2)
    noise: tuple[float, float] = (0.2, 0.3)


def _grating_names(orientations, frequencies) -> list[str]:
    return [f"{deg}deg/{cycles:g}cyc" for cycles in frequencies for deg in orientations]


def _class_grating(class_index: int, orientations, frequencies, rng: np.random.Generator,
                   style: "TextureStyle") -> np.ndarray:
    """Class ``class_index`` of the (frequency-major) grid ``frequencies`` x ``orientations``, rendered once."""
    cycles = frequencies[class_index // len(orientations)]
    return render_grating(orientations[class_index % len(orientations)], cycles, rng, style)


def texture_classes() -> list[str]:
    return _grating_names(ORIENTATIONS_DEG, CYCLES_PER_IMAGE)


def render_texture(class_index: int, rng: np.random.Generator, style: TextureStyle = TextureStyle()) -> np.ndarray:
    """One float32 (size, size) image in [0, 1] of texture class ``class_index``."""
    return _class_grating(class_index, ORIENTATIONS_DEG, CYCLES_PER_IMAGE, rng, style)


# The texture *source*: the same kind of image at orientations half-way between the target's and at two other
# frequencies, so it shares the target's visual statistics but none of its classes.
SOURCE_ORIENTATIONS_DEG = tuple(range(9, 180, 18))
SOURCE_CYCLES_PER_IMAGE = (2.0, 6.0)


def source_texture_classes() -> list[str]:
    return _grating_names(SOURCE_ORIENTATIONS_DEG, SOURCE_CYCLES_PER_IMAGE)


def render_source_texture(class_index: int, rng: np.random.Generator, style: TextureStyle = TextureStyle()) -> np.ndarray:
    """One float32 (size, size) image in [0, 1] of texture-source class ``class_index``."""
    return _class_grating(class_index, SOURCE_ORIENTATIONS_DEG, SOURCE_CYCLES_PER_IMAGE, rng, style)


def render_grating(degrees: float, cycles: float, rng: np.random.Generator, style: TextureStyle = TextureStyle()
                   ) -> np.ndarray:
    """A noisy grating of orientation ``degrees`` and ``cycles`` per image, both jittered by ``style``."""
    theta = np.deg2rad(degrees + rng.uniform(-style.orientation_jitter_deg, style.orientation_jitter_deg))
    frequency = cycles * (1 + rng.uniform(-style.frequency_jitter, style.frequency_jitter)) / style.size
    y, x = np.mgrid[0 : style.size, 0 : style.size].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi)
    grating = np.sin(2 * np.pi * frequency * (x * np.cos(theta) + y * np.sin(theta)) + phase)
    image = 0.5 + rng.uniform(*style.contrast) * grating
    image = image + rng.normal(0.0, rng.uniform(*style.noise), size=image.shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32)
