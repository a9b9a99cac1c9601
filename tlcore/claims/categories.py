"""The verdict category of a claim from its primary test, its multiplicity-adjusted p-value, its preconditions and
its parts, with a short reason that carries numbers. See :mod:`tlcore.claims.inference` for the overview."""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .power import power, seeds_needed
from .primary_test import PrimaryTest, TestResult

CATEGORIES = ("supported", "not supported", "inconclusive", "not tested", "mixed")
_DECIDED = ("supported", "not supported")


def decide(p_value, p_opposite, low, high, test: PrimaryTest, adjusted_p=None) -> np.ndarray:
    """The decision part of :func:`category`, vectorised over arrays of test results (no preconditions, no parts).

    Returns an array of "supported" / "not supported" / "inconclusive":
    supported when the (adjusted) p-value in the claimed direction is <= alpha; otherwise not supported when the
    opposite-direction p-value (raw) is <= alpha or the interval lies wholly short of the SESOI in the claimed
    direction (high < SESOI for "greater", low > -SESOI for "less"); otherwise inconclusive.
    ``adjusted_p=None`` uses the raw p-value (a family of one claim).
    """
    p = np.asarray(p_value if adjusted_p is None else adjusted_p, dtype=float)
    reach = test.sign * np.asarray(high if test.sign > 0 else low, dtype=float)  # upper bound, claimed orientation
    supported = p <= test.alpha
    against = (np.asarray(p_opposite, dtype=float) <= test.alpha) | (reach < test.smallest_effect)
    return np.where(supported, "supported", np.where(against, "not supported", "inconclusive"))


def _num(value: float, unit: str = "", sign: bool = True) -> str:
    text = f"{value:+.3g}" if sign else f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def _p(value: float) -> str:
    return f"{value:.2g}" if value >= 0.001 else f"{value:.1e}"


def _method_name(result: TestResult) -> str:
    if result.method == "t":
        return "t test"
    return "exact sign-flip test" if result.exact else f"sign-flip test ({result.n_patterns} random patterns)"


def _fraction(p: float) -> str:
    denominator = round(1 / p) if p > 0 else 0
    return f"1/{denominator}" if denominator and abs(1 / denominator - p) < 1e-12 else _p(p)


def _inconclusive_reason(result: TestResult, test: PrimaryTest, family_size: int = 1) -> str:
    if result.min_p > test.alpha:
        need = math.ceil(math.log2(1 / test.alpha))
        return (f"with {result.n} seeds the {_method_name(result)} cannot reach p <= {test.alpha:g} (smallest "
                f"possible p = {_fraction(result.min_p)}); it needs at least {need} seeds")
    if result.sd == 0 or not math.isfinite(result.sd):
        return "all differences are equal, so no power can be computed"
    # sign-flip powers are simulated: 1000 samples (Monte Carlo error <= 0.016) keep a reason under ~0.1 s
    # at the level the adjusted p-value is compared with: alpha / family size (Bonferroni)
    alpha = test.alpha / family_size
    achieved = power(result.n, test.smallest_effect, result.sd, alpha, test.method, n_sim=1000)
    text = (f"power to detect the smallest effect of interest with {result.n} seeds at the observed sd "
            f"{_num(result.sd, test.unit, sign=False)}"
            + (f" and the adjusted level {alpha:.2g}" if family_size > 1 else "") + f" is {achieved:.2f}")
    need = seeds_needed(test.smallest_effect, result.sd, alpha=alpha, method=test.method, n_sim=500)
    return text + (f"; about {need} seeds would give 80%" if need is not None else "; over 100 seeds needed for 80%")


