"""A transfer run as data, computed once and stored: the unit every chapter's grid is made of."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from .. import data, models
from ..finetune.loop import fit
from ..finetune.protocol import Protocol
from ..finetune.record import RunRecord
from ..regularizers.setups import DEFAULT_WEIGHTS, prepare
from ..storage import atomic_path, file_sha256, results_dir, write_json_atomic
from .spec import RunSpec, made_up, run, run_many  # noqa: F401  (run and run_many serve every kind; kept importable here)
from .store import RunStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransferRun(RunSpec):
    """Fine-tune ``arch`` on ``target`` with ``n_per_class`` training images per class.

    ``pretrained=True`` starts from the zoo entry ``arch`` pretrained on the source corpus; ``False`` from a random
    initialisation of the same architecture. ``seed`` fixes the training sample, the new classifier (and, from
    scratch, every weight), batch order and augmentation. ``regularizer`` names a set-up of
    :mod:`tlcore.regularizers.setups` with its ``regularizer_weight`` (None: the set-up's default).
    ``pretrain_seed`` picks which pretraining of the zoo entry to start from (:func:`tlcore.models.seeded`).
    """

    target: str
    n_per_class: int
    pretrained: bool
    arch: str = "glyph_resnet_narrow"
    protocol: Protocol = field(default_factory=Protocol)
    seed: int = 0
    regularizer: str = "none"
    regularizer_weight: float | None = None
    pretrain_seed: int = 0

    def __post_init__(self) -> None:
        if self.pretrain_seed and not (self.pretrained and self.arch in models.ZOO):
            raise ValueError(f"pretrain_seed={self.pretrain_seed} needs a pretrained zoo model, not "
                             f"{'a scratch run' if self.arch in models.ZOO else repr(self.arch)}")
        if self.pretrain_seed and self.regularizer != "none":  # set-ups that reload the source would take seed 0's
            raise ValueError(f"pretrain_seed={self.pretrain_seed} is not supported with regularizer "
                             f"{self.regularizer!r}: its source model is the zoo's first pretraining")
        if self.regularizer not in DEFAULT_WEIGHTS:
            raise ValueError(f"unknown regularizer set-up {self.regularizer!r}; choose one of {tuple(DEFAULT_WEIGHTS)}")
        if self.regularizer_weight is None:
            object.__setattr__(self, "regularizer_weight", DEFAULT_WEIGHTS[self.regularizer])

    def config(self) -> dict:
        config = asdict(self)
        config["protocol"] = self.protocol.key_dict()  # new protocol fields, while off, keep old keys valid
        if self.regularizer == "none":  # runs without a regulariser keep the keys they had before there were any
            del config["regularizer"], config["regularizer_weight"]
        if not self.pretrain_seed:  # runs from the zoo's first pretraining keep the keys they had before seeds
            del config["pretrain_seed"]
        if self.pretrained and self.arch in models.ZOO:
            config["source_key"] = models.seeded(self.arch, self.pretrain_seed).key()
        return config

    def summary(self) -> dict:
        """The flat columns this run contributes to a tidy table."""
        flat = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "protocol"}
        flat["init"] = "pretrained" if self.pretrained else "scratch"
        flat.update({f"protocol_{k}": v for k, v in self.protocol.to_dict().items()})
        return flat

    def compute(self, progress: bool = False) -> RunRecord:
        return _train(self, progress)[1]

    def diverged(self, error: FloatingPointError) -> RunRecord:
        return RunRecord(config={**self.config(), "diverged": str(error)})

    def placeholder(self) -> RunRecord:
        val = made_up(self, "val")
        return RunRecord(config=self.config(), history=[{"step": self.protocol.steps, "val_accuracy": val}],
                         best_step=self.protocol.steps, val_accuracy=val, test_accuracy=made_up(self, "test"))

    def store(self, runs: RunStore) -> RunStore:
        return runs  # transfer runs are run records

    def rows(self, record: RunRecord, *, curves: bool = False) -> list[dict]:
        """One row (summary, accuracies, selected step, seconds), or with ``curves`` one per validation point."""
        if curves:
            return [{**self.summary(), **point} for point in record.history]
        return [{**self.summary(), "val_accuracy": record.val_accuracy, "test_accuracy": record.test_accuracy,
                 "best_step": record.best_step, "seconds": record.seconds}]


def _build(spec: TransferRun, train, progress: bool):
    """The model ``spec`` starts from and the regularisers it trains with."""
    model = models.create(spec.arch, pretrained=spec.pretrained, num_classes=train.num_classes, seed=spec.seed,
                          pretrain_seed=spec.pretrain_seed, progress=progress)
    return prepare(spec.regularizer, spec.regularizer_weight, model, train, spec.arch)


def _train(spec: TransferRun, progress: bool) -> tuple[nn.Module, RunRecord]:
    train = data.load(spec.target, "train", spec.n_per_class, seed=spec.seed)
    val = data.load(spec.target, "val", seed=spec.seed)
    test = data.load(spec.target, "test", seed=spec.seed)
    model, regularizers = _build(spec, train, progress)
    record = fit(model, train, val, test, protocol=spec.protocol, regularizers=regularizers, seed=spec.seed,
                 progress=progress, config=spec.config())
    return model, record


def weights_dir() -> Path:
    """Where :func:`train_model` keeps fine-tuned weights: ``results_dir()/weights`` (a cache, not committed: the
    results store keeps records, never weights)."""
    return results_dir() / "weights"


def train_model(spec: TransferRun, *, store: RunStore | None = None, progress: bool = False
                ) -> tuple[nn.Module, RunRecord]:
    """The fine-tuned model of ``spec`` (eval mode, on the CPU) and its record.

    The run store keeps records, not weights; this keeps the selected weights too, as ``<run key>.safetensors``
    with a JSON sidecar (its sha256 and the record) in :func:`weights_dir`. A cached file is used only if its hash
    matches; otherwise the run is trained again, with the same seed and so the same weights, and the files are
    replaced atomically (the sidecar, written last, marks them complete). The record also goes to the run store if
    that does not have it yet, so :func:`run` finds it. A diverged run raises ``FloatingPointError`` (after storing
    the same diverged record :func:`run` stores).
    """
    store = store or RunStore()
    key = spec.key()
    folder = weights_dir() / key[:2]
    weights, sidecar = folder / f"{key}.safetensors", folder / f"{key}.json"
    cached = _read_weights(weights, sidecar)
    if cached is None:
        with store.lock(key):
            cached = _read_weights(weights, sidecar)  # written while this process waited for the lock
            if cached is None:
                return _train_and_keep(spec, store, key, weights, sidecar, progress)
    state, record = cached
    train = data.load(spec.target, "train", spec.n_per_class, seed=spec.seed)
    model, _ = _build(spec, train, progress)
    model.load_state_dict(state)
    return model.cpu().eval(), record


def _train_and_keep(spec: TransferRun, store: RunStore, key: str, weights: Path, sidecar: Path, progress: bool
                    ) -> tuple[nn.Module, RunRecord]:
    try:
        model, record = _train(spec, progress)
    except FloatingPointError as error:
        if store.get(key) is None:
            store.put(key, spec.diverged(error), config=spec.config(), kind="TransferRun")
        raise
    model = model.cpu().eval()
    with atomic_path(weights) as tmp:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    write_json_atomic(sidecar, {"key": key, "sha256": file_sha256(weights), "record": record.to_dict()})
    if store.get(key) is None:
        store.put(key, record, config=spec.config(), kind="TransferRun")
    return model, record


def _read_weights(weights: Path, sidecar: Path) -> tuple[dict, RunRecord] | None:
    """(state dict, record) from a complete, uncorrupted cache entry, else None (and a warning if damaged)."""
    if not (weights.exists() and sidecar.exists()):
        return None
    try:
        info = json.loads(sidecar.read_text())
        if file_sha256(weights) != info["sha256"]:
            log.warning("fine-tuned weights %s do not match their recorded hash; training again", weights)
            return None
        return load_file(str(weights)), RunRecord.from_dict(info["record"])
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        log.warning("fine-tuned weights %s have an unreadable sidecar (%s); training again", weights, error)
        return None
