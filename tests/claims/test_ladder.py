"""The verdict ladder: its own truth tables, and for every rule, the hand-written ladder it replaced (copied from the
rule as it was) against the helper call the rule makes now, over every combination of the rule's conditions."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from tlcore.claims import ladder as ladder_module
from tlcore.claims.ladder import from_parts, ladder
from tlcore.claims.which_source_model import _two_measure_verdict

S, M, N = "supported", "mixed", "not supported"
RULE_MODULES = ("does_transfer_help", "what_to_transfer", "which_source_model", "transferability_metrics",
                "regularizers", "hyperparameters", "source_data", "what_is_transferred", "neighbouring_problems",
                "best_practice")


def combos(n):
    return list(itertools.product([False, True], repeat=n))


# --- the helper's own truth tables -------------------------------------------------------------------------------

@pytest.mark.parametrize("supported, mixed, expected", [
    (True, True, S), (True, False, S), (False, True, M), (False, False, N)])
def test_ladder_with_mixed(supported, mixed, expected):
    assert ladder(supported, mixed=mixed) == expected


@pytest.mark.parametrize("supported, not_supported, expected", [
    (True, True, S), (True, False, S), (False, True, N), (False, False, M)])
def test_ladder_with_not_supported(supported, not_supported, expected):
    assert ladder(supported, not_supported=not_supported) == expected


@pytest.mark.parametrize("gate", [False, True])
@pytest.mark.parametrize("parts", [p for n in (1, 2, 3) for p in combos(n)])
def test_from_parts(parts, gate):
    expected = S if gate and all(parts) else M if gate and any(parts) else N
    assert from_parts(*parts, gate=gate) == expected


def test_conditions_count_by_truth_value_like_a_plain_if():
    assert ladder(np.bool_(True), mixed=np.bool_(False)) == S
    assert ladder(np.float64(0.0), mixed=np.int64(2)) == M
    assert ladder(None, mixed=None) == N  # None is a false condition, not "argument left out"
    assert ladder(None, not_supported=None) == M
    undefined = np.float64("nan")  # an undefined statistic fails every comparison
    assert ladder(undefined > 0, mixed=undefined >= 0) == N


@pytest.mark.parametrize("kwargs", [{}, {"mixed": True, "not_supported": True}])
def test_ladder_needs_exactly_one_lower_rung(kwargs):
    with pytest.raises(TypeError, match="exactly one"):
        ladder(True, **kwargs)


def test_from_parts_needs_a_part():
    with pytest.raises(TypeError):
        from_parts(gate=True)


def test_verdicts_are_the_registry_ones():
    from tlcore.claims.registry import VERDICTS

    assert {ladder_module.SUPPORTED, ladder_module.MIXED, ladder_module.NOT_SUPPORTED} <= set(VERDICTS)


def test_no_rule_module_writes_its_own_ladder():
    folder = Path(ladder_module.__file__).parent
    for name in RULE_MODULES:
        source = (folder / f"{name}.py").read_text()
        assert '"supported"' not in source and '"mixed"' not in source, name


# --- every rule: the old hand-written ladder against the new call, over every combination of its conditions -------
# (name, number of conditions, old ladder copied from the rule, new call as the rule now makes it)

def _if(first, second, top=S, middle=M, bottom=N):
    """``if first: top elif second: middle else: bottom``, the shape of the old if/elif/else ladders."""
    if first:
        return top
    elif second:
        return middle
    else:
        return bottom


RULES = [
    # does_transfer_help
    ("T1", 3, lambda helps, size, sim: "supported" if helps and size and sim else ("mixed" if helps else "not supported"),
     lambda helps, size, sim: ladder(helps and size and sim, mixed=helps)),
    ("T7", 2, lambda q, c: _if(q, c), lambda q, c: ladder(q, mixed=c)),
    ("T8", 2, lambda low, mean: "supported" if low else ("mixed" if mean else "not supported"),
     lambda low, mean: ladder(low, mixed=mean)),
    # transferability_metrics
    ("M1", 3, lambda all_pos, any_int, any_pos: _if(all_pos and any_int, any_pos),
     lambda all_pos, any_int, any_pos: ladder(all_pos and any_int, mixed=any_pos)),
    ("M2", 2, lambda low, diff: "supported" if low else ("mixed" if diff else "not supported"),
     lambda low, diff: ladder(low, mixed=diff)),
    # what_to_transfer
    ("T3", 3, lambda beats, ordered, least: _if(beats and ordered, beats or least),
     lambda beats, ordered, least: ladder(beats and ordered, mixed=beats or least)),
    ("P3", 3, lambda far_low, contrast, far_mean: _if(far_low and contrast, far_mean),
     lambda far_low, contrast, far_mean: ladder(far_low and contrast, mixed=far_mean)),
    ("T4", 3, lambda strong, not_all, weak: _if(strong and not_all, weak or not_all),
     lambda strong, not_all, weak: ladder(strong and not_all, mixed=weak or not_all)),
    ("H2", 3, lambda low, high, varies: _if(low or high, varies),
     lambda low, high, varies: ladder(low or high, mixed=varies)),
    # which_source_model
    ("T6", 4, lambda low, bend, differs, rho_le0: ("supported" if low and bend and differs else "not supported"
                                                   if rho_le0 else "mixed"),
     lambda low, bend, differs, rho_le0: ladder(low and bend and differs, not_supported=rho_le0)),
    # hyperparameters
    ("T9", 3, lambda low, every, mean: "supported" if low and every else ("mixed" if mean else "not supported"),
     lambda low, every, mean: ladder(low and every, mixed=mean)),
    ("H3", 3, lambda low, small, mean: _if(low and small, mean),
     lambda low, small, mean: ladder(low and small, mixed=mean)),
    ("H4", 3, lambda low, only, mean: ("supported" if low and only else "mixed" if mean else "not supported"),
     lambda low, only, mean: ladder(low and only, mixed=mean)),
    ("H5", 5, lambda far, lr, gain, rec, gap: _if(far and lr and gain and rec, gap and gain),
     lambda far, lr, gain, rec, gap: ladder(far and lr and gain and rec, mixed=gap and gain)),
    # regularizers
    ("R1/R2", 3, lambda low, beats_far, mean: _if(low and beats_far, mean),
     lambda low, beats_far, mean: ladder(low and beats_far, mixed=mean)),
    ("R3", 3, lambda never, small, ordered: ("supported" if never and sum([small, ordered]) == 2 else (
        "mixed" if never and sum([small, ordered]) == 1 else "not supported")),
     lambda never, small, ordered: from_parts(small, ordered, gate=never)),
    ("R4", 2, lambda mean, low: "supported" if mean and low else ("mixed" if mean else "not supported"),
     lambda mean, low: ladder(mean and low, mixed=mean)),
    ("R6", 3, lambda low, none_neg, mean: S if low and none_neg else (M if mean else N),
     lambda low, none_neg, mean: ladder(low and none_neg, mixed=mean)),
    ("R7", 2, lambda lows, means: S if lows else (M if means else N), lambda lows, means: ladder(lows, mixed=means)),
    ("R8", 2, lambda highs, means: S if highs else (M if means else N), lambda highs, means: ladder(highs, mixed=means)),
    # source_data
    ("S2/S4", 3, lambda mean, lo, hi_neg: S if mean and lo and not hi_neg else (M if mean else N),
     lambda mean, lo, hi_neg: ladder(mean and lo and not hi_neg, mixed=mean)),
    ("S1", 3, lambda more, match, some: _if(more and match, more or match or some),
     lambda more, match, some: ladder(more and match, mixed=more or match or some)),
    ("S5", 3, lambda above, below, some: S if above and not below else (M if some else N),
     lambda above, below, some: ladder(above and not below, mixed=some)),
    ("S3", 3, lambda strong, low, positive: S if strong and low else (M if positive else N),
     lambda strong, low, positive: ladder(strong and low, mixed=positive)),
    # what_is_transferred
    ("P1", 3, lambda lows, basin, few: _if(lows and basin, few, middle=N, bottom=M),
     lambda lows, basin, few: ladder(lows and basin, not_supported=few)),
    ("P2", 2, lambda a, b: "supported" if a and b else ("mixed" if a or b else "not supported"),
     lambda a, b: from_parts(a, b)),
    ("P4", 3, lambda low, struggles, mean_le0: ("supported" if low and struggles else
                                                ("not supported" if mean_le0 else "mixed")),
     lambda low, struggles, mean_le0: ladder(low and struggles, not_supported=mean_le0)),
    # neighbouring_problems
    ("A1", 2, lambda low, mean: "supported" if low else ("mixed" if mean else "not supported"),
     lambda low, mean: ladder(low, mixed=mean)),
    ("A2", 3, lambda a, every, some: _if(a and every, a and some),
     lambda a, every, some: ladder(a and every, mixed=a and some)),
    ("A3", 4, lambda low, cells, mean, some: _if(low and cells, mean or some),
     lambda low, cells, mean, some: ladder(low and cells, mixed=mean or some)),
    ("A4", 4, lambda kept, matches, frozen, close: _if(kept and matches, kept and (frozen or close)),
     lambda kept, matches, frozen, close: ladder(kept and matches, mixed=kept and (frozen or close))),
]


@pytest.mark.parametrize("name, old, new, conditions",
                         [(name, old, new, c) for name, n, old, new in RULES for c in combos(n)],
                         ids=lambda v: v if isinstance(v, str) else "".join("TF"[not b] for b in v)
                         if isinstance(v, tuple) else "")
def test_rule_ladder_is_unchanged(name, old, new, conditions):
    assert new(*conditions) == old(*conditions), name


# Rules whose conditions are numbers, lists or loops: enumerate those directly.

@pytest.mark.parametrize("held, total", [(k, n) for n in range(1, 9) for k in range(n + 1)])
def test_b1_share_ladder(held, total):
    share = float(np.mean([True] * held + [False] * (total - held)))
    old = "supported" if share == 1 else ("mixed" if share >= 0.5 else "not supported")
    assert ladder(share == 1, mixed=share >= 0.5) == old


@pytest.mark.parametrize("rho, bound", list(itertools.product([-0.5, 0.0, 0.5, float("nan")], repeat=2)))
def test_h1_and_m3_ladders(rho, bound):
    # H1: rho < 0 and high < 0; M3: rho > 0 and low > 0.
    assert (ladder(rho < 0 and bound < 0, mixed=rho < 0)
            == ("supported" if rho < 0 and bound < 0 else ("mixed" if rho < 0 else "not supported")))
    assert (ladder(rho > 0 and bound > 0, mixed=rho > 0)
            == ("supported" if rho > 0 and bound > 0 else ("mixed" if rho > 0 else "not supported")))


def _old_two_measure(cis):
    if all(low > 0 for _, low, _ in cis):
        return "supported"
    if all(mean <= 0 for mean, _, _ in cis):
        return "not supported"
    return "mixed"


@pytest.mark.parametrize("n", [2, 4])
def test_t2_t5_two_measure_verdict(n):
    """The real helper of T2 (four measures) and T5 (two), every sign of each measure's mean and lower end."""
    cells = [(mean, low, 1.0) for mean in (-1.0, 0.0, 1.0) for low in (-1.0, 0.0, 1.0)]
    for cis in itertools.product(cells, repeat=n):
        assert _two_measure_verdict(list(cis)) == _old_two_measure(cis), cis


