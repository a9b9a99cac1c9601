"""A claim's primary test as declared in the registry (:class:`PrimaryTest`) and the result of running it
(:class:`TestResult`). The computations are in :mod:`tlcore.claims.paired`; the overview is
:mod:`tlcore.claims.inference`."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

DIRECTIONS = ("greater", "less")
METHODS = ("sign_flip", "t")


@dataclass(frozen=True)
class PrimaryTest:
    """A claim's primary test, written in the registry before the run.

    quantity: what the paired difference measures, e.g. "test accuracy, pretrained minus scratch".
    direction: "greater" (the claim predicts a positive difference) or "less" (a negative one).
    smallest_effect: the smallest effect of interest (SESOI), > 0, in the quantity's units, as a magnitude: the
        claim predicts a difference of at least ``+smallest_effect`` ("greater") or at most ``-smallest_effect``
        ("less"). An effect credibly smaller than this is "not supported".
    alpha: one-sided level of the test, in (0, 0.5); default 0.05.
    method: "sign_flip" (exact permutation test; needs at least ``log2(1/alpha)`` seeds, 5 for alpha = 0.05) or
        "t" (one-sample t test).
    pairing: free text, what a pair is, e.g. "runs sharing a seed, averaged over targets and sizes".
    preconditions: names of the conditions that must hold for the test to mean anything (e.g. "source model beats
        chance"); the rule checks them and passes the failed names to :func:`category`.
    unit: optional unit used when reasons print numbers, e.g. "points".
    """

    quantity: str
    direction: str
    smallest_effect: float
    alpha: float = 0.05
    method: str = "sign_flip"
    pairing: str = ""
    preconditions: tuple[str, ...] = ()
    unit: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.quantity, str) or not self.quantity.strip():
            raise ValueError("PrimaryTest.quantity must be a non-empty description of the paired difference")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"PrimaryTest.direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if self.method not in METHODS:
            raise ValueError(f"PrimaryTest.method must be one of {METHODS}, got {self.method!r}")
        if isinstance(self.smallest_effect, bool) or not isinstance(self.smallest_effect, (int, float, np.number)):
            raise ValueError(f"PrimaryTest.smallest_effect must be a number, got {self.smallest_effect!r}")
        if not (math.isfinite(self.smallest_effect) and self.smallest_effect > 0):
            raise ValueError("PrimaryTest.smallest_effect must be finite and > 0 (a magnitude in the quantity's "
                             f"units; the direction says its sign), got {self.smallest_effect!r}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float, np.number)) \
                or not (0 < self.alpha < 0.5):
            raise ValueError(f"PrimaryTest.alpha must be a number in (0, 0.5), got {self.alpha!r}")
        if not isinstance(self.pairing, str):
            raise ValueError(f"PrimaryTest.pairing must be a string, got {self.pairing!r}")
        if isinstance(self.preconditions, str) or not isinstance(self.preconditions, tuple) \
                or not all(isinstance(p, str) and p.strip() for p in self.preconditions):
            raise ValueError("PrimaryTest.preconditions must be a tuple of non-empty names, got "
                             f"{self.preconditions!r}")
        if len(set(self.preconditions)) != len(self.preconditions):
            raise ValueError(f"PrimaryTest.preconditions has duplicate names: {self.preconditions!r}")
        if not isinstance(self.unit, str):
            raise ValueError(f"PrimaryTest.unit must be a string, got {self.unit!r}")

    @property
    def sign(self) -> int:
        """+1 for "greater", -1 for "less": multiply a difference by it to orient it in the claimed direction."""
        return 1 if self.direction == "greater" else -1

    @property
    def level(self) -> float:
        """Confidence level of the reported two-sided interval, ``1 - 2 * alpha``."""
        return 1 - 2 * self.alpha


# ------------------------------------------------------------------------------------------------ the test itself


@dataclass(frozen=True)
class TestResult:
    """The primary test on one claim's paired differences (all numbers in the quantity's units).

    n: number of paired differences (seeds). effect: their mean. sd: their standard deviation (ddof=1). se: sd/sqrt(n).
    low, high: the two-sided ``level`` = 1 - 2*alpha Student-t interval for the mean.
    t_statistic, df: the one-sample t statistic (mean / se) and its degrees of freedom n - 1.
    p_value: one-sided p-value in the claimed direction (by ``method``), not adjusted for multiplicity.
    p_opposite: one-sided p-value in the opposite direction (small when the effect is significant the other way).
    exact: for sign_flip, True when all 2**n patterns were enumerated; for t, True (the t distribution is exact
        under normal differences). n_patterns: the number of sign patterns used (0 for t).
    min_p: the smallest p-value the method can give at this n (2**-n for the exact sign flip, 0 for t).
    degenerate: all differences are equal (sd = 0): the t statistic is +-inf (or undefined when they are all 0)
        and the interval collapses to the mean; the t p-values are the limits (0 or 1, both 1 when all are 0).
    """

    __test__ = False  # not a pytest test class

    n: int
    effect: float
    sd: float
    se: float
    low: float
    high: float
    level: float
    t_statistic: float
    df: int
    p_value: float
    p_opposite: float
    method: str
    direction: str
    exact: bool
    n_patterns: int
    min_p: float
    degenerate: bool

    def as_dict(self) -> dict:
        return asdict(self)
