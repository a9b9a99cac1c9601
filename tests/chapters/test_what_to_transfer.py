"""What to transfer: per-stage features, linear probes, the re-initialisation study and the rules of T3, T4, P3, H2."""
import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from factories import data, tiny

import tlcore
from tlcore.analysis.probes import finetune_vs_probe, probe_on_features
from tlcore.claims import what_to_transfer as rules
from tlcore.finetune.features import extract_features, extract_stage_features
from tlcore.studies.what_to_transfer import reinit_study

SIMILARITY = pd.DataFrame([{"target": t, "seed": s, "similarity": sim}
                           for t, sim in {"a": 0.4, "b": 0.3, "c": 0.2, "d": 0.1}.items() for s in range(3)])


def tables_of(**frames):
    frames.setdefault(rules.SIMILARITY, SIMILARITY)
    return lambda name: frames[name]


# ---- per-stage features ----------------------------------------------------------------------------------------

def test_stage_features_are_pooled_stage_outputs_and_the_last_is_the_penultimate_feature():
    model, images = tiny(channels=(4, 6, 8, 10)), data(10)
    model.train()
    features, labels = extract_stage_features(model, images, batch_size=3)
    assert {k: tuple(v.shape) for k, v in features.items()} == {0: (10, 4), 1: (10, 6), 2: (10, 8), 3: (10, 10)}
    penultimate, same_labels = extract_features(model, images)
    torch.testing.assert_close(features[3], penultimate)
    assert torch.equal(labels, same_labels) and model.training  # mode restored


def test_stage_features_of_chosen_stages_only_and_bad_indices_are_named():
    model, images = tiny(), data(4)
    features, _ = extract_stage_features(model, images, stages=[1])
    assert list(features) == [1]
    with pytest.raises(ValueError, match="out of range"):
        extract_stage_features(model, images, stages=[4])


# ---- probes ----------------------------------------------------------------------------------------------------

def _blobs(n, seed, noise=0.3):
    g = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return np.eye(3)[y] * 3 + noise * g.standard_normal((n, 3)), y


def test_probe_separates_separable_features_and_reports_the_validation_choice():
    result = probe_on_features(_blobs(30, 0), _blobs(30, 1), _blobs(30, 2), cs=(0.1, 1.0))
    assert result["test_accuracy"] == 1.0 and result["val_accuracy"] == 1.0
    assert result["c"] == 0.1  # ties go to the strongest regularisation


def test_probe_refuses_bad_input():
    x, y = _blobs(9, 0)
    with pytest.raises(ValueError, match="two classes"):
        probe_on_features((x, np.zeros(9)), (x, y), (x, y))
    with pytest.raises(ValueError, match="one label per row"):
        probe_on_features((x, y[:5]), (x, y), (x, y))
    with pytest.raises(ValueError, match="at least one"):
        probe_on_features((x, y), (x, y), (x, y), cs=())


def test_finetune_vs_probe_pairs_runs_by_target_size_and_seed():
    grid = pd.DataFrame({"target": ["a", "a", "a"], "n_per_class": [5, 5, 5], "seed": [0, 1, 0],
                         "init": ["pretrained", "pretrained", "scratch"], "test_accuracy": [0.8, 0.7, 0.1]})
    probes = pd.DataFrame({"target": ["a", "a"], "n_per_class": [5, 5], "seed": [1, 0], "test_accuracy": [0.6, 0.5]})
    paired = finetune_vs_probe(grid, probes).set_index("seed")
    assert paired["gap"].round(6).to_dict() == {0: 0.3, 1: 0.1}
    with pytest.raises(ValueError, match="no probe"):
        finetune_vs_probe(grid, probes[probes.seed == 0])


def test_reinit_study_refuses_stages_the_model_lacks():
    profile = tlcore.studies.profiles.get_profile("smoke").with_(reinit={"stages": (2, 5)})
    with pytest.raises(ValueError, match=r"reinit.stages \[5\]"):
        reinit_study(profile, progress=False)


# ---- T3 ----------------------------------------------------------------------------------------------------------

