"""The statistical core of the verdicts: a claim's primary test on paired differences, multiplicity adjustment,
the verdict category, and power.

The project standard this module implements: a claim's primary test, its smallest effect of interest (SESOI) and
its preconditions are written in the registry before the run (:class:`PrimaryTest`); the arms share seeds and the
test is on the per-seed paired differences (:func:`paired_test`); p-values are adjusted across claims
(:func:`adjust`); the verdict is one of :data:`CATEGORIES` with a reason that carries numbers (:func:`category`);
and a rule's false "supported" rate under no effect is measured by simulation (:mod:`tlcore.claims.calibration`)
and stays at or under 5%. :func:`power` and :func:`seeds_needed` size the seed count.

Data layout: everything here works on *per-seed paired differences*, a 1-D array ``d`` of length ``n`` (one value
per seed: the treated arm's number minus the control arm's number for runs that share that seed; see
:func:`tlcore.claims.stats.paired_difference`). Nothing here reads result tables.

Where things live (this module re-exports them all; each stays under the project's 300-line ceiling):
:mod:`~tlcore.claims.primary_test` (``PrimaryTest``, ``TestResult``), :mod:`~tlcore.claims.paired`
(``paired_test``, ``paired_tests``, ``sign_flip_pvalues``), :mod:`~tlcore.claims.multiplicity` (``adjust``),
:mod:`~tlcore.claims.categories` (``category``, ``decide``), :mod:`~tlcore.claims.power` (``power``,
``seeds_needed``).

Choices, stated once:

- Interval: the two-sided ``1 - 2*alpha`` (90% for alpha = 0.05) Student-t interval for the mean difference
  (``scipy.stats.t``). Its lower (upper) end is the one-sided ``1 - alpha`` confidence bound, so "lower end > 0"
  is the same event as "one-sided t test p < alpha", and "upper end < SESOI" is the one-sided test against the
  SESOI at the same alpha (the two one-sided tests convention of equivalence testing). The interval is the t
  interval for both test methods: the sign-flip test has no cheap matching interval, and the interval is used only
  for "not supported" (the effect is credibly smaller than the SESOI) and for the report. It is not adjusted for
  multiplicity.
- ``method="t"``: the one-sample t test of the mean difference (exact under normal differences; conservative
  under symmetric heavy-tailed ones, which the calibration checks).
- ``method="sign_flip"``: the sign-flip permutation test of the sum (equivalently the mean) of the differences.
  Under no effect the two arms are exchangeable within a seed, so each difference is symmetric about 0 and every
  one of the ``2**n`` sign patterns is equally likely: the test is exact for any symmetric noise. For ``n <= 16``
  all ``2**n`` patterns are enumerated (exact p-value, at least ``2**-n``: with 3 seeds the smallest possible p is
  1/8, with 4 seeds 1/16, so at least 5 seeds are needed to reach p <= 0.05). For ``n > 16`` a seeded Monte
  Carlo of :data:`SIGN_FLIP_DRAWS` random patterns is used, with p = (count + 1) / (draws + 1), which is valid.
  ``scipy.stats.permutation_test(..., permutation_type="samples")`` computes exactly this test for one sample (it is
  the reference the tests compare against, to 1e-12), but it is written here because the calibration runs it on
  batches of tens of thousands of simulated samples and scipy's implementation stacks ``2**n x batch x n``
  arrays, about 50x slower than one matrix product with the sign patterns. Ties use scipy's convention (a null
  value equal to the observed one counts as at least as extreme), with a tolerance of ``100 * eps * sum|d|``.
"""
from __future__ import annotations

from .categories import CATEGORIES, category, decide
from .multiplicity import ADJUST_METHODS, adjust
from .paired import EXACT_SIGN_FLIP_MAX_N, SIGN_FLIP_DRAWS, paired_test, paired_tests, sign_flip_pvalues
from .power import power, seeds_needed
from .primary_test import DIRECTIONS, METHODS, PrimaryTest, TestResult

__all__ = ["ADJUST_METHODS", "CATEGORIES", "DIRECTIONS", "EXACT_SIGN_FLIP_MAX_N", "METHODS", "SIGN_FLIP_DRAWS",
           "PrimaryTest", "TestResult", "adjust", "category", "decide", "paired_test", "paired_tests", "power",
           "seeds_needed", "sign_flip_pvalues"]
