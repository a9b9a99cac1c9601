"""Statistics the verdict rules share: means over seeds with bootstrap intervals."""
from __future__ import annotations

import numpy as np
import pandas as pd


def bootstrap_ci(values, *, level: float = 0.95, n_resamples: int = 4000, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` (one number per seed) and a percentile bootstrap interval."""
    values = np.asarray(values, dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("bootstrap_ci needs a non-empty array of finite values")
    generator = np.random.default_rng(seed)
    means = generator.choice(values, size=(n_resamples, values.size), replace=True).mean(axis=1)
    tail = (1 - level) / 2
    return float(values.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def paired_difference(frame: pd.DataFrame, *, by: list[str], column: str, arm: str, treated, control,
                      value: str) -> pd.DataFrame:
    """Per ``by`` group and seed: value(treated) - value(control), pairing runs on ``arm`` that share a seed.

    Returns one row per (``by``, seed) with the difference in column ``value``.
    """
    wide = frame.pivot_table(index=[*by, "seed"], columns=arm, values=column, aggfunc="mean")
    missing = {treated, control} - set(wide.columns)
    if missing:
        raise ValueError(f"column {arm!r} has no runs for {sorted(map(str, missing))}")
    out = (wide[treated] - wide[control]).rename(value).dropna().reset_index()
    return out


def summarise(differences: pd.DataFrame, *, by: list[str], value: str) -> pd.DataFrame:
    """Mean and bootstrap interval of ``value`` over seeds, per ``by`` group."""
    rows = []
    for keys, group in differences.groupby(by, sort=False):
        mean, low, high = bootstrap_ci(group[value].to_numpy())
        keys = keys if isinstance(keys, tuple) else (keys,)
        rows.append({**dict(zip(by, keys)), "mean": mean, "low": low, "high": high, "seeds": len(group)})
    return pd.DataFrame(rows)


def format_points(interval, digits: int = 1) -> str:
    """``(mean, low, high)`` in accuracy units as "+m.m [+l.l, +h.h]" percentage points, for a verdict's detail."""
    mean, low, high = (100 * v for v in interval)
    return f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"