@pytest.mark.parametrize("conditions", combos(6))
def test_s6_ladder(conditions):
    """Two alternative losses, each with (raises source accuracy, probe interval below 0, probe mean >= 0)."""
    losses = [conditions[:3], conditions[3:]]
    if all(raised and below for raised, below, _ in losses):
        old = "supported"
    elif all(no_worse for *_, no_worse in losses):
        old = "not supported"
    else:
        old = "mixed"
    new = ladder(all(raised and below for raised, below, _ in losses),
                 not_supported=all(no_worse for *_, no_worse in losses))
    assert new == old


def _old_r5(targets):
    verdict = "not supported"
    for lows, means in targets:
        if lows:
            verdict = "supported"
        elif means and verdict != "supported":
            verdict = "mixed"
    return verdict


@pytest.mark.parametrize("targets", [list(zip(c[::2], c[1::2])) for n in range(4) for c in combos(2 * n)])
def test_r5_loop_ladder(targets):
    """R5 walked the targets in a loop; it now asks whether any target has both intervals (or means) above 0."""
    assert ladder(any(lows for lows, _ in targets), mixed=any(means for _, means in targets)) == _old_r5(targets)


@pytest.mark.parametrize("conditions", combos(6))
def test_s1_ladder_over_targets(conditions):
    """S1 with two matched targets: (a) holds, and per target (interval above 0, mean above 0)."""
    more_holds, cells = conditions[0], [conditions[1:3], conditions[3:5]]
    match_holds = all(lo for lo, _ in cells)
    some_mean = any(m for _, m in cells)
    if more_holds and match_holds:
        old = "supported"
    elif more_holds or match_holds or some_mean:
        old = "mixed"
    else:
        old = "not supported"
    assert ladder(more_holds and match_holds, mixed=more_holds or match_holds or some_mean) == old
