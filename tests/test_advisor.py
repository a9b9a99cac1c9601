"""The advisor (survey §7.2 as code), the ranking of its recipe among stored runs, and the B1 rule."""
import math

import pandas as pd
import pytest

from tlcore.advisor import RECIPES, Advice, advise, quadrant
from tlcore.claims import best_practice as practice
from tlcore.finetune.protocol import Protocol
from tlcore.runs.transfer import TransferRun
from tlcore.studies.best_practice import rank_of, recipe_label


@pytest.mark.parametrize("n, similarity, expected", [
    (5, 0.8, "small/similar"), (100, 0.8, "large/similar"), (5, 0.1, "small/dissimilar"),
    (100, 0.1, "large/dissimilar"), (50, 0.5, "large/similar"), (49.9, 0.499, "small/dissimilar"),
])
def test_quadrants_follow_the_thresholds(n, similarity, expected):
    assert quadrant(n, similarity) == expected


def test_thresholds_are_parameters():
    assert quadrant(100, 0.3, small_below=200, similar_from=0.2) == "small/similar"


@pytest.mark.parametrize("n, similarity, message", [(float("nan"), 0.5, "n_per_class"), (5, None, "similarity"),
                                                    (0, 0.5, "positive"), (5, float("inf"), "similarity")])
def test_quadrant_rejects_bad_measurements(n, similarity, message):
    with pytest.raises(ValueError, match=message):
        quadrant(n, similarity)


def _advice(where, n=5):
    return Advice("glyph_micro", "glyphs_near", n, 20, 0.7, where, RECIPES[where])


def test_recipes_take_their_half_of_the_learning_rate_grid():
    assert _advice("small/similar").learning_rates((0.3, 0.01, 0.1, 0.03)) == (0.01, 0.03)
    assert _advice("large/dissimilar").learning_rates((0.01, 0.03, 0.1, 0.3)) == (0.1, 0.3)
    assert _advice("small/similar").learning_rates((0.1, 0.3, 0.6)) == (0.1, 0.3)  # the middle belongs to both
    assert _advice("small/dissimilar").learning_rates((0.1, 0.3, 0.6)) == (0.3, 0.6)
    with pytest.raises(ValueError, match="empty"):
        _advice("small/similar").learning_rates(())


def test_recipes_become_concrete_protocols():
    base = Protocol(lr=0.05, steps=100)
    long = _advice("large/dissimilar").protocols(base, (0.01, 0.1))
    assert [p.lr for p in long] == [0.1] and long[0].steps == 200 and long[0].reinit_from_stage == 3
    short = _advice("small/dissimilar").protocols(base, (0.01, 0.1))
    assert short[0].steps == 50 and short[0].reinit_from_stage is None
    runs = _advice("small/similar").candidate_runs(base, (0.01, 0.1), seed=2)
    assert [(r.regularizer, r.seed, r.n_per_class, r.pretrained) for r in runs] == [("l2sp", 2, 5, True)]


def test_every_quadrant_has_a_recipe_with_reasons():
    assert set(RECIPES) == {"large/similar", "large/dissimilar", "small/similar", "small/dissimilar"}
    assert all(len(r.reasons) >= 2 for r in RECIPES.values())
    assert RECIPES["small/similar"].lr == "low" and RECIPES["large/dissimilar"].lr == "high"


def test_advise_with_a_known_similarity_places_the_target(tmp_results):
    advice = advise("glyph_micro", "glyphs_near", n_per_class=4, similarity=0.9)
    assert (advice.quadrant, advice.n_per_class, advice.num_classes) == ("small/similar", 4, 20)
    assert "small/similar" in str(advice) and "L2-SP" in str(advice)


