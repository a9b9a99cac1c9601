"""What is transferred: CKA, basins (distance, interpolation, barriers, shared mistakes), sample difficulty, cached
fine-tuned weights, and the P1, P2, P4 rules."""
import copy

import numpy as np
import pandas as pd
import pytest
import torch
from factories import data as random_images
from factories import tiny

from tlcore.analysis.basins import (barrier, error_overlap, interpolate, interpolation_curve, parameter_distance,
    recompute_batchnorm)
from tlcore.analysis.cka import linear_cka, stage_activations, stagewise_cka
from tlcore.analysis.difficulty import knn_disagreement
from tlcore.claims import what_is_transferred as rules
from tlcore.data.base import ImageDataset
from tlcore.finetune import Protocol
from tlcore.runs import transfer as experiment
from tlcore.runs.store import RunStore
from tlcore.runs.transfer import TransferRun, run, train_model


# ----------------------------------------------------------------------------------------------------- linear CKA
def test_cka_of_a_representation_with_itself_is_one():
    x = np.random.default_rng(0).normal(size=(50, 8))
    assert linear_cka(x, x) == pytest.approx(1.0)


def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling_but_not_to_other_maps():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(60, 10)), rng.normal(size=(60, 6))
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    base = linear_cka(x, y)
    assert linear_cka(x @ q, y) == pytest.approx(base)
    assert linear_cka(3.7 * x, 0.2 * y) == pytest.approx(base)
    assert linear_cka(x + 5.0, y) == pytest.approx(base)  # centring removes offsets
    stretched = x * np.array([10.0] + [1.0] * 9)
    assert abs(linear_cka(stretched, x) - 1.0) > 0.05
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x))
    assert 0.0 <= base < 0.5  # unrelated random features share little


def test_cka_known_value_for_one_dimensional_features_is_squared_correlation():
    rng = np.random.default_rng(2)
    a = rng.normal(size=100)
    b = 0.5 * a + rng.normal(size=100)
    assert linear_cka(a[:, None], b[:, None]) == pytest.approx(np.corrcoef(a, b)[0, 1] ** 2)


@pytest.mark.parametrize("x, y, message", [
    (np.zeros((5, 2)) + np.arange(2), np.ones((5, 3)), "constant"),
    (np.ones((5, 2)), np.ones((4, 2)), "same inputs"),
    (np.ones(5), np.ones((5, 2)), "2-d"),
    (np.full((5, 2), np.nan), np.ones((5, 2)), "non-finite"),
    (np.ones((1, 2)), np.ones((1, 2)), "at least 2"),
])
def test_cka_rejects_bad_input_clearly(x, y, message):
    with pytest.raises(ValueError, match=message):
        linear_cka(x, y)


def test_stagewise_cka_of_a_model_with_itself_is_one_at_every_stage():
    model, images = tiny(), random_images(20)
    activations = stage_activations(model, images)
    assert [a.shape[0] for a in activations.values()] == [20] * 4
    assert all(v == pytest.approx(1.0) for v in stagewise_cka(model, copy.deepcopy(model), images).values())
    with pytest.raises(KeyError, match="no stage"):
        stage_activations(model, images, stages=("layer9",))


# -------------------------------------------------------------------------------------------------------- basins
def test_parameter_distance_is_symmetric_zero_on_identical_models_and_positive_otherwise():
    a, b = tiny(seed=0), tiny(seed=1)
    assert parameter_distance(a, copy.deepcopy(a)) == 0.0
    assert parameter_distance(a, b) == pytest.approx(parameter_distance(b, a)) and parameter_distance(a, b) > 0
    assert parameter_distance(a, b, relative=True) == pytest.approx(parameter_distance(b, a, relative=True))
    with pytest.raises(ValueError, match="parameter counts"):
        parameter_distance(a, tiny(channels=(4, 8, 8, 16)))


def test_relative_distance_does_not_change_when_both_models_are_scaled():
    a, b = tiny(seed=0), tiny(seed=1)
    before = parameter_distance(a, b, relative=True)
    with torch.no_grad():
        for p in [*a.parameters(), *b.parameters()]:
            p.mul_(3.0)
    assert parameter_distance(a, b, relative=True) == pytest.approx(before)


def test_interpolation_ends_are_the_two_models_and_the_midpoint_is_the_average():
    a, b = tiny(seed=0), tiny(seed=1)
    for alpha, expected in ((0.0, a), (1.0, b)):
        assert parameter_distance(interpolate(a, b, alpha), expected) == pytest.approx(0.0, abs=1e-6)
    middle = interpolate(a, b, 0.5)
    assert torch.allclose(middle.fc.weight, (a.fc.weight + b.fc.weight) / 2)
    with pytest.raises(ValueError, match="alpha"):
        interpolate(a, b, 1.5)


