"""Calibration of the verdict rules by simulation: how often does a rule say "supported" when there is no effect
(its false "supported" rate, which the project standard keeps at or under 5%), and how often when the effect is
exactly the smallest effect of interest (its power)?

A simulation draws ``n_sim`` synthetic claims, each a vector of ``n_seeds`` per-seed paired differences, i.i.d.
with mean ``effect`` and standard deviation ``sd`` from one of :data:`NOISES`:

- "normal": ``scipy.stats.norm(effect, sd)``;
- "t3": heavy-tailed, ``effect + sd * T / sqrt(3)`` with ``T ~ scipy.stats.t(3)`` (variance 3, so the standard
  deviation is ``sd``; the fourth moment is infinite, which stresses the t test).

Both are symmetric, as paired differences of exchangeable arms are under no effect. Each rate comes with its Monte
Carlo standard error ``sqrt(rate * (1 - rate) / n_sim)``.

The calibrated decision is the one-claim decision (a family of one: no multiplicity adjustment). Holm's adjustment
only raises p-values, so the false "supported" rate of the adjusted decision is at most the rate measured here.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from .inference import PrimaryTest, category, decide, paired_test, paired_tests

NOISES = ("normal", "t3")


def draw_differences(n_sim: int, n_seeds: int, *, effect: float, sd: float, noise: str = "normal",
                     seed=0) -> np.ndarray:
    """Synthetic per-seed paired differences, shape (n_sim, n_seeds), mean ``effect``, standard deviation ``sd``."""
    if noise not in NOISES:
        raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
    if int(n_sim) != n_sim or n_sim < 1:
        raise ValueError(f"n_sim must be a positive integer, got {n_sim!r}")
    if int(n_seeds) != n_seeds or n_seeds < 2:
        raise ValueError(f"n_seeds must be an integer >= 2, got {n_seeds!r}")
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd must be finite and > 0, got {sd!r}")
    if not math.isfinite(effect):
        raise ValueError(f"effect must be finite, got {effect!r}")
    generator = np.random.default_rng(seed)
    shape = (int(n_sim), int(n_seeds))
    if noise == "normal":
        return stats.norm.rvs(loc=effect, scale=sd, size=shape, random_state=generator)
    return effect + sd * stats.t.rvs(3, size=shape, random_state=generator) / math.sqrt(3)


def rule_for(test: PrimaryTest) -> Callable[[np.ndarray], str]:
    """The one-claim decision function of ``test``: differences -> category, via :func:`paired_test` and
    :func:`category` (no adjustment, no preconditions). :func:`simulate_rule` runs the same decision vectorised."""

    def rule(differences) -> str:
        return category(paired_test(differences, test), None, test)[0]

    rule.test = test  # lets simulate_rule take the vectorised path
    return rule


def _is_supported(outcome) -> bool:
    if isinstance(outcome, (bool, np.bool_)):
        return bool(outcome)
    if isinstance(outcome, tuple):
        outcome = outcome[0]
    outcome = getattr(outcome, "verdict", outcome)  # a registry Verdict
    if not isinstance(outcome, str):
        raise TypeError(f"a rule must return a category string, a (category, reason) pair, a Verdict or a bool; "
                        f"got {type(outcome).__name__}")
    return outcome == "supported"


def simulate_rule(rule, *, n_seeds: int, effect: float, sd: float, n_sim: int, seed=0,
                  noise: str = "normal") -> float:
    """Fraction of ``n_sim`` synthetic claims that ``rule`` judges "supported".

    rule: a :class:`PrimaryTest` (or a function from :func:`rule_for`), run vectorised through
        :func:`paired_tests` and :func:`decide`, the exact computation of :func:`paired_test` + :func:`category`;
        or any function taking a 1-D array of ``n_seeds`` paired differences and returning a category string, a
        ``(category, reason)`` pair, an object with a ``verdict`` attribute, or a bool ("supported" or not),
        called once per synthetic claim.
    effect, sd, noise: the distribution of the differences (see the module notes); ``effect`` is signed, so the
        power of a "less" claim is measured at ``effect = -smallest_effect``.
    seed: seeds ``numpy.random.default_rng`` (an int or a SeedSequence).
    Its Monte Carlo standard error is :func:`mc_se` ``(rate, n_sim)``.
    """
    sample = draw_differences(n_sim, n_seeds, effect=effect, sd=sd, noise=noise, seed=seed)
    test = rule if isinstance(rule, PrimaryTest) else getattr(rule, "test", None)
    if isinstance(test, PrimaryTest):
        out = paired_tests(sample, test)
        verdicts = decide(out["p_value"], out["p_opposite"], out["low"], out["high"], test)
        return float(np.mean(verdicts == "supported"))
    if not callable(rule):
        raise TypeError(f"rule must be a PrimaryTest or a callable, got {type(rule).__name__}")
    return float(np.mean([_is_supported(rule(row)) for row in sample]))


def mc_se(rate: float, n_sim: int) -> float:
    """Monte Carlo standard error of a simulated rate: ``sqrt(rate * (1 - rate) / n_sim)``."""
    return math.sqrt(max(rate * (1 - rate), 0.0) / n_sim)


def calibration_table(tests: Mapping[str, PrimaryTest], *, n_seeds=(3, 5, 10), sd=1.0, n_sim: int = 4000,
                      seed: int = 0, noise: str = "normal") -> pd.DataFrame:
    """The false "supported" rate and the power of each claim's primary test, by simulation.

    tests: claim id -> :class:`PrimaryTest`. n_seeds: an int or a sequence of seed counts. sd: the standard
    deviation of the paired differences, one number or a mapping claim id -> number (e.g. measured in a pilot).
    Returns a tidy frame, one row per (claim, seeds): claim, false_supported_rate (at effect 0), power (at the
    smallest effect of interest, in the claimed direction), seeds, mc_se (Monte Carlo standard error of
    false_supported_rate), power_mc_se, method, direction, smallest_effect, sd, noise, n_sim. Every cell uses its
    own random stream, spawned from ``seed``.
    """
    counts = [int(n_seeds)] if np.isscalar(n_seeds) else [int(n) for n in n_seeds]
    streams = iter(np.random.SeedSequence(seed).spawn(2 * len(tests) * len(counts)))
    rows = []
    for claim, test in tests.items():
        if not isinstance(test, PrimaryTest):
            raise TypeError(f"tests[{claim!r}] must be a PrimaryTest, got {type(test).__name__}")
        scale = float(sd[claim]) if isinstance(sd, Mapping) else float(sd)
        for n in counts:
            false_rate = simulate_rule(test, n_seeds=n, effect=0.0, sd=scale, n_sim=n_sim, seed=next(streams),
                                       noise=noise)
            hit_rate = simulate_rule(test, n_seeds=n, effect=test.sign * test.smallest_effect, sd=scale,
                                     n_sim=n_sim, seed=next(streams), noise=noise)
            rows.append({"claim": claim, "false_supported_rate": false_rate, "power": hit_rate, "seeds": n,
                         "mc_se": mc_se(false_rate, n_sim), "power_mc_se": mc_se(hit_rate, n_sim),
                         "method": test.method, "direction": test.direction, "smallest_effect": test.smallest_effect,
                         "sd": scale, "noise": noise, "n_sim": n_sim})
    columns = ["claim", "false_supported_rate", "power", "seeds", "mc_se", "power_mc_se", "method", "direction",
               "smallest_effect", "sd", "noise", "n_sim"]
    return pd.DataFrame(rows, columns=columns)


def bootstrap_false_rate(n_seeds: int = 3, n_sim: int = 2000, *, seed: int = 0, noise: str = "normal",
                         level: float = 0.95, n_resamples: int = 4000) -> float:
    """False "supported" rate of today's rule: "supported when the 95% percentile-bootstrap interval of the mean
    over seeds lies above 0" (:func:`tlcore.claims.stats.bootstrap_ci`, used as is), under no effect.

    With 3 seeds the bootstrap resamples only 27 equally likely triples; the smallest mean (all three draws equal
    to the smallest value) has probability 1/27 = 3.7% > 2.5%, so the 2.5% quantile is the smallest seed's value
    and the interval lies above 0 exactly when all three differences are positive: probability 1/8 = 12.5% under
    any symmetric noise, two and a half times the 5% the standard allows.
    """
    from .stats import bootstrap_ci  # read-only use of today's rule

    sample = draw_differences(n_sim, n_seeds, effect=0.0, sd=1.0, noise=noise, seed=seed)
    hits = [bootstrap_ci(row, level=level, n_resamples=n_resamples, seed=i)[1] > 0 for i, row in enumerate(sample)]
    return float(np.mean(hits))


__all__ = ["NOISES", "bootstrap_false_rate", "calibration_table", "draw_differences", "mc_se", "rule_for",
           "simulate_rule"]
