"""Score candidate pre-trained models on a target dataset with transferability metrics."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..finetune.features import check_readable, extract_features
from .etran import etran_combine, etran_terms
from .gbc import gbc
from .hscore import h_score
from .knn import FOLDS, knn_accuracy
from .leep import leep
from .logme import logme
from .nce import nce
from .ncti import ncti_combine, ncti_terms
from .nleep import nleep
from .ped import ped
from .sfda import sfda
from .transrate import transrate

DEFAULT_METRICS = ("logme", "h_score", "leep", "nce", "transrate", "gbc")


@dataclass(frozen=True)
class _ModelOutputs:
    features: torch.Tensor  # (N, D) pooled penultimate features
    labels: torch.Tensor  # (N,) target labels
    source_logits: torch.Tensor | None  # (N, Cs) outputs of the source classifier, when a metric needs them


# Each entry scores one model's outputs: a float, or for the metrics in _COMBINED_OVER_MODELS a tuple of terms.
METRICS: dict[str, Callable[[_ModelOutputs], float | tuple[float, ...]]] = {
    "logme": lambda out: logme(out.features, out.labels),
    "h_score": lambda out: h_score(out.features, out.labels),
    "h_score_shrinkage": lambda out: h_score(out.features, out.labels, shrinkage=True),
    "leep": lambda out: leep(torch.softmax(out.source_logits.double(), dim=1), out.labels),
    "nce": lambda out: nce(out.source_logits.argmax(dim=1), out.labels),
    "nleep": lambda out: nleep(out.features, out.labels),
    "transrate": lambda out: transrate(out.features, out.labels),
    "gbc": lambda out: gbc(out.features, out.labels),
    "sfda": lambda out: sfda(out.features, out.labels),
    # NCTI and ETran yield their terms, which rank_models scales over the models ranked (_COMBINED_OVER_MODELS)
    "ncti": lambda out: ncti_terms(out.features, out.labels),
    "etran": lambda out: etran_terms(out.features, out.labels),
    "ped": lambda out: ped(out.features, out.labels),
    "knn": lambda out: knn_accuracy(out.features, out.labels, folds=min(FOLDS, int(out.labels.bincount().min()))),
}
# The published NCTI and ETran scores min-max scale each term over the candidate models before combining them.
_COMBINED_OVER_MODELS: dict[str, Callable[[Sequence[tuple]], np.ndarray]] = {
    "ncti": ncti_combine,
    "etran": etran_combine,
}
# Sanity baselines that need no target data: a bigger, or a more accurate, source model transfers better.
BASELINES = ("parameters", "source_accuracy")
# Keys a timm ``pretrained_cfg`` could carry a top-1 accuracy under (timm 1.0 records none).
_TOP1_KEYS = ("top1", "top1_acc", "top1_accuracy", "acc1", "imagenet_top1")
_NEEDS_SOURCE_LOGITS = frozenset({"leep", "nce"})


def rank_models(
    models: Mapping[str, nn.Module],
    dataset: Dataset,
    metrics: Iterable[str] = DEFAULT_METRICS,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    progress: bool = True,
    baselines: bool = False,
) -> pd.DataFrame:
    """Score every model on ``dataset`` with every metric: a tidy frame with columns model, metric, score.

    Args:
        models: name -> model with timm's interface (``forward_features``, ``forward_head(..., pre_logits=...)``
            and the source classifier as its head).
        dataset: target samples yielding ``(image tensor, int label)``, labels in 0..C-1.
        metrics: names from ``METRICS``: "logme", "h_score", "h_score_shrinkage", "leep", "nce", "nleep",
            "transrate", "gbc", "sfda", "ncti", "etran", "ped" (PED with LogME), "knn" (5-fold 5-NN accuracy, with
            fewer folds when a class has fewer than 5 samples). LEEP uses the softmax of the source logits, NCE their
            argmax as source labels. The "ncti" and "etran" scores are the authors' combinations of terms min-max
            scaled over the models ranked together (see :func:`~tlcore.metrics.ncti.ncti_combine`,
            :func:`~tlcore.metrics.etran.etran_combine`): they depend on which other models are ranked, and are 0
            for every model when only one is.
        batch_size: batch size of the feature extraction.
        device: where each model runs and the metrics are computed. Each model is moved there for its turn and
            moved back afterwards, so one model at a time occupies an accelerator. ``None`` keeps each model where
            it is.
        progress: show a progress bar over the models.
        baselines: also add, per model, the rows of the two sanity baselines in ``BASELINES``, and a column
            ``kind`` ("metric" or "baseline") that tells them apart. "parameters" is the model's parameter count
            (source classifier included); "source_accuracy" the accuracy the model reports on its source task, as a
            fraction (:func:`source_accuracy`; NaN where it reports none). A metric should beat both.

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
        if baselines:
            rows.append({"model": name, "metric": "parameters", "score": float(_parameter_count(model))})
            rows.append({"model": name, "metric": "source_accuracy", "score": source_accuracy(name, model)})
    _combine_over_models(rows)
    frame = pd.DataFrame(rows, columns=["model", "metric", "score"])
    return frame.assign(kind=np.where(frame.metric.isin(BASELINES), "baseline", "metric")) if baselines else frame


def source_accuracy(name: str, model: nn.Module) -> float:
    """The accuracy ``model`` (registered as ``name``) reports on its source task, as a fraction; NaN if none.

    A zoo model's ``source_val_accuracy``: from the provenance :func:`tlcore.models.create` attaches to pretrained
    zoo models, else from :func:`tlcore.models.load_source_model` when the zoo cache of ``name`` exists (this never
    pretrains a model). A timm model's ``pretrained_cfg`` when it carries a top-1 accuracy (percentages are divided
    by 100); timm 1.0's configurations carry none, so timm models get NaN.
    """
    provenance = getattr(model, "tlcore_provenance", None)
    if provenance is None:
        from ..models import ZOO, entry_dir, load_source_model
        from ..models.zoo import PROVENANCE_FILE

        if name in ZOO and (entry_dir(ZOO[name]) / PROVENANCE_FILE).exists():
            provenance = load_source_model(name, progress=False)[1]
    if provenance is not None and provenance.get("source_val_accuracy") is not None:
        return float(provenance["source_val_accuracy"])
    config = getattr(model, "pretrained_cfg", None)
    config = config if isinstance(config, Mapping) else {}
    for source in (config, config.get("metrics")):
        for key in _TOP1_KEYS:
            value = source.get(key) if isinstance(source, Mapping) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                return float(value) / 100 if value > 1 else float(value)
    return math.nan


def _parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def _combine_over_models(rows: list[dict]) -> None:
    """Replace the per-model terms of the metrics in ``_COMBINED_OVER_MODELS`` by their combined scores, in place."""
    for metric, combine in _COMBINED_OVER_MODELS.items():
        own = [row for row in rows if row["metric"] == metric]
        if own:
            for row, score in zip(own, combine([row["score"] for row in own])):
                row["score"] = float(score)


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
