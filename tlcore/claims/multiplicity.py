"""Multiplicity adjustment of the claims' p-values (Holm by default, Benjamini-Hochberg on request)."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import stats

ADJUST_METHODS = ("holm", "bh")


def adjust(p_values, method: str = "holm"):
    """Adjust p-values for multiple testing across claims.

    p_values: a 1-D array-like, a pandas Series, or a mapping name -> p (each in [0, 1], finite; leave untested
        claims out of the family rather than passing NaN). Returns the same kind: ndarray, Series (same index) or
        dict (same keys), with the adjusted p-values in the input order. Each adjusted value is >= its raw value.
    method:
      - "holm" (default): Holm's step-down adjustment, controlling the family-wise error rate (the chance of
        at least one false "supported" among all the claims) at alpha, under any dependence between the tests.
        It is the default because a reader reads each of the 40 verdicts as a claim on its own, not as a share
        of a list of discoveries; Holm is uniformly more powerful than Bonferroni with the same guarantee.
        Written here (a few lines): scipy has no Holm adjustment and statsmodels is not a dependency.
        adjusted p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)) over the p-values sorted ascending.
      - "bh": Benjamini-Hochberg, controlling the false discovery rate (the expected share of false "supported"
        among the "supported"), via ``scipy.stats.false_discovery_control(method="bh")``.
    """
    if method not in ADJUST_METHODS:
        raise ValueError(f"unknown adjustment method {method!r}; choose one of {ADJUST_METHODS}")
    keys = index = None
    if isinstance(p_values, Mapping):
        keys = list(p_values)
        raw = list(p_values.values())
    elif hasattr(p_values, "index") and hasattr(p_values, "to_numpy"):  # a pandas Series
        index, raw = p_values.index, p_values.to_numpy()
    else:
        raw = p_values
    try:
        p = np.asarray(raw, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"p-values must be numbers: {error}") from None
    if p.ndim != 1:
        raise ValueError(f"p-values must be 1-D, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must be finite and in [0, 1] (drop untested claims first), got {p.tolist()}")
    if p.size == 0:
        adjusted = p.copy()
    elif method == "holm":
        m = p.size
        order = np.argsort(p, kind="stable")
        stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
        adjusted = np.empty(m)
        adjusted[order] = np.maximum.accumulate(stepped)
    else:
        adjusted = np.asarray(stats.false_discovery_control(p, method="bh"), dtype=float)
    adjusted = np.maximum(adjusted, p)  # guard against rounding below the raw value
    if keys is not None:
        return dict(zip(keys, map(float, adjusted)))
    if index is not None:
        import pandas as pd

        return pd.Series(adjusted, index=index, name=getattr(p_values, "name", None))
    return adjusted
