"""Learning-rate schedules as factors of the base rate, one per optimizer step (LambdaLR's step counter, from 0)."""
from __future__ import annotations

import math
from typing import Callable

from .protocol import Protocol

# Staircase decay points (fractions of the schedule) and factor: Kolesnikov et al. 2020 (BiT-HyperRule).
STEP_DECAYS = (0.3, 0.6, 0.9)
STEP_FACTOR = 0.1


def lr_factor(protocol: Protocol) -> Callable[[int], float]:
    """The factor multiplying every group's learning rate after ``step`` optimizer steps.

    During an LP-FT probe phase (``lp_steps``) the factor is 1; the schedule (with its warmup) then runs over the
    remaining ``steps - lp_steps`` steps. Warmup scales the schedule by ``t / warmup_steps`` for ``t <
    warmup_steps``, i.e. linearly from 0 as in BiT's code (its first step has learning rate 0).
    """
    probe, warmup = protocol.lp_steps, protocol.warmup_steps
    total = protocol.steps - probe
    base = _base_schedule(protocol.schedule, total)
    if not probe and not warmup:
        return base

    def factor(step: int) -> float:
        if step < probe:
            return 1.0
        t = step - probe
        return base(t) * (t / warmup if t < warmup else 1.0)

    return factor


def _base_schedule(name: str, total: int) -> Callable[[int], float]:
    if name == "cosine":
        return lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    if name == "step":
        return lambda step: STEP_FACTOR ** sum(step >= m * total for m in STEP_DECAYS)
    return lambda step: 1.0
