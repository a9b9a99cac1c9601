"""Transferability metrics: estimate, before fine-tuning, how well a pre-trained model will transfer to a target task.

Every metric is a plain function of numpy arrays or torch tensors (CPU or CUDA) that computes in float64 and returns
a Python float; higher is better for all of them. Shapes follow one convention: features (N, D) float, labels (N,)
int in 0..C-1 with every class present. Invalid input raises ``ValueError`` naming the problem.

Surveyed in Plested & Gedeon, "Deep Transfer Learning for Image Classification: a survey" (2022).
"""
from __future__ import annotations

from .emd import emd_similarity
from .gbc import gbc
from .hscore import h_score
from .leep import leep
from .logme import LogME, logme
from .nce import nce
from .nleep import nleep
from .ranking import pearson, top1_relative_accuracy, weighted_kendall_tau
from .select import DEFAULT_METRICS, METRICS, rank_models
from .transrate import transrate

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "LogME",
    "emd_similarity",
    "gbc",
    "h_score",
    "leep",
    "logme",
    "nce",
    "nleep",
    "pearson",
    "rank_models",
    "top1_relative_accuracy",
    "transrate",
    "weighted_kendall_tau",
]
