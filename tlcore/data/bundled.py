"""Real images that ship inside installed packages: no one in this project made them, nothing is downloaded."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F


@lru_cache(maxsize=1)
def handwritten_digits(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits (8x8, 16 grey levels), upsampled to ``size``: (N, size, size), (N,)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0)[:, None]
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    return images.clamp(0, 1).numpy(), digits.target.astype(np.int64)
