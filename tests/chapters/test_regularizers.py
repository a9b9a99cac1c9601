"""Chapter 5's new set-ups (per-stage mix, Co-Tuning, sample-based), its weight sweep, and the rules R5-R8."""
import numpy as np
import pandas as pd
import pytest
from factories import data, tiny

from tlcore import claims
from tlcore.finetune import Protocol, model_stages
from tlcore.regularizers import L2, L2SP, CoTuning, SampleBased
from tlcore.regularizers.setups import DEFAULT_WEIGHTS, TRADE_OFF_SETUPS, prepare
from tlcore.runs.transfer import TransferRun, run
from tlcore.studies.regularizers import TABLES

QUICK = Protocol(lr=0.05, steps=6, batch_size=16, eval_every=3)


# --- set-ups --------------------------------------------------------------------------------------------------------

def test_lower_stage_mix_puts_l2sp_below_and_l2_above_and_on_the_head():
    model = tiny()
    _, terms = prepare("l2sp_lower", 0.02, model, data(16), "glyph_micro")
    assert [w for w, _ in terms] == [0.02, 0.02, 0.02]
    (_, lower), (_, upper), (_, head) = terms
    assert isinstance(lower, L2SP) and isinstance(upper, L2) and isinstance(head, L2)
    stages = model_stages(model)
    assert [id(p) for p in lower.tensors] == [id(p) for s in stages[:2] for p in s.params()]
    assert [id(p) for p in upper.tensors] == [id(p) for s in stages[2:] for p in s.params()]
    assert [id(p) for p in head.tensors] == [id(p) for p in model.get_classifier().parameters()]


def test_only_loss_trade_offs_are_swept():
    assert set(TRADE_OFF_SETUPS) == set(DEFAULT_WEIGHTS) - {"none", "stochnorm"}
    assert {"l2sp_lower", "cotuning", "sample"} <= set(TRADE_OFF_SETUPS)


@pytest.mark.parametrize("setup, kind", [("cotuning", CoTuning), ("sample", SampleBased)])
def test_new_setups_regularise_a_stored_run(setup, kind, tmp_results):
    from tlcore import data as datasets
    from tlcore import models

    train = datasets.load("glyphs_near", "train", 2, seed=0)
    model = models.create("glyph_micro", pretrained=True, num_classes=train.num_classes, progress=False)
    _, terms = prepare(setup, DEFAULT_WEIGHTS[setup], model, train, "glyph_micro")
    assert len(terms) == 1 and isinstance(terms[0][1], kind)
    if setup == "cotuning":  # the source head is kept and a relation to every target class learnt
        assert terms[0][1].relationship.shape[0] == train.num_classes
    plain = run(TransferRun("glyphs_near", 2, True, "glyph_micro", QUICK, 0))
    regularised = run(TransferRun("glyphs_near", 2, True, "glyph_micro", QUICK, 0, setup))
    assert regularised.history != plain.history


def test_large_setups_must_be_among_the_chapters_setups():
    import tlcore
    from tlcore.studies.regularizers import regularizer_study

    profile = tlcore.studies.profiles.get_profile("smoke").with_(regularization={"large_setups": ("none", "mixup")})
    with pytest.raises(ValueError, match="mixup"):
        regularizer_study(profile, progress=False)


def test_a_large_only_target_has_its_large_setups_swept_and_no_other(monkeypatch):
    import tlcore
    from tlcore.studies import regularizers

    specs = []

    def record(batch, progress=True):
        specs.extend(batch)
        return pd.DataFrame({"regularizer": [s.regularizer for s in batch],
                             "regularizer_weight": [s.regularizer_weight for s in batch]})

    monkeypatch.setattr(regularizers, "run_many", record)
    profile = tlcore.studies.profiles.get_profile("smoke").with_(regularization={"large_targets": ("glyphs_mid",)})
    assert regularizers.large_only_targets(profile) == ("glyphs_mid",)
    regularizers.regularizer_weights(profile, dict.fromkeys(("glyphs_near", "textures_far", "glyphs_mid"), QUICK),
                                     progress=False)
    swept = {target: {s.regularizer for s in specs if s.target == target} for target in {s.target for s in specs}}
    assert swept["glyphs_mid"] == {"l2", "l2sp"}  # "none" has no weight to sweep
    assert swept["glyphs_near"] == swept["textures_far"] == set(profile.regularization.setups) & set(TRADE_OFF_SETUPS)
    scales = profile.regularization.weight_scales
    assert len([s for s in specs if s.target == "glyphs_mid"]) == 2 * len(scales)


def test_the_large_size_gets_its_epochs_and_never_fewer_steps_than_the_grid():
    import tlcore
    from tlcore.studies.regularizers import large_steps

    embedded = tlcore.studies.profiles.get_profile("embedded")
    unadapted = embedded.with_(regularization={"large_epochs": None})
    assert large_steps(unadapted, "textures_far") == embedded.regularization.steps  # large_epochs None: the grid's
    raised = embedded.with_(regularization={"large_size": 500, "large_epochs": 30})
    assert large_steps(raised, "textures_far") == 4688  # 30 x 500 x 20 classes / 64, rounded up
    assert large_steps(tlcore.studies.profiles.get_profile("real"), "cifar100") == 18750  # 30 x 400 x 100 / 64
    assert large_steps(raised, "digits_real") == 2344  # 10 classes
    short = embedded.with_(regularization={"large_size": 500, "large_epochs": 1})
    assert large_steps(short, "textures_far") == embedded.regularization.steps  # 157 steps would be under the grid's


