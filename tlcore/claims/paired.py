"""The primary test on per-seed paired differences: the t test and interval, the exact sign-flip test.

See :mod:`tlcore.claims.inference` for the choices (interval, methods, ties). ``paired_tests`` is vectorised over a
batch of claims (rows) so that the calibration simulates exactly the computation that judges a claim.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .primary_test import PrimaryTest, TestResult

EXACT_SIGN_FLIP_MAX_N = 16
SIGN_FLIP_DRAWS = 100_000  # Monte Carlo sign patterns for n > 16; the MC error of p near 0.05 is about 0.0007
_TIE_TOLERANCE = 100 * np.finfo(float).eps
_MAX_NULL_CELLS = 1 << 22  # rows x patterns per chunk of the batched sign-flip test (32 MiB of float64)


def _as_batch(differences, *, name: str = "differences") -> np.ndarray:
    values = np.asarray(differences, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"{name} must be 2-D (batch x seeds), got shape {values.shape}")
    if values.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 paired differences (seeds), got {values.shape[1]}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return values


def _as_vector(differences) -> np.ndarray:
    try:
        values = np.asarray(differences, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"paired differences must be numbers: {error}") from None
    if values.ndim != 1:
        raise ValueError(f"paired differences must be a 1-D array (one value per seed), got shape {values.shape}")
    if values.size < 2:
        raise ValueError(f"a paired test needs at least 2 paired differences (seeds), got {values.size}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"paired differences must be finite, got {values.tolist()}")
    return values


def _sign_patterns(n: int) -> np.ndarray:
    """All 2**n sign patterns as a (2**n, n) array of +-1; row 0 is all +1 (the observed sample)."""
    bits = (np.arange(1 << n)[:, None] >> np.arange(n)) & 1
    return 1.0 - 2.0 * bits


def sign_flip_pvalues(differences, *, n_draws: int = SIGN_FLIP_DRAWS, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray, bool, int]:
    """One-sided sign-flip p-values for each row of ``differences`` (shape (batch, n)).

    Returns ``(p_greater, p_less, exact, n_patterns)``: the probabilities, under random signs, of a sum at least
    (at most) the observed one. Exact enumeration of the 2**n patterns for n <= 16, else ``n_draws`` random
    patterns from ``numpy.random.default_rng(seed)`` shared by all rows, with p = (count + 1) / (n_draws + 1).
    Agrees with ``scipy.stats.permutation_test((d,), mean, permutation_type="samples")`` (see module notes).
    """
    values = _as_batch(differences)
    n = values.shape[1]
    if n <= EXACT_SIGN_FLIP_MAX_N:
        patterns, exact, adjustment = _sign_patterns(n), True, 0
    else:
        if n_draws < 1:
            raise ValueError(f"n_draws must be >= 1, got {n_draws}")
        generator = np.random.default_rng(seed)
        patterns = 1.0 - 2.0 * generator.integers(0, 2, size=(n_draws, n))
        exact, adjustment = False, 1
    observed = values.sum(axis=1)
    gamma = _TIE_TOLERANCE * np.abs(values).sum(axis=1)
    count_greater = np.empty(len(values))
    count_less = np.empty(len(values))
    rows = max(1, _MAX_NULL_CELLS // len(patterns))
    for start in range(0, len(values), rows):
        block = slice(start, start + rows)
        null = values[block] @ patterns.T  # (rows, patterns): the sum under each sign pattern
        count_greater[block] = np.count_nonzero(null >= (observed[block] - gamma[block])[:, None], axis=1)
        count_less[block] = np.count_nonzero(null <= (observed[block] + gamma[block])[:, None], axis=1)
    total = len(patterns) + adjustment
    p_greater = np.clip((count_greater + adjustment) / total, 0.0, 1.0)
    p_less = np.clip((count_less + adjustment) / total, 0.0, 1.0)
    return p_greater, p_less, exact, len(patterns)


def _t_parts(values: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """Vectorised t statistics, one-sided p-values and the 1 - 2*alpha interval, per row of ``values``."""
    n = values.shape[1]
    df = n - 1
    mean = values.mean(axis=1)
    sd = values.std(axis=1, ddof=1)
    # exactly equal values can give a tiny non-zero sd from rounding; treat relative spread below 1e-12 as none
    degenerate = sd <= 1e-12 * np.maximum(np.abs(mean), np.finfo(float).tiny)
    sd = np.where(degenerate, 0.0, sd)
    se = sd / math.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_stat = np.where(degenerate, np.sign(mean) * np.inf, mean / se)
    p_greater = stats.t.sf(t_stat, df)
    p_less = stats.t.cdf(t_stat, df)
    zero = degenerate & (mean == 0)
    p_greater = np.where(zero, 1.0, p_greater)
    p_less = np.where(zero, 1.0, p_less)
    t_stat = np.where(zero, np.nan, t_stat)
    half = stats.t.ppf(1 - alpha, df) * se
    return {"mean": mean, "sd": sd, "se": se, "t": t_stat, "df": df, "p_greater": p_greater, "p_less": p_less,
            "low": mean - half, "high": mean + half, "degenerate": degenerate}


def paired_tests(differences, test: PrimaryTest, *, n_draws: int = SIGN_FLIP_DRAWS, seed: int = 0
                 ) -> dict[str, np.ndarray]:
    """The vectorised form of :func:`paired_test`: one test per row of ``differences`` (shape (batch, n)).

    Returns a dict of arrays of length ``batch``: effect, sd, se, low, high, t_statistic, p_value, p_opposite,
    degenerate; and scalars n, df, level, exact, n_patterns, min_p. :func:`paired_test` is this on one row, so the
    calibration simulates exactly the computation that judges the claims.
    """
    values = _as_batch(differences)
    parts = _t_parts(values, test.alpha)
    n = values.shape[1]
    if test.method == "t":
        p_greater, p_less, exact, n_patterns, min_p = parts["p_greater"], parts["p_less"], True, 0, 0.0
    else:
        p_greater, p_less, exact, n_patterns = sign_flip_pvalues(values, n_draws=n_draws, seed=seed)
        min_p = 2.0 ** -n if exact else 1.0 / (n_patterns + 1)
    p_value, p_opposite = (p_greater, p_less) if test.direction == "greater" else (p_less, p_greater)
    return {"n": n, "df": parts["df"], "level": test.level, "exact": exact, "n_patterns": n_patterns, "min_p": min_p,
            "effect": parts["mean"], "sd": parts["sd"], "se": parts["se"], "low": parts["low"],
            "high": parts["high"], "t_statistic": parts["t"], "p_value": p_value, "p_opposite": p_opposite,
            "degenerate": parts["degenerate"]}


def paired_test(differences, test: PrimaryTest, *, n_draws: int = SIGN_FLIP_DRAWS, seed: int = 0) -> TestResult:
    """Run ``test`` on one claim's per-seed paired differences.

    differences: 1-D array-like of length n >= 2 (one finite value per seed: treated minus control on the runs
        sharing that seed). Raises ValueError otherwise.
    Returns a :class:`TestResult`: the mean difference, the two-sided 1 - 2*alpha t interval, the one-sided p-value
    in the claimed direction (t or exact sign flip, see the module notes) and in the opposite direction.
    ``n_draws`` and ``seed`` only matter for the Monte Carlo sign flip (n > 16).
    """
    if not isinstance(test, PrimaryTest):
        raise TypeError(f"test must be a PrimaryTest, got {type(test).__name__}")
    values = _as_vector(differences)
    out = paired_tests(values[None, :], test, n_draws=n_draws, seed=seed)
    return TestResult(
        n=int(out["n"]), effect=float(out["effect"][0]), sd=float(out["sd"][0]), se=float(out["se"][0]),
        low=float(out["low"][0]), high=float(out["high"][0]), level=float(out["level"]),
        t_statistic=float(out["t_statistic"][0]), df=int(out["df"]), p_value=float(out["p_value"][0]),
        p_opposite=float(out["p_opposite"][0]), method=test.method, direction=test.direction,
        exact=bool(out["exact"]), n_patterns=int(out["n_patterns"]), min_p=float(out["min_p"]),
        degenerate=bool(out["degenerate"][0]),
    )
