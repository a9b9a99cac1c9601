"""Reading a hyper-parameter grid: effective learning rate, spread over the grid, the validation optimum, and
resampling seeds so that every quantity derived from a grid gets an interval."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr


def effective_learning_rate(lr, momentum):
    """``lr / (1 - momentum)``: the step size SGD with momentum takes in a steady gradient direction (Li et al. 2020
    compare fine-tuning learning rates at equal effective learning rate)."""
    lr, momentum = np.asarray(lr, dtype=float), np.asarray(momentum, dtype=float)
    if np.any(lr <= 0) or np.any((momentum < 0) | (momentum >= 1)):
        raise ValueError(f"need lr > 0 and 0 <= momentum < 1; got lr={lr}, momentum={momentum}")
    # Ten significant digits, so that equal rates are equal (0.03 / (1 - 0.9) is 0.29999999999999993 in floats):
    # optima are ranked, and a spurious order between equal rates would change a rank correlation.
    out = np.vectorize(lambda v: float(f"{v:.10g}"), otypes=[float])(lr / (1 - momentum))
    return float(out) if out.ndim == 0 else out


def score_diverged(frame: pd.DataFrame, columns=("val_accuracy", "test_accuracy")) -> pd.DataFrame:
    """A copy where a diverged run (no accuracy) scores the chance level in ``frame["chance"]``: a learning rate
    that blows up is the worst point of a grid, not a missing one."""
    if "chance" not in frame:
        raise KeyError("score_diverged needs a 'chance' column (1 / number of classes)")
    out = frame.copy()
    for column in columns:
        out[column] = out[column].fillna(out["chance"])
    return out


def grid_spread(grid: pd.DataFrame, *, by=("target", "n_per_class"), metric: str = "test_accuracy") -> pd.DataFrame:
    """Per ``by`` group and seed: the range (max - min) of ``metric`` over the grid's cells, in column ``spread``."""
    by = list(by)
    spread = grid.groupby([*by, "seed"])[metric].agg(lambda v: v.max() - v.min())
    return spread.rename("spread").reset_index()


def optimum(grid: pd.DataFrame, *, by=("target", "n_per_class"), cell=("protocol_lr", "protocol_momentum"),
            metric: str = "val_accuracy", seed_weights: dict | None = None) -> pd.DataFrame:
    """Per ``by`` group, the grid cell with the best mean ``metric`` over seeds (validation only), with its
    ``effective_lr``. ``seed_weights`` ({seed: count}) weights seeds, as a bootstrap resample does. Ties go to the
    first cell in sorted order."""
    if metric.startswith("test"):
        raise ValueError("the optimum is chosen on validation data, never on the test split")
    by, cell = list(by), list(cell)
    frame = grid
    if seed_weights is not None:
        frame = grid[grid.seed.isin(seed_weights)].assign(weight=lambda f: f.seed.map(seed_weights))
    else:
        frame = grid.assign(weight=1.0)
    frame = frame.assign(weighted=frame[metric] * frame["weight"])
    sums = frame.groupby([*by, *cell], as_index=False)[["weighted", "weight"]].sum()
    sums[metric] = sums["weighted"] / sums["weight"]
    sums = sums.sort_values([*by, *cell]).reset_index(drop=True)
    best = sums.loc[sums.groupby(by)[metric].idxmax(), [*by, *cell, metric]].reset_index(drop=True)
    best["effective_lr"] = effective_learning_rate(best[cell[0]].to_numpy(), best[cell[1]].to_numpy())
    return best


def seed_resamples(seeds, n_resamples: int = 1000, seed: int = 0):
    """Bootstrap resamples of ``seeds`` as {seed: count} dicts (the first is the sample itself)."""
    seeds = sorted(set(seeds))
    if len(seeds) < 2:
        raise ValueError(f"resampling needs at least 2 seeds, got {seeds}")
    generator = np.random.default_rng(seed)
    yield {s: 1 for s in seeds}
    for _ in range(n_resamples):
        values, counts = np.unique(generator.choice(seeds, size=len(seeds), replace=True), return_counts=True)
        yield dict(zip(values.tolist(), counts.tolist()))


def rank_correlation(x: pd.Series, y: pd.Series) -> float:
    """Spearman's rho between two series aligned on their index; 0 where either is constant (no ranking)."""
    x, y = x.align(y, join="inner")
    if len(x) < 2:
        raise ValueError(f"a rank correlation needs at least 2 paired values, got {len(x)}")
    if x.nunique() < 2 or y.nunique() < 2:
        return 0.0
    return float(spearmanr(x.to_numpy(), y.to_numpy()).statistic)


def weighted_seed_mean(frame: pd.DataFrame, *, by: str, column: str, seed_weights: dict) -> pd.Series:
    """Mean of ``column`` per value of ``by`` over seeds weighted by ``seed_weights`` ({seed: count})."""
    frame = frame[frame.seed.isin(seed_weights)]
    weights, keys = frame.seed.map(seed_weights), frame[by]
    return (frame[column] * weights).groupby(keys).sum() / weights.groupby(keys).sum()
