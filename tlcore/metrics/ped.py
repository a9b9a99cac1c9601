"""Potential energy decline, PED (Li et al., 2023): simulate the class separation of fine-tuning, then score."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ._linalg import class_sums
from ._validation import check_features, check_labels, check_positive
from .logme import logme

# The authors' command-line defaults (evaluate_metric_cpu.py): time step 0.1, nsigma 0.6 (0.3 is their other
# candidate), force constant 1, exit ratio 0.5, at most 6 steps, and a floor of 1e-3 on the standardising deviations.
TIME_STEP = 0.1
N_SIGMA = 0.6
STIFFNESS = 1.0
EXIT_RATIO = 0.5
MAX_STEPS = 6
STD_FLOOR = 1e-3


def ped_features(
    features: Any,
    labels: Any,
    *,
    reference_features: Any = None,
    time_step: float = TIME_STEP,
    n_sigma: float = N_SIGMA,
    stiffness: float = STIFFNESS,
    exit_ratio: float = EXIT_RATIO,
    max_steps: int = MAX_STEPS,
) -> tuple[torch.Tensor, int]:
    """The features after PED's motion simulation, (N, D) float64, and the number of steps taken.

    Each class is a ball centred on its mean ``mu_c`` with radius ``R_c = sqrt(sum_d var_cd)`` (the RMS distance of
    its samples to the mean), in standardised coordinates. Two balls that overlap by
    ``o_ck = max(n_sigma (R_c + R_k) - ||mu_c - mu_k||, 0)`` repel each other with a force ``stiffness * o_ck``;
    in one step of length ``time_step`` from rest, class c moves by ``min(time_step^2 / 2 * stiffness * o_ck,
    o_ck)`` along ``(mu_c - mu_k) / ||mu_c - mu_k||`` for every other class k, all its samples together. Steps repeat
    while the total movement ``sum_c ||shift_c||_1`` stays above ``exit_ratio`` times that of the first step (the
    decline of the potential energy levels off), at most ``max_steps`` times; the step that falls below is not
    taken. Classes that do not overlap do not move, and then the features come back unchanged.

    Args: see :func:`ped`.
    """
    x = check_features(features)
    y, counts = check_labels(labels, len(x), name="labels", device=x.device)
    for value, name in ((time_step, "time_step"), (n_sigma, "n_sigma"), (stiffness, "stiffness"),
                        (exit_ratio, "exit_ratio")):
        check_positive(value, name)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0:
        raise ValueError(f"max_steps must be a non-negative integer, got {max_steps!r}")
    reference = x if reference_features is None else check_features(reference_features, "reference_features")
    if reference.shape[1] != x.shape[1]:
        raise ValueError(f"reference_features have {reference.shape[1]} dimensions but features have {x.shape[1]}")
    reference = reference.to(x.device)
    centre = reference.mean(dim=0)
    scale = reference.std(dim=0, correction=0).clamp_min(STD_FLOOR)

    # Samples move with their class, so the class radii never change and only the means need updating: the (N, D)
    # features are touched once, at the end.
    standardised = (x - centre) / scale
    means = class_sums(standardised, y, len(counts)) / counts[:, None]
    squared_deviations = class_sums((standardised - means[y]).square_(), y, len(counts))
    radii = (squared_deviations.sum(dim=1) / counts).sqrt()
    reach = n_sigma * (radii[:, None] + radii[None, :])
    total_shift = torch.zeros_like(means)
    first_movement, steps = None, 0
    while steps < max_steps:
        shift = _step(means, reach, time_step, stiffness)
        movement = float(shift.abs().sum())
        if first_movement is None:
            first_movement = movement
        if movement == 0 or movement / first_movement <= exit_ratio:
            break
        means += shift
        total_shift += shift
        steps += 1
    return x + (total_shift * scale)[y], steps


def ped(
    features: Any,
    labels: Any,
    *,
    metric: Callable[[Any, Any], float] = logme,
    reference_features: Any = None,
    time_step: float = TIME_STEP,
    n_sigma: float = N_SIGMA,
    stiffness: float = STIFFNESS,
    exit_ratio: float = EXIT_RATIO,
    max_steps: int = MAX_STEPS,
) -> float:
    """PED: a base metric scored on features moved the way fine-tuning would move them. Higher is better (as the
    base metric).

    Li et al., "Exploring Model Transferability through the Lens of Potential Energy" (ICCV 2023), code at
    github.com/lixiaotong97/PED (``metrics.py``: ``One_Step_PED``, ``PED_Score``). Fine-tuning pushes overlapping
    classes apart; PED models each class as a ball that repels the balls it overlaps (the code calls the force
    Coulomb's; it grows with the overlap, so the overlaps hold the potential energy), lets the repulsion move the
    classes until the decline of that energy levels off (:func:`ped_features`), and hands the moved features to an
    existing metric.

    Where tlcore departs from the authors' code, and why:

    * Base metric: LogME by default (any ``metric(features, labels) -> float`` can be passed); the authors' script
      defaults to SFDA and also offers LogME and N-LEEP.
    * Standardisation: the code simulates in coordinates standardised by the mean and deviation of the same model's
      features on ImageNet validation images, which it requires. A target task need not come with source images,
      so tlcore standardises by the target features themselves unless ``reference_features`` are given
      (deviations floored at 1e-3, as in the code). Only the ratios of the per-dimension deviations matter: a
      common scale or a shift of the reference cancels out of the simulation.
    * Two classes with identical means have no direction to repel along: the code divides by their zero distance
      (NaN features); tlcore leaves that pair's force at zero.
    * The simulation moves class means and adds each class's total shift to its samples once, instead of shifting
      and un-standardising all N x D features at every step; the result is the same up to rounding.

    The score is invariant to permuting the samples and renaming the classes, and the simulation is equivariant to
    per-dimension affine maps of the features (it moves ``a x + b`` to ``a x' + b``) as long as no deviation falls
    below the floor; the score then inherits whatever further invariances the base metric has.

    Args:
        features: (N, D) float features of the target samples.
        labels: (N,) int target labels in 0..C-1, every class present, C >= 2.
        metric: the base transferability metric, called on the moved features and the labels.
        reference_features: (M, D) features whose per-dimension mean and deviation standardise the simulation (the
            authors: the model's features of ImageNet validation images); default the target features.
        time_step, n_sigma, stiffness: step length, ball radius in class deviations, and force constant.
        exit_ratio: the simulation stops once a step moves the classes less than this share of the first step.
        max_steps: most steps taken (6 in the authors' loop).
    """
    moved, _ = ped_features(features, labels, reference_features=reference_features, time_step=time_step,
                            n_sigma=n_sigma, stiffness=stiffness, exit_ratio=exit_ratio, max_steps=max_steps)
    return metric(moved, labels)


def _step(means: torch.Tensor, reach: torch.Tensor, time_step: float, stiffness: float) -> torch.Tensor:
    """(C, D) shift of every class mean in one step: the sum of its repulsions from the classes it overlaps.

    ``shift_c = sum_k w_ck (mu_c - mu_k) = (sum_k w_ck) mu_c - (W mu)_c`` with ``w_ck = magnitude_ck / distance_ck``:
    O(C^2 D) time in (C, C) memory, where the authors' (C, C, D) arrays of pairwise differences take 2.6 GB for 397
    classes of 2,048 features. The means are standardised (O(1)), so the subtraction loses no digits that matter.
    """
    # Exact pairwise distances (no |a|^2 + |b|^2 - 2 a.b, which cancels for close classes).
    distances = torch.cdist(means[None], means[None], compute_mode="donot_use_mm_for_euclid_dist")[0]
    overlap = (reach - distances).clamp_min(0)
    overlap.fill_diagonal_(0)
    magnitude = torch.minimum(time_step**2 / 2 * stiffness * overlap, overlap)
    # Unit directions; a pair at distance 0 has none, and its magnitude is dropped.
    weights = torch.where(distances > 0, magnitude / distances, torch.zeros_like(distances))
    return weights.sum(dim=1, keepdim=True) * means - weights @ means
