"""A transfer run as data, computed once and stored: the unit every chapter's grid is made of."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Iterable

import pandas as pd
from tqdm.auto import tqdm

from . import data, models
from .finetune.loop import RunRecord, fit
from .finetune.protocol import Protocol
from .regularizers.setups import DEFAULT_WEIGHTS, prepare
from .results.store import RunStore


@dataclass(frozen=True)
class TransferRun:
    """Fine-tune ``arch`` on ``target`` with ``n_per_class`` training images per class.

    ``pretrained=True`` starts from the zoo entry ``arch`` pretrained on the source corpus; ``False`` from a random
    initialisation of the same architecture. ``seed`` fixes the training sample, the new classifier (and, from
    scratch, every weight), batch order and augmentation. ``regularizer`` names a set-up of
    :mod:`tlcore.regularizers.setups` with its ``regularizer_weight`` (None: the set-up's default).
    """

    target: str
    n_per_class: int
    pretrained: bool
    arch: str = "glyph_resnet_narrow"
    protocol: Protocol = field(default_factory=Protocol)
    seed: int = 0
    regularizer: str = "none"
    regularizer_weight: float | None = None

    def __post_init__(self) -> None:
        if self.regularizer not in DEFAULT_WEIGHTS:
            raise ValueError(f"unknown regularizer set-up {self.regularizer!r}; choose one of {tuple(DEFAULT_WEIGHTS)}")
        if self.regularizer_weight is None:
            object.__setattr__(self, "regularizer_weight", DEFAULT_WEIGHTS[self.regularizer])

    def config(self) -> dict:
        config = asdict(self)
        config["protocol"] = self.protocol.key_dict()  # new protocol fields, while off, keep old keys valid
        if self.regularizer == "none":  # runs without a regulariser keep the keys they had before there were any
            del config["regularizer"], config["regularizer_weight"]
        if self.pretrained and self.arch in models.ZOO:
            config["source_key"] = models.ZOO[self.arch].key()
        return config

    def key(self) -> str:
        return RunStore.key(self.config())

    def summary(self) -> dict:
        """The flat columns this run contributes to a tidy table."""
        flat = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "protocol"}
        flat["init"] = "pretrained" if self.pretrained else "scratch"
        flat.update({f"protocol_{k}": v for k, v in self.protocol.to_dict().items()})
        return flat


def run(spec: TransferRun, *, store: RunStore | None = None, progress: bool = False) -> RunRecord:
    """The record of ``spec``: read from the store if this exact run was done before, else trained and stored."""
    store = store or RunStore()
    key = spec.key()
    record = store.get(key)
    if record is not None:
        return record
    train = data.load(spec.target, "train", spec.n_per_class, seed=spec.seed)
    val = data.load(spec.target, "val", seed=spec.seed)
    test = data.load(spec.target, "test", seed=spec.seed)
    model = models.create(spec.arch, pretrained=spec.pretrained, num_classes=train.num_classes, seed=spec.seed,
                          progress=progress)
    model, regularizers = prepare(spec.regularizer, spec.regularizer_weight, model, train, spec.arch)
    try:
        record = fit(model, train, val, test, protocol=spec.protocol, regularizers=regularizers, seed=spec.seed,
                     progress=progress, config=spec.config())
    except FloatingPointError as error:
        # A learning rate too high for this start is a result of a sweep, not a crash of the chapter: the run is
        # stored as diverged (no accuracy), so validation-based selection passes over it.
        record = RunRecord(config={**spec.config(), "diverged": str(error)})
    store.put(key, record)
    return record


def run_many(specs: Iterable[TransferRun], *, store: RunStore | None = None, progress: bool = True,
             curves: bool = False) -> pd.DataFrame:
    """Run (or fetch) every spec; one tidy row per run, or with ``curves=True`` one row per validation point."""
    specs = list(specs)
    rows = []
    for spec in tqdm(specs, disable=not progress, desc="runs", mininterval=2.0):
        record = run(spec, store=store)
        if curves:
            rows.extend({**spec.summary(), **point} for point in record.history)
        else:
            rows.append({**spec.summary(), "val_accuracy": record.val_accuracy,
                         "test_accuracy": record.test_accuracy, "best_step": record.best_step,
                         "seconds": record.seconds})
    return pd.DataFrame(rows)


def select_on_validation(frame: pd.DataFrame, *, by: list[str], param: str,
                         metric: str = "val_accuracy") -> pd.DataFrame:
    """For each ``by`` group, the value of ``param`` with the best mean ``metric`` (validation only, never test).

    Ties go to the first value in sorted order, so the choice is deterministic.
    """
    if metric.startswith("test"):
        raise ValueError("hyper-parameters are selected on validation data, never on the test split")
    means = frame.groupby([*by, param], as_index=False)[metric].mean().sort_values([*by, param])
    best = means.loc[means.groupby(by)[metric].idxmax()]
    return best.rename(columns={metric: f"best_{metric}"}).reset_index(drop=True)

