"""One call fixes every source of randomness that a run touches."""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU generator seeded the same way.

    The returned generator is what tlcore passes to anything that draws batches or augmentations, so that data order
    and augmentation depend on ``seed`` alone and not on how many random numbers other code consumed before.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return generator


def rng(*keys: int | str) -> np.random.Generator:
    """A numpy generator that is a pure function of ``keys`` (ints or strings), independent of global state."""
    entropy = [k if isinstance(k, int) else _string_to_int(k) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def _string_to_int(text: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
