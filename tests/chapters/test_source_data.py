import hashlib
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from factories import data as random_data
from factories import tiny

from tlcore import data
from tlcore.claims import source_data as rules
from tlcore.models import ZOO, ZooEntry
from tlcore.models.datl import datl_weights, target_class_prior
from tlcore.models.selfsup import nt_xent_loss, random_view, simclr_pretrain, uniform_loss
from tlcore.models.zoo import resample_by_class

# --- the world's new sources ---------------------------------------------------------------------------------------

def test_font_digits_are_the_ten_digits_and_deterministic():
    first = data.load("digits_fonts", "train", 3, seed=4)
    again = data.load("digits_fonts", "train", 3, seed=4)
    assert list(first.classes) == [str(d) for d in range(10)]
    assert first.info["role"] == "source" and torch.equal(first.images, again.images)
    assert not torch.equal(first.images, data.load("digits_fonts", "train", 3, seed=5).images)


def test_texture_source_shares_no_class_with_the_far_target_and_leaves_it_unchanged():
    source = data.load("textures_source", "val")
    far = data.load("textures_far", "val", seed=1)
    assert source.num_classes == 20 and not set(source.classes) & set(far.classes)
    # The far target's pixels from before the texture source existed: adding a source must not move a target.
    digest = hashlib.sha256(far.images.numpy().tobytes()).hexdigest()
    assert digest == "5c074a9afb77f4a0e54761fd2a225e7079617c5617df5f2ff6b03ca575c5e031"


# --- zoo recipes ----------------------------------------------------------------------------------------------------

def test_the_new_recipe_fields_stay_out_of_the_recipe_at_their_defaults():
    recipe = ZOO["glyph_resnet_narrow"].recipe()
    assert not {"parent", "objective", "class_weights"} & set(recipe)
    assert ZOO["textures_source_micro_simclr"].recipe()["objective"] == "simclr"


def test_a_two_step_source_names_its_parent_and_its_key_follows_the_parent(monkeypatch):
    child = ZOO["glyph_micro_then_digits_fonts"]
    assert child.parent == "glyph_micro" and child.recipe()["parent_key"] == ZOO["glyph_micro"].key()
    before = child.key()
    monkeypatch.setitem(ZOO, "glyph_micro", replace(ZOO["glyph_micro"], source_per_class=21))
    assert child.key() != before


def _record_pretraining(monkeypatch):
    """Replace the zoo's supervised and self-supervised trainers by spies that keep the model they were given."""
    from tlcore.finetune.record import RunRecord
    from tlcore.models import zoo

    calls = []

    def spy(objective):
        def train(model, *args, **kwargs):
            calls.append((objective, {k: v.clone() for k, v in model.state_dict().items()}))
            return RunRecord(config={}, val_accuracy=0.5, test_accuracy=0.5, seconds=0.1)
        return train

    monkeypatch.setattr(zoo, "fit", spy("supervised"))
    monkeypatch.setattr(zoo, "_simclr", lambda entry, model, train: spy("simclr")(model))
    return calls


def test_a_two_step_source_is_trained_once_starting_from_its_parent(tmp_cache, monkeypatch):
    from tlcore.models import load_source_model

    parent, _ = load_source_model("glyph_micro", progress=False)
    calls = _record_pretraining(monkeypatch)
    load_source_model("glyph_micro_then_digits_fonts", progress=False)
    assert [objective for objective, _ in calls] == ["supervised"]
    start = calls[0][1]
    backbone = [k for k in parent.state_dict() if not k.startswith("fc.")]
    assert backbone and all(torch.equal(start[k], parent.state_dict()[k]) for k in backbone)


def test_a_self_supervised_source_is_trained_by_its_objective_only(tmp_cache, monkeypatch):
    from tlcore.models import load_source_model

    calls = _record_pretraining(monkeypatch)
    load_source_model("textures_source_micro_simclr", progress=False)
    assert [objective for objective, _ in calls] == ["simclr"]


