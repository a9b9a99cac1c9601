"""The statistical core of the verdicts (tlcore.claims.inference): known values, properties, errors."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tlcore.claims.inference import (
    CATEGORIES,
    PrimaryTest,
    TestResult,
    adjust,
    category,
    paired_test,
    power,
    seeds_needed,
    sign_flip_pvalues,
)


def make(method="sign_flip", direction="greater", smallest_effect=1.0, **kwargs) -> PrimaryTest:
    return PrimaryTest("accuracy, treated minus control", direction, smallest_effect, method=method, **kwargs)


def scipy_sign_flip(d, alternative):
    return stats.permutation_test((np.asarray(d, float),), lambda x, axis: x.mean(axis=axis),
                                  permutation_type="samples", vectorized=True, n_resamples=np.inf,
                                  alternative=alternative).pvalue


# ------------------------------------------------------------------------------------------------- PrimaryTest


def test_primary_test_defaults_and_validation():
    test = make(pairing="runs sharing a seed", preconditions=("source beats chance",))
    assert test.alpha == 0.05 and test.level == pytest.approx(0.9) and test.sign == 1
    assert make(direction="less").sign == -1
    with pytest.raises(AttributeError):
        test.alpha = 0.1  # frozen


@pytest.mark.parametrize("kwargs, message", [
    ({"direction": "bigger"}, "direction"),
    ({"method": "wilcoxon"}, "method"),
    ({"smallest_effect": 0.0}, "smallest_effect"),
    ({"smallest_effect": -1.0}, "smallest_effect"),
    ({"smallest_effect": float("nan")}, "smallest_effect"),
    ({"smallest_effect": True}, "smallest_effect"),
    ({"smallest_effect": "1"}, "smallest_effect"),
    ({"alpha": 0.0}, "alpha"),
    ({"alpha": 0.5}, "alpha"),
    ({"preconditions": "one name"}, "preconditions"),
    ({"preconditions": ("a", "a")}, "duplicate"),
    ({"preconditions": ("",)}, "preconditions"),
])
def test_primary_test_rejects_bad_declarations(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(**kwargs)


def test_primary_test_needs_a_quantity():
    with pytest.raises(ValueError, match="quantity"):
        PrimaryTest("  ", "greater", 1.0)


# ------------------------------------------------------------------------------------------------- paired_test


def test_sign_flip_three_positive_differences_is_one_eighth():
    result = paired_test([0.2, 0.5, 0.1], make())
    assert isinstance(result, TestResult)
    assert result.p_value == pytest.approx(1 / 8) and result.min_p == pytest.approx(1 / 8)
    assert result.p_opposite == pytest.approx(1.0)
    assert result.exact and result.n_patterns == 8


def test_sign_flip_known_values():
    assert paired_test([1, 2, 3, 4, 5], make()).p_value == pytest.approx(1 / 32)
    # sums of +-1 +-2 +-3 +-0.5 at least the observed 5.5: only 6.5 and 5.5 -> 2/16
    assert paired_test([1, 2, 3, -0.5], make()).p_value == pytest.approx(2 / 16)
    # ties count as at least as extreme: +-1 +-1, observed 0 -> sums 2, 0, 0, -2 -> 3/4 each way
    result = paired_test([1, -1], make())
    assert result.p_value == pytest.approx(0.75) and result.p_opposite == pytest.approx(0.75)


def test_sign_flip_matches_scipy_permutation_test():
    rng = np.random.default_rng(0)
    samples = [rng.normal(size=n) for n in range(2, 13)]
    samples += [rng.integers(-3, 4, size=n).astype(float) for n in range(2, 11)]  # ties on a lattice
    samples += [np.array([0.01, 0.02, -0.01, 0.03, -0.02, 0.01])]  # accuracy-like steps
    for d in samples:
        greater, less, exact, _ = sign_flip_pvalues(d[None, :])
        assert exact
        assert greater[0] == pytest.approx(scipy_sign_flip(d, "greater"), abs=1e-12), d
        assert less[0] == pytest.approx(scipy_sign_flip(d, "less"), abs=1e-12), d


def test_sign_flip_monte_carlo_above_sixteen_seeds_is_close_to_exact():
    rng = np.random.default_rng(1)
    d = rng.normal(0.3, 1.0, size=18)
    patterns = 1.0 - 2.0 * ((np.arange(1 << 18)[:, None] >> np.arange(18)) & 1)
    exact = np.mean(patterns @ d >= d.sum() - 1e-12)
    result = paired_test(d, make(), n_draws=20_000, seed=3)
    assert not result.exact and result.n_patterns == 20_000
    assert result.p_value == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / 20_000) + 1e-4)
    assert result.p_value >= 1 / 20_001
    assert paired_test(d, make(), n_draws=20_000, seed=3).p_value == result.p_value  # seeded


@pytest.mark.parametrize("direction", ["greater", "less"])
def test_t_test_and_interval_match_scipy(direction):
    rng = np.random.default_rng(2)
    for n in (2, 3, 5, 10):
        d = rng.normal(0.4, 1.0, size=n)
        result = paired_test(d, make("t", direction))
        reference = stats.ttest_1samp(d, 0.0, alternative=direction)
        opposite = stats.ttest_1samp(d, 0.0, alternative="less" if direction == "greater" else "greater")
        interval = stats.ttest_1samp(d, 0.0).confidence_interval(confidence_level=0.9)
        assert result.p_value == pytest.approx(reference.pvalue, rel=1e-10)
        assert result.p_opposite == pytest.approx(opposite.pvalue, rel=1e-10)
        assert (result.low, result.high) == pytest.approx((interval.low, interval.high), rel=1e-10)
        assert result.t_statistic == pytest.approx(reference.statistic) and result.df == n - 1
        assert result.effect == pytest.approx(d.mean()) and result.sd == pytest.approx(d.std(ddof=1))


def test_interval_is_the_t_interval_for_both_methods_and_follows_alpha():
    d = [0.3, 0.9, -0.2, 0.6, 0.4]
    t_result, flip_result = paired_test(d, make("t")), paired_test(d, make("sign_flip"))
    assert (t_result.low, t_result.high) == (flip_result.low, flip_result.high)
    wide = paired_test(d, make("t", alpha=0.025))
    assert wide.level == pytest.approx(0.95) and wide.low < t_result.low and wide.high > t_result.high
    # lower end above 0 exactly when the one-sided t test rejects at alpha
    assert (t_result.low > 0) == (t_result.p_value < 0.05)


@pytest.mark.parametrize("method", ["sign_flip", "t"])
def test_p_values_in_unit_interval_and_sign_symmetric(method):
    rng = np.random.default_rng(3)
    for _ in range(60):
        n = int(rng.integers(2, 12))
        d = rng.normal(rng.normal(), rng.uniform(0.1, 2), size=n)
        up, down = paired_test(d, make(method, "greater")), paired_test(-d, make(method, "less"))
        assert 0 <= up.p_value <= 1 and 0 <= up.p_opposite <= 1
        assert up.p_value == pytest.approx(down.p_value, abs=1e-12)
        assert up.p_opposite == pytest.approx(down.p_opposite, abs=1e-12)
        assert up.p_value + up.p_opposite >= 1 - 1e-12  # the two tails overlap only in ties
        if method == "sign_flip":
            assert up.p_value >= 2.0 ** -n - 1e-15


def test_degenerate_differences():
    zeros = paired_test([0.0, 0.0, 0.0], make("t"))
    assert zeros.degenerate and zeros.p_value == 1.0 and zeros.p_opposite == 1.0
    assert paired_test([0.0, 0.0, 0.0], make()).p_value == 1.0
    constant = paired_test([0.1, 0.1, 0.1, 0.1], make("t"))
    assert constant.degenerate and constant.p_value == 0.0 and constant.low == constant.high == pytest.approx(0.1)
    assert paired_test([0.1] * 5, make()).p_value == pytest.approx(1 / 32)


@pytest.mark.parametrize("bad, message", [
    ([1.0], "at least 2"),
    ([], "at least 2"),
    ([[1.0, 2.0], [3.0, 4.0]], "1-D"),
    ([1.0, float("nan"), 2.0], "finite"),
    ([1.0, float("inf")], "finite"),
    (["a", "b"], "numbers"),
])
def test_paired_test_rejects_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        paired_test(bad, make())


def test_paired_test_needs_a_primary_test():
    with pytest.raises(TypeError):
        paired_test([1.0, 2.0], "greater")


# ---------------------------------------------------------------------------------------------------- adjust


TEXTBOOK = [0.01, 0.04, 0.03, 0.005]


def test_holm_and_bh_on_textbook_vectors():
    assert adjust(TEXTBOOK) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust(TEXTBOOK, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    # R: p.adjust(c(.01, .02, .03, .04, .05), "holm") and "BH"
    assert adjust([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    assert adjust([0.01, 0.02, 0.03, 0.04, 0.05], "bh") == pytest.approx([0.05] * 5)
    assert adjust([0.3, 0.8]) == pytest.approx([0.6, 0.8])  # capped step: max(2 * 0.3, 0.8)
    assert adjust([0.6, 0.7]) == pytest.approx([1.0, 1.0])


def test_adjust_properties():
    rng = np.random.default_rng(4)
    for _ in range(50):
        p = rng.uniform(0, 1, size=int(rng.integers(1, 41))) ** 3
        holm, bh = adjust(p), adjust(p, "bh")
        assert np.all(holm >= p - 1e-15) and np.all(bh >= p - 1e-15)
        assert np.all((holm <= 1) & (bh <= 1))
        assert np.all(holm >= bh - 1e-12)  # FWER control is stricter than FDR control
        order = np.argsort(p, kind="stable")
        assert np.all(np.diff(holm[order]) >= -1e-15)  # monotone in the raw p-values
        assert np.all(holm <= np.minimum(1, p * len(p)) + 1e-15)  # never worse than Bonferroni
    assert adjust([0.02]) == pytest.approx([0.02])
    assert adjust([]).size == 0


def test_adjust_keeps_the_container():
    series = pd.Series(TEXTBOOK, index=["T1", "T2", "T3", "R1"], name="p")
    out = adjust(series)
    assert isinstance(out, pd.Series) and list(out.index) == ["T1", "T2", "T3", "R1"]
    assert out.to_numpy() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    mapping = adjust(dict(zip(["a", "b", "c", "d"], TEXTBOOK)), "bh")
    assert mapping == pytest.approx({"a": 0.02, "b": 0.04, "c": 0.04, "d": 0.02})


@pytest.mark.parametrize("bad, method, message", [
    ([0.1, float("nan")], "holm", "finite"),
    ([0.1, 1.2], "holm", r"\[0, 1\]"),
    ([-0.1], "bh", r"\[0, 1\]"),
    ([[0.1, 0.2]], "holm", "1-D"),
    ([0.1], "bonferroni", "unknown"),
])
def test_adjust_rejects_bad_input(bad, method, message):
    with pytest.raises(ValueError, match=message):
        adjust(bad, method)


# --------------------------------------------------------------------------------------------------- category


def test_category_supported_with_numbers():
    test = make()
    result = paired_test([0.8, 1.1, 1.3, 0.9, 1.2], test)
    verdict, reason = category(result, result.p_value, test)
    assert verdict == "supported"
    assert "+1.06" in reason and "p = 0.031" in reason and "5 seeds" in reason


def test_adjustment_can_turn_supported_into_inconclusive():
    test = make()
    result = paired_test([0.8, 1.1, 1.3, 0.9, 1.2], test)
    adjusted = adjust([result.p_value, 0.001, 0.2])[0]
    verdict, reason = category(result, adjusted, test)
    assert verdict == "inconclusive" and "adjusted 0.062" in reason


def test_category_not_supported_below_the_smallest_effect():
    test = make("t", smallest_effect=1.0)
    result = paired_test([0.05, -0.1, 0.15, 0.0, 0.1, -0.05], test)
    verdict, reason = category(result, None, test)
    assert verdict == "not supported" and "smallest effect of interest +1" in reason


def test_category_not_supported_when_significant_the_other_way():
    test = make("sign_flip", smallest_effect=0.1)
    result = paired_test([-1.0, -2.0, -1.5, -0.5, -1.2], test)
    verdict, reason = category(result, None, test)
    assert verdict == "not supported" and "opposite direction" in reason and "0.031" in reason


def test_category_inconclusive_reports_power_or_the_floor_of_the_test():
    test = make("sign_flip")
    result = paired_test([0.5, 2.0, 1.4], test)  # all positive but only 3 seeds
    verdict, reason = category(result, None, test)
    assert verdict == "inconclusive"
    assert "cannot reach p <= 0.05" in reason and "1/8" in reason and "at least 5 seeds" in reason
    t_test = make("t")
    result = paired_test([0.5, -1.0, 2.0, 1.4], t_test)
    verdict, reason = category(result, None, t_test)
    assert verdict == "inconclusive" and "power to detect" in reason and "seeds would give 80%" in reason


def test_category_less_direction():
    test = make("t", "less", smallest_effect=0.5)
    assert category(paired_test([-1.0, -1.2, -0.9, -1.1], test), None, test)[0] == "supported"
    assert category(paired_test([1.0, 1.2, 0.9, 1.1], test), None, test)[0] == "not supported"
    assert category(paired_test([0.01, -0.02, 0.0, 0.01], test), None, test)[0] == "not supported"


def test_supported_but_smaller_than_the_smallest_effect_says_so():
    test = make("t", smallest_effect=1.0)
    result = paired_test([0.1, 0.12, 0.09, 0.11, 0.1], test)
    verdict, reason = category(result, None, test)
    assert verdict == "supported" and "credibly smaller than the smallest effect of interest" in reason


def test_category_not_tested_names_the_precondition():
    test = make(preconditions=("source beats chance", "arms share seeds"))
    result = paired_test([1.0, 2.0, 3.0, 4.0, 5.0], test)
    verdict, reason = category(result, None, test, precondition_failures=["source beats chance"])
    assert verdict == "not tested" and "source beats chance" in reason
    with pytest.raises(ValueError, match="not declared"):
        category(result, None, test, precondition_failures=["undeclared"])


def test_category_parts():
    test = make()
    supported = paired_test([1.0, 2.0, 3.0, 4.0, 5.0], test)
    verdict, reason = category(supported, None, test, parts={"size trend": "not supported"})
    assert verdict == "mixed" and "size trend" in reason and "primary test" in reason
    assert category(supported, None, test, parts={"size trend": ("supported", "ok")})[0] == "supported"
    assert category(supported, None, test, parts={"trend": "inconclusive"})[0] == "inconclusive"
    assert category(supported, None, test, parts={"trend": "not tested"})[0] == "not tested"
    assert category(None, None, None, parts={"a": "supported", "b": "not supported"})[0] == "mixed"
    assert category(None, None, None, parts={"a": "not supported", "b": "not supported"})[0] == "not supported"
    with pytest.raises(ValueError, match="unknown category"):
        category(None, None, None, parts={"a": "maybe"})


def test_category_rejects_inconsistent_input():
    test = make()
    result = paired_test([1.0, 2.0, 3.0, 4.0, 5.0], test)
    with pytest.raises(ValueError, match="below the raw"):
        category(result, result.p_value / 2, test)
    with pytest.raises(ValueError, match="method"):
        category(result, None, make("t"))
    with pytest.raises(ValueError, match="parts"):
        category(None, None, test)


def test_every_category_is_reachable():
    test = make("t", preconditions=("p",))
    seen = {category(paired_test(d, test), None, test)[0]
            for d in ([1.0, 1.2, 0.9, 1.1], [0.0, 0.01, -0.01, 0.0], [0.5, -1.0, 2.0, 1.4])}
    seen.add(category(paired_test([1.0, 2.0], test), None, test, precondition_failures=("p",))[0])
    seen.add(category(None, None, None, parts={"a": "supported", "b": "not supported"})[0])
    assert seen == set(CATEGORIES)


# ------------------------------------------------------------------------------------------------------ power


def test_t_power_is_the_noncentral_t_and_matches_simulation():
    n, effect, sd = 5, 1.0, 1.0
    expected = stats.nct.sf(stats.t.ppf(0.95, n - 1), n - 1, effect / (sd / math.sqrt(n)))
    assert power(n, effect, sd) == pytest.approx(expected)
    rng = np.random.default_rng(5)
    sample = rng.normal(effect, sd, size=(4000, n))
    simulated = np.mean(stats.ttest_1samp(sample, 0.0, axis=1, alternative="greater").pvalue <= 0.05)
    assert simulated == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / 4000))


def test_sign_flip_power():
    assert power(3, 1.0, 1.0, method="sign_flip") == 0.0  # 1/8 > 0.05: the test cannot reject
    assert power(4, 5.0, 1.0, method="sign_flip") == 0.0
    # at n = 5 only the all-positive pattern rejects: power = P(d > 0) ** 5
    assert power(5, 1.0, 1.0, method="sign_flip") == pytest.approx(stats.norm.cdf(1.0) ** 5, abs=0.03)
    assert power(10, 1.0, 1.0, method="sign_flip") <= power(10, 1.0, 1.0) + 0.02
    assert power(20, 0.5, 1.0, method="sign_flip") == pytest.approx(power(20, 0.5, 1.0))


def test_power_grows_with_seeds_and_seeds_needed():
    powers = [power(n, 1.0, 1.0) for n in range(2, 15)]
    assert np.all(np.diff(powers) > 0)
    need = seeds_needed(1.0, 1.0)
    assert power(need, 1.0, 1.0) >= 0.8 > power(need - 1, 1.0, 1.0)
    assert seeds_needed(1.0, 1.0, method="sign_flip") >= need
    assert seeds_needed(0.01, 1.0, max_seeds=20) is None


@pytest.mark.parametrize("kwargs", [{"n": 1}, {"n": 2.5}, {"smallest_effect": 0.0}, {"sd": 0.0},
                                    {"alpha": 0.7}, {"method": "z"}])
def test_power_rejects_bad_input(kwargs):
    args = {"n": 5, "smallest_effect": 1.0, "sd": 1.0, "alpha": 0.05, "method": "t", **kwargs}
    with pytest.raises(ValueError):
        power(**args)
