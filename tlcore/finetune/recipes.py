"""The survey's fine-tuning recipes as named protocols, so a chapter reads like the paper it reproduces.

Each function returns a plain :class:`~tlcore.finetune.protocol.Protocol`: ``base`` (default ``Protocol()``) with
the keyword ``changes`` applied, then the recipe's own fields, e.g. ``frozen_stages(2, base=my_protocol, lr=0.05)``.
"""
from __future__ import annotations

from dataclasses import dataclass

from .protocol import LINEAR_PROBE, Protocol


def _recipe(base: Protocol | None, changes: dict, **fields) -> Protocol:
    return (base if base is not None else Protocol()).with_(**changes).with_(**fields)


def full_finetuning(base: Protocol | None = None, **changes) -> Protocol:
    """Every parameter learns (the default protocol)."""
    return _recipe(base, changes, train_backbone=True, lp_steps=0, freeze_stages=0)


def linear_probe(base: Protocol | None = None, **changes) -> Protocol:
    """Only the new classifier learns; the backbone is frozen, in eval mode (``LINEAR_PROBE``'s rate and no
    augmentation unless ``base``/``changes`` say otherwise)."""
    return _recipe(base if base is not None else LINEAR_PROBE, changes, train_backbone=False, lp_steps=0)


def linear_probe_then_finetune(lp_fraction: float = 0.5, base: Protocol | None = None, **changes) -> Protocol:
    """LP-FT (Kumar et al. 2022): a linear probe for the first ``lp_fraction`` of the steps, then full fine-tuning.

    Kumar et al. fit the probe to convergence (logistic regression) before fine-tuning with a small learning rate;
    here the probe phase is ``round(lp_fraction * steps)`` SGD steps of the same loop at a constant rate, after which
    the schedule runs over the fine-tuning phase.
    """
    if not 0.0 < lp_fraction < 1.0:
        raise ValueError(f"lp_fraction must lie in (0, 1), got {lp_fraction}")
    steps = _recipe(base, changes).steps
    return _recipe(base, changes, train_backbone=True, lp_steps=max(1, round(lp_fraction * steps)))


def frozen_stages(k: int, base: Protocol | None = None, **changes) -> Protocol:
    """Freeze the first ``k`` stages (stem included in stage 0), fine-tune the rest."""
    return _recipe(base, changes, freeze_stages=k)


def transfer_first_stages(k: int, *, freeze: bool = False, base: Protocol | None = None, **changes) -> Protocol:
    """Keep the first ``k`` source stages, re-initialise the others; ``freeze=True`` also freezes the kept ones
    (Yosinski et al. 2014's "AnB"; ``freeze=False`` is their "AnB+")."""
    return _recipe(base, changes, reinit_from_stage=k, freeze_stages=k if freeze else 0)


@dataclass(frozen=True)
class BitSize:
    """One row of the BiT-HyperRule (Kolesnikov et al. 2020, and the steps of their public bit_hyperrule.py)."""

    below: float  # applies to targets with fewer labelled examples than this
    steps: int  # schedule length at batch size 512
    warmup: int  # linear warmup steps (public code)
    mixup_alpha: float


BIT_SIZES = (BitSize(20_000, 500, 100, 0.0), BitSize(500_000, 10_000, 500, 0.1),
             BitSize(float("inf"), 20_000, 500, 0.1))
BIT_BATCH = 512
BIT_LR = 0.003


def bit_hyperrule(n_examples: int, *, scale: float = 0.05, batch_size: int = 64, lr: float = BIT_LR,
                  **changes) -> Protocol:
    """The BiT-HyperRule protocol for a target with ``n_examples`` labelled training images, scaled to this world.

    BiT fixes everything but the schedule: SGD with momentum 0.9, learning rate 0.003, no weight decay, a linear
    warmup, decays by 10x at 30%, 60% and 90% of training, MixUp (alpha 0.1) for targets of 20k examples or more, and
    the length by target size: < 20k examples 500 steps, < 500k 10k steps, else 20k steps (batch 512). There is no
    model selection, so the last weights are kept (``select="last"``).

    Our targets are thousands, not millions, of 32x32 images, so the size thresholds are multiplied by ``scale``
    (default 0.05: 1 000 and 25 000 examples) and the step counts by ``scale * 512 / batch_size``, which keeps the
    number of epochs a target at a threshold sees equal to BiT's (at the defaults the small-target rule gives 200
    steps of 64 images: the default ``Protocol`` length). Warmup keeps the public code's fraction of the schedule
    (100 of 500, 500 of 10k, 500 of 20k steps). Resolution rules do not apply to fixed 32x32 images.
    """
    if n_examples < 1 or scale <= 0 or batch_size < 1:
        raise ValueError(f"need n_examples >= 1, scale > 0 and batch_size >= 1; got {n_examples}, {scale}, "
                         f"{batch_size}")
    size = next(row for row in BIT_SIZES if n_examples < row.below * scale)
    steps = max(1, round(size.steps * scale * BIT_BATCH / batch_size))
    warmup = round(steps * size.warmup / size.steps)
    protocol = Protocol(lr=lr, steps=steps, batch_size=batch_size, momentum=0.9, weight_decay=0.0, optimizer="sgd",
                        schedule="step", warmup_steps=min(warmup, steps - 1), mixup_alpha=size.mixup_alpha,
                        select="last", eval_every=max(1, steps // 4))
    return protocol.with_(**changes)
