"""Choosing and weighting source data: domain-adaptive transfer learning (DATL, Ngiam et al. 2018).

DATL pretrains on the source with each class re-weighted by ``P_t(y) / P_s(y)``, where ``P_t(y)`` — how much of the
target looks like source class ``y`` — is estimated without target labels as the mean softmax of a source model over
the target's training images. The re-weighted pretraining is a zoo entry (``class_weights``), cached like any other.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from .. import data, models
from ..finetune.features import extract_features
from ..remembered import remembered

WEIGHT_DECIMALS = 4  # rounded so that the same estimate gives the same zoo key on every machine


def target_class_prior(source_model: torch.nn.Module, target_images) -> np.ndarray:
    """P_t(y) over the source classes: the mean softmax of ``source_model`` (with its source head) over the
    target's images. Shape (source classes,), sums to 1."""
    logits, _ = extract_features(source_model, target_images, logits=True)
    return torch.softmax(logits.double(), dim=1).mean(dim=0).numpy()


def datl_weights(p_target, p_source) -> np.ndarray:
    """Per-class weights ``P_t(y) / P_s(y)``, scaled so that their mean under ``P_s`` is 1 (the source keeps its
    size). Both arguments are distributions over the same classes."""
    p_target, p_source = np.asarray(p_target, dtype=float), np.asarray(p_source, dtype=float)
    if p_target.shape != p_source.shape or p_target.ndim != 1:
        raise ValueError(f"P_t and P_s must be 1-D over the same classes, got {p_target.shape} and {p_source.shape}")
    if (p_source <= 0).any():
        raise ValueError("P_s must be positive for every source class (a class without images cannot be weighted)")
    if (p_target < 0).any() or not np.isclose(p_target.sum(), 1) or not np.isclose(p_source.sum(), 1):
        raise ValueError("P_t and P_s must be probability distributions (non-negative, summing to 1)")
    weights = p_target / p_source
    return weights / (weights * p_source).sum()


def datl_entry(base: str, estimator: str, target: str, *, n_per_class: int, seed: int = 0
               ) -> tuple[str, pd.DataFrame]:
    """Register (if new) the zoo entry ``<base>_datl_<target>``: ``base``'s recipe with its source classes
    re-weighted for ``target``. P_t is estimated by zoo model ``estimator`` on ``n_per_class`` target training
    images per class (labels unused); P_s is the base entry's source class frequencies. Returns the entry's name and
    a table (source class, p_source, p_target, weight)."""
    entry = models.ZOO[base]
    if models.ZOO[estimator].source != entry.source:
        raise ValueError(f"estimator {estimator!r} and base {base!r} must share a source corpus")
    table = datl_table(base, estimator, target, n_per_class=n_per_class, seed=seed)
    name = f"{base}_datl_{target}"
    models.register(replace(entry, name=name, class_weights=tuple(table["weight"]),
                            description=f"{base} with source classes re-weighted by P_t/P_s for {target} (DATL)."))
    return name, table


@remembered("datl", depends=lambda arguments: models.source_keys(arguments["base"], arguments["estimator"]))
def datl_table(base: str, estimator: str, target: str, *, n_per_class: int, seed: int = 0) -> pd.DataFrame:
    """The DATL re-weighting of ``base``'s source classes for ``target`` (see :func:`datl_entry`): one row per source
    class with p_source, p_target and weight."""
    estimator_model, provenance = models.load_source_model(estimator, progress=False)
    classes = provenance["source_classes"]
    # Every embedded source draws the same number of images per class, so P_s is uniform.
    p_source = np.full(len(classes), 1 / len(classes))
    p_target = target_class_prior(estimator_model, data.load(target, "train", n_per_class, seed=seed))
    weights = np.round(datl_weights(p_target, p_source), WEIGHT_DECIMALS)
    return pd.DataFrame({"source_class": classes, "p_source": p_source, "p_target": p_target, "weight": weights})
