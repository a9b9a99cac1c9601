"""Chapter 9's pieces: the shifted glyph domain, the prototype classifier, continual and domain-adaptation runs,
and the rules of claims A1-A4."""
import numpy as np
import pandas as pd
import pytest
import torch
from factories import data as random_data
from factories import tiny

from tlcore import data
from tlcore.analysis.prototypes import PrototypeClassifier, prototype_accuracy
from tlcore.claims import neighbouring_problems as neighbours
from tlcore.data.embedded import load_embedded
from tlcore.finetune.protocol import Protocol
from tlcore.models import load_source_model
from tlcore.runs import continual
from tlcore.runs.adaptation import AdaptationRun
from tlcore.runs.continual import ContinualRun, WithHead, first_stable
from tlcore.runs.spec import run, run_many
from tlcore.runs.store import OutcomeStore

QUICK = Protocol(lr=0.05, steps=4, batch_size=16, eval_every=2)


# The shifted domain ------------------------------------------------------------------------------------------------

def test_textured_glyphs_share_the_near_classes_but_not_the_look():
    clean = load_embedded("glyphs_near", "test", None, seed=0)
    shifted = load_embedded("glyphs_near_textured", "test", None, seed=0)
    assert list(clean.classes) == list(shifted.classes)
    # The background fills the image: far brighter on average than white strokes on black.
    assert float(shifted.images.mean()) > float(clean.images.mean()) + 0.1
    again = load_embedded("glyphs_near_textured", "test", None, seed=0)
    assert torch.equal(shifted.images, again.images)


# Prototypes --------------------------------------------------------------------------------------------------------

def test_prototypes_are_class_means_and_predict_the_nearest():
    features = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [12.0, 10.0]])
    model = PrototypeClassifier(normalize=False).fit(features, [3, 3, 7, 7])
    np.testing.assert_allclose(model.prototypes_, [[1.0, 0.0], [11.0, 10.0]])
    assert model.predict(np.array([[4.0, 1.0], [8.0, 9.0]])).tolist() == [3, 7]
    assert model.score(np.array([[4.0, 1.0], [8.0, 9.0]]), [3, 3]) == 0.5


def test_normalised_prototypes_compare_directions_not_lengths():
    features = torch.tensor([[10.0, 0.0], [0.0, 1.0]])
    far_along_x = np.array([[2.0, 1.5]])  # nearer to (0, 1) in distance, nearer to (10, 0) in angle
    assert PrototypeClassifier(normalize=False).fit(features, [0, 1]).predict(far_along_x).tolist() == [1]
    assert PrototypeClassifier(normalize=True).fit(features, [0, 1]).predict(far_along_x).tolist() == [0]


