"""Co-Tuning (You, Kou, Jiang & Long, NeurIPS 2020): keep the source classifier and train it too, towards the
source-label distribution that each target label implies."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..finetune.regularizer import StepContext, TransferRegularizer
from ._data import TargetData, as_tensors, batched

# The regularisation grid of the paper's public relationship_learning.py.
C_GRID = (1e4, 3e3, 1e3, 3e2, 1e2, 3e1, 1e1, 3.0, 1.0, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)
METHODS = ("calibrated", "direct")


class CoTuning(TransferRegularizer):
    """L = -sum_s p(y_s | y_t) log softmax(h_s(f(x)))_s: the source head ``h_s``, applied to the target model's
    pre-logit features, learns to predict the source-label distribution ``relationship[y_t]`` of the sample's target
    label. ``relationship`` is (target classes, source classes) with rows p(y_s | y_t); see
    :func:`learn_relationship`.

    The source head is a trainable copy (the loop gives it an optimizer group), so the target model must share the
    source's feature dimension — the usual case, a copy of the source network with a new classifier. With MixUp the
    soft targets are mixed with the same lambda. Build it with :meth:`from_source_model`::

        source, _ = load_source_model("glyph_resnet_narrow")          # keeps its source classifier
        cotuning = CoTuning.from_source_model(source, train)
        model = copy.deepcopy(source); model.reset_classifier(train.num_classes)
        fit(model, train, val, regularizers=[(2.3, cotuning)])
    """

    def __init__(self, source_head: nn.Module, relationship: torch.Tensor):
        super().__init__()
        relationship = torch.as_tensor(relationship, dtype=torch.float32)
        if relationship.ndim != 2 or (relationship < 0).any() or not torch.allclose(
                relationship.sum(1), torch.ones(len(relationship)), atol=1e-4):
            raise ValueError("relationship must be (target classes, source classes) with rows that are distributions")
        self.source_head = copy.deepcopy(source_head).requires_grad_(True)
        self.register_buffer("relationship", relationship)

    @classmethod
    def from_source_model(cls, source_model: nn.Module, data: TargetData, *, method: str = "calibrated",
                          holdout: TargetData | None = None, source_temperature: float = 1.0,
                          max_samples: int | None = None) -> "CoTuning":
        """Learn p(y_s | y_t) from the source model's predictions on target ``data`` and keep its classifier."""
        images, labels = as_tensors(data, max_samples)
        logits = source_logits(source_model, images)
        held = None
        if holdout is not None:
            held_images, held_labels = as_tensors(holdout, max_samples)
            held = (source_logits(source_model, held_images), held_labels)
        relationship = learn_relationship(logits, labels, method=method, holdout=held,
                                          source_temperature=source_temperature)
        return cls(source_model.get_classifier(), relationship)

    def forward(self, source_logits: torch.Tensor, target_labels: torch.Tensor,
                other_labels: torch.Tensor | None = None, lam: float = 1.0) -> torch.Tensor:
        """``source_logits`` (N, source classes), ``target_labels`` (N,); with MixUp also ``other_labels`` and
        ``lam``. Mean over the batch."""
        soft = self.relationship[target_labels]
        if other_labels is not None:
            soft = lam * soft + (1.0 - lam) * self.relationship[other_labels]
        return -(soft * F.log_softmax(source_logits.float(), dim=1)).sum(1).mean()

    def penalty(self, ctx: StepContext) -> torch.Tensor:
        logits = self.source_head(ctx.features)
        if ctx.mixup is None:
            return self(logits, ctx.labels)
        return self(logits, ctx.labels, ctx.mixup.other_labels, ctx.mixup.lam)


