"""tlcore.metrics agrees with the straightforward per-class numpy references of benchmarks/metrics.py.

The references loop over classes (and pairs of classes, and samples) exactly as the papers define the metrics, so
agreement on unbalanced data, with N > D and N < D, checks the vectorised algebra; running the benchmark's ``main`` at
toy size checks the benchmark itself.
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.covariance import ledoit_wolf_shrinkage

import tlcore.metrics as tm

_BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "metrics.py"
_spec = importlib.util.spec_from_file_location("benchmark_metrics", _BENCHMARK)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

hscore_module = importlib.import_module("tlcore.metrics.hscore")


def unbalanced(n: int, d: int, c: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 class means plus noise with class sizes in proportion 1 : 2 : ... : c."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(c), np.maximum(1, np.arange(1, c + 1) * n // (c * (c + 1) // 2))))
    means = rng.normal(scale=0.5, size=(c, d))
    return (means[labels] + rng.normal(size=(len(labels), d))).astype(np.float32), labels


SHAPES = {"N>D": (400, 24, 5), "N<D": (40, 64, 4)}


@pytest.fixture(params=SHAPES.values(), ids=SHAPES.keys())
def data(request):
    return unbalanced(*request.param)


def test_logme_matches_the_per_class_loop_for_every_class(data):
    features, labels = data
    evidence = tm.LogME().fit(features, labels).evidence_
    np.testing.assert_allclose(evidence, bench.reference_logme(features, labels), rtol=1e-6)


@pytest.mark.parametrize(
    ("ours", "reference"),
    [
        (lambda f, y: tm.h_score(f, y, shrinkage=True), bench.reference_h_score_shrinkage),
        (tm.transrate, bench.reference_transrate),
        (tm.gbc, bench.reference_gbc),
        (lambda f, y: tm.gbc(f, y, covariance="spherical"), lambda f, y: bench.reference_gbc(f, y, "spherical")),
    ],
    ids=["h_score_shrinkage", "transrate", "gbc", "gbc_spherical"],
)
def test_feature_metrics_match_their_references(data, ours, reference):
    features, labels = data
    assert ours(features, labels) == pytest.approx(reference(features, labels), rel=1e-6)


def test_h_score_matches_the_authors_code():
    # Only for N > D: with a singular covariance their unregularised pinv inverts rounding noise.
    features, labels = unbalanced(*SHAPES["N>D"])
    assert tm.h_score(features, labels) == pytest.approx(bench.reference_h_score(features, labels), rel=1e-6)


def test_ledoit_wolf_shrinkage_matches_sklearn(data):
    features, _ = data
    centred = torch.from_numpy(features.astype(np.float64))
    centred -= centred.mean(dim=0)
    covariance = centred.T @ centred / len(centred)
    ours = hscore_module._ledoit_wolf_shrinkage(centred, covariance)
    assert 0 < ours < 1
    assert ours == pytest.approx(ledoit_wolf_shrinkage(centred.numpy()), rel=1e-10)


def test_leep_and_nce_match_their_references():
    rng = np.random.default_rng(0)
    _, labels = unbalanced(300, 2, 5)
    logits = rng.normal(size=(len(labels), 12)) + np.eye(5, 12)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert tm.leep(probs, labels) == pytest.approx(bench.reference_leep(probs, labels), rel=1e-10)
    source = probs.argmax(axis=1)
    assert tm.nce(source, labels) == pytest.approx(bench.reference_nce(source, labels), rel=1e-10)


def test_emd_similarity_matches_its_reference():
    source_features, source_labels = unbalanced(200, 8, 6, seed=1)
    target_features, target_labels = unbalanced(150, 8, 4, seed=2)
    args = (source_features, source_labels, target_features, target_labels)
    assert tm.emd_similarity(*args) == pytest.approx(bench.reference_emd_similarity(*args), rel=1e-10)


def test_benchmark_runs_end_to_end_and_agrees(capsys):
    rows = bench.main(["--n", "300", "--d", "16", "--c", "4", "--source-classes", "10"])
    assert {row["metric"] for row in rows} >= {"logme", "h_score", "transrate", "gbc", "leep", "nce"}
    assert all(row["rel_diff"] < 1e-6 and math.isfinite(row["tlcore_s"]) for row in rows)
    assert "speed-up" in capsys.readouterr().out