def category(result: TestResult | None, adjusted_p: float | None, test: PrimaryTest | None, *,
             precondition_failures=(), parts: Mapping | None = None, family_size: int = 1) -> tuple[str, str]:
    """The verdict category of a claim and a short reason with numbers.

    result: the claim's :class:`TestResult` (may be None only when ``parts`` decides the claim alone).
    adjusted_p: the claim's p-value adjusted across claims (:func:`adjust`); None means unadjusted (a family of
        one). It must not be below ``result.p_value``.
    test: the claim's :class:`PrimaryTest` (the one ``result`` was computed with).
    precondition_failures: names of declared preconditions that failed (each must be in ``test.preconditions``).
    parts: for a claim with several declared parts, a mapping part name -> that part's category (a string, or a
        ``(category, reason)`` pair as this function returns), each part decided by its own test.
    family_size: the number of tests ``adjusted_p`` was adjusted over (Bonferroni), for the power an
        inconclusive reason quotes (computed at alpha / family_size).

    Categories, in order of precedence:
      "not tested": a declared precondition failed (or a part is not tested); the reason names it.
      With ``parts``: the primary test's own category (when ``result`` is given, as part "primary test") and the
        parts' are combined: "mixed" when every part is decided (supported / not supported) and they disagree; the
        common category when they all agree; otherwise "inconclusive", naming the undecided parts.
      "supported": the adjusted one-sided p-value in the claimed direction is <= alpha.
      "not supported": the effect is significant the other way (opposite one-sided p <= alpha) or the 1 - 2*alpha
        interval lies wholly short of the smallest effect of interest in the claimed direction (the effect is
        credibly smaller than the SESOI, which includes credibly zero or reversed).
      "inconclusive": neither; the reason gives the interval and either the power of this design for the SESOI at
        the observed sd (with the seeds needed for 80%) or why the test cannot reach alpha at this n.
    A "supported" claim whose interval also lies below the SESOI stays "supported" (its test is the registered
    decision); its reason says the effect is credibly smaller than the smallest effect of interest.
    """
    if result is None and parts is None:
        raise ValueError("category needs a TestResult, or parts when the claim is decided by its parts alone")
    if result is not None:
        if test is None or not isinstance(test, PrimaryTest):
            raise TypeError("category needs the claim's PrimaryTest with its TestResult")
        if (result.method, result.direction) != (test.method, test.direction):
            raise ValueError(f"the result was computed with method {result.method!r}, direction "
                             f"{result.direction!r}; the test declares {test.method!r}, {test.direction!r}")
        if adjusted_p is not None:
            if not (isinstance(adjusted_p, (int, float, np.number)) and 0 <= adjusted_p <= 1):
                raise ValueError(f"adjusted_p must be a number in [0, 1] or None, got {adjusted_p!r}")
            if adjusted_p < result.p_value - 1e-12:
                raise ValueError(f"adjusted_p {adjusted_p:g} is below the raw p-value {result.p_value:g}; pass the "
                                 "claim's own p-value adjusted across claims")
    if isinstance(precondition_failures, str):
        precondition_failures = (precondition_failures,)
    failures = tuple(precondition_failures)
    if failures:
        declared = test.preconditions if test is not None else ()
        unknown = [name for name in failures if name not in declared]
        if unknown:
            raise ValueError(f"precondition(s) {unknown} are not declared in the PrimaryTest ({declared})")
        return "not tested", "precondition failed: " + ", ".join(failures)

    own = None
    if result is not None:
        own = _primary_category(result, adjusted_p, test, family_size)
        if parts is None:
            return own
    return _combine_parts(own, parts)


def _primary_category(result: TestResult, adjusted_p: float | None, test: PrimaryTest, family_size: int = 1
                      ) -> tuple[str, str]:
    verdict = str(decide(result.p_value, result.p_opposite, result.low, result.high, test, adjusted_p))
    unit = test.unit
    sesoi = _num(test.sign * test.smallest_effect, unit)
    interval = (f"mean difference {_num(result.effect, unit)} ({result.level:.0%} CI {_num(result.low)} to "
                f"{_num(result.high)}, {result.n} seeds)")
    if result.degenerate:
        interval += ", all differences equal"
    p_text = f"one-sided {_method_name(result)} p = {_p(result.p_value)}"
    if adjusted_p is not None:
        p_text += f" (adjusted {_p(adjusted_p)})"
    reach = test.sign * (result.high if test.sign > 0 else result.low)
    if verdict == "supported":
        reason = f"{interval}; {p_text} <= {test.alpha:g}"
        if reach < test.smallest_effect:
            reason += f"; but the effect is credibly smaller than the smallest effect of interest {sesoi}"
        return verdict, reason
    if verdict == "not supported":
        if result.p_opposite <= test.alpha:
            return verdict, (f"{interval}: significant in the opposite direction (one-sided p = "
                             f"{_p(result.p_opposite)})")
        return verdict, (f"{interval} lies short of the smallest effect of interest {sesoi}: the effect is "
                         f"credibly smaller than the claim needs; {p_text}")
    excludes_zero = test.sign * (result.low if test.sign > 0 else result.high) > 0
    where = ("excludes no effect, but not at the adjusted level" if excludes_zero else
             f"includes both no effect and the smallest effect of interest {sesoi}")
    return verdict, (f"{interval} {where}; {p_text} > {test.alpha:g}; "
                     + _inconclusive_reason(result, test, family_size))


def _combine_parts(own: tuple[str, str] | None, parts: Mapping) -> tuple[str, str]:
    if not isinstance(parts, Mapping) or not parts:
        raise ValueError("parts must be a non-empty mapping part name -> category")
    states: dict[str, str] = {}
    if own is not None:
        states["primary test"] = own[0]
    for name, value in parts.items():
        state = value[0] if isinstance(value, tuple) else value
        if state not in CATEGORIES:
            raise ValueError(f"part {name!r} has unknown category {state!r}; choose one of {CATEGORIES}")
        states[str(name)] = state

    def listing(wanted) -> str:
        return ", ".join(name for name, state in states.items() if state == wanted)

    if any(state == "not tested" for state in states.values()):
        return "not tested", f"part(s) not tested: {listing('not tested')}"
    summary = "; ".join(f"{state}: {listing(state)}" for state in CATEGORIES if state in states.values())
    if all(state in (*_DECIDED, "mixed") for state in states.values()):
        distinct = set(states.values())
        if len(distinct) == 1 and "mixed" not in distinct:
            verdict = distinct.pop()
            return verdict, f"all {len(states)} parts {verdict}"
        return "mixed", f"the parts disagree ({summary})"
    return "inconclusive", f"not every part is decided ({summary})"
