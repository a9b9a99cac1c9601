"""A fine-tuning protocol is data: what is trained, at which learning rate, for how long, with what augmentation.

Being a frozen dataclass, a protocol hashes into the run store's key and a chapter can sweep a grid of them. Every
option added after the first release defaults to "off", so ``Protocol()`` trains exactly as it always did.
:class:`TrainingPlan` resolves a protocol against one model (its stages, what is frozen when, the optimizer groups);
the named recipes of the survey (LP-FT, freezing, BiT-HyperRule, ...) live in :mod:`tlcore.finetune.recipes`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from timm.models import group_parameters
from torch import nn

from .frozen import frozen_parameter_ids
from .stages import Stage, check_stage_count, model_stages

SCHEDULES = ("cosine", "constant", "step")
AUGMENTATIONS = ("none", "shift")
OPTIMIZERS = ("sgd", "adamw")

# Fields that did not exist in the first release, with the value that switches them off. ``key_dict`` leaves them
# out at that value so that run-store keys hashed from it stay what they were before the fields existed.
_OFF = {"lp_steps": 0, "freeze_stages": 0, "reinit_from_stage": None, "layer_decay": None, "stage_lr_scales": (),
        "warmup_steps": 0, "mixup_alpha": 0.0, "patience": 0}


class UnknownFieldError(ValueError, TypeError):
    """A protocol field that does not exist (a ``ValueError``; also a ``TypeError`` for older callers)."""


@dataclass(frozen=True)
class Protocol:
    """How to train. ``steps`` counts optimizer updates; validation runs every ``eval_every`` steps and, with
    ``select="best_val"``, the weights of the best validation accuracy are restored before the single test pass.

    What learns:

    * ``train_backbone=False`` is a linear probe: the backbone is frozen and kept in eval mode (BatchNorm statistics
      included), only the classifier learns.
    * ``lp_steps=n`` is LP-FT (Kumar et al. 2022): a linear probe for the first ``n`` steps, at a constant learning
      rate, then every parameter for the remaining ``steps - n`` steps, over which the schedule (and warmup) runs.
    * ``freeze_stages=k`` freezes the first ``k`` stages (the stem counts as part of stage 0, see
      :mod:`tlcore.finetune.stages`); frozen stages stay in eval mode and are bitwise unchanged.
    * ``reinit_from_stage=k`` keeps (transfers) stages ``0..k-1`` and re-initialises stages ``k..`` with the model's
      own initialisation, seeded by the run's seed (Yosinski et al. 2014's "transfer the first k layers").

    How fast: the backbone learns at ``lr``, the classifier at ``lr * head_lr_scale``. ``stage_lr_scales`` (one
    factor per stage) and ``layer_decay`` (timm/BEiT layer-wise decay: a parameter in layer ``i`` of ``L`` layers of
    ``model.group_matcher(coarse=False)`` learns at ``lr * layer_decay ** (L - 1 - i)``; the classifier's layer is
    the last) multiply it.

    When: ``schedule`` is cosine, step (x0.1 at 30, 60 and 90% of the steps) or constant; ``warmup_steps`` ramps the
    learning rate linearly from 0. ``patience=n`` stops after ``n`` validation evaluations without a better
    validation accuracy (early stopping on the validation split only).

    Regularisation by data: ``augment="shift"`` (random translations) and ``mixup_alpha`` (MixUp, Zhang et al. 2018,
    with lambda ~ Beta(alpha, alpha); 0 is off).
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
    lp_steps: int = 0
    freeze_stages: int = 0
    reinit_from_stage: int | None = None
    layer_decay: float | None = None
    stage_lr_scales: tuple[float, ...] = ()
    warmup_steps: int = 0
    mixup_alpha: float = 0.0
    patience: int = 0

    def __post_init__(self) -> None:
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("augment", self.augment, AUGMENTATIONS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("select", self.select, ("best_val", "last"))
        if self.lr <= 0 or self.steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError(f"lr, steps, batch_size and eval_every must be positive: {self}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing}")
        object.__setattr__(self, "stage_lr_scales", tuple(float(s) for s in self.stage_lr_scales))
        if not 0 <= self.lp_steps < self.steps:
            raise ValueError(f"lp_steps must lie in [0, steps={self.steps}), got {self.lp_steps}")
        if self.lp_steps and not self.train_backbone:
            raise ValueError("lp_steps (LP-FT) needs train_backbone=True: a linear probe has no fine-tuning phase")
        if self.freeze_stages < 0:
            raise ValueError(f"freeze_stages must be >= 0, got {self.freeze_stages}")
        if self.reinit_from_stage is not None:
            if self.reinit_from_stage < 0:
                raise ValueError(f"reinit_from_stage must be >= 0 or None, got {self.reinit_from_stage}")
            if self.freeze_stages > self.reinit_from_stage:
                raise ValueError(f"freeze_stages={self.freeze_stages} would freeze re-initialised stages "
                                 f"(reinit_from_stage={self.reinit_from_stage})")
        if self.layer_decay is not None and self.layer_decay <= 0:
            raise ValueError(f"layer_decay must be positive, got {self.layer_decay}")
        if any(s <= 0 for s in self.stage_lr_scales):
            raise ValueError(f"stage_lr_scales must be positive (freeze with freeze_stages), got "
                             f"{self.stage_lr_scales}")
        if not 0 <= self.warmup_steps < self.steps - self.lp_steps:
            raise ValueError(f"warmup_steps must lie in [0, steps - lp_steps = {self.steps - self.lp_steps}), got "
                             f"{self.warmup_steps}")
        if self.mixup_alpha < 0:
            raise ValueError(f"mixup_alpha must be >= 0 (0 is off), got {self.mixup_alpha}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0 (0 is off), got {self.patience}")

    @property
    def uses_stages(self) -> bool:
        """Whether this protocol needs the model's stages (and so a timm-style ``group_matcher``)."""
        return bool(self.freeze_stages or self.reinit_from_stage is not None or self.stage_lr_scales
                    or self.layer_decay is not None)

    def to_dict(self) -> dict:
        return asdict(self)

    def key_dict(self) -> dict:
        """``to_dict()`` without the fields added after the first release while they are off: hashing this keeps
        the keys of runs (and zoo entries) that predate those fields."""
        return {k: v for k, v in asdict(self).items() if not (k in _OFF and _same(v, _OFF[k]))}

    @classmethod
    def from_dict(cls, data: dict) -> "Protocol":
        _check_fields(data)
        return cls(**{k: tuple(v) if k == "stage_lr_scales" else v for k, v in data.items()})

    def with_(self, **changes) -> "Protocol":
        _check_fields(changes)
        return replace(self, **changes)


def _same(value, off) -> bool:
    if isinstance(off, tuple):
        return tuple(value) == off
    return value is None if off is None else value == off


def _check_fields(names) -> None:
    unknown = set(names) - {f.name for f in fields(Protocol)}
    if unknown:
        raise UnknownFieldError(f"unknown protocol field(s) {sorted(unknown)}; Protocol has "
                                f"{[f.name for f in fields(Protocol)]}")


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {field} {value!r}; choose one of {choices}")


LINEAR_PROBE = Protocol(train_backbone=False, lr=0.05, augment="none")


class TrainingPlan:
    """``protocol`` resolved against ``model``: which parameters learn at which rate, and which parts are frozen
    (``requires_grad=False``, eval mode) at each step.

    Parameters inside :class:`~tlcore.finetune.frozen.Frozen` modules and parameters whose ``requires_grad`` was
    already off are never trained. Model-dependent options are checked here (``ValueError`` naming the option).
    """

    def __init__(self, model: nn.Module, protocol: Protocol):
        self.model, self.protocol = model, protocol
        self.head = model.get_classifier()
        head_ids = {id(p) for p in self.head.parameters()}
        never = frozen_parameter_ids(model)
        self.head_params = [p for p in self.head.parameters() if id(p) not in never and p.requires_grad]
        self.backbone = [(n, p) for n, p in model.named_parameters()
                         if id(p) not in head_ids and id(p) not in never and p.requires_grad]
        self.stages: list[Stage] | None = model_stages(model) if protocol.uses_stages else None
        frozen_ids: set[int] = set()
        self.frozen_modules: list[nn.Module] = []
        if self.stages is not None:
            check_stage_count("freeze_stages", protocol.freeze_stages, self.stages)
            if protocol.reinit_from_stage is not None:
                check_stage_count("reinit_from_stage", protocol.reinit_from_stage, self.stages)
            if protocol.stage_lr_scales and len(protocol.stage_lr_scales) != len(self.stages):
                raise ValueError(f"stage_lr_scales has {len(protocol.stage_lr_scales)} factors but the model has "
                                 f"{len(self.stages)} stages")
            for stage in self.stages[: protocol.freeze_stages]:
                frozen_ids.update(id(p) for p in stage.params())
                self.frozen_modules.extend(m for _, m in stage.modules)
        if not protocol.train_backbone:
            frozen_ids.update(id(p) for _, p in self.backbone)
        self.frozen = [p for _, p in self.backbone if id(p) in frozen_ids]
        self.trainable = [(n, p) for n, p in self.backbone if id(p) not in frozen_ids]
        self._probing: bool | None = None

    def parameter_groups(self) -> list[dict]:
        """Optimizer groups: the classifier first, then the trainable backbone (one group, or one per distinct
        learning-rate factor when per-stage factors or layer decay are asked for). Frozen parameters get no group
        and ``requires_grad=False``."""
        protocol = self.protocol
        for parameter in self.frozen:
            parameter.requires_grad_(False)
        groups = [{"params": self.head_params, "lr": protocol.lr * protocol.head_lr_scale, "name": "head"}]
        if not self.trainable:
            return groups
        if not (protocol.stage_lr_scales or protocol.layer_decay is not None):
            return groups + [{"params": [p for _, p in self.trainable], "lr": protocol.lr, "name": "backbone"}]
        stage_of = {name: stage.index for stage in self.stages for name in stage.parameter_names}
        layer_of, layers = {}, 0
        if protocol.layer_decay is not None:
            layer_of = group_parameters(self.model, self.model.group_matcher(coarse=False), reverse=True)
            layers = max(layer_of.values()) + 1
        by_key: dict[tuple, dict] = {}
        for name, parameter in self.trainable:
            stage = stage_of.get(name, len(self.stages) - 1)
            scale = protocol.stage_lr_scales[stage] if protocol.stage_lr_scales else 1.0
            key: tuple = (stage,)
            if protocol.layer_decay is not None:
                layer = layer_of[name]
                scale *= protocol.layer_decay ** (layers - 1 - layer)
                key = (stage, layer)
            if key not in by_key:
                label = f"stage{stage}" + (f".layer{key[1]}" if len(key) > 1 else "")
                by_key[key] = {"params": [], "lr": protocol.lr * scale, "lr_scale": scale, "name": label}
            by_key[key]["params"].append(parameter)
        return groups + list(by_key.values())

    def set_mode(self, step: int | None = None) -> None:
        """Train mode for what learns at ``step`` (1-based; ``None`` means after any LP phase); frozen parts stay in
        eval mode so BatchNorm statistics stay the source's. At the end of an LP-FT probe phase the backbone's
        ``requires_grad`` is switched back on."""
        probing = not self.protocol.train_backbone or (step is not None and step <= self.protocol.lp_steps)
        if self.protocol.lp_steps and probing != self._probing:
            for _, parameter in self.trainable:
                parameter.requires_grad_(not probing)
        self._probing = probing
        self.model.train()
        if probing:
            self.model.eval()
            self.head.train()
        else:
            for module in self.frozen_modules:
                module.eval()


def parameter_groups(model: nn.Module, protocol: Protocol) -> list[dict]:
    """Optimizer parameter groups of ``model`` under ``protocol`` (see :meth:`TrainingPlan.parameter_groups`)."""
    return TrainingPlan(model, protocol).parameter_groups()


def set_train_mode(model: nn.Module, protocol: Protocol, step: int | None = None) -> None:
    """Training mode for what learns; frozen parts stay in eval mode (see :meth:`TrainingPlan.set_mode`)."""
    TrainingPlan(model, protocol).set_mode(step)
