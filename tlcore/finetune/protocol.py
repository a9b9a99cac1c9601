"""A fine-tuning protocol is data: what is trained, at which learning rate, for how long, with what augmentation.

Being a frozen dataclass, a protocol hashes into the run store's key and a chapter can sweep a grid of them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from torch import nn

SCHEDULES = ("cosine", "constant", "step")
AUGMENTATIONS = ("none", "shift")
OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class Protocol:
    """How to train. ``steps`` counts optimizer updates; validation runs every ``eval_every`` steps and, with
    ``select="best_val"``, the weights of the best validation accuracy are restored before the single test pass.

    ``train_backbone=False`` is a linear probe: the backbone is frozen and kept in eval mode (BatchNorm statistics
    included), only the classifier learns.
    """

    lr: float = 0.01
    steps: int = 200
    batch_size: int = 64
    momentum: float = 0.9
    weight_decay: float = 0.0
    optimizer: str = "sgd"
    schedule: str = "cosine"
    augment: str = "shift"
    label_smoothing: float = 0.0
    eval_every: int = 25
    select: str = "best_val"
    train_backbone: bool = True
    head_lr_scale: float = 1.0

    def __post_init__(self) -> None:
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("augment", self.augment, AUGMENTATIONS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("select", self.select, ("best_val", "last"))
        if self.lr <= 0 or self.steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError(f"lr, steps, batch_size and eval_every must be positive: {self}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing}")

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> "Protocol":
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise TypeError(f"unknown protocol field(s) {sorted(unknown)}")
        return replace(self, **changes)


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {field} {value!r}; choose one of {choices}")


LINEAR_PROBE = Protocol(train_backbone=False, lr=0.05, augment="none")


def parameter_groups(model: nn.Module, protocol: Protocol) -> list[dict]:
    """Optimizer parameter groups: the classifier, and (unless probing) the backbone; frozen parts get no group."""
    head = set(map(id, model.get_classifier().parameters()))
    backbone = [p for p in model.parameters() if id(p) not in head]
    groups = [{"params": list(model.get_classifier().parameters()), "lr": protocol.lr * protocol.head_lr_scale,
               "name": "head"}]
    if protocol.train_backbone:
        groups.append({"params": backbone, "lr": protocol.lr, "name": "backbone"})
    else:
        for parameter in backbone:
            parameter.requires_grad_(False)
    return groups


def set_train_mode(model: nn.Module, protocol: Protocol) -> None:
    """Training mode for what learns; frozen backbones stay in eval mode so BatchNorm statistics stay the source's."""
    model.train()
    if not protocol.train_backbone:
        model.eval()
        model.get_classifier().train()
