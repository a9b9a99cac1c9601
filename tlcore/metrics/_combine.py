"""Scores whose authors combine per-model terms after min-max scaling each term over the candidate models."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def terms_table(terms: Sequence[tuple], fields: tuple[str, ...]) -> np.ndarray:
    """(M, T) float64 table of the terms of M models, checked to be finite."""
    table = np.asarray([tuple(t) for t in terms], dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != len(fields) or len(table) == 0:
        raise ValueError(f"terms must be a non-empty sequence of ({', '.join(fields)}) tuples, one per model")
    if not np.isfinite(table).all():
        raise ValueError("terms contain NaN or inf")
    return table


def min_max(values: np.ndarray) -> np.ndarray:
    """``(v - min) / (max - min)``; 0 for every model when all values are equal (no model stands out)."""
    spread = values.max() - values.min()
    return np.zeros_like(values) if spread == 0 else (values - values.min()) / spread