def test_zoo_entry_rejects_unknown_objective_and_negative_weights():
    with pytest.raises(ValueError, match="objective"):
        ZooEntry("x", (1, 1, 1, 1), (4, 8, 8, 8), "", objective="byol")
    with pytest.raises(ValueError, match="non-negative"):
        ZooEntry("x", (1, 1, 1, 1), (4, 8, 8, 8), "", class_weights=(1.0, -0.5))


def test_resample_by_class_keeps_the_size_and_never_draws_a_zero_weight_class():
    dataset = random_data(200, classes=4)
    resampled = resample_by_class(dataset, [0.0, 1.0, 1.0, 2.0], seed=0)
    counts = resampled.counts()
    assert len(resampled) == 200 and counts[0] == 0 and counts[3] > counts[1]
    with pytest.raises(ValueError, match="one weight per class"):
        resample_by_class(dataset, [1.0, 1.0])


# --- DATL -------------------------------------------------------------------------------------------------------------

def test_datl_weights_are_the_ratio_with_unit_mean_under_the_source():
    weights = datl_weights([0.5, 0.25, 0.25, 0.0], [0.25] * 4)
    np.testing.assert_allclose(weights, [2.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(datl_weights([0.2, 0.8], [0.5, 0.5]) @ [0.5, 0.5], 1.0)
    with pytest.raises(ValueError, match="same classes"):
        datl_weights([0.5, 0.5], [1 / 3] * 3)
    with pytest.raises(ValueError, match="positive"):
        datl_weights([0.5, 0.5], [1.0, 0.0])
    with pytest.raises(ValueError, match="probability"):
        datl_weights([0.7, 0.7], [0.5, 0.5])


def test_target_class_prior_is_a_distribution_over_the_source_classes():
    prior = target_class_prior(tiny(num_classes=7).eval(), random_data(30))
    assert prior.shape == (7,) and np.isclose(prior.sum(), 1) and (prior > 0).all()


# --- SimCLR -------------------------------------------------------------------------------------------------------------

def test_nt_xent_known_value_for_orthogonal_aligned_pairs():
    z = torch.eye(2)
    t = 0.5
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2))  # positive at cosine 1, two negatives at 0
    assert nt_xent_loss(z, z.clone(), t).item() == pytest.approx(expected, rel=1e-6)
    swapped = nt_xent_loss(z, z.flip(0), t)  # each positive is now orthogonal, one negative identical
    assert swapped.item() > expected


def test_nt_xent_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        nt_xent_loss(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="at least 2"):
        nt_xent_loss(torch.ones(1, 3), torch.ones(1, 3))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent_loss(torch.eye(2), torch.eye(2), temperature=0)


def test_uniform_loss_is_nt_xent_of_embeddings_that_tell_no_image_apart():
    collapsed = torch.ones(5, 3)
    assert nt_xent_loss(collapsed, collapsed).item() == pytest.approx(uniform_loss(5))
    assert uniform_loss(5) == pytest.approx(math.log(9))
    separated = torch.eye(5)  # each image only like its own other view: far below the uniform value
    assert nt_xent_loss(separated, separated, temperature=0.1).item() < uniform_loss(5) / 10
    with pytest.raises(ValueError, match="batch_size"):
        uniform_loss(1)


def test_a_self_supervised_model_records_its_final_and_uniform_loss(tmp_cache):
    from tlcore.models import load_source_model
    from tlcore.models.zoo import ZOO

    name = "textures_source_micro_simclr"
    _, provenance = load_source_model(name, progress=False)
    assert provenance["selfsup_uniform_loss"] == pytest.approx(uniform_loss(ZOO[name].protocol.batch_size))
    assert math.isfinite(provenance["selfsup_final_loss"])
    _, supervised = load_source_model("glyph_micro", progress=False)
    assert supervised["selfsup_final_loss"] is None