@torch.no_grad()
def source_logits(source_model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The source model's logits (N, source classes) on ``images``, in eval mode, on the CPU."""
    was_training = source_model.training
    source_model.eval()
    try:
        device = next(source_model.parameters()).device
        return batched(source_model, images, device).float().cpu()
    finally:
        source_model.train(was_training)


def learn_relationship(logits: torch.Tensor, labels: torch.Tensor, *, method: str = "calibrated",
                       holdout: tuple[torch.Tensor, torch.Tensor] | None = None,
                       source_temperature: float = 1.0) -> torch.Tensor:
    """p(y_s | y_t) as a (target classes, source classes) tensor, from source ``logits`` (N, Cs) on target samples
    with ``labels`` (N,).

    * ``"direct"``: the average of the source model's predicted distribution over the samples of each target class.
    * ``"calibrated"`` (the paper's approach, as in its public code): fit p(y_t | y_s) by multinomial logistic
      regression from source probabilities to target labels (no intercept, C chosen on ``holdout``), calibrate that
      classifier by a temperature fitted on ``holdout`` (L-BFGS on the NLL), read p(y_t | y_s) for each source class
      as its calibrated prediction on that class's one-hot input, and invert with Bayes' rule using the source
      marginal p(y_s) = mean predicted distribution. Without ``holdout``, a deterministic stratified fifth of the
      samples (every 5th of each class) is held out.

    Source probabilities are ``softmax(logits / source_temperature)``; the paper's code multiplies ImageNet logits by
    0.884 (a temperature calibrated on ImageNet), which we cannot recompute without source validation data, so the
    default is 1.
    """
    if method not in METHODS:
        raise ValueError(f"unknown relationship method {method!r}; choose one of {METHODS}")
    if source_temperature <= 0:
        raise ValueError(f"source_temperature must be positive, got {source_temperature}")
    labels = torch.as_tensor(labels).long().cpu()
    probabilities = torch.softmax(logits.double().cpu() / source_temperature, dim=1)
    if holdout is None:
        train_part, held_part = _stratified_split(labels)
        held_p, held_y = probabilities[held_part], labels[held_part]
        probabilities, labels = probabilities[train_part], labels[train_part]
    else:
        held_p = torch.softmax(holdout[0].double().cpu() / source_temperature, dim=1)
        held_y = torch.as_tensor(holdout[1]).long().cpu()
    all_p, all_y = torch.cat([probabilities, held_p]), torch.cat([labels, held_y])
    classes = int(all_y.max()) + 1
    missing = sorted(set(range(classes)) - set(labels.tolist()))
    if missing:
        raise ValueError(f"target classes {missing} have no sample to learn their relationship from")
    if method == "direct":
        sums = torch.zeros(classes, all_p.shape[1], dtype=torch.float64).index_add_(0, all_y, all_p)
        return (sums / torch.bincount(all_y, minlength=classes)[:, None]).float()
    coef = _best_logistic_regression(probabilities.numpy(), labels.numpy(), held_p.numpy(), held_y.numpy(), classes)
    scale = _calibrate(held_p @ coef.T, held_y) if len(held_y) else 1.0
    target_given_source = torch.softmax(coef.T * scale, dim=1)  # (Cs, Ct): calibrated prediction on one-hot inputs
    joint = (target_given_source * all_p.mean(0)[:, None]).T  # (Ct, Cs): p(y_t | y_s) p(y_s)
    return (joint / joint.sum(1, keepdim=True)).float()


def _stratified_split(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    train, held = [], []
    for c in labels.unique():
        members = torch.nonzero(labels == c).flatten()
        position = torch.arange(len(members))
        held.append(members[position % 5 == 4])
        train.append(members[position % 5 != 4])
    return torch.cat(train).sort().values, torch.cat(held).sort().values


def _best_logistic_regression(x: np.ndarray, y: np.ndarray, x_held: np.ndarray, y_held: np.ndarray,
                              classes: int) -> torch.Tensor:
    """Coefficients (Ct, Cs) of the no-intercept multinomial logistic regression whose C (over ``C_GRID``, first
    best kept, as in the paper's code) predicts ``y_held`` best."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    best, best_accuracy = None, -1.0
    for c in C_GRID:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(C=c, fit_intercept=False, max_iter=1000).fit(x, y)
        accuracy = float((model.predict(x_held) == y_held).mean()) if len(y_held) else 0.0
        if accuracy > best_accuracy:
            best, best_accuracy = model, accuracy
    coef = torch.zeros(classes, x.shape[1], dtype=torch.float64)
    fitted = torch.from_numpy(best.coef_).double()
    if len(best.classes_) == 2:  # sklearn stores one row (class 1 vs 0) for two classes
        fitted = torch.cat([-fitted / 2, fitted / 2])
    coef[torch.as_tensor(best.classes_)] = fitted
    return coef


def _calibrate(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Temperature scaling (Guo et al. 2017): the scale s minimising the NLL of softmax(s * logits)."""
    scale = torch.ones((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([scale], max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits * scale, labels)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return float(scale.detach())
