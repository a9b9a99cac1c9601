import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tlcore import claims
from tlcore.claims import does_transfer_help as transfer
from tlcore.studies import regularizers, transferability_metrics

# The project's claim catalogue, copied from the shared folder so that a clean checkout tests against it too.
CATALOGUE = Path(__file__).resolve().parent / "catalogue.md"
SHARED_CATALOGUE = Path(__file__).resolve().parents[3] / "shared" / "claims.md"


def test_registry_carries_every_claim_of_the_catalogue():
    ids = re.findall(r"^\| ([A-Z]\d+) \|", CATALOGUE.read_text(), flags=re.M)
    assert len(ids) == 40
    assert set(ids) == set(claims.CLAIMS)


def test_the_copied_catalogue_is_the_shared_one():
    if not SHARED_CATALOGUE.exists():
        pytest.skip(f"the shared folder is not beside this checkout ({SHARED_CATALOGUE})")
    assert CATALOGUE.read_text() == SHARED_CATALOGUE.read_text(), "copy ../shared/claims.md to tests/claims/"


def test_every_claim_has_section_statement_chapter_and_a_rule_or_is_planned():
    frame = claims.claims_frame(with_verdicts=False)
    assert frame.id.is_unique and frame.statement.str.len().min() > 20
    assert frame.chapter.notna().all()
    implemented = frame[frame.status == "implemented"]
    assert {"T1", "T7", "T8"} <= set(implemented.id)
    assert implemented.rule.str.len().min() > 50  # the rule is written out for the reader


def test_no_claim_is_left_planned():
    assert [c.id for c in claims.CLAIMS.values() if c.rule is None] == []


def test_verdict_is_not_run_without_tables_and_planned_without_rule(tmp_results, monkeypatch):
    from tlcore.claims.registry import Claim

    assert claims.verdict("T1").verdict == "not run"
    monkeypatch.setitem(claims.CLAIMS, "X1", Claim("X1", "0", "A claim no chapter tests yet.", "none"))
    assert claims.verdict("X1").verdict == "planned"
    with pytest.raises(KeyError, match="unknown claim"):
        claims.verdict("Z9")


def test_a_claim_whose_tables_are_stale_is_not_judged(tmp_results, monkeypatch):
    import json

    from tlcore.claims.registry import Claim, Verdict
    from tlcore.results.tables import save_table, table_stamp
    from tlcore.storage import STORE_VERSION

    monkeypatch.setitem(claims.CLAIMS, "X1", Claim("X1", "0", "A claim.", "none", chapter="99_somewhere",
                                                   tables=("x_runs", "x_roles"),
                                                   rule=lambda tables: Verdict("X1", "supported", detail="judged")))
    monkeypatch.setenv("TLCORE_PROFILE", "smoke")
    for name in ("x_runs", "x_roles"):
        save_table(pd.DataFrame({"a": [1]}), name)
    stamp = table_stamp("x_runs")
    assert stamp["profile"] == "smoke" and stamp["store_version"] == STORE_VERSION and stamp["rows"] == 1
    assert claims.verdict("X1").verdict == "supported"

    monkeypatch.setenv("TLCORE_PROFILE", "embedded")
    save_table(pd.DataFrame({"a": [1]}), "x_roles")
    mixed = claims.verdict("X1")
    assert mixed.verdict == "stale" and "smoke: x_runs" in mixed.detail and "embedded: x_roles" in mixed.detail

    old = tmp_results / "tables" / "x_runs.stamp.json"
    old.write_text(json.dumps({**stamp, "profile": "embedded", "store_version": STORE_VERSION - 1}))
    assert claims.verdict("X1").verdict == "stale"
    assert f"results-store version {STORE_VERSION - 1}" in claims.verdict("X1").detail
    old.unlink()
    unstamped = claims.verdict("X1")
    assert unstamped.verdict == "stale" and "x_runs has no stamp" in unstamped.detail
    assert "execute chapter 99_somewhere again" in unstamped.detail
    save_table(pd.DataFrame({"a": [1]}), "x_runs")
    assert claims.verdict("X1").verdict == "supported"


def make_tables(gain, similarity=None, steps=None, extra_sizes=None):
    """Synthetic chapter-1 tables: gain(target, n) in accuracy, and step counts for the convergence rule;
    ``extra_sizes`` (target -> sizes) adds sizes on some targets, as chapter 1's ``transfer.extra_sizes`` does."""
    targets = ["near", "mid", "far", "real"]
    similarity = similarity or {"near": 0.8, "mid": 0.6, "far": 0.2, "real": 0.3}
    rows, curves = [], []
    rng = np.random.default_rng(0)
    for t in targets:
        for n in (5, 20, 100) + (extra_sizes or {}).get(t, ()):
            for seed in range(3):
                base = 0.5 + 0.004 * n
                noise = rng.normal(0, 0.002)
                rows.append({"target": t, "n_per_class": n, "init": "scratch", "seed": seed, "test_accuracy": base})
                rows.append({"target": t, "n_per_class": n, "init": "pretrained", "seed": seed,
                             "test_accuracy": base + gain(t, n) + noise})
    for init, reach in (steps or {"scratch": 200, "pretrained": 50}).items():
        for seed in range(3):
            for step in range(25, 301, 25):
                curves.append({"target": "textures_far", "n_per_class": 100, "init": init, "seed": seed,
                               "step": step, "val_accuracy": 0.95 if step >= reach else 0.2})
    grid = pd.DataFrame(rows).replace({"far": "textures_far"})
    sim = pd.DataFrame([{"target": t if t != "far" else "textures_far", "seed": 0, "similarity": s}
                        for t, s in similarity.items()])
    tables = {transfer.GRID: grid, transfer.SIMILARITY: sim, transfer.CURVES: pd.DataFrame(curves)}
    return tables.__getitem__


