"""rank_models' sanity baselines (parameter count, source accuracy) and its set-relative NCTI / ETran rows, and
``python -m tlcore rank --metrics all``."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from tlcore.metrics import (
    BASELINES,
    DEFAULT_METRICS,
    METRICS,
    etran_combine,
    etran_terms,
    knn_accuracy,
    ncti_combine,
    ncti_terms,
    rank_models,
    source_accuracy,
)

from factories import PIXELS, PatternDataset, TinyTimmNet

INFORMATIVE, NOISE = slice(0, PIXELS // 2), slice(PIXELS // 2, PIXELS)


def templates(n: int = 60) -> PatternDataset:
    return PatternDataset(n)


def net(informative: bool, width: int = 6) -> TinyTimmNet:
    return TinyTimmNet(INFORMATIVE if informative else NOISE, width=width)


def candidates() -> dict[str, nn.Module]:
    zoo_like, timm_like = net(True), net(False, width=8)
    zoo_like.tlcore_provenance = {"source_val_accuracy": 0.625}
    timm_like.pretrained_cfg = {"architecture": "net", "top1": 76.5}  # a percentage
    return {"zoo_like": zoo_like, "timm_like": timm_like, "plain": net(True, width=4)}


@pytest.fixture(scope="module")
def ranked() -> pd.DataFrame:
    return rank_models(candidates(), templates(), metrics=tuple(METRICS), batch_size=32, progress=False,
                       baselines=True)


def test_baseline_rows_are_labelled_and_come_after_each_models_metrics(ranked):
    assert list(ranked.columns) == ["model", "metric", "score", "kind"]
    assert list(ranked.metric) == [*METRICS, *BASELINES] * 3
    assert list(ranked.kind) == (["metric"] * len(METRICS) + ["baseline"] * len(BASELINES)) * 3
    assert ranked[ranked.kind == "metric"].score.map(np.isfinite).all()


def test_parameter_counts_and_reported_source_accuracies(ranked):
    table = ranked[ranked.kind == "baseline"].set_index(["model", "metric"]).score
    # Linear(16, w) + Linear(w, 5): 16 w + w + 5 w + 5
    for name, width in (("zoo_like", 6), ("timm_like", 8), ("plain", 4)):
        assert table[name, "parameters"] == 22 * width + 5
    assert table["zoo_like", "source_accuracy"] == 0.625
    assert table["timm_like", "source_accuracy"] == pytest.approx(0.765)
    assert math.isnan(table["plain", "source_accuracy"])


def test_source_accuracy_of_a_zoo_model_comes_from_its_provenance_and_never_pretrains(monkeypatch, tmp_path):
    from tlcore.models import create, load_source_model

    provenance = load_source_model("glyph_micro", progress=False)[1]  # in the project cache (pretrained if not)
    created = create("glyph_micro", pretrained=True, progress=False)
    assert source_accuracy("glyph_micro", created) == provenance["source_val_accuracy"]  # attached by create
    assert source_accuracy("glyph_micro", net(True)) == provenance["source_val_accuracy"]  # looked up by name
    monkeypatch.setenv("TLCORE_CACHE", str(tmp_path / "empty"))
    assert math.isnan(source_accuracy("glyph_micro", net(True)))  # no cache: NaN, no pretraining
    assert not list((tmp_path / "empty").rglob("weights.safetensors"))


def test_ncti_and_etran_rows_combine_the_terms_over_the_models_ranked(ranked):
    from tlcore.finetune.features import extract_features

    dataset, models = templates(), candidates()
    terms = {"ncti": [], "etran": []}
    for model in models.values():
        features, labels = extract_features(model, dataset, batch_size=32)
        terms["ncti"].append(ncti_terms(features, labels))
        terms["etran"].append(etran_terms(features, labels))
    scores = ranked.set_index(["model", "metric"]).score
    for metric, combine in (("ncti", ncti_combine), ("etran", etran_combine)):
        expected = combine(terms[metric])
        assert [scores[name, metric] for name in models] == pytest.approx(list(expected), rel=1e-9)
    for metric in ("ncti", "etran"):  # the embedding that sees only noise comes last
        assert scores["timm_like", metric] < min(scores["zoo_like", metric], scores["plain", metric])


def test_a_single_model_gets_zero_for_the_set_relative_metrics():
    frame = rank_models({"only": net(True)}, templates(30), metrics=("ncti", "etran", "sfda"), progress=False)
    assert list(frame.score[:2]) == [0.0, 0.0] and frame.score[2] < 0


def test_knn_row_uses_fewer_folds_for_small_classes():
    dataset = templates(9)  # three samples per class
    frame = rank_models({"m": net(True)}, dataset, metrics="knn", progress=False)
    from tlcore.finetune.features import extract_features

    features, labels = extract_features(net(True), dataset, batch_size=32)
    assert frame.score[0] == knn_accuracy(features, labels, folds=3)


def test_without_baselines_the_frame_is_unchanged():
    frame = rank_models({"m": net(True)}, templates(30), metrics=("logme", "sfda"), progress=False)
    assert list(frame.columns) == ["model", "metric", "score"] and list(frame.metric) == ["logme", "sfda"]


def test_default_metrics_are_unchanged():
    assert DEFAULT_METRICS == ("logme", "h_score", "leep", "nce", "transrate", "gbc")
    assert set(DEFAULT_METRICS) < set(METRICS) and {"sfda", "ncti", "etran", "ped", "knn"} < set(METRICS)


def test_command_line_ranks_with_every_metric_and_the_labelled_baselines(capsys, tmp_results):
    from tlcore.cli import main
    from tlcore.models import load_source_model

    assert main(["rank", "glyphs_near", "--models", "glyph_micro", "--n-per-class", "5", "--metrics", "all"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header, row = lines[0].split(), lines[1].split()
    assert header == ["model", *METRICS, "parameters", "(baseline)", "source_accuracy", "(baseline)"]
    assert row[0] == "glyph_micro" and len(row) == 1 + len(METRICS) + 2
    model, provenance = load_source_model("glyph_micro", progress=False)
    assert float(row[-1]) == pytest.approx(provenance["source_val_accuracy"], abs=5e-7)
    assert float(row[-2]) == sum(p.numel() for p in model.parameters())


def test_command_line_all_stands_alone(capsys):
    from tlcore.cli import main

    assert main(["rank", "glyphs_near", "--models", "glyph_micro", "--metrics", "all", "logme"]) == 2
    assert "--metrics all stands alone" in capsys.readouterr().err


def test_a_real_timm_model_reports_no_source_accuracy_but_counts_its_parameters():
    timm = pytest.importorskip("timm")
    model = timm.create_model("resnet10t", pretrained=False, num_classes=5, in_chans=1)
    assert "top1" not in model.pretrained_cfg  # timm 1.0 records no accuracy
    images = torch.rand(12, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    dataset = torch.utils.data.TensorDataset(images, torch.arange(12) % 3)
    frame = rank_models({"resnet10t": model}, dataset, metrics="logme", batch_size=6, progress=False, baselines=True)
    scores = frame.set_index("metric").score
    assert scores["parameters"] == sum(p.numel() for p in model.parameters()) and math.isnan(scores["source_accuracy"])
    assert list(frame.kind) == ["metric", "baseline", "baseline"]
