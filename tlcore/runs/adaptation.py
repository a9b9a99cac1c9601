"""Unsupervised domain adaptation as a run: labelled images of one domain, unlabelled images of a shifted domain
with the same classes, scored on the shifted domain's test split (whose labels training never sees).

Computed and stored by :func:`~tlcore.runs.spec.run` like every run kind; like them, a run whose loss diverges is a
result, not a crash: it is stored with ``diverged`` (the error) and NaN accuracies (before the shared run abstraction,
a diverging adaptation run raised ``FloatingPointError`` and stored nothing)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .. import data, models
from ..adaptation.dann import DANN
from ..finetune.evaluation import evaluate
from ..finetune.loop import fit
from ..finetune.protocol import Protocol
from .spec import RunSpec, made_up

METHODS = ("source_only", "dann")


@dataclass(frozen=True)
class AdaptationRun(RunSpec):
    """Train on ``n_per_class`` labelled images per class of domain ``labelled`` with ``method``: ``source_only``
    (plain training) or ``dann`` (plus the domain-adversarial term on ``unlabelled_per_class`` unlabelled images per
    class of domain ``shifted``, weight ``weight``, domain classifier width ``hidden``).

    Model selection never looks at the shifted domain's labels: checkpoints are chosen by ``protocol.select`` on the
    *labelled* domain's validation split (``select="last"`` takes the final weights).

    Its outcome (:func:`~tlcore.runs.spec.run`, kept in the outcome store): ``target_accuracy`` (shifted domain's
    test split), ``source_accuracy`` (labelled domain's test split), ``val_accuracy`` (labelled domain's validation
    split) and ``seconds``; a run whose loss diverged has ``diverged`` (the error) and NaN accuracies.
    """

    labelled: str
    shifted: str
    n_per_class: int
    method: str
    unlabelled_per_class: int = 50
    arch: str = "glyph_resnet_narrow"
    pretrained: bool = True
    protocol: Protocol = field(default_factory=Protocol)
    seed: int = 0
    weight: float = 1.0
    hidden: int = 256

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown adaptation method {self.method!r}; choose one of {METHODS}")
        if self.labelled == self.shifted:
            raise ValueError("the labelled and the shifted domain must differ")

    def config(self) -> dict:
        config = {"kind": "domain_adaptation", **asdict(self), "protocol": self.protocol.key_dict()}
        if self.pretrained and self.arch in models.ZOO:
            config["source_key"] = models.ZOO[self.arch].key()
        return config

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "protocol"} | {"protocol_lr": self.protocol.lr,
                                                                           "protocol_steps": self.protocol.steps}

    def compute(self, progress: bool = False) -> dict:
        return _train(self)

    def diverged(self, error: FloatingPointError) -> dict:
        nan = float("nan")
        return {"diverged": str(error), "val_accuracy": nan, "target_accuracy": nan, "source_accuracy": nan}

    def placeholder(self) -> dict:
        return {what: made_up(self, what) for what in ("val_accuracy", "target_accuracy", "source_accuracy")}


def _train(spec: AdaptationRun) -> dict:
    train = data.load(spec.labelled, "train", spec.n_per_class, seed=spec.seed)
    val = data.load(spec.labelled, "val", seed=spec.seed)
    shifted_test = data.load(spec.shifted, "test", seed=spec.seed)
    labelled_test = data.load(spec.labelled, "test", seed=spec.seed)
    if list(train.classes) != list(shifted_test.classes):
        raise ValueError(f"{spec.labelled} and {spec.shifted} do not share their classes")
    model = models.create(spec.arch, pretrained=spec.pretrained, num_classes=train.num_classes, seed=spec.seed,
                          progress=False)
    regularizers = []
    if spec.method == "dann":
        shifted = data.load(spec.shifted, "train", spec.unlabelled_per_class, seed=spec.seed)
        # Real-tier images without a training split's random crops: DANN draws its batches from fixed images.
        unlabelled = data.evaluation_view(shifted)
        features = model.get_classifier().in_features
        regularizers = [(spec.weight, DANN(unlabelled, features, hidden=spec.hidden))]
    record = fit(model, train, val, None, protocol=spec.protocol, regularizers=regularizers, seed=spec.seed,
                 progress=False, config=spec.config())
    target_accuracy, _ = evaluate(model, shifted_test)
    source_accuracy, _ = evaluate(model, labelled_test)
    return {"val_accuracy": record.val_accuracy, "target_accuracy": target_accuracy,
            "source_accuracy": source_accuracy, "seconds": record.seconds}
