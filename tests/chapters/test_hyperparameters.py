"""Chapter 6: reading hyper-parameter grids, the studies' run sharing, and each verdict rule on synthetic tables."""
import itertools
import math

import numpy as np
import pandas as pd
import pytest

import tlcore
from tlcore.analysis.grids import (effective_learning_rate, grid_spread, optimum, rank_correlation, score_diverged,
    seed_resamples, weighted_seed_mean)
from tlcore.claims import hyperparameters as rules
from tlcore.runs.spec import planning
from tlcore.runs.transfer import TransferRun
from tlcore.studies import hyperparameters as hp
from tlcore.studies.common import protocol_for

SEEDS = (0, 1, 2)
SIMILARITY = {"near": 0.8, "mid": 0.6, "real": 0.4, "far": 0.1}
CELLS = [(0.03, 0.0), (0.03, 0.9), (0.3, 0.0), (0.3, 0.9)]  # effective LR 0.03, 0.3, 0.3, 3


# --- analysis helpers -------------------------------------------------------------------------------------------

def test_effective_learning_rate_is_lr_over_one_minus_momentum():
    assert effective_learning_rate(0.03, 0.9) == pytest.approx(0.3)
    assert effective_learning_rate(0.1, 0.0) == pytest.approx(0.1)
    assert effective_learning_rate(0.03, 0.9) == effective_learning_rate(0.3, 0.0)  # equal rates rank as ties
    np.testing.assert_allclose(effective_learning_rate([0.01, 0.1], [0.5, 0.9]), [0.02, 1.0])
    with pytest.raises(ValueError, match="momentum"):
        effective_learning_rate(0.1, 1.0)
    with pytest.raises(ValueError, match="lr > 0"):
        effective_learning_rate(0.0, 0.9)


def test_diverged_runs_score_chance_and_chance_is_required():
    frame = pd.DataFrame({"val_accuracy": [0.9, np.nan], "test_accuracy": [0.8, np.nan], "chance": [0.1, 0.05]})
    scored = score_diverged(frame)
    assert scored.test_accuracy.tolist() == [0.8, 0.05] and scored.val_accuracy.tolist() == [0.9, 0.05]
    assert frame.test_accuracy.isna().sum() == 1  # the input is left alone
    with pytest.raises(KeyError, match="chance"):
        score_diverged(frame.drop(columns="chance"))


def test_grid_spread_is_the_range_over_cells_per_seed():
    frame = pd.DataFrame({"target": "t", "n_per_class": 5, "seed": [0, 0, 0, 1, 1, 1],
                          "test_accuracy": [0.5, 0.9, 0.7, 0.6, 0.6, 0.6]})
    spread = grid_spread(frame).set_index("seed")["spread"]
    assert spread[0] == pytest.approx(0.4) and spread[1] == 0


def test_optimum_is_chosen_on_validation_with_seed_weights():
    frame = pd.DataFrame([{"target": "t", "n_per_class": 5, "seed": s, "protocol_lr": lr, "protocol_momentum": 0.9,
                           "val_accuracy": v}
                          for lr, vals in ((0.03, (0.9, 0.9, 0.5)), (0.3, (0.8, 0.8, 0.95))) for s, v in
                          zip(SEEDS, vals)])
    assert optimum(frame).protocol_lr.item() == 0.3  # means 0.767 vs 0.85
    assert optimum(frame, seed_weights={0: 2, 1: 1}).protocol_lr.item() == 0.03
    assert optimum(frame).effective_lr.item() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="validation"):
        optimum(frame, metric="test_accuracy")


def test_seed_resamples_start_with_the_sample_and_keep_its_size():
    resamples = list(seed_resamples(SEEDS, 50))
    assert resamples[0] == {0: 1, 1: 1, 2: 1} and len(resamples) == 51
    assert all(sum(r.values()) == 3 and set(r) <= set(SEEDS) for r in resamples)
    assert resamples == list(seed_resamples(SEEDS, 50))  # deterministic
    with pytest.raises(ValueError, match="at least 2 seeds"):
        list(seed_resamples([0]))


def test_rank_correlation_aligns_on_the_index_and_is_zero_without_ranking():
    x = pd.Series({"a": 1.0, "b": 2.0, "c": 3.0})
    assert rank_correlation(x, pd.Series({"c": 30.0, "a": 10.0, "b": 20.0})) == pytest.approx(1.0)
    assert rank_correlation(x, pd.Series({"a": 3.0, "b": 2.0, "c": 1.0})) == pytest.approx(-1.0)
    assert rank_correlation(x, pd.Series({"a": 1.0, "b": 1.0, "c": 1.0})) == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        rank_correlation(x, pd.Series({"a": 1.0}))