def test_similarity_is_measured_from_image_statistics_where_the_source_images_are_here(tmp_results, monkeypatch):
    from tlcore import advisor
    from tlcore.analysis.similarity import image_similarity

    def no_probe(*args, **kwargs):
        raise AssertionError("the probe gain reads the model whose fine-tuning the advice is judged by")

    monkeypatch.setattr(advisor, "probe_similarity", no_probe)
    assert advisor.similarity_measure("glyph_micro", "glyphs_near") == advisor.IMAGE_STATISTICS
    near, far = (advisor.measure_similarity("glyph_micro", t) for t in ("glyphs_near", "textures_far"))
    assert near == image_similarity("glyphs_near", "glyphs_source") and near > advisor.SIMILAR_FROM > far
    # Two zoo models with one source measure a target alike: the measure does not depend on the model.
    assert advisor.measure_similarity("glyph_resnet_narrow", "glyphs_near") == near
    advice = advise("glyph_micro", "textures_far", n_per_class=5)
    assert advice.quadrant == "small/dissimilar" and "(image statistics)" in str(advice)
    assert advice.summary()["similarity_measure"] == advisor.IMAGE_STATISTICS


def test_similarity_falls_back_to_the_probe_gain_without_the_source_images(monkeypatch):
    from tlcore import advisor

    assert advisor.similarity_measure("resnet18", "glyphs_near") == advisor.PROBE_GAIN  # a timm model: ImageNet
    assert advisor.similarity_measure("glyph_micro", "folder:/data/mine") == advisor.PROBE_GAIN
    monkeypatch.setattr(advisor, "probe_similarity",
                        lambda model, targets, **kw: pd.DataFrame({"similarity": [0.2, 0.4]}))
    assert advisor.measure_similarity("resnet18", "glyphs_near") == pytest.approx(0.3)


def test_advise_rejects_an_unknown_dataset():
    with pytest.raises(KeyError, match="no_such_data"):
        advise("glyph_micro", "no_such_data", similarity=0.5)


def _fake_runs(accuracy):
    """A stand-in for run_many: each run's validation and test accuracy is ``accuracy(spec)`` (a pair)."""
    def run_many(specs, progress=True):
        rows = []
        for spec in specs:
            val, test = accuracy(spec)
            rows.append({"target": spec.target, "protocol_lr": spec.protocol.lr, "seed": spec.seed,
                         "val_accuracy": val, "test_accuracy": test})
        return pd.DataFrame(rows)
    return run_many


def test_a_recipe_is_realised_on_validation_and_a_diverged_seed_counts_as_failure(monkeypatch):
    from tlcore.studies import best_practice

    # lr 0.1 is better on test, 0.3 on validation: the choice is 0.3. Seed 1 at 0.3 diverges (NaN accuracies).
    def accuracy(spec):
        if spec.protocol.lr == 0.1:
            return 0.5, 0.99
        return (float("nan"), float("nan")) if spec.seed == 1 else (0.8, 0.6)

    monkeypatch.setattr(best_practice, "run_many", _fake_runs(accuracy))
    candidates = [TransferRun("glyphs_near", 5, True, "glyph_micro", Protocol(lr=lr, steps=10), 0) for lr in (0.1, 0.3)]
    runs = best_practice.realise(candidates, (0, 1, 2))
    assert list(runs.seed) == [0, 1, 2] and (runs.lr == 0.3).all()
    assert list(runs.test_accuracy) == [0.6, 0.0, 0.6] and runs.recipe.nunique() == 1
    assert runs.label.iloc[0] == "pretrained, lr 0.3, 10 steps"


