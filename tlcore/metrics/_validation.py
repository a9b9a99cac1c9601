"""Input checks shared by every transferability metric, so the same mistake always raises the same ``ValueError``.

Each ``check_*`` function accepts a numpy array, a torch tensor (CPU or CUDA) or anything ``numpy.asarray`` accepts,
and returns a torch tensor on the device of the main input: float64 for real-valued data, int64 for labels.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

# Softmax rows computed in float32 over ~1000 classes sum to 1 within ~1e-6; 1e-3 still rejects logits, scores and
# per-class probabilities that were never normalised.
PROBABILITY_SUM_ATOL = 1e-3
# Largest entry magnitude (other than all-zero features) the metrics' linear algebra can work with. The metrics form
# Gram matrices, variances and squared distances (second powers of the entries, summed over N or D terms) and LogME
# squares their eigenvalues (fourth powers): with entries in [1e-50, 1e50] and up to 1e16 summed terms all of these
# stay normal float64 numbers (2.2e-308 .. 1.8e308). Beyond, they overflow to inf (H-score and LogME then fail in
# LAPACK, GBC returns NaN, TransRate's Cholesky fails) or sink into subnormals and zeros that carry no digits (H-score
# silently drops every eigenvalue). Real features are many orders of magnitude inside this range.
MAGNITUDE_RANGE = (1e-50, 1e50)


def check_features(features: Any, name: str = "features") -> torch.Tensor:
    """(N, D) real matrix with N, D >= 1 and only finite entries, as float64 on its own device.

    Its largest absolute entry must lie in ``MAGNITUDE_RANGE`` (or be 0: all-zero features are left to each metric).
    """
    matrix = _check_matrix(features, name)
    check_magnitude(matrix, name)
    return matrix


def check_magnitude(values: torch.Tensor, name: str = "features") -> None:
    """Raise unless the largest absolute entry of the finite float tensor ``values`` is 0 or in ``MAGNITUDE_RANGE``.

    One pass with no temporary: the largest magnitude is ``max(-min, max)``.
    """
    lowest, highest = (float(v) for v in torch.aminmax(values))
    largest = max(-lowest, highest)
    smallest_allowed, largest_allowed = MAGNITUDE_RANGE
    if largest > largest_allowed:
        raise ValueError(
            f"{name} have entries of magnitude {largest:.3g}; above {largest_allowed:.0e} their squares and Gram "
            f"matrices overflow float64, so the metric's linear algebra is meaningless. Rescale the {name} (e.g. "
            f"standardise them) first"
        )
    if 0 < largest < smallest_allowed:
        raise ValueError(
            f"{name} have entries of magnitude at most {largest:.3g}; below {smallest_allowed:.0e} their squares and "
            f"Gram matrices underflow float64, so the metric's linear algebra is meaningless. Rescale the {name} "
            f"(e.g. standardise them) first"
        )


def check_labels(
    labels: Any,
    n_samples: int,
    *,
    name: str = "target_labels",
    against: str = "features",
    device: torch.device,
    min_classes: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer class labels in 0..C-1 with every class present.

    Returns ``(labels, counts)``: int64 (N,) on ``device`` and the int64 (C,) number of samples per class.
    """
    values = _check_integer(_check_vector(labels, n_samples, name=name, against=against, device=device), name)
    lowest = int(values.min())
    if lowest < 0:
        raise ValueError(f"{name} must lie in 0..C-1, got the negative label {lowest}")
    relabel = "relabel them to 0..C-1, e.g. with numpy.unique(labels, return_inverse=True)"
    highest = int(values.max())
    if highest >= len(values):  # checked before counting, so a stray huge label cannot allocate a huge histogram
        raise ValueError(
            f"{name} are not contiguous: the largest label is {highest} but there are only {len(values)} samples; "
            f"{relabel}"
        )
    counts = torch.bincount(values)
    missing = (counts == 0).nonzero().flatten().tolist()
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise ValueError(
            f"{name} are not contiguous: class(es) {shown} of 0..{highest} have no samples; {relabel}"
        )
    if len(counts) < min_classes:
        raise ValueError(f"{name} hold {len(counts)} class(es); at least {min_classes} are needed")
    return values, counts


def check_source_labels(labels: Any, name: str = "source_labels") -> torch.Tensor:
    """Any integer labels (a source model's argmax need not hit every source class), re-coded to 0..K-1."""
    values = _check_integer(_check_vector(labels, None, name=name, against="", device=None), name)
    return torch.unique(values, return_inverse=True)[1]