def test_t1_supported_when_gain_shrinks_with_size_and_distance():
    similarity = {"near": 0.8, "mid": 0.6, "far": 0.2, "real": 0.3}
    tables = make_tables(lambda t, n: similarity[t] * 0.5 / np.sqrt(n))
    result = claims.CLAIMS["T1"].rule(tables)
    assert result.verdict == "supported" and result.key_number > 0


def test_t1_not_supported_when_pretraining_hurts_and_mixed_when_trends_fail():
    assert claims.CLAIMS["T1"].rule(make_tables(lambda t, n: -0.05)).verdict == "not supported"
    growing = make_tables(lambda t, n: 0.0002 * n)  # helps, but more on larger targets
    assert claims.CLAIMS["T1"].rule(growing).verdict == "mixed"


def test_t7_reads_negative_transfer_where_the_survey_predicts_it():
    hurts_far_large = make_tables(lambda t, n: -0.05 if (t in ("far", "real") and n == 100) else 0.05)
    assert claims.CLAIMS["T7"].rule(hurts_far_large).verdict == "supported"
    never = make_tables(lambda t, n: 0.05)
    result = claims.CLAIMS["T7"].rule(never)
    assert result.verdict == "not supported" and result.key_number < 0
    elsewhere = make_tables(lambda t, n: -0.05 if (t == "near" and n == 5) else 0.05)
    assert claims.CLAIMS["T7"].rule(elsewhere).verdict == "mixed"


def test_t7_and_t1_read_each_target_at_its_own_largest_size():
    # far also runs at 500 per class: the predicted quadrant is far at 500 and real at 100, not far alone
    only_far_500 = make_tables(lambda t, n: -0.05 if (t, n) == ("far", 500) else 0.05, extra_sizes={"far": (500,)})
    result = claims.CLAIMS["T7"].rule(only_far_500)
    assert result.verdict == "supported" and "at 100/500/class" in result.detail
    assert transfer.PRIMARY["T7"].differences(only_far_500) == pytest.approx([0.0] * 3, abs=0.5)  # (+5 - 5) / 2
    real_100 = make_tables(lambda t, n: -0.05 if (t, n) in {("far", 500), ("real", 100)} else 0.05,
                           extra_sizes={"far": (500,)})
    assert transfer.PRIMARY["T7"].differences(real_100) == pytest.approx([5.0] * 3, abs=0.5)
    # T1's size trend: far's gain shrinks only to 500, where the other targets stop at 100
    shrinking_at_500 = make_tables(lambda t, n: 0.2 / np.sqrt(n) if t != "far" else (0.0 if n == 500 else 0.3),
                                   extra_sizes={"far": (500,)})
    result = claims.CLAIMS["T1"].rule(shrinking_at_500)
    assert "textures_far" in result.numbers["shrinking_targets"] and "each target's largest size" in result.detail


def test_t8_compares_steps_to_a_fixed_accuracy():
    faster = claims.CLAIMS["T8"].rule(make_tables(lambda t, n: 0.0))
    assert faster.verdict == "supported" and faster.key_number == pytest.approx(4.0)
    slower = claims.CLAIMS["T8"].rule(make_tables(lambda t, n: 0.0, steps={"scratch": 50, "pretrained": 200}))
    assert slower.verdict == "not supported"


def test_t8_looks_at_the_least_similar_target_whatever_its_name():
    tables = make_tables(lambda t, n: 0.0)
    renamed = {name: tables(name).replace({"textures_far": "standin_pets"}) for name in
               (transfer.GRID, transfer.SIMILARITY, transfer.CURVES)}
    assert claims.CLAIMS["T8"].rule(renamed.__getitem__).key_number == pytest.approx(4.0)
    # Made the most similar, the renamed target is no longer where T8 looks (and the least similar has no curves).
    renamed[transfer.SIMILARITY] = renamed[transfer.SIMILARITY].replace({"similarity": {0.2: 0.99}})
    with pytest.raises(KeyError):
        claims.CLAIMS["T8"].rule(renamed.__getitem__)


def test_bootstrap_interval_brackets_the_mean_and_collapses_for_constants():
    mean, low, high = claims.bootstrap_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and 1.0 <= low < mean < high <= 3.0
    assert claims.bootstrap_ci([0.5, 0.5]) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match="finite"):
        claims.bootstrap_ci([1.0, float("nan")])