def test_random_view_stays_in_range_and_is_seeded():
    images = random_data(8).images
    a = random_view(images, torch.Generator().manual_seed(1))
    b = random_view(images, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1 and not torch.equal(a, images)


def test_simclr_pretraining_is_deterministic_and_lowers_the_loss():
    images = random_data(64).images
    first = simclr_pretrain(tiny(), images, steps=30, batch_size=16, lr=0.1, seed=3)
    again = simclr_pretrain(tiny(), images, steps=30, batch_size=16, lr=0.1, seed=3)
    assert first == again and all(map(math.isfinite, first))
    assert np.mean(first[-5:]) < np.mean(first[:5])
    with pytest.raises(ValueError, match="cannot fill"):
        simclr_pretrain(tiny(), images[:8], steps=1, batch_size=16)


# --- rules ----------------------------------------------------------------------------------------------------------------

ARMS = {"S1": ("generic_large", "matched_small", "generic_few", "generic_many"), "S2": ("unweighted", "weighted"),
        "S4": ("one_step", "two_step"), "S5": ("supervised_unrelated", "selfsup_related")}


def make_tables(effect, probe_effect=None, emd_slope=1.0):
    """Synthetic chapter-7 tables: ``effect(claim, target, arm)`` is the accuracy added to 0.5 for that arm's model;
    S3's accuracy rises with the source index and its EMD similarity by ``emd_slope`` times as much."""
    probe_effect = probe_effect or effect
    noise = np.random.default_rng(0)
    roles, runs, emd = [], [], []
    for claim, arms in ARMS.items():
        for target in ("digits_real", "textures_far"):
            for arm in arms:
                model = f"{claim}_{arm}_{target}"
                roles.append({"claim": claim, "target": target, "arm": arm, "model": model})
                for seed in range(3):
                    runs.append({"model": model, "target": target, "seed": seed, "source": "x",
                                 "finetune_accuracy": 0.5 + effect(claim, target, arm) + noise.normal(0, 0.002),
                                 "probe_accuracy": 0.4 + probe_effect(claim, target, arm) + noise.normal(0, 0.002)})
    for target in ("glyphs_near", "glyphs_mid", "textures_far", "digits_real"):
        for index in range(3):
            model = f"source{index}"
            roles.append({"claim": "S3", "target": target, "arm": "source", "model": model})
            for seed in range(3):
                wiggle = noise.normal(0, 0.001)
                runs.append({"model": model, "target": target, "seed": seed, "source": model,
                             "finetune_accuracy": 0.5 + 0.05 * index + wiggle, "probe_accuracy": 0.4})
                emd.append({"model": model, "target": target, "seed": seed, "source": model,
                            "emd_similarity": 0.9 + emd_slope * 0.01 * index + noise.normal(0, 0.0001)})
    frames = {rules.RUNS: pd.DataFrame(runs), rules.ROLES: pd.DataFrame(roles), rules.EMD: pd.DataFrame(emd)}
    return frames.__getitem__


def _arm_gain(gains):
    return lambda claim, target, arm: gains.get((claim, arm), 0.0) if not callable(gains.get((claim, arm))) \
        else gains[(claim, arm)](target)


@pytest.mark.parametrize("gains, expected", [
    ({("S1", "generic_many"): 0.05, ("S1", "matched_small"): 0.05}, "supported"),
    ({("S1", "generic_many"): 0.05, ("S1", "matched_small"): -0.05}, "mixed"),
    ({("S1", "generic_many"): -0.05, ("S1", "matched_small"): -0.05}, "not supported"),
])
def test_rule_s1_verdicts(gains, expected):
    assert rules.rule_s1(make_tables(_arm_gain(gains))).verdict == expected


@pytest.mark.parametrize("rule, claim, arm", [(rules.rule_s2, "S2", "weighted"), (rules.rule_s4, "S4", "two_step")])
@pytest.mark.parametrize("gain, expected", [
    (lambda target: 0.05, "supported"),
    (lambda target: 0.06 if target == "digits_real" else -0.04, "mixed"),  # one target significantly worse
    (lambda target: -0.03, "not supported"),
])
def test_rules_s2_and_s4_verdicts(rule, claim, arm, gain, expected):
    assert rule(make_tables(_arm_gain({(claim, arm): gain}))).verdict == expected


@pytest.mark.parametrize("finetune, probe, expected", [(0.04, 0.0, "supported"), (0.04, -0.05, "mixed"),
                                                       (-0.04, -0.02, "not supported")])
def test_rule_s5_verdicts(finetune, probe, expected):
    tables = make_tables(_arm_gain({("S5", "selfsup_related"): finetune}),
                         _arm_gain({("S5", "selfsup_related"): probe}))
    assert rules.rule_s5(tables).verdict == expected


@pytest.mark.parametrize("slope, expected", [(1.0, "supported"), (-1.0, "not supported")])
def test_rule_s3_verdicts(slope, expected):
    result = rules.rule_s3(make_tables(lambda *_: 0.0, emd_slope=slope))
    assert result.verdict == expected and result.key_number * slope > 0.8  # ties across targets blur rho


def test_rule_s3_mixed_when_the_correlation_is_weak():
    tables = make_tables(lambda *_: 0.0)
    emd = tables(rules.EMD).copy()
    # Similarity orders the sources backwards on two targets of four, and right on the other two, with a smaller
    # spread: a positive but weak correlation.
    backwards = emd.target.isin(["glyphs_near", "glyphs_mid"])
    emd.loc[backwards, "emd_similarity"] = 1.8 - emd.loc[backwards, "emd_similarity"]
    emd.loc[~backwards, "emd_similarity"] = 0.9 + 2 * (emd.loc[~backwards, "emd_similarity"] - 0.9)
    frames = {name: tables(name) for name in (rules.RUNS, rules.ROLES)} | {rules.EMD: emd}
    result = rules.rule_s3(frames.__getitem__)
    assert result.verdict == "mixed" and 0 < result.key_number < 0.5


def test_rules_name_a_missing_arm():
    tables = make_tables(lambda *_: 0.0)
    roles = tables(rules.ROLES)
    frames = {rules.RUNS: tables(rules.RUNS), rules.ROLES: roles[roles.arm != "weighted"]}
    with pytest.raises(ValueError, match="weighted"):
        rules.rule_s2(frames.__getitem__)


def test_the_real_tiers_arms_are_weights_timm_knows_and_the_arms_the_rules_read():
    import timm

    from tlcore.models import timm_source_data
    from tlcore.studies.source_data import TABLES as STUDY_TABLES

    known = set(timm.list_pretrained())
    for arms in (timm_source_data.ARMS, timm_source_data.SMOKE_ARMS):
        assert {model for *_, model in arms} <= known
        assert {(claim, arm) for claim, arm, _ in arms} == {
            ("S1", "generic_few"), ("S1", "generic_many"), ("S4", "one_step"), ("S4", "two_step"),
            ("S5", "supervised_unrelated"), ("S5", "selfsup_related")}
    # one architecture, so the arms differ in pretraining only
    assert {model.split(".")[0] for *_, model in timm_source_data.ARMS} == {timm_source_data.VIT}
    assert set(timm_source_data.GAPS) <= set(STUDY_TABLES)
    frame = timm_source_data.source_data_frame([model for *_, model in timm_source_data.ARMS])
    assert frame.set_index("model").loc[f"{timm_source_data.VIT}.dino", "objective"] == "dino"


def test_a_claim_whose_manipulation_the_tier_cannot_make_is_not_tested_with_the_reason(tmp_results):
    from tlcore import claims
    from tlcore.models.timm_source_data import GAPS
    from tlcore.results.tables import not_in_tier
    from tlcore.studies.source_data import TABLES as STUDY_TABLES

    tables = {STUDY_TABLES["runs"]: pd.DataFrame({"model": ["a"], "target": ["t"], "seed": [0]}),
              STUDY_TABLES["roles"]: pd.DataFrame({"claim": ["S1"], "target": ["t"], "arm": ["generic_few"],
                                                   "model": ["a"]}),
              **{STUDY_TABLES[name]: not_in_tier(reason) for name, reason in GAPS.items()}}
    for claim, gap in (("S1", "matched"), ("S2", "datl_weights"), ("S3", "emd")):
        result = claims.registry.verdict(claim, tables=tables.__getitem__)
        assert result.verdict == "not tested" and GAPS[gap] in result.detail, claim