def _gaps(gap_of):
    rows = [{"target": t, "n_per_class": n, "seed": s, "gap": gap_of[t] + 0.01 * s}
            for t in gap_of for n in (5, 20) for s in range(3)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("gap_of, expected", [
    ({"a": 0.01, "b": 0.05, "c": 0.1, "d": 0.2}, "supported"),
    ({"a": 0.2, "b": 0.1, "c": 0.05, "d": 0.01}, "mixed"),
    ({"a": -0.1, "b": -0.1, "c": -0.1, "d": -0.1}, "not supported"),
])
def test_rule_t3(gap_of, expected):
    assert rules.rule_t3(tables_of(probe_vs_finetune=_gaps(gap_of))).verdict == expected


# ---- P3 ----------------------------------------------------------------------------------------------------------

def _stage_probes(inner_gain):
    rows = []
    for target, gains in inner_gain.items():
        for seed, gain in enumerate(gains):
            for stage in range(4):
                accuracy = 0.5 + (gain if stage == 2 else 0.0) - (0.2 if stage < 2 else 0.0)
                rows.append({"target": target, "n_per_class": 5, "seed": seed, "stage": stage, "last": stage == 3,
                             "val_accuracy": accuracy, "test_accuracy": accuracy})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("inner_gain, expected", [
    ({"a": [-0.1] * 3, "b": [-0.1] * 3, "c": [0.1, 0.12, 0.11], "d": [0.05, 0.06, 0.07]}, "supported"),
    ({"a": [-0.1] * 3, "b": [-0.1] * 3, "c": [0.2, -0.05, -0.05], "d": [-0.1] * 3}, "mixed"),
    ({"a": [0.1] * 3, "b": [0.1] * 3, "c": [-0.1] * 3, "d": [-0.05] * 3}, "not supported"),
])
def test_rule_p3(inner_gain, expected):
    assert rules.rule_p3(tables_of(stage_probes=_stage_probes(inner_gain))).verdict == expected


def test_p3_picks_the_inner_stage_on_validation_not_test():
    probes = _stage_probes({"a": [0.1], "b": [0.1]})
    probes.loc[probes.stage == 1, "test_accuracy"] = 0.99  # best on test, but not on validation
    d = rules.inner_minus_last(probes)
    assert (d["inner_stage"] == 2).all() and np.allclose(d["d"], 0.1)


# ---- T4 and H2 ---------------------------------------------------------------------------------------------------

def _tuning(accuracy, best_lr=lambda target, k, seed: 0.1):
    """reinit_tuning rows: accuracy(target, k, seed) at the best LR, minus a penalty for every factor away from it."""
    rows = []
    for target, k, lr, seed in itertools.product(("a", "d"), (1, 2, 3, 4), (0.03, 0.1, 0.3), range(3)):
        value = accuracy(target, k, seed) - 0.05 * abs(np.log(lr / best_lr(target, k, seed)))
        rows.append({"target": target, "n_per_class": 20, "transferred_stages": k, "reinitialised_stages": 4 - k,
                     "lr": lr, "seed": seed, "val_accuracy": value, "test_accuracy": value})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("accuracy, expected", [
    (lambda t, k, s: 0.5 + 0.1 * k + 0.01 * s if t == "a" else 0.5 + 0.1 * (k == 2) + 0.01 * s, "supported"),
    (lambda t, k, s: 0.5 + 0.1 * k + 0.01 * s if t == "a" else 0.5 + 0.05 * k, "mixed"),
    (lambda t, k, s: 0.5 + 0.01 * k + 0.01 * s if t == "a" else 0.5 + 0.1 * k, "not supported"),
])
def test_rule_t4(accuracy, expected):
    assert rules.rule_t4(tables_of(reinit_tuning=_tuning(accuracy))).verdict == expected


def test_t4_chooses_each_k_learning_rate_on_validation():
    tuning = _tuning(lambda t, k, s: 0.5, best_lr=lambda t, k, s: 0.3 if k == 1 else 0.03)
    chosen = rules.reinit_at_chosen_lr(tuning).groupby("transferred_stages")["lr"].first()
    assert chosen.to_dict() == {1: 0.3, 2: 0.03, 3: 0.03, 4: 0.03}


@pytest.mark.parametrize("best_lr, expected", [
    (lambda t, k, s: {1: 0.3, 2: 0.1, 3: 0.1, 4: 0.03}[k], "supported"),
    (lambda t, k, s: (0.03 if s == 1 else 0.3) if k == 1 else 0.1, "mixed"),
    (lambda t, k, s: 0.1, "not supported"),
])
def test_rule_h2(best_lr, expected):
    tuning = _tuning(lambda t, k, s: 0.6, best_lr=best_lr)
    assert rules.rule_h2(tables_of(reinit_tuning=tuning)).verdict == expected


def test_rules_name_a_target_without_measured_similarity():
    with pytest.raises(KeyError, match="no measured similarity"):
        rules.rule_t3(tables_of(probe_vs_finetune=_gaps({"a": 0.1, "z": 0.1})))