def test_paired_difference_pairs_by_seed_and_names_missing_arms():
    frame = pd.DataFrame({"g": ["a"] * 4, "arm": ["x", "y", "x", "y"], "seed": [0, 0, 1, 1], "v": [3, 1, 5, 2]})
    out = claims.paired_difference(frame, by=["g"], column="v", arm="arm", treated="x", control="y", value="d")
    assert out.d.tolist() == [2, 3]
    with pytest.raises(ValueError, match="no runs for"):
        claims.paired_difference(frame, by=["g"], column="v", arm="arm", treated="x", control="z", value="d")


def ranking_tables(quality):
    """Five models whose accuracy rises with their index; metric m scores them with ``quality[m]`` * index + noise."""
    rng = np.random.default_rng(1)
    scores, accuracy = [], []
    for target in ("near", "far"):
        for i, model in enumerate("abcde"):
            for seed in range(3):
                accuracy.append({"target": target, "model": model, "seed": seed,
                                 "test_accuracy": 0.5 + 0.05 * i + rng.normal(0, 0.001)})
            for metric, q in quality.items():
                scores.append({"target": target, "model": model, "metric": metric, "score": q * i})
    return {transferability_metrics.TABLES["scores"]: pd.DataFrame(scores),
            transferability_metrics.TABLES["accuracy"]: pd.DataFrame(accuracy)}.__getitem__


def test_m1_and_m2_follow_the_rank_agreement_of_each_metric():
    good = ranking_tables({"h_score": 1.0, "nce": 1.0, "leep": 1.0, "logme": 1.0})
    assert claims.CLAIMS["M1"].rule(good).verdict == "supported"
    reversed_ = ranking_tables({"h_score": -1.0, "nce": -1.0, "leep": -1.0})
    assert claims.CLAIMS["M1"].rule(reversed_).verdict == "not supported"
    leep_best = ranking_tables({"h_score": -1.0, "nce": -1.0, "leep": 1.0})
    result = claims.CLAIMS["M2"].rule(leep_best)
    assert result.verdict == "supported" and result.key_number == pytest.approx(2.0)
    assert claims.CLAIMS["M2"].rule(good).verdict == "not supported"  # a tie is not "better"
    assert claims.CLAIMS["M1"].rule(leep_best).verdict == "mixed"


def regularizer_tables(gain):
    """Synthetic chapter-5 tables: gain(setup, target, n) over plain fine-tuning, three seeds."""
    rng = np.random.default_rng(2)
    rows = []
    for target in ("near", "far"):
        for n in (5, 20):
            for setup in ("none", "l2", "l2sp", "delta", "bss", "stochnorm"):
                for seed in range(3):
                    rows.append({"target": target, "n_per_class": n, "regularizer": setup, "seed": seed,
                                 "test_accuracy": 0.7 + (0 if setup == "none" else gain(setup, target, n))
                                 + rng.normal(0, 0.001)})
    similarity = pd.DataFrame({"target": ["near", "far"], "seed": [0, 0], "similarity": [0.8, 0.2]})
    return {regularizers.TABLES["grid"]: pd.DataFrame(rows), regularizers.TABLES["similarity"]: similarity}.__getitem__


def test_regularizer_rules_follow_the_synthetic_effects():
    as_claimed = {"l2": 0.0, "l2sp": 0.02, "delta": 0.03, "bss": 0.04, "stochnorm": 0.02}
    survey = regularizer_tables(lambda s, t, n: as_claimed[s] * (1 if t == "near" else 0.2) * (2 if n == 5 else 1))
    for claim in ("R1", "R2", "R3", "R4"):
        assert claims.CLAIMS[claim].rule(survey).verdict == "supported", claim
    hurts = regularizer_tables(lambda s, t, n: -0.03)
    assert claims.CLAIMS["R3"].rule(hurts).verdict == "not supported"
    assert claims.CLAIMS["R4"].rule(hurts).verdict == "not supported"
    reversed_ = regularizer_tables(lambda s, t, n: {"l2": 0.02, "l2sp": 0.0}.get(s, 0.0))
    result = claims.CLAIMS["R1"].rule(reversed_)
    assert result.verdict == "not supported" and result.key_number == pytest.approx(-2.0, abs=0.2)


def test_format_points_writes_percentage_points_with_an_interval():
    from tlcore.claims.stats import format_points

    assert format_points((0.0123, -0.004, 0.03)) == "+1.2 [-0.4, +3.0]"
    assert format_points((0.0123, -0.004, 0.03), 2) == "+1.23 [-0.40, +3.00]"


def test_a_claim_whose_experiment_the_tier_cannot_run_is_not_tested_and_says_why():
    from tlcore.results import not_in_tier, tier_gap

    gap = not_in_tier("the source task's images are not loaded")
    assert tier_gap(gap) == "the source task's images are not loaded" and tier_gap(pd.DataFrame({"a": [1]})) is None
    tables = {name: gap for name in claims.CLAIMS["A2"].tables}
    result = claims.verdict("A2", tables.__getitem__)
    assert result.verdict == "not tested" and "source task's images are not loaded" in result.detail