def test_weighted_seed_mean_counts_resampled_seeds():
    frame = pd.DataFrame({"target": "t", "seed": [0, 1], "gap": [0.0, 1.0]})
    assert weighted_seed_mean(frame, by="target", column="gap", seed_weights={1: 3, 0: 1})["t"] == 0.75


# --- studies ----------------------------------------------------------------------------------------------------

def test_short_schedule_and_mixup_off_runs_are_the_grid_and_chapter_one_runs():
    profile = tlcore.studies.profiles.get_profile("embedded")
    lr = profile.hp.lrs[0]
    grid_run = TransferRun("glyphs_near", 5, True, profile.arch, hp.grid_protocol(profile, lr, 0.9), 0)
    schedule_run = TransferRun("glyphs_near", 5, True, profile.arch,
                               protocol_for(profile, lr).with_(steps=profile.hp.steps), 0)
    assert grid_run.key() == schedule_run.key()
    chapter_one = TransferRun("glyphs_mid", 20, True, profile.arch, protocol_for(profile, 0.1), 1)
    mixup_off = TransferRun("glyphs_mid", 20, True, profile.arch, protocol_for(profile, 0.1).with_(mixup_alpha=0.0), 1)
    assert chapter_one.key() == mixup_off.key()


def test_extra_targets_join_the_grid_and_the_quick_fine_tunes_once():
    profile = tlcore.studies.profiles.get_profile("embedded").with_(
        seeds=(0,), hp={"extra_targets": ("digits_fonts", "glyphs_near")})
    assert hp.grid_targets(profile) == profile.targets + ("digits_fonts",)  # a profile target is not added twice
    with planning():
        grid = hp.lr_momentum_grid(profile, progress=False)
    cells = len(profile.hp.lrs) * len(profile.hp.momenta)
    sizes = {t: len(profile.hp.sizes) if t in profile.hp.large_targets else 1 for t in hp.grid_targets(profile)}
    assert len(grid) == cells * sum(sizes.values())
    assert set(grid.target) == set(hp.grid_targets(profile))
    assert [run.target for run in hp.quick_runs(profile)] == list(hp.grid_targets(profile))


def test_grid_setup_runs_the_grid_seeds_and_leaves_the_other_experiments_at_the_chapters():
    profile = tlcore.studies.profiles.get_profile("embedded").with_(seeds=(0, 1), hp={"grid_seeds": (0, 1, 2, 3)})
    grid_profile = hp.grid_setup(profile)
    assert grid_profile.seeds == (0, 1, 2, 3)
    assert grid_profile.with_(seeds=profile.seeds) == profile  # nothing else changes
    with planning():
        grid = hp.lr_momentum_grid(grid_profile, progress=False)
        schedule = hp.schedule_study(profile, progress=False)
    assert set(grid.seed) == {0, 1, 2, 3} and set(schedule.seed) == {0, 1}
    assert {run.seed for run in hp.quick_runs(grid_profile)} == {0, 1, 2, 3}
    unset = profile.with_(hp={"grid_seeds": None})
    assert hp.grid_setup(unset) is unset


def test_bit_default_follows_the_rule_at_the_profile_scale():
    profile = tlcore.studies.profiles.get_profile("embedded")
    default = hp.bit_default(profile)
    # 20 classes x 20 images = 400 < 20k x 0.025: BiT's small-target row, 500 steps x 0.025 x 512 / 64.
    assert (default.steps, default.lr, default.schedule, default.select) == (100, 0.003, "step", "last")
    assert default.warmup_steps == 20 and default.mixup_alpha == 0.0


def test_probe_gap_refuses_probes_at_another_size():
    profile = tlcore.studies.profiles.get_profile("smoke")
    probes = pd.DataFrame({"target": ["glyphs_near"], "seed": [0], "n_per_class": [5], "probe_pretrained": [0.5]})
    with pytest.raises(ValueError, match=r"hp\.sizes"):
        hp.probe_gap_study(profile, probes, progress=False)


# --- verdict rules on synthetic tables ---------------------------------------------------------------------------