def test_the_advice_is_ranked_among_every_declared_rival_realised_once(tmp_results, monkeypatch):
    from tlcore.studies import best_practice
    from tlcore.studies.profiles import get_profile

    # Longer schedules score higher; a scratch start lower: the ranking follows the realised configurations.
    monkeypatch.setattr(best_practice, "run_many", _fake_runs(
        lambda spec: (0.5, 0.4 + 0.01 * spec.protocol.steps - 0.2 * (not spec.pretrained))))
    profile = get_profile("smoke")
    evaluation = best_practice.evaluate_advice(profile, progress=False)
    board, advice = evaluation["leaderboard"], evaluation["advice"]
    assert set(board.rival) <= set(best_practice.RIVALS) and "scratch" in set(board.rival)
    for (target, n), cell in board.groupby(["target", "n_per_class"]):
        assert cell.recipe.nunique() == cell.rival.nunique()  # one configuration per rival, duplicates dropped
        assert (cell.groupby("recipe").seed.nunique() == len(profile.seeds)).all()
        assert cell.loc[cell.advised, "rival"].unique().tolist() == [
            f"{advice.set_index('target').loc[target, 'quadrant']} recipe"]
    # The smoke grid has one learning rate, so plain fine-tuning realises the large/similar recipe and is dropped.
    assert "plain fine-tuning" not in set(board.rival)
    # small/dissimilar's short schedule (6 steps) loses to the three longer pretrained ones; small/similar's standard
    # schedule ties with large/similar's and loses only to large/dissimilar's long one (ties share a rank).
    cells = advice.set_index("target")
    assert tuple(cells.loc["textures_far", ["quadrant", "rank", "n_recipes"]]) == ("small/dissimilar", 4, 5)
    assert tuple(cells.loc["glyphs_near", ["quadrant", "rank", "n_recipes"]]) == ("small/similar", 2, 5)


def test_rank_of_places_the_advised_runs():
    recipes = pd.DataFrame({"recipe": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2,
                            "test_accuracy": [0.9, 0.9, 0.9, 0.5, 0.5, 0.5]})
    advised = pd.DataFrame({"recipe": ["c"] * 3, "test_accuracy": [0.7, 0.7, 0.7]})
    standing = rank_of(recipes, advised)
    assert standing["rank"] == 2 and standing["n_recipes"] == 3
    assert math.isclose(standing["best_mean"], 0.9) and math.isclose(standing["advised_mean"], 0.7)
    with pytest.raises(ValueError, match="no advised"):
        rank_of(recipes, advised.iloc[:0])


def test_recipe_labels_name_what_differs_from_the_default():
    recipe = {"pretrained": True, "protocol": {**Protocol(lr=0.3, steps=50, mixup_alpha=0.2).key_dict()},
              "regularizer": "l2sp", "regularizer_weight": 0.01}
    assert recipe_label(recipe) == "pretrained, lr 0.3, 50 steps, mixup_alpha 0.2, l2sp 0.01"


def _board(advised_accuracy_by_cell):
    rows = []
    for (target, n), advised_accuracy in advised_accuracy_by_cell.items():
        for recipe, accuracy in (("best", 0.9), ("middle", 0.8), ("worst", 0.5), ("other", 0.4),
                                 ("advised", advised_accuracy)):
            for seed in range(3):
                rows.append({"target": target, "n_per_class": n, "quadrant": f"q{n}", "recipe": recipe,
                             "seed": seed, "test_accuracy": accuracy + 0.001 * seed,
                             "advised": recipe == "advised"})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("accuracies, expected", [
    ((0.895, 0.95, 0.895, 0.895), "supported"),  # within a point (or best) everywhere
    ((0.895, 0.3, 0.85, 0.3), "mixed"),  # near the best in half of the cells
    ((0.3, 0.3, 0.3, 0.85), "not supported"),
])
def test_rule_b1(accuracies, expected):
    cells = dict(zip([("near", 5), ("near", 100), ("far", 5), ("far", 100)], accuracies))
    board = _board(cells)
    verdict = practice.rule_b1(lambda name: board)
    assert verdict.verdict == expected
    assert len(verdict.numbers["cells"]) == 4


def test_rule_b1_counts_the_top_quarter_as_near_the_best():
    board = _board({("near", 5): 0.85})  # second of five: 5 points below, but in the top quarter (rank 2 <= 2)
    assert practice.rule_b1(lambda name: board).verdict == "supported"


def test_rule_b1_needs_one_advised_recipe_per_cell():
    board = _board({("near", 5): 0.85}).assign(advised=False)
    with pytest.raises(ValueError, match="exactly one advised"):
        practice.rule_b1(lambda name: board)


def test_command_line_advises(capsys, tmp_results):
    from tlcore.cli import main

    assert main(["advise", "glyphs_near", "--model", "glyph_micro", "--n-per-class", "4", "--similarity", "0.1"]) == 0
    assert "small/dissimilar" in capsys.readouterr().out
