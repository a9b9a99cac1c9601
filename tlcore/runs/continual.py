"""Catastrophic forgetting: how well a network still solves its source task after it has learnt a target.

A :class:`ContinualRun` learns a target from the pretrained source model with one of the survey's §6.2 answers to
forgetting and then scores the *source* task on the source's test split with the source classifier. Which source
classifier: the original one for plain fine-tuning, L2-SP and the frozen probe (they keep no other), LwF's jointly
trained old-task head for LwF (the method's own), the frozen source column for a progressive network.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace

import pandas as pd
import torch
from torch import nn

from .. import data, models
from ..adaptation.progressive import ProgressiveNet
from ..finetune.evaluation import evaluate
from ..finetune.loop import fit
from ..finetune.protocol import Protocol
from ..regularizers.lwf import LwF
from ..regularizers.setups import prepare
from .spec import RunSpec, made_up, run
from .store import RunStore

METHODS = ("finetune", "lwf", "l2sp", "progressive", "frozen")
DEFAULT_WEIGHTS = {"finetune": 0.0, "lwf": 1.0, "l2sp": 0.01, "progressive": 0.0, "frozen": 0.0}


class WithHead(nn.Module):
    """``model``'s pre-logit features through another classifier ``head`` (e.g. the source task's)."""

    def __init__(self, model: nn.Module, head: nn.Module):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.model.forward_head(self.model.forward_features(x), pre_logits=True))


def source_test_split(arch: str):
    """The test split of the corpus zoo model ``arch`` was pretrained on (its own seed)."""
    entry = models.ZOO[arch]
    return data.load(entry.source, "test", seed=entry.seed)


@dataclass(frozen=True)
class ContinualRun(RunSpec):
    """Learn ``target`` (``n_per_class`` images per class) from the pretrained zoo model ``arch`` with ``method``:

    - ``finetune``: every weight, new classifier (plain fine-tuning);
    - ``lwf``: as fine-tuning plus Learning without Forgetting's distillation term, weight ``weight`` (T = 2);
    - ``l2sp``: as fine-tuning plus L2-SP (and L2 on the new head), weight ``weight``;
    - ``progressive``: a frozen source column and a new, randomly initialised target column with lateral adapters;
    - ``frozen``: the backbone frozen, only a new classifier learns (a linear probe through the training loop).

    ``weight=None`` takes the method's default (LwF 1, as in its paper; L2-SP 0.01, as in chapter 5).

    Its outcome (:func:`~tlcore.runs.spec.run`, kept in the outcome store): target val/test accuracy and the
    source-task test accuracy before (``source_accuracy_before``) and after (``source_accuracy``) learning the target;
    LwF also reports ``source_accuracy_original_head`` (its features under the untouched source classifier). A run
    whose loss diverged has ``diverged`` (the error) and NaN accuracies (the accuracy before is still measured).
    """

    target: str
    n_per_class: int
    method: str
    arch: str = "glyph_resnet_narrow"
    protocol: Protocol = field(default_factory=Protocol)
    seed: int = 0
    weight: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown continual-learning method {self.method!r}; choose one of {METHODS}")
        if self.arch not in models.ZOO:
            raise KeyError(f"ContinualRun needs a zoo model with its source classifier; {self.arch!r} is not one")
        if self.weight is None:
            object.__setattr__(self, "weight", DEFAULT_WEIGHTS[self.method])

    def config(self) -> dict:
        config = asdict(self)
        config["protocol"] = self.protocol.key_dict()
        config["source_key"] = models.ZOO[self.arch].key()
        return {"kind": "continual", **config}

    def summary(self) -> dict:
        return {"target": self.target, "n_per_class": self.n_per_class, "method": self.method, "arch": self.arch,
                "seed": self.seed, "weight": self.weight, "protocol_lr": self.protocol.lr,
                "protocol_steps": self.protocol.steps}

    def compute(self, progress: bool = False) -> dict:
        return _train(self)

    def diverged(self, error: FloatingPointError) -> dict:
        nan = float("nan")
        return {"diverged": str(error), "val_accuracy": nan, "test_accuracy": nan,
                "source_accuracy_before": _source_accuracy(self.arch), "source_accuracy": nan}

    def placeholder(self) -> dict:
        return {what: made_up(self, what) for what in ("val_accuracy", "test_accuracy", "source_accuracy_before",
                                                       "source_accuracy")}

    @classmethod
    def tidy(cls, frame: pd.DataFrame) -> pd.DataFrame:
        """``forgetting`` = source accuracy before - after learning the target."""
        frame["forgetting"] = frame["source_accuracy_before"] - frame["source_accuracy"]
        return frame


def _source_accuracy(arch: str) -> float:
    """The pretrained source model's accuracy on its own test split (before it learns anything)."""
    source, _ = models.load_source_model(arch, progress=False)
    accuracy, _ = evaluate(source, source_test_split(arch))
    return accuracy


def _train(spec: ContinualRun) -> dict:
    train = data.load(spec.target, "train", spec.n_per_class, seed=spec.seed)
    val = data.load(spec.target, "val", seed=spec.seed)
    test = data.load(spec.target, "test", seed=spec.seed)
    source_test = source_test_split(spec.arch)
    source, _ = models.load_source_model(spec.arch, progress=False)
    source_head = copy.deepcopy(source.get_classifier())
    before, _ = evaluate(source, source_test)
    protocol, regularizers = spec.protocol, []
    if spec.method == "progressive":
        model = ProgressiveNet(source, models.create(spec.arch, pretrained=False, num_classes=train.num_classes,
                                                     seed=spec.seed))
    else:
        model = models.create(spec.arch, pretrained=True, num_classes=train.num_classes, seed=spec.seed,
                              progress=False)
        if spec.method in ("l2sp", "finetune"):
            model, regularizers = prepare("l2sp" if spec.method == "l2sp" else "none", spec.weight, model, train,
                                          spec.arch)
        elif spec.method == "lwf":
            regularizers = [(spec.weight, LwF(source))]
        else:
            protocol = protocol.with_(train_backbone=False)
    record = fit(model, train, val, test, protocol=protocol, regularizers=regularizers, seed=spec.seed,
                 progress=False, config=spec.config())
    outcome = {"val_accuracy": record.val_accuracy, "test_accuracy": record.test_accuracy,
               "source_accuracy_before": before, "seconds": record.seconds}
    if spec.method == "progressive":
        outcome["source_accuracy"], _ = evaluate(model.source.module, source_test)
    else:
        outcome["source_accuracy"], _ = evaluate(WithHead(model, source_head), source_test)
    if spec.method == "lwf":
        outcome["source_accuracy_original_head"] = outcome["source_accuracy"]
        outcome["source_accuracy"], _ = evaluate(WithHead(model, regularizers[0][1].old_head), source_test)
    return outcome


def first_stable(spec: ContinualRun, learning_rates, *, store: RunStore | None = None) -> ContinualRun:
    """``spec`` at the first of ``learning_rates`` whose training does not diverge (the last one if all do); each
    candidate is :func:`~tlcore.runs.spec.run` (so stored) in ``store``."""
    for lr in learning_rates:
        candidate = replace(spec, protocol=spec.protocol.with_(lr=lr))
        if "diverged" not in run(candidate, store=store):
            return candidate
    return candidate