def _grid(val, test=None, large=("near", "far")):
    """hp_grid rows: ``val(target, eff, seed)`` and ``test(target, n, eff, seed)`` give accuracies."""
    test = test or (lambda target, n, eff, seed: val(target, eff, seed))
    rows = []
    for target in SIMILARITY:
        for n in ((5, 100) if target in large else (5,)):
            for (lr, m), seed in itertools.product(CELLS, SEEDS):
                eff = lr / (1 - m)
                rows.append({"target": target, "n_per_class": n, "seed": seed, "protocol_lr": lr,
                             "protocol_momentum": m, "effective_lr": eff, "chance": 0.05,
                             "val_accuracy": val(target, eff, seed), "test_accuracy": test(target, n, eff, seed)})
    return pd.DataFrame(rows)


def _peaked(optima):
    """Validation accuracy peaking at each target's optimum effective LR, the same for every seed."""
    return lambda target, eff, seed: 0.9 - 0.05 * abs(math.log10(eff) - math.log10(optima[target])) + 1e-4 * seed


MONOTONE = {"near": 0.03, "mid": 0.3, "real": 0.3, "far": 3.0}


def _seed_dependent_far(target, eff, seed):
    """Every target peaks at 0.03 except far, whose optimum (3 on average) flips to 0.03 when seed 2 dominates."""
    if target != "far":
        return _peaked(MONOTONE | {"mid": 0.03, "real": 0.03})(target, eff, seed)
    table = {3.0: (0.95, 0.95, 0.7), 0.03: (0.8, 0.8, 0.9)}
    return table.get(round(eff, 6), (0.1, 0.1, 0.1))[seed]


def _similarity():
    return pd.DataFrame([{"target": t, "seed": s, "similarity": v} for t, v in SIMILARITY.items() for s in SEEDS])


def _tables(**frames):
    names = {"grid": rules.GRID, "similarity": rules.SIMILARITY, "schedule": rules.SCHEDULE, "mixup": rules.MIXUP,
             "bit": rules.BIT, "gap": rules.PROBE_GAP}
    store = {names[k]: v for k, v in frames.items()}
    return store.__getitem__


def _spread_test(k):
    """Test accuracy whose spread over the grid is proportional to ``k(target, n)``."""
    return lambda target, n, eff, seed: 0.9 - k(target, n) * abs(math.log10(eff)) + 0.002 * seed


@pytest.mark.parametrize("k, expected", [
    (lambda t, n: 0.2 if n == 5 else 0.02, "supported"),
    (lambda t, n: {("far", 5): 0.02, ("far", 100): 0.05}.get((t, n), 0.2 if n == 5 else 0.02), "mixed"),
    (lambda t, n: 0.02 if n == 5 else 0.2, "not supported"),
])
def test_rule_t9(k, expected):
    grid = _grid(_peaked(MONOTONE), _spread_test(k))
    assert rules.rule_t9(_tables(grid=grid)).verdict == expected


def test_rule_t9_counts_a_diverged_run_as_the_widest_spread():
    grid = _grid(_peaked(MONOTONE), _spread_test(lambda t, n: 0.01))
    grid.loc[(grid.n_per_class == 5) & np.isclose(grid.effective_lr, 3.0), "test_accuracy"] = np.nan
    assert rules.rule_t9(_tables(grid=grid)).verdict == "supported"


@pytest.mark.parametrize("val, expected", [
    (_peaked(MONOTONE), "supported"),
    (_seed_dependent_far, "mixed"),
    (_peaked({"near": 3.0, "mid": 0.3, "real": 0.3, "far": 0.03}), "not supported"),
    (_peaked({t: 0.3 for t in SIMILARITY}), "not supported"),
])
def test_rule_h1(val, expected):
    verdict = rules.rule_h1(_tables(grid=_grid(val), similarity=_similarity()))
    assert verdict.verdict == expected


def _gaps(values):
    return pd.DataFrame([{"target": t, "seed": s, "gap": g + 0.001 * s} for t, g in values.items() for s in SEEDS])


@pytest.mark.parametrize("val, gaps, expected", [
    (_peaked(MONOTONE), {"near": 0.01, "mid": 0.1, "real": 0.15, "far": 0.5}, "supported"),
    (_seed_dependent_far, {"near": 0.01, "mid": 0.02, "real": 0.03, "far": 0.5}, "mixed"),
    (_peaked(MONOTONE), {"near": 0.5, "mid": 0.15, "real": 0.1, "far": 0.01}, "not supported"),
])
def test_rule_m3(val, gaps, expected):
    assert rules.rule_m3(_tables(grid=_grid(val), gap=_gaps(gaps))).verdict == expected