def test_interpolating_a_model_with_itself_has_no_barrier():
    model, images = tiny(), random_images(30)
    curve = interpolation_curve(model, copy.deepcopy(model), images, points=5, batchnorm_data=random_images(30, 1))
    assert len({round(p["accuracy"], 9) for p in curve}) == 1 and len({round(p["loss"], 6) for p in curve}) == 1
    assert barrier([p["loss"] for p in curve]) == pytest.approx(0.0, abs=1e-6)


def test_barrier_is_the_largest_rise_above_the_chord():
    assert barrier([0.0, 1.0, 0.0]) == pytest.approx(1.0)
    assert barrier([1.0, 0.5, 0.0]) == 0.0  # on the chord
    assert barrier([0.2, 0.9, 0.4, 0.6]) == pytest.approx(0.9 - (0.2 + 0.4 / 3))
    assert barrier([0.9, 0.5, 0.9], higher_is_worse=False) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="at least 2"):
        barrier([1.0])


def test_recomputed_batchnorm_statistics_are_those_of_the_data():
    model, images = tiny(), random_images(40)
    recompute_batchnorm(model, images)
    with torch.no_grad():
        inputs = model.conv1(images.images)
    assert torch.allclose(model.bn1.running_mean, inputs.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(model.bn1.running_var, inputs.var(dim=(0, 2, 3)), rtol=1e-3)
    assert model.bn1.momentum == 0.1  # restored


def test_error_overlap_is_the_jaccard_index_of_the_mistakes():
    a = np.array([True, False, False, True, False])
    b = np.array([True, False, True, False, False])
    assert error_overlap(a, b) == pytest.approx(2 / 4)
    assert error_overlap(a, a) == 1.0 and error_overlap([True, True], [True, True]) == 1.0
    with pytest.raises(ValueError, match="one length"):
        error_overlap(a, b[:3])


# ---------------------------------------------------------------------------------------------------- difficulty
def test_knn_disagreement_counts_neighbours_with_another_label():
    bright, dark = torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    bright[..., :2] = 1.0  # left half lit
    dark[..., 2:] = 1.0    # right half lit
    reference = ImageDataset(torch.cat([bright] * 3 + [dark] * 3), torch.tensor([0, 0, 1, 1, 1, 1]), ["a", "b"])
    samples = ImageDataset(torch.cat([bright, dark]), torch.tensor([0, 1]), ["a", "b"])
    assert knn_disagreement(reference, samples, k=3).tolist() == pytest.approx([1 / 3, 0.0])
    with pytest.raises(ValueError, match="fewer than k"):
        knn_disagreement(reference, samples, k=7)
    with pytest.raises(ValueError, match="positive integer"):
        knn_disagreement(reference, samples, k=0)


# ------------------------------------------------------------------------------------------ cached fine-tuned weights
QUICK = Protocol(lr=0.05, steps=6, batch_size=16, eval_every=3)
SPEC = TransferRun("glyphs_near", 2, pretrained=False, arch="glyph_micro", protocol=QUICK, seed=0)


def _same_state(a, b):
    return all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_train_model_caches_weights_and_a_second_call_trains_nothing(tmp_results, monkeypatch):
    store = RunStore()
    model, record = train_model(SPEC, store=store)
    path = experiment.weights_dir() / SPEC.key()[:2] / f"{SPEC.key()}.safetensors"
    assert path.exists() and not model.training

    def no_training(*args, **kwargs):
        raise AssertionError("cached weights and records must not be trained again")

    monkeypatch.setattr(experiment, "fit", no_training)
    again, again_record = train_model(SPEC, store=store)
    assert _same_state(model, again) and again_record.history == record.history
    assert run(SPEC, store=store).test_accuracy == record.test_accuracy  # run() finds the record it stored


def test_train_model_retrains_corrupted_weights_to_the_same_values(tmp_results):
    store = RunStore()
    model, record = train_model(SPEC, store=store)
    path = experiment.weights_dir() / SPEC.key()[:2] / f"{SPEC.key()}.safetensors"
    path.write_bytes(path.read_bytes()[:-8] + b"corrupt!")
    again, again_record = train_model(SPEC, store=store)
    assert _same_state(model, again) and again_record.history == record.history  # seeded: same weights again


def test_train_model_agrees_with_run(tmp_results):
    record = run(SPEC, store=RunStore(tmp_results / "other"))
    _, trained = train_model(SPEC, store=RunStore())
    assert trained.history == record.history and trained.test_accuracy == record.test_accuracy


# ------------------------------------------------------------------------------------------------------------ rules
def _pairs(pre_barrier, scr_barrier, pre_distance=0.1, scr_distance=0.5, pre_overlap=0.6, scr_overlap=0.3):
    rows = []
    for target in ("glyphs_near", "textures_far"):
        for i, (a, b) in enumerate(((0, 1), (0, 2), (1, 2))):
            wobble = 0.001 * i
            rows.append({"target": target, "init": "pretrained", "seed_a": a, "seed_b": b,
                         "error_barrier": pre_barrier + wobble, "relative_distance": pre_distance + wobble,
                         "error_overlap": pre_overlap + wobble})
            rows.append({"target": target, "init": "scratch", "seed_a": a, "seed_b": b,
                         "error_barrier": scr_barrier + wobble, "relative_distance": scr_distance - wobble,
                         "error_overlap": scr_overlap - wobble})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("tables, expected", [
    (_pairs(0.0, 0.2), "supported"),
    (_pairs(0.05, 0.2), "mixed"),  # every direction holds, but the pretrained pairs are not in one basin
    (_pairs(0.0, 0.2, pre_distance=0.6), "mixed"),
    (_pairs(0.3, 0.1, pre_distance=0.6, pre_overlap=0.2), "not supported"),
])
def test_rule_p1(tables, expected):
    assert rules.rule_p1(lambda name: tables).verdict == expected


def _cka(near, far, names=("glyphs_near", "textures_far")):
    rows = []
    for target, role, values in ((names[0], "near", near), (names[1], "far", far)):
        for seed in (0, 1, 2):
            for stage, value in zip(("layer1", "layer2", "layer3", "layer4"), values):
                rows.append({"target": target, "seed": seed, "stage": stage, "cka": value - 0.01 * seed,
                             "role": role})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("tables, expected", [
    (_cka((0.95, 0.9, 0.8, 0.7), (0.9, 0.7, 0.5, 0.3)), "supported"),
    (_cka((0.95, 0.9, 0.8, 0.2), (0.9, 0.7, 0.5, 0.3)), "mixed"),  # the near target's top changes more
    (_cka((0.5, 0.6, 0.7, 0.9), (0.5, 0.6, 0.7, 0.6)), "mixed"),   # no depth trend, but near > far at the top
    (_cka((0.5, 0.6, 0.7, 0.8), (0.5, 0.6, 0.7, 0.9)), "not supported"),
])
def test_rule_p2(tables, expected):
    assert rules.rule_p2(lambda name: tables).verdict == expected


def test_p2_reads_near_and_far_from_the_roles_the_study_marked_not_from_target_names():
    supported = ((0.95, 0.9, 0.8, 0.7), (0.9, 0.7, 0.5, 0.3))
    # Real-tier names, listed far first: the roles, not the names or their order, decide.
    tables = _cka(*supported, names=("standin_pets", "aardvarks"))
    assert rules.rule_p2(lambda name: tables).verdict == "supported"
    swapped = tables.assign(role=tables.role.map({"near": "far", "far": "near"}))
    assert rules.rule_p2(lambda name: swapped).verdict == "mixed"  # now the "near" target's top changes more
    with pytest.raises(ValueError, match="no role column"):
        rules.rule_p2(lambda name: tables.drop(columns="role"))


def _samples(pretrained_wins_easy: bool, scratch_wins_hard: bool, seeds=(0, 1, 2)):
    """60 samples per target with difficulty 0..1; both models right on the easy third, wrong on the hardest
    sixth; in between, who wins depends on the flags."""
    rows = []
    for target in ("glyphs_near", "textures_far"):
        for seed in seeds:
            for i in range(60):
                difficulty = i / 59
                pre = scr = i < 20
                if 20 <= i < 35:  # moderately easy
                    pre, scr = (True, False) if pretrained_wins_easy else (False, True)
                elif 35 <= i < 50:  # hard
                    pre, scr = (False, True) if scratch_wins_hard else (True, False)
                rows.append({"target": target, "seed": seed, "sample": i, "difficulty": difficulty,
                             "correct_pretrained": pre, "correct_scratch": scr})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("tables, expected", [
    (_samples(True, True), "supported"),
    (_samples(False, False), "not supported"),
])
def test_rule_p4(tables, expected):
    assert rules.rule_p4(lambda name: tables).verdict == expected


def test_rule_p4_is_mixed_when_extra_answers_are_easier_but_the_hard_tercile_is_not_worse():
    rows = []
    for target in ("glyphs_near", "textures_far"):
        for seed in (0, 1, 2):
            for i in range(60):
                # easiest tercile: pretrained +5 of 20; hardest: pretrained right on 40-49, scratch on 50-53 (+6)
                pre = i < 15 or 20 <= i < 50
                scr = i < 10 or 20 <= i < 40 or 50 <= i < 54
                rows.append({"target": target, "seed": seed, "sample": i, "difficulty": i / 59,
                             "correct_pretrained": pre, "correct_scratch": scr})
    verdict = rules.rule_p4(lambda name: pd.DataFrame(rows))
    assert verdict.verdict == "mixed", verdict.detail


def test_rule_p4_without_any_disagreement_is_not_supported():
    samples = _samples(True, True)
    samples["correct_scratch"] = samples["correct_pretrained"]
    assert rules.rule_p4(lambda name: samples).verdict == "not supported"


def test_difficulty_bins_are_equal_count_and_deterministic_with_ties():
    bins = rules.difficulty_bin(pd.Series([0.5] * 6), bins=3)
    assert bins.tolist() == [0, 0, 1, 1, 2, 2]
    assert rules.difficulty_bin(pd.Series([0.9, 0.1, 0.5]), bins=3).tolist() == [2, 0, 1]
