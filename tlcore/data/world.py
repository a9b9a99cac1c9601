"""The embedded world: which character groups make the source and each glyph target.

Built once, deterministically, from the reference face: characters whose size-free shapes correlate above
``MERGE_THRESHOLD`` are one class; the *near* target takes held-out groups of the source scripts and every source group
that looks like one of them (correlation above ``LOOKALIKE_THRESHOLD``) or holds the same letter in the other case
is removed from the source, so *near* is new
shapes drawn the same way rather than renamed copies; *mid* is Georgian, a script with no letter in the source.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..seeding import rng
from .glyphs import SCRIPTS, reference_shape

MERGE_THRESHOLD = 0.85
LOOKALIKE_THRESHOLD = 0.75
SOURCE_SCRIPTS = ("latin", "greek", "cyrillic")
NEAR_CLASSES = 20
MID_CLASSES = 20


@dataclass(frozen=True)
class GlyphWorld:
    source: tuple[tuple[str, ...], ...]
    near: tuple[tuple[str, ...], ...]
    mid: tuple[tuple[str, ...], ...]


def _shape_matrix(chars: list[str]) -> np.ndarray:
    shapes = np.stack([reference_shape(c).ravel() for c in chars])
    shapes -= shapes.mean(axis=1, keepdims=True)
    shapes /= np.linalg.norm(shapes, axis=1, keepdims=True) + 1e-12
    return shapes


def group_lookalikes(chars: list[str], threshold: float = MERGE_THRESHOLD) -> list[tuple[str, ...]]:
    """Connected components of the graph 'shape correlation >= threshold', in order of first appearance."""
    shapes = _shape_matrix(chars)
    similar = shapes @ shapes.T >= threshold
    parent = list(range(len(chars)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(similar, 1))):
        parent[find(j)] = find(i)
    groups: dict[int, list[str]] = {}
    for i, char in enumerate(chars):
        groups.setdefault(find(i), []).append(char)
    return [tuple(g) for g in groups.values()]


def _max_similarity(group: tuple[str, ...], others: list[tuple[str, ...]]) -> float:
    if not others:
        return -1.0
    a = _shape_matrix(list(group))
    b = _shape_matrix([c for g in others for c in g])
    return float((a @ b.T).max())


@lru_cache(maxsize=1)
def glyph_world() -> GlyphWorld:
    """The class lists of the glyph datasets; a pure function of the fonts and the constants above."""
    candidates = group_lookalikes([c for script in SOURCE_SCRIPTS for c in SCRIPTS[script]])
    order = rng("glyph-world", "near").permutation(len(candidates))
    near: list[tuple[str, ...]] = []
    for index in order:
        group = candidates[index]
        if len(near) < NEAR_CLASSES and _max_similarity(group, near) < LOOKALIKE_THRESHOLD:
            near.append(group)
    held_out = {c for g in near for c in g} | {c.swapcase() for g in near for c in g}
    source = [
        g for g in candidates
        if not held_out.intersection(g) and _max_similarity(g, near) < LOOKALIKE_THRESHOLD
    ]

    georgian = group_lookalikes(SCRIPTS["georgian"])
    mid = [g for g in georgian if _max_similarity(g, source + near) < LOOKALIKE_THRESHOLD]
    mid = [mid[i] for i in sorted(rng("glyph-world", "mid").permutation(len(mid))[:MID_CLASSES])]
    return GlyphWorld(tuple(source), tuple(near), tuple(mid))