def _schedule(d_small, d_large):
    rows = []
    for target, n, seed in itertools.product(("near", "far"), (5, 100), SEEDS):
        d = d_small if n == 5 else d_large
        for steps in (100, 300):
            rows.append({"target": target, "n_per_class": n, "seed": seed, "protocol_steps": steps, "chance": 0.05,
                         "val_accuracy": 0.8, "test_accuracy": 0.8 + (d + 0.002 * seed if steps == 100 else 0)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("d_small, d_large, expected", [
    (0.01, -0.05, "supported"), (-0.01, -0.05, "mixed"), (-0.05, 0.0, "not supported")])
def test_rule_h3(d_small, d_large, expected):
    assert rules.rule_h3(_tables(schedule=_schedule(d_small, d_large))).verdict == expected


def _mixup(gains):
    rows = []
    for (n, gain), seed in itertools.product(gains.items(), SEEDS):
        for alpha in (0.0, 0.1):
            rows.append({"target": "mid", "n_per_class": n, "seed": seed, "protocol_mixup_alpha": alpha,
                         "chance": 0.05, "val_accuracy": 0.8,
                         "test_accuracy": 0.8 + (gain + 0.002 * (seed - 1) if alpha else 0)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("gains, expected", [
    ({5: -0.01, 20: 0.03, 100: 0.0}, "supported"),
    ({5: 0.03, 20: 0.03, 100: 0.03}, "mixed"),
    ({5: -0.01, 20: -0.02, 100: 0.0}, "not supported"),
])
def test_rule_h4(gains, expected):
    assert rules.rule_h4(_tables(mixup=_mixup(gains))).verdict == expected


def _bit(cell_accuracy, reference):
    """hp_bit_recipe rows: ``cell_accuracy[(lr, schedule)] = (val, test)``, default (0.003, default) 0.5/0.5."""
    rows = []
    for lr, schedule in itertools.product((0.003, 0.03, 0.3), ("default", "x2")):
        val, test = cell_accuracy.get((lr, schedule), (0.5, 0.5))
        for seed in SEEDS:
            rows.append({"seed": seed, "recipe": "grid", "protocol_lr": lr, "schedule": schedule, "chance": 0.05,
                         "bit_default": lr == 0.003 and schedule == "default", "val_accuracy": val,
                         "test_accuracy": test + 0.002 * seed})
    for seed in SEEDS:
        rows.append({"seed": seed, "recipe": "tuned_reference", "protocol_lr": 0.3, "schedule": "chapter 1",
                     "chance": 0.05, "bit_default": False, "val_accuracy": reference,
                     "test_accuracy": reference + 0.004 * seed})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("cells, reference, expected", [
    ({(0.3, "x2"): (0.9, 0.85)}, 0.9, "supported"),
    ({(0.03, "default"): (0.9, 0.6)}, 0.9, "mixed"),
    ({(0.03, "default"): (0.4, 0.4)}, 0.5, "not supported"),
])
def test_rule_h5(cells, reference, expected):
    verdict = rules.rule_h5(_tables(bit=_bit(cells, reference)))
    assert verdict.verdict == expected
    if expected == "supported":
        assert verdict.key_number == pytest.approx(0.35 / 0.4, abs=0.02)


def test_chapter_six_claims_are_implemented_with_their_tables():
    for claim in ("T9", "H1", "H3", "H4", "H5", "M3"):
        registered = tlcore.claims.CLAIMS[claim]
        assert registered.chapter == "06_hyperparameters" and registered.rule is not None
        assert len(registered.rule_text) > 50
    assert tlcore.claims.CLAIMS["H2"].chapter == "02_what_to_transfer"  # H2 reads chapter 2's re-initialisation grid


def test_mixup_runs_about_the_declared_epochs_at_each_size_and_never_fewer_steps_than_the_chapter():
    from tlcore.studies.hyperparameters import mixup_schedule

    embedded = tlcore.get_profile("embedded")
    # glyphs_mid has 20 classes; 30 epochs at batch 64: ceil(30 * n * 20 / 64), at least the chapter's 150 steps
    assert mixup_schedule(embedded) == {5: 150, 20: 188, 100: 938, 500: 4688}
    plain = embedded.with_(hp={"mixup_sizes": None, "mixup_epochs": None})
    assert mixup_schedule(plain) == {n: embedded.steps for n in embedded.sizes}  # chapter 1's runs
