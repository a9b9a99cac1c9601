"""Issue 14, item 1: the declared primary tests of chapters 5 (R1-R8) and 6 (T9, H1, H3, H4, H5, M3) on synthetic
tables: a clear effect in the claimed direction is "supported", no effect is not, and each declared precondition,
when violated, makes the claim "not tested" and names it."""
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from tlcore import claims
from tlcore.claims import hyperparameters as hp
from tlcore.claims import regularizers as reg

SEEDS = (0, 1, 2)
SETUPS = ("none", "l2", "l2sp", "delta", "bss", "stochnorm", "l2sp_lower", "cotuning", "sample")


def published(claim, tables):
    """The category the registry publishes (primary test, Bonferroni over the family) and its reason."""
    result = claims.verdict(claim, tables)
    return result.verdict, result.numbers["primary"]["reason"]


def test_every_claim_of_chapters_5_and_6_declares_a_t_test_with_its_preconditions():
    for claim in ("R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "T9", "H1", "H3", "H4", "H5", "M3"):
        test = claims.CLAIMS[claim].primary.test
        assert test.method == "t" and test.pairing and "no collapsed run" in test.preconditions
        assert "per seed" in test.quantity


# --- chapter 5: regularizers ------------------------------------------------------------------------------------

def reg_tables(gain=lambda setup, target, n: 0.0, large_gain=lambda setup: 0.0, base=0.7, large_base=0.9,
               broken=None):
    """Synthetic chapter-5 tables: plain fine-tuning at ``base`` plus a per-seed offset shared by every set-up (the
    pairing), each set-up ``gain(setup, target, n)`` above it, run noise 0.05 points; validation = test + noise.
    ``broken = (table, target, n, setup, seed, accuracy)`` overwrites one run (NaN: diverged)."""
    rng = np.random.default_rng(7)
    rows, large = [], []
    for target, setup, seed in itertools.product(("near", "far"), SETUPS, SEEDS):
        for n in (5, 20):
            accuracy = base + 0.01 * seed + gain(setup, target, n) + rng.normal(0, 0.0005)
            rows.append({"target": target, "n_per_class": n, "regularizer": setup, "seed": seed,
                         "test_accuracy": accuracy, "val_accuracy": accuracy + rng.normal(0, 0.0005)})
        if target == "near" and setup in ("none", "l2", "l2sp"):
            accuracy = large_base + 0.005 * seed + large_gain(setup) + rng.normal(0, 0.0005)
            large.append({"target": target, "n_per_class": 100, "regularizer": setup, "seed": seed,
                          "test_accuracy": accuracy, "val_accuracy": accuracy + rng.normal(0, 0.0005)})
    frames = {reg.GRID: pd.DataFrame(rows), reg.LARGE: pd.DataFrame(large),
              reg.SIMILARITY: pd.DataFrame({"target": ["near", "far"], "seed": 0, "similarity": [0.8, 0.2]})}
    if broken:
        table, target, n, setup, seed, accuracy = broken
        frame = frames[table]
        at = (frame.target == target) & (frame.n_per_class == n) & (frame.regularizer == setup) & (frame.seed == seed)
        assert at.sum() == 1
        frame.loc[at, ["test_accuracy", "val_accuracy"]] = accuracy
    return frames.__getitem__


def only(effects, target=None, n=None):
    """gain(setup, target, n): ``effects[setup]`` on the given target / size (all when None), else 0."""
    return lambda s, t, m: effects.get(s, 0.0) if target in (None, t) and n in (None, m) else 0.0


# claim: (clear effect, no effect (or the wrong arm / place), a run the test reads: (target, size, set-up))
REGULARIZER_CASES = {
    "R1": (only({"l2sp": 0.03}, "near"), only({"l2sp": 0.03}, "far"), ("near", 20, "l2sp")),
    "R2": (only({"delta": 0.03}, "near"), only({}), ("near", 5, "delta")),
    "R3": (only({"bss": 0.03}, n=5), only({"bss": 0.03}, n=20), ("far", 5, "bss")),
    "R4": (only({"stochnorm": 0.03}, n=5), only({"stochnorm": -0.03}, n=5), ("far", 5, "stochnorm")),
    "R5": (only({"l2sp_lower": 0.03, "l2sp": 0.01}), only({"l2sp_lower": 0.02, "l2sp": 0.02}),
           ("far", 20, "l2sp_lower")),
    "R6": (only({"cotuning": 0.03}), only({}), ("near", 5, "cotuning")),
    "R7": (only({"sample": 0.05, "bss": 0.02, "delta": 0.01}), only({"sample": 0.03, "bss": 0.03}),
           ("far", 5, "sample")),
}


@pytest.mark.parametrize("claim", REGULARIZER_CASES)
def test_regularizer_claim_is_supported_by_a_clear_gain_and_not_without_one(claim):
    effect, none, _ = REGULARIZER_CASES[claim]
    verdict, reason = published(claim, reg_tables(effect))
    assert verdict == "supported", reason
    verdict, reason = published(claim, reg_tables(none))
    assert verdict in ("inconclusive", "not supported"), reason


@pytest.mark.parametrize("claim", REGULARIZER_CASES)
@pytest.mark.parametrize("accuracy, name", [(np.nan, "no diverged run"), (0.05, "no collapsed run")])
def test_regularizer_claim_is_not_tested_when_a_run_it_reads_failed(claim, accuracy, name):
    effect, _, (target, n, setup) = REGULARIZER_CASES[claim]
    verdict, reason = published(claim, reg_tables(effect, broken=(reg.GRID, target, n, setup, 1, accuracy)))
    assert verdict == "not tested" and name in reason, reason


def test_a_failed_run_the_test_does_not_read_changes_nothing():
    effect = REGULARIZER_CASES["R1"][0]
    for broken in ((reg.GRID, "far", 5, "stochnorm", 0, np.nan), (reg.GRID, "near", 5, "bss", 0, 0.05)):
        assert published("R1", reg_tables(effect, broken=broken))[0] == "supported"


@pytest.mark.parametrize("claim", ["R1", "R2"])
def test_similar_target_at_its_ceiling_is_not_tested(claim):
    verdict, reason = published(claim, reg_tables(REGULARIZER_CASES[claim][0], base=0.975))
    assert verdict == "not tested" and "target below its ceiling" in reason, reason


def test_r8_is_supported_when_regularisation_adds_nothing_at_the_large_size():
    small_helps = only({"l2": 0.05, "l2sp": 0.05})
    verdict, reason = published("R8", reg_tables(small_helps))
    assert verdict == "supported", reason
    verdict, reason = published("R8", reg_tables(small_helps, large_gain=lambda s: 0.03 if s == "l2sp" else 0.0))
    assert verdict == "not supported", reason
    # a gain of about the margin itself (one point) decides nothing either way
    verdict, reason = published("R8", reg_tables(small_helps, large_gain=lambda s: 0.01 if s == "l2" else 0.0))
    assert verdict != "supported", reason


@pytest.mark.parametrize("broken, kwargs, name", [
    ((reg.LARGE, "near", 100, "l2sp", 2, np.nan), {}, "no diverged run"),
    ((reg.LARGE, "near", 100, "none", 0, 0.05), {}, "no collapsed run"),
    (None, {"large_base": 0.985}, "target below its ceiling"),
])
def test_r8_preconditions(broken, kwargs, name):
    verdict, reason = published("R8", reg_tables(only({"l2": 0.05}), broken=broken, **kwargs))
    assert verdict == "not tested" and name in reason, reason


# --- chapter 6: hyper-parameters ---------------------------------------------------------------------------------

SIMILARITY = {"near": 0.8, "mid": 0.6, "real": 0.4, "far": 0.1}
CELLS = [(0.03, 0.0), (0.03, 0.9), (0.3, 0.0), (0.3, 0.9)]  # effective LR 0.03, 0.3, 0.3, 3
MONOTONE = {"near": 0.03, "mid": 0.3, "real": 0.3, "far": 3.0}  # optimum rises as similarity falls


def hp_grid(optima=MONOTONE, k=lambda target, n: 0.02, targets=tuple(SIMILARITY), large=("near", "far")):
    """hp_grid rows: validation peaks at each target's optimum (every seed); test accuracy falls by ``k(target, n)``
    per decade of effective learning rate, so the grid's spread is proportional to ``k``."""
    rng = np.random.default_rng(5)
    rows = []
    for target in targets:
        for n, (lr, m), seed in itertools.product((5, 100) if target in large else (5,), CELLS, SEEDS):
            eff = lr / (1 - m)
            rows.append({"target": target, "n_per_class": n, "seed": seed, "protocol_lr": lr,
                         "protocol_momentum": m, "effective_lr": eff, "chance": 0.05,
                         "val_accuracy": 0.9 - 0.05 * abs(math.log10(eff / optima[target])) + 1e-4 * seed,
                         "test_accuracy": 0.9 - k(target, n) * abs(math.log10(eff)) + 0.01 * seed
                         + rng.normal(0, 0.0005)})
    return pd.DataFrame(rows)


def collapse(frame, **where):
    """``frame`` with the first run matching ``where`` at chance (its siblings of other seeds unchanged)."""
    frame = frame.copy()
    at = np.flatnonzero(np.logical_and.reduce([frame[column] == value for column, value in where.items()]))[0]
    frame.loc[frame.index[at], ["val_accuracy", "test_accuracy"]] = 0.05
    return frame


def hp_tables(**frames):
    names = {"grid": hp.GRID, "similarity": hp.SIMILARITY, "schedule": hp.SCHEDULE, "mixup": hp.MIXUP,
             "bit": hp.BIT, "gap": hp.PROBE_GAP}
    return {names[key]: frame for key, frame in frames.items()}.__getitem__


def similarity(targets=SIMILARITY):
    return pd.DataFrame([{"target": t, "seed": s, "similarity": SIMILARITY[t]} for t in targets for s in SEEDS])


def gaps(values):
    return pd.DataFrame([{"target": t, "seed": s, "gap": g + 0.001 * s} for t, g in values.items() for s in SEEDS])


def test_t9_spread_larger_at_the_small_size():
    verdict, reason = published("T9", hp_tables(grid=hp_grid(k=lambda t, n: 0.2 if n == 5 else 0.02)))
    assert verdict == "supported", reason
    verdict, reason = published("T9", hp_tables(grid=hp_grid(k=lambda t, n: 0.05)))
    assert verdict in ("inconclusive", "not supported"), reason
    verdict, reason = published("T9", hp_tables(grid=hp_grid(k=lambda t, n: 0.02 if n == 5 else 0.2)))
    assert verdict == "not supported", reason
    broken = collapse(hp_grid(k=lambda t, n: 0.2 if n == 5 else 0.02), target="far", n_per_class=100, seed=1)
    verdict, reason = published("T9", hp_tables(grid=broken))
    assert verdict == "not tested" and "no collapsed run" in reason, reason


def test_h1_optimum_falls_with_similarity():
    verdict, reason = published("H1", hp_tables(grid=hp_grid(), similarity=similarity()))
    assert verdict == "supported", reason
    flat = hp_grid(optima={t: 0.3 for t in SIMILARITY})
    assert published("H1", hp_tables(grid=flat, similarity=similarity()))[0] in ("inconclusive", "not supported")
    reversed_ = hp_grid(optima={"near": 3.0, "mid": 0.3, "real": 0.3, "far": 0.03})
    assert published("H1", hp_tables(grid=reversed_, similarity=similarity()))[0] == "not supported"


def test_m3_gap_predicts_the_optimum():
    rising = {"near": 0.01, "mid": 0.1, "real": 0.15, "far": 0.5}
    verdict, reason = published("M3", hp_tables(grid=hp_grid(), gap=gaps(rising)))
    assert verdict == "supported", reason
    falling = {"near": 0.5, "mid": 0.15, "real": 0.1, "far": 0.01}
    assert published("M3", hp_tables(grid=hp_grid(), gap=gaps(falling)))[0] == "not supported"


@pytest.mark.parametrize("claim", ["H1", "M3"])
def test_h1_and_m3_preconditions(claim):
    rising = gaps({"near": 0.01, "mid": 0.1, "real": 0.15, "far": 0.5})
    broken = collapse(hp_grid(), target="mid", n_per_class=5, protocol_lr=0.3, protocol_momentum=0.0, seed=0)
    verdict, reason = published(claim, hp_tables(grid=broken, similarity=similarity(), gap=rising))
    assert verdict == "not tested" and "no collapsed run" in reason, reason
    # a collapse at the size the test does not read changes nothing
    elsewhere = collapse(hp_grid(), target="far", n_per_class=100, seed=0)
    assert published(claim, hp_tables(grid=elsewhere, similarity=similarity(), gap=rising))[0] == "supported"
    two = ("near", "far")
    verdict, reason = published(claim, hp_tables(grid=hp_grid(targets=two), similarity=similarity(two),
                                                 gap=rising[rising.target.isin(two)]))
    assert verdict == "not tested" and "three or more targets" in reason, reason


def schedule(d_small, d_large):
    rng = np.random.default_rng(2)
    rows = []
    for target, n, seed, steps in itertools.product(("near", "far"), (5, 100), SEEDS, (100, 300)):
        d = (d_small if n == 5 else d_large) if steps == 100 else 0.0
        rows.append({"target": target, "n_per_class": n, "seed": seed, "protocol_steps": steps, "chance": 0.05,
                     "val_accuracy": 0.8, "test_accuracy": 0.8 + 0.01 * seed + d + rng.normal(0, 0.0005)})
    return pd.DataFrame(rows)


def test_h3_small_targets_gain_more_from_the_short_schedule():
    verdict, reason = published("H3", hp_tables(schedule=schedule(0.02, -0.03)))
    assert verdict == "supported", reason
    verdict, reason = published("H3", hp_tables(schedule=schedule(-0.01, -0.01)))
    assert verdict in ("inconclusive", "not supported"), reason
    broken = collapse(schedule(0.02, -0.03), target="near", n_per_class=100, protocol_steps=300, seed=2)
    verdict, reason = published("H3", hp_tables(schedule=broken))
    assert verdict == "not tested" and "no collapsed run" in reason, reason


def mixup(gains, base=0.8):
    rng = np.random.default_rng(4)
    rows = []
    for (n, gain), seed, alpha in itertools.product(gains.items(), SEEDS, (0.0, 0.1)):
        rows.append({"target": "mid", "n_per_class": n, "seed": seed, "protocol_mixup_alpha": alpha, "chance": 0.05,
                     "val_accuracy": base, "test_accuracy": base + 0.005 * seed + (gain if alpha else 0.0)
                     + rng.normal(0, 0.0005)})
    return pd.DataFrame(rows)


def test_h4_mixup_helps_at_the_mid_size():
    verdict, reason = published("H4", hp_tables(mixup=mixup({5: -0.01, 20: 0.03, 100: 0.0})))
    assert verdict == "supported", reason
    verdict, reason = published("H4", hp_tables(mixup=mixup({5: 0.03, 20: 0.0, 100: 0.03})))
    assert verdict in ("inconclusive", "not supported"), reason


@pytest.mark.parametrize("frame, name", [
    (mixup({5: -0.01, 100: 0.03}), "a mid size"),
    (mixup({5: -0.01, 20: 0.01, 100: 0.0}, base=0.985), "target below its ceiling"),
    (collapse(mixup({5: -0.01, 20: 0.03, 100: 0.0}), n_per_class=20, protocol_mixup_alpha=0.1, seed=0),
     "no collapsed run"),
])
def test_h4_preconditions(frame, name):
    verdict, reason = published("H4", hp_tables(mixup=frame))
    assert verdict == "not tested" and name in reason, reason


def bit(reference, default=0.5):
    """hp_bit_recipe rows: the BiT default (0.003, default) at ``default``, the tuned recipe at ``reference``."""
    rng = np.random.default_rng(6)
    rows = []
    for (lr, length), seed in itertools.product(itertools.product((0.003, 0.03, 0.3), ("default", "x2")), SEEDS):
        is_default = lr == 0.003 and length == "default"
        accuracy = (default if is_default else 0.6) + 0.01 * seed + rng.normal(0, 0.0005)
        rows.append({"seed": seed, "recipe": "grid", "protocol_lr": lr, "schedule": length, "chance": 0.05,
                     "bit_default": is_default, "val_accuracy": accuracy, "test_accuracy": accuracy})
    for seed in SEEDS:
        accuracy = reference + 0.01 * seed + rng.normal(0, 0.0005)
        rows.append({"seed": seed, "recipe": "tuned_reference", "protocol_lr": 0.3, "schedule": "chapter 1",
                     "chance": 0.05, "bit_default": False, "val_accuracy": accuracy, "test_accuracy": accuracy})
    return pd.DataFrame(rows)


def test_h5_tuned_recipe_against_the_bit_default():
    verdict, reason = published("H5", hp_tables(bit=bit(0.9)))
    assert verdict == "supported", reason
    verdict, reason = published("H5", hp_tables(bit=bit(0.5)))
    assert verdict in ("inconclusive", "not supported"), reason
    broken = collapse(bit(0.9), recipe="grid", bit_default=True, seed=1)
    verdict, reason = published("H5", hp_tables(bit=broken))
    assert verdict == "not tested" and "no collapsed run" in reason, reason
