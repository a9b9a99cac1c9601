"""Score candidate pre-trained models on a target dataset with transferability metrics."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..finetune.features import check_readable, extract_features
from .gbc import gbc
from .hscore import h_score
from .leep import leep
from .logme import logme
from .nce import nce
from .nleep import nleep
from .transrate import transrate

DEFAULT_METRICS = ("logme", "h_score", "leep", "nce", "transrate", "gbc")


@dataclass(frozen=True)
class _ModelOutputs:
    features: torch.Tensor  # (N, D) pooled penultimate features
    labels: torch.Tensor  # (N,) target labels
    source_logits: torch.Tensor | None  # (N, Cs) outputs of the source classifier, when a metric needs them


METRICS: dict[str, Callable[[_ModelOutputs], float]] = {
    "logme": lambda out: logme(out.features, out.labels),
    "h_score": lambda out: h_score(out.features, out.labels),
    "h_score_shrinkage": lambda out: h_score(out.features, out.labels, shrinkage=True),
    "leep": lambda out: leep(torch.softmax(out.source_logits.double(), dim=1), out.labels),
    "nce": lambda out: nce(out.source_logits.argmax(dim=1), out.labels),
    "nleep": lambda out: nleep(out.features, out.labels),
    "transrate": lambda out: transrate(out.features, out.labels),
    "gbc": lambda out: gbc(out.features, out.labels),
}
_NEEDS_SOURCE_LOGITS = frozenset({"leep", "nce"})


def rank_models(
    models: Mapping[str, nn.Module],
    dataset: Dataset,
    metrics: Iterable[str] = DEFAULT_METRICS,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Score every model on ``dataset`` with every metric: a tidy frame with columns model, metric, score.

    Args:
        models: name -> model with timm's interface (``forward_features``, ``forward_head(..., pre_logits=...)``
            and the source classifier as its head).
        dataset: target samples yielding ``(image tensor, int label)``, labels in 0..C-1.
        metrics: names from ``METRICS``: "logme", "h_score", "h_score_shrinkage", "leep", "nce", "nleep",
            "transrate", "gbc". LEEP uses the softmax of the source logits, NCE their argmax as source labels.
        batch_size: batch size of the feature extraction.
        device: where each model runs and the metrics are computed. Each model is moved there for its turn and
            moved back afterwards, so one model at a time occupies an accelerator. ``None`` keeps each model where
            it is.
        progress: show a progress bar over the models.

    Features come from :func:`tlcore.finetune.features.extract_features`; a second pass extracts the source logits
    when LEEP or NCE is requested. Higher scores are better for every metric; compare scores only within a metric.
    """
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {sorted(METRICS)}")
    if not metrics:
        raise ValueError("metrics is empty")
    if not models:
        raise ValueError("models is empty")
    with_logits = not _NEEDS_SOURCE_LOGITS.isdisjoint(metrics)
    rows = []
    for name, model in tqdm(models.items(), disable=not progress, desc="rank models"):
        check_readable(model, dataset, name=repr(name))
        outputs = _model_outputs(model, dataset, batch_size=batch_size, device=device, with_logits=with_logits)
        rows.extend({"model": name, "metric": metric, "score": METRICS[metric](outputs)} for metric in metrics)
    return pd.DataFrame(rows, columns=["model", "metric", "score"])


def _model_outputs(
    model: nn.Module, dataset: Dataset, *, batch_size: int, device: torch.device | str | None, with_logits: bool
) -> _ModelOutputs:
    home = next(model.parameters()).device
    device = torch.device(device) if device is not None else home
    model.to(device)
    try:
        features, labels = extract_features(model, dataset, batch_size=batch_size, device=device)
        logits = (
            extract_features(model, dataset, batch_size=batch_size, device=device, logits=True)[0]
            if with_logits
            else None
        )
    finally:
        model.to(home)
    # extract_features returns CPU tensors; the metrics run wherever their inputs live, so move them back.
    return _ModelOutputs(
        features.to(device), labels.to(device), logits.to(device) if logits is not None else None
    )