# --- rules ----------------------------------------------------------------------------------------------------------

SETUPS = ("none", "l2", "l2sp", "delta", "bss", "stochnorm", "l2sp_lower", "cotuning", "sample")


def tables(gain, large_gain=lambda s, seed: 0.0, sizes=(5, 20), large_size=100):
    """Synthetic chapter-5 tables: gain(setup, target, n, seed) over plain fine-tuning (large_gain(setup, seed) at the
    large size), three seeds with small noise."""
    rng = np.random.default_rng(3)
    rows, large = [], []
    for target in ("near", "far"):
        for setup in SETUPS:
            for seed in range(3):
                for n in sizes:
                    rows.append({"target": target, "n_per_class": n, "regularizer": setup, "seed": seed,
                                 "test_accuracy": 0.7 + (setup != "none") * gain(setup, target, n, seed)
                                 + rng.normal(0, 0.001)})
                if target == "near" and setup in ("none", "l2", "l2sp"):
                    large.append({"target": target, "n_per_class": large_size, "regularizer": setup, "seed": seed,
                                  "test_accuracy": 0.9 + (setup != "none") * large_gain(setup, seed)
                                  + rng.normal(0, 0.001)})
    similarity = pd.DataFrame({"target": ["near", "far"], "seed": [0, 0], "similarity": [0.8, 0.2]})
    return {TABLES["grid"]: pd.DataFrame(rows), TABLES["similarity"]: similarity,
            TABLES["large"]: pd.DataFrame(large)}.__getitem__


def verdict(claim, tables):
    return claims.CLAIMS[claim].rule(tables)


def test_r5_mix_must_beat_both_uniform_penalties_on_some_target():
    mix_best = tables(lambda s, t, n, *_: {"l2": 0.01, "l2sp": 0.02, "l2sp_lower": 0.04 if t == "far" else 0.0}.get(s, 0))
    result = verdict("R5", mix_best)
    assert result.verdict == "supported" and result.key_number == pytest.approx(2.0, abs=0.2)
    # beats all-L2 but ties all-L2-SP: not both intervals above 0, never "supported"
    tie = tables(lambda s, t, n, *_: {"l2sp": 0.02, "l2sp_lower": 0.02}.get(s, 0))
    assert verdict("R5", tie).verdict != "supported"
    assert verdict("R5", tables(lambda s, t, n, *_: {"l2sp": 0.03, "l2sp_lower": 0.01}.get(s, 0))).verdict == \
        "not supported"


def test_r5_is_mixed_when_the_mix_leads_only_within_the_noise():
    spread = {0: -0.02, 1: 0.0, 2: 0.05}  # mean +1 point, one seed below 0: the interval straddles 0
    noisy = tables(lambda s, t, n, seed: spread[seed] if s == "l2sp_lower" else 0.0)
    assert verdict("R5", noisy).verdict == "mixed"


def test_r6_cotuning_must_help_on_average_and_hurt_nowhere():
    assert verdict("R6", tables(lambda s, t, n, *_: 0.02 if s == "cotuning" else 0)).verdict == "supported"
    one_hurts = tables(lambda s, t, n, *_: (0.05 if t == "near" else -0.01) if s == "cotuning" else 0)
    result = verdict("R6", one_hurts)
    assert result.verdict == "mixed" and result.key_number == pytest.approx(2.0, abs=0.2)
    assert verdict("R6", tables(lambda s, t, n, *_: -0.02 if s == "cotuning" else 0)).verdict == "not supported"


def test_r7_sample_based_must_beat_each_of_l2sp_delta_and_bss():
    ahead = tables(lambda s, t, n, *_: {"l2sp": 0.01, "delta": 0.02, "bss": 0.015, "sample": 0.03}.get(s, 0))
    result = verdict("R7", ahead)
    assert result.verdict == "supported" and result.key_number == pytest.approx(1.0, abs=0.2)
    behind_bss = tables(lambda s, t, n, *_: {"bss": 0.04, "sample": 0.03}.get(s, 0))
    assert verdict("R7", behind_bss).verdict == "not supported"


def test_r8_reads_the_gain_at_the_large_size_only():
    small_helps = lambda s, t, n, *_: 0.05 if s in ("l2", "l2sp") else 0
    little = verdict("R8", tables(small_helps, large_gain=lambda s, seed: 0.002))
    assert little.verdict == "supported" and "100/class" in little.key_label
    assert verdict("R8", tables(small_helps, large_gain=lambda s, seed: 0.03 if s == "l2sp" else 0)).verdict == \
        "not supported"
    spread = {0: 0.0, 1: 0.005, 2: 0.02}  # mean below +1 point, the interval reaches it
    assert verdict("R8", tables(small_helps, large_gain=lambda s, seed: spread[seed])).verdict == "mixed"


def test_r8_names_a_missing_arm():
    missing = tables(lambda s, t, n, *_: 0)
    frame = missing(TABLES["large"])
    broken = {TABLES["grid"]: missing(TABLES["grid"]), TABLES["large"]: frame[frame.regularizer != "l2sp"]}.__getitem__
    with pytest.raises(ValueError, match="l2sp"):
        verdict("R8", broken)