def test_prototype_classifier_rejects_bad_input():
    with pytest.raises(ValueError, match="not fitted"):
        PrototypeClassifier().predict(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="as many labels"):
        PrototypeClassifier().fit(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="dimensions"):
        PrototypeClassifier().fit(np.eye(2), [0, 1]).predict(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        PrototypeClassifier().fit(np.zeros(3), [0, 1, 2])


def test_prototype_accuracy_is_perfect_on_its_own_separable_training_set():
    model = tiny(num_classes=2).eval()
    train = random_data(40, classes=2)
    # Two clearly different kinds of image: black and white.
    train.images[train.labels == 0] = 0.0
    train.images[train.labels == 1] = 1.0
    assert prototype_accuracy(model, train, train) == 1.0


# Outcome store and runs --------------------------------------------------------------------------------------------

def test_stored_outcome_computes_once(tmp_results):
    store, calls = OutcomeStore(), []
    compute = lambda: calls.append(1) or {"accuracy": 0.5}
    configs = {"kind": "test", "x": 1}, {"kind": "test", "x": 2}
    first, second = (store.key(config) for config in configs)
    assert store.computed(first, compute, config=configs[0]) == {"accuracy": 0.5}
    assert store.computed(first, compute, config=configs[0]) == {"accuracy": 0.5}
    assert len(calls) == 1 and first in OutcomeStore()  # on disk, where another process finds it
    store.computed(second, compute, config=configs[1])
    assert len(calls) == 2


def test_run_specs_reject_unknown_methods_and_models():
    with pytest.raises(ValueError, match="unknown continual-learning method"):
        ContinualRun("glyphs_near", 5, "ewc")
    with pytest.raises(KeyError, match="zoo model"):
        ContinualRun("glyphs_near", 5, "lwf", arch="resnet50")
    with pytest.raises(ValueError, match="unknown adaptation method"):
        AdaptationRun("glyphs_near", "glyphs_near_textured", 5, "coral")
    with pytest.raises(ValueError, match="must differ"):
        AdaptationRun("glyphs_near", "glyphs_near", 5, "dann")
    assert ContinualRun("glyphs_near", 5, "lwf").weight == 1.0
    assert ContinualRun("glyphs_near", 5, "l2sp").weight == 0.01


def test_with_head_reproduces_the_source_model():
    source, _ = load_source_model("glyph_micro", progress=False)
    images = data.load("glyphs_source", "test", seed=0).images[:8]
    with torch.no_grad():
        torch.testing.assert_close(WithHead(source, source.get_classifier())(images), source(images))


def test_continual_runs_keep_the_source_exactly_only_where_they_should(tmp_results, monkeypatch):
    specs = [ContinualRun("glyphs_near", 2, method, "glyph_micro", QUICK, 0)
             for method in ("finetune", "lwf", "progressive", "frozen")]
    frame = run_many(specs, progress=False).set_index("method")
    assert frame.loc["progressive", "forgetting"] == 0.0 and frame.loc["frozen", "forgetting"] == 0.0
    assert "source_accuracy_original_head" in frame.columns and frame["test_accuracy"].between(0, 1).all()

    def no_training(*args, **kwargs):
        raise AssertionError("a continual run already computed must come from the store")

    monkeypatch.setattr(continual, "fit", no_training)
    again = run(specs[0])  # read back from the store: nothing is trained, the numbers are the table's
    assert again == {k: frame.loc["finetune", k] for k in again}


def test_a_diverging_run_is_stored_and_the_next_learning_rate_taken(tmp_results):
    spec = ContinualRun("glyphs_near", 2, "progressive", "glyph_micro", QUICK.with_(lr=1e9), 0)
    assert "diverged" in run(spec) and np.isnan(run(spec)["test_accuracy"])
    assert first_stable(spec, [1e9, 0.05]).protocol.lr == 0.05


def test_adaptation_runs_report_both_domains(tmp_results):
    outcomes = [run(AdaptationRun("glyphs_near", "glyphs_near_textured", 2, method, 2, "glyph_micro",
                                  True, QUICK.with_(select="last"), 0, hidden=16))
                for method in ("source_only", "dann")]
    for outcome in outcomes:
        assert 0 <= outcome["target_accuracy"] <= 1 and 0 <= outcome["source_accuracy"] <= 1
    assert outcomes[0] != outcomes[1]  # the adversarial term changes training


# Rules -------------------------------------------------------------------------------------------------------------

def _tables(**frames):
    return lambda name: frames[name]


def _adaptation(dann_gains):
    rows = []
    for seed, gain in enumerate(dann_gains):
        rows += [{"method": "source_only", "seed": seed, "target_accuracy": 0.4},
                 {"method": "dann", "seed": seed, "target_accuracy": 0.4 + gain}]
    return _tables(adaptation_runs=pd.DataFrame(rows))


@pytest.mark.parametrize("gains, expected", [((0.1, 0.12, 0.08), "supported"), ((0.3, -0.1, -0.05), "mixed"),
                                             ((-0.02, -0.01, 0.0), "not supported")])
def test_a1_reads_the_dann_gain_on_the_shifted_domain(gains, expected):
    assert neighbours.rule_a1(_adaptation(gains)).verdict == expected


def test_rules_refuse_fewer_than_three_seeds():
    assert neighbours.rule_a1(_adaptation((0.1, 0.1))).verdict == "not run"


def _continual(drop, saved, progressive_gap=0.0, progressive_drift=0.0, frozen_acc=0.5):
    """Source accuracy 0.9 before; fine-tuning loses ``drop``; LwF and L2-SP lose ``drop - saved[m]``."""
    rows = []
    for seed in range(3):
        jitter = 0.005 * seed
        losses = {"finetune": drop + jitter, "lwf": drop - saved["lwf"] + jitter, "l2sp": drop - saved["l2sp"],
                  "progressive": progressive_drift, "frozen": 0.0}
        accuracy = {"finetune": 0.8 + jitter, "lwf": 0.8, "l2sp": 0.8, "progressive": 0.8 + progressive_gap + jitter,
                    "frozen": frozen_acc}
        rows += [{"target": "glyphs_near", "method": m, "seed": seed, "source_accuracy_before": 0.9,
                  "source_accuracy": 0.9 - losses[m], "test_accuracy": accuracy[m]} for m in losses]
    return _tables(continual_runs=pd.DataFrame(rows))


def test_a2_needs_forgetting_and_both_remedies():
    assert neighbours.rule_a2(_continual(0.2, {"lwf": 0.1, "l2sp": 0.05})).verdict == "supported"
    assert neighbours.rule_a2(_continual(0.2, {"lwf": 0.1, "l2sp": -0.05})).verdict == "mixed"
    assert neighbours.rule_a2(_continual(0.2, {"lwf": -0.1, "l2sp": -0.05})).verdict == "not supported"
    assert neighbours.rule_a2(_continual(-0.01, {"lwf": 0.1, "l2sp": 0.05})).verdict == "not supported"


def test_a4_needs_an_untouched_source_column_and_fine_tuning_accuracy():
    saved = {"lwf": 0.1, "l2sp": 0.05}
    assert neighbours.rule_a4(_continual(0.2, saved, progressive_gap=0.0)).verdict == "supported"
    assert neighbours.rule_a4(_continual(0.2, saved, progressive_gap=-0.1)).verdict == "mixed"  # beats frozen 0.5
    assert neighbours.rule_a4(_continual(0.2, saved, progressive_gap=-0.1, frozen_acc=0.9)).verdict == "not supported"
    assert neighbours.rule_a4(_continual(0.2, saved, progressive_drift=0.01)).verdict == "not supported"


def _few_shot(gains):
    rows = []
    for (target, k), gain in gains.items():
        for seed in range(3):
            rows += [{"target": target, "k": k, "seed": seed, "method": "prototype", "test_accuracy": 0.5},
                     {"target": target, "k": k, "seed": seed, "method": "finetune",
                      "test_accuracy": 0.5 + gain + 0.01 * seed}]
    return _tables(few_shot_runs=pd.DataFrame(rows))


def test_a3_needs_fine_tuning_ahead_in_every_cell():
    assert neighbours.rule_a3(_few_shot({("near", 1): 0.05, ("far", 1): 0.2})).verdict == "supported"
    assert neighbours.rule_a3(_few_shot({("near", 1): -0.05, ("far", 1): 0.2})).verdict == "mixed"
    assert neighbours.rule_a3(_few_shot({("near", 1): -0.05, ("far", 1): -0.2})).verdict == "not supported"
