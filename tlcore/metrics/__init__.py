"""Transferability metrics: estimate, before fine-tuning, how well a pre-trained model will transfer to a target task.

Every metric is a plain function of numpy arrays or torch tensors (CPU or CUDA) that computes in float64 and returns
a Python float; higher is better for all of them. Shapes follow one convention: features (N, D) float, labels (N,)
int in 0..C-1 with every class present. Invalid input raises ``ValueError`` naming the problem.

Surveyed in Plested & Gedeon, "Deep Transfer Learning for Image Classification: a survey" (2022).
"""
from __future__ import annotations

from .emd import emd_similarity
from .etran import ETranTerms, etran, etran_combine, etran_terms
from .gbc import gbc
from .hscore import h_score
from .knn import knn_accuracy
from .leep import leep
from .logme import LogME, logme
from .nce import nce
from .ncti import NCTITerms, ncti, ncti_combine, ncti_terms
from .nleep import nleep
from .ped import ped, ped_features
from .ranking import pearson, top1_relative_accuracy, weighted_kendall_tau
from .select import BASELINES, DEFAULT_METRICS, METRICS, rank_models, source_accuracy
from .sfda import sfda
from .transrate import transrate

__all__ = [
    "BASELINES",
    "DEFAULT_METRICS",
    "METRICS",
    "ETranTerms",
    "LogME",
    "NCTITerms",
    "emd_similarity",
    "etran",
    "etran_combine",
    "etran_terms",
    "gbc",
    "h_score",
    "knn_accuracy",
    "leep",
    "logme",
    "nce",
    "ncti",
    "ncti_combine",
    "ncti_terms",
    "nleep",
    "pearson",
    "ped",
    "ped_features",
    "rank_models",
    "sfda",
    "source_accuracy",
    "top1_relative_accuracy",
    "transrate",
    "weighted_kendall_tau",
]