def check_probabilities(probabilities: Any, name: str = "source_probs") -> torch.Tensor:
    """(N, K) matrix of non-negative rows that sum to one within ``PROBABILITY_SUM_ATOL``, as float64."""
    values = _check_matrix(probabilities, name)
    lowest = float(values.min())
    if lowest < 0:
        raise ValueError(f"{name} must be probabilities (softmax outputs), got a negative entry {lowest:.4g}")
    deviation = (values.sum(dim=1) - 1).abs()
    worst = int(deviation.argmax())
    if float(deviation[worst]) > PROBABILITY_SUM_ATOL:
        raise ValueError(
            f"{name} rows must sum to 1 (softmax outputs, not logits); row {worst} sums to "
            f"{float(values[worst].sum()):.6g}"
        )
    return values


def check_targets(targets: Any, n_samples: int, *, name: str = "targets", device: torch.device) -> torch.Tensor:
    """Real regression targets (N,) or (N, K), returned as float64 (N, K)."""
    values = _as_tensor(targets, name)
    if values.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (N,) or (N, K), got shape {tuple(values.shape)}")
    if values.ndim == 1:
        values = values[:, None]
    return _check_matrix(values, name, n_samples=n_samples, against="features").to(device)


def check_paired_scores(scores: Any, accuracies: Any) -> tuple[np.ndarray, np.ndarray]:
    """One metric score and one measured accuracy per model: two finite float64 vectors of equal length >= 2."""
    pair = []
    for values, name in ((scores, "scores"), (accuracies, "accuracies")):
        values = _as_tensor(values, name)
        if values.ndim != 1:
            raise ValueError(f"{name} must be 1-D (one entry per model), got shape {tuple(values.shape)}")
        if len(values) < 2:
            raise ValueError(f"{name} must hold at least two models, got {len(values)}")
        values = values.to(torch.float64)
        _check_finite(values, name)
        pair.append(values.cpu().numpy())
    if len(pair[0]) != len(pair[1]):
        raise ValueError(f"scores has {len(pair[0])} entries but accuracies has {len(pair[1])}")
    return pair[0], pair[1]


def check_positive(value: float, name: str) -> float:
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def check_choice(value: str, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def _as_tensor(values: Any, name: str) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        tensor = values.detach()
    else:
        array = np.asarray(values)
        if array.dtype.kind not in "biufc":  # complex passes here to meet the "real numbers" check below
            raise ValueError(f"{name} must be numeric, got an array of dtype {array.dtype}")
        if array.dtype.kind == "u":  # torch has no uint32/uint64 arithmetic; labels fit in int64
            array = array.astype(np.int64)
        if not array.flags.writeable or any(stride < 0 for stride in array.strides):  # torch refuses to share these
            array = array.copy()
        tensor = torch.from_numpy(array)
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise ValueError(f"{name} must be real numbers, got dtype {tensor.dtype}")
    return tensor


def _check_matrix(values: Any, name: str, *, n_samples: int | None = None, against: str = "") -> torch.Tensor:
    matrix = _as_tensor(values, name)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be 2-D with shape (N, D), got shape {tuple(matrix.shape)}")
    if matrix.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(matrix.shape)}")
    if n_samples is not None and len(matrix) != n_samples:
        raise ValueError(f"{name} has {len(matrix)} samples but {against} has {n_samples}")
    matrix = _to_float64(matrix)
    _check_finite(matrix, name)
    return matrix


def _to_float64(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as float64 on its device. On the CPU numpy converts (20,000 x 2,048 float32: 0.04 s against torch's
    0.2 s on one thread here, benchmarks/linalg.py), which matters when the metric itself takes a second or two."""
    if tensor.dtype == torch.float64:
        return tensor
    if tensor.device.type == "cpu" and tensor.dtype in (torch.float32, torch.float16, torch.int32, torch.int64):
        return torch.from_numpy(tensor.numpy().astype(np.float64))
    return tensor.to(torch.float64)


def _check_vector(
    values: Any, n_samples: int | None, *, name: str, against: str, device: torch.device | None
) -> torch.Tensor:
    vector = _as_tensor(values, name)
    if vector.ndim != 1:
        raise ValueError(f"{name} must be 1-D with shape (N,), got shape {tuple(vector.shape)}")
    if len(vector) == 0:
        raise ValueError(f"{name} is empty")
    if n_samples is not None and len(vector) != n_samples:
        raise ValueError(f"{name} has {len(vector)} samples but {against} has {n_samples}")
    return vector if device is None else vector.to(device)


def _check_integer(values: torch.Tensor, name: str) -> torch.Tensor:
    if values.is_floating_point():
        raise ValueError(f"{name} must be integers, got dtype {values.dtype}")
    return values.long()


def _check_finite(values: torch.Tensor, name: str) -> None:
    # Any NaN or inf makes the sum non-finite, and a sum reads the data without writing an (N, D) mask: the mask is
    # only built to locate the culprit (or to clear a sum that merely overflowed).
    if bool(torch.isfinite(values.sum())):
        return
    finite = torch.isfinite(values)
    if not bool(finite.all()):
        bad = (~finite).nonzero()[0].tolist()
        raise ValueError(f"{name} contains NaN or inf (first at index {tuple(bad)})")
