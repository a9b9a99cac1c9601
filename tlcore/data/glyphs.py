"""Letters of several writing systems rendered from the fonts that matplotlib ships.

A class is a *group* of characters that look alike (Latin ``A``, Greek ``Α`` and Cyrillic ``А`` are one class), so no
two classes of the world are the same shape under another name. Each sample draws a font face, size, rotation, shift,
stroke blur and pixel noise from a generator that is a pure function of (seed, split, class, index).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
# DejaVu and STIX faces: they cover Latin, Greek and Cyrillic; DejaVu also covers Georgian.
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
)
REFERENCE_FONT = "DejaVuSans.ttf"

SCRIPTS = {
    "latin": [chr(c) for c in range(ord("A"), ord("Z") + 1)] + [chr(c) for c in range(ord("a"), ord("z") + 1)],
    "greek": [chr(c) for c in range(0x391, 0x3AA) if c != 0x3A2] + [chr(c) for c in range(0x3B1, 0x3CA) if c != 0x3C2],
    "cyrillic": [chr(c) for c in range(0x410, 0x450)],
    "georgian": [chr(c) for c in range(0x10D0, 0x10F1)],
}


@dataclass(frozen=True)
class RenderStyle:
    """Ranges of the nuisance factors drawn per sample."""

    size: int = 32
    font_px: tuple[int, int] = (18, 27)
    rotation_deg: float = 12.0
    shift_px: float = 3.0
    blur: tuple[float, float] = (0.0, 0.9)
    noise: tuple[float, float] = (0.02, 0.12)


@lru_cache(maxsize=None)
def _font(name: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), px)


@lru_cache(maxsize=None)
def faces_covering(char: str) -> tuple[str, ...]:
    """Font files that have a real glyph (not the missing-glyph box) for ``char``."""
    from matplotlib.ft2font import FT2Font

    return tuple(name for name in FONT_FILES if FT2Font(str(FONT_DIR / name)).get_char_index(ord(char)) != 0)


def render(char: str, face: str, rng: np.random.Generator, style: RenderStyle = RenderStyle()) -> np.ndarray:
    """One float32 (size, size) image in [0, 1], white strokes on black."""
    px = int(rng.integers(style.font_px[0], style.font_px[1] + 1))
    canvas = Image.new("L", (style.size * 2, style.size * 2), 0)
    draw = ImageDraw.Draw(canvas)
    centre = style.size + rng.uniform(-style.shift_px, style.shift_px, size=2)
    draw.text(tuple(centre), char, fill=255, font=_font(face, px), anchor="mm")
    canvas = canvas.rotate(rng.uniform(-style.rotation_deg, style.rotation_deg), resample=Image.BILINEAR,
                           center=(style.size, style.size))
    radius = rng.uniform(*style.blur)
    if radius > 0.05:
        canvas = canvas.filter(ImageFilter.GaussianBlur(radius))
    quarter = style.size // 2
    image = np.asarray(canvas.crop((quarter, quarter, quarter + style.size, quarter + style.size)), np.float32) / 255
    image = image + rng.normal(0.0, rng.uniform(*style.noise), size=image.shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0)


def reference_shape(char: str, size: int = 24) -> np.ndarray:
    """The glyph in the reference face, cropped to its ink and resized to a square: a size-free shape signature."""
    canvas = Image.new("L", (96, 96), 0)
    ImageDraw.Draw(canvas).text((48, 48), char, fill=255, font=_font(REFERENCE_FONT, 64), anchor="mm")
    box = canvas.getbbox()
    if box is None:
        return np.zeros((size, size), np.float32)
    # Keep the aspect ratio so that "l" and "o" do not become the same square blob.
    width, height = box[2] - box[0], box[3] - box[1]
    side = max(width, height)
    square = Image.new("L", (side, side), 0)
    square.paste(canvas.crop(box), ((side - width) // 2, (side - height) // 2))
    return np.asarray(square.resize((size, size), Image.BILINEAR), np.float32) / 255


def shape_similarity(a: str, b: str) -> float:
    """Correlation of the two characters' size-free shapes: 1 for identical glyphs."""
    x, y = reference_shape(a).ravel(), reference_shape(b).ravel()
    x, y = x - x.mean(), y - y.mean()
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12))
