"""rank_models scores timm-style models on a dataset: one row per (model, metric), informative models first."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from tlcore.finetune.features import extract_features
from tlcore.metrics import DEFAULT_METRICS, METRICS, leep, logme, nce, rank_models

from factories import PIXELS, PatternDataset, TinyTimmNet


@pytest.fixture(scope="module")
def ranking() -> tuple[pd.DataFrame, dict[str, nn.Module], Dataset]:
    models = {
        "informative": TinyTimmNet(slice(0, PIXELS // 2)),
        "blind": TinyTimmNet(slice(PIXELS // 2, PIXELS)),
    }
    dataset = PatternDataset()
    return rank_models(models, dataset, metrics=tuple(METRICS), batch_size=32, progress=False), models, dataset


def test_frame_is_tidy_with_one_row_per_model_and_metric(ranking):
    frame, models, _ = ranking
    assert list(frame.columns) == ["model", "metric", "score"]
    assert len(frame) == len(models) * len(METRICS)
    assert set(zip(frame.model, frame.metric)) == {(m, k) for m in models for k in METRICS}
    assert frame.score.map(np.isfinite).all()


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_every_metric_ranks_the_informative_model_first(ranking, metric):
    scores = ranking[0].query("metric == @metric").set_index("model").score
    assert scores["informative"] > scores["blind"]


def test_scores_are_the_metrics_of_the_extracted_features(ranking):
    frame, models, dataset = ranking
    model = models["informative"]
    features, labels = extract_features(model, dataset, batch_size=32)
    logits, _ = extract_features(model, dataset, batch_size=32, logits=True)
    score = frame.set_index(["model", "metric"]).score
    assert score["informative", "logme"] == pytest.approx(logme(features, labels), rel=1e-12)
    assert score["informative", "leep"] == pytest.approx(leep(torch.softmax(logits.double(), 1), labels), rel=1e-12)
    assert score["informative", "nce"] == pytest.approx(nce(logits.argmax(1), labels), rel=1e-12)


def test_models_return_to_their_device_and_mode():
    model = TinyTimmNet(slice(0, PIXELS // 2)).train()
    frame = rank_models({"m": model}, PatternDataset(30), metrics="logme", device="cpu", progress=False)
    assert list(frame.metric) == ["logme"]
    assert model.training and next(model.parameters()).device.type == "cpu"


def test_a_real_timm_model_goes_through_the_default_metrics():
    timm = pytest.importorskip("timm")
    model = timm.create_model("resnet10t", pretrained=False, num_classes=5, in_chans=1)
    images = torch.rand(24, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    dataset = torch.utils.data.TensorDataset(images, torch.arange(24) % 4)
    frame = rank_models({"resnet10t": model}, dataset, batch_size=8, progress=False)
    assert list(frame.metric) == list(DEFAULT_METRICS)
    assert frame.score.map(np.isfinite).all()
