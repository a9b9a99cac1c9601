"""Chapter parameters per tier: ``embedded`` (offline, CPU, the default and what CI runs), ``real`` (timm ImageNet
backbones and torchvision datasets, for a GPU with internet), ``smoke`` (seconds; for tests) and ``real_smoke`` (the
real tier's code path on generated stand-ins and weightless timm models, offline, in minutes; for tests).

A :class:`Profile` holds what every chapter shares (the backbone, targets, sizes, seeds, the base schedule and the
learning-rate grid) and one parameter group per chapter that needs its own (``profile.reinit.stages``,
``profile.regularization.setups``, ...). :meth:`Profile.with_` changes top-level fields by name and a group's fields
by a dict (``profile.with_(seeds=(0,), reinit={"stages": (2, 4)})``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace

import pandas as pd

from ..data import TARGETS
from ..models.timm_source_data import ARMS as SOURCE_ARMS
from ..models.timm_source_data import SMOKE_ARMS as SMOKE_SOURCE_ARMS
from ..models.timm_sources import BASELINES, ROLES, SMOKE_ROLES
from .groups import (Advice, HyperParameters, Neighbours, Ranking, Regularization, Reinit, SourceData,  # noqa: F401
                     SourceModels, Transfer, Transferred)


@dataclass(frozen=True)
class Profile:
    """One tier's parameters: what every chapter shares, then one group per chapter."""

    name: str
    arch: str
    targets: tuple[str, ...]
    sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    steps: int
    batch_size: int
    eval_every: int
    lr_grid: dict
    tuning_size: int
    transfer: Transfer = field(default_factory=Transfer)
    ranking: Ranking = field(default_factory=Ranking)
    reinit: Reinit = field(default_factory=Reinit)
    source_choice: SourceModels = field(default_factory=SourceModels)
    regularization: Regularization = field(default_factory=Regularization)
    hp: HyperParameters = field(default_factory=HyperParameters)
    source_data: SourceData = field(default_factory=SourceData)
    transferred: Transferred = field(default_factory=Transferred)
    neighbours: Neighbours = field(default_factory=Neighbours)
    advice: Advice = field(default_factory=Advice)
    # Fine-tuning seeds of the chapters whose effects are a point or less (regularisers, hyper-parameters; see
    # :func:`tlcore.chapter.start_chapter`'s ``small_effects``); None: ``seeds``.
    small_effect_seeds: tuple[int, ...] | None = None
    # Only ``real_smoke``: timm backbones asked for pretrained are built without weights (``tlcore.models``'s
    # ``$TLCORE_WEIGHTLESS``), so the real tier's code path runs offline; no other profile may.
    weightless: bool = False

    def __post_init__(self) -> None:
        if self.weightless and self.name != "real_smoke":
            raise ValueError(f"profile {self.name!r}: only real_smoke may build its backbones without weights")
        for target, _ in self.transfer.extra_sizes:
            if target not in self.targets:
                raise ValueError(f"profile {self.name!r}: chapter 1's transfer group gives extra sizes for "
                                 f"{target!r}, which is not one of its targets {self.targets}")

    def with_(self, **changes) -> Profile:
        """A copy with top-level fields changed (None keeps a value) and groups changed field by field (a dict)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown profile fields {unknown}; groups take a dict of their fields, e.g. "
                            f"reinit={{'stages': (2, 4)}}")
        updates = {}
        for name, value in changes.items():
            if value is None:
                continue
            current = getattr(self, name)
            updates[name] = replace(current, **value) if is_dataclass(current) and isinstance(value, dict) else value
        return replace(self, **updates)

    def parameters(self, *groups: str) -> pd.DataFrame:
        """The shared parameters and those of ``groups``, as a tidy frame (parameter, value) for a chapter's setup."""
        shared = [(f.name, getattr(self, f.name)) for f in fields(self) if not is_dataclass(getattr(self, f.name))]
        own = [(f"{group}.{f.name}", getattr(getattr(self, group), f.name))
               for group in groups for f in fields(getattr(self, group))]
        return pd.DataFrame([(name, _shown(value)) for name, value in shared + own], columns=["parameter", "value"])


def _shown(value) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    if isinstance(value, tuple):
        return ", ".join(_shown(v) for v in value)
    return str(value)


PROFILES = {
    # Step counts were set to fit the whole book into CI (30 minutes on 2 cores); since the results store (issue 13)
    # the book reads committed outcomes, and the budget grows chapter by chapter: five fine-tuning seeds everywhere
    # (three until 2026-12-02, raised after seeing the three-seed verdicts: with three, almost every primary test was
    # inconclusive). Schedules are unchanged so far.
    "embedded": Profile(
        "embedded", "glyph_resnet_narrow", TARGETS, (5, 20, 100), (0, 1, 2, 3, 4), steps=150, batch_size=64,
        eval_every=25,
        tuning_size=20, lr_grid={"pretrained": (0.01, 0.03, 0.1, 0.3), "scratch": (0.1, 0.3, 0.6)},
        # Chapter 1: about 30 epochs at every size (never fewer than 150 steps), the far target also at 500 per class,
        # where negative transfer (T7) and convergence speed (T8) are asked about; the digits have 134 training
        # images per class, so 100 stays their largest. Until 2026-12-03 150 steps at every size and 100 per class at
        # most (raised after seeing results). Learning rates are still tuned at 150 steps, 20 per class.
        transfer=Transfer(epochs=30, extra_sizes=(("textures_far", (500,)),)),
        # Eight candidates that differ in depth, width, pretraining length, source size and objective (chapter 4
        # ranked four until the wide twin, 4x the narrow model's compute, fitted CI's time).
        ranking=Ranking(candidates=("glyph_resnet_narrow", "glyph_resnet_narrow_short", "glyph_resnet_narrow_ls",
                                    "glyph_resnet_deep", "glyph_resnet_wide", "glyph_resnet_narrow_mid",
                                    "glyph_resnet_narrow_fewer", "glyph_resnet_narrow_dropout"), steps=75,
                        # Since 2026-12-03 (after seeing the one-pretraining verdicts of chapters 3, 4 and 7).
                        per_seed_pretraining=True),
        source_choice=SourceModels(
            roles={"reference": "glyph_resnet_narrow", "deeper": "glyph_resnet_deep",
                   "fewer_steps": "glyph_resnet_narrow_short", "half_steps": "glyph_resnet_narrow_mid",
                   "fewer_images": "glyph_resnet_narrow_fewer", "label_smoothing": "glyph_resnet_narrow_ls",
                   "penultimate_dropout": "glyph_resnet_narrow_dropout"},
            finetuned=("glyph_resnet_narrow_fewer",)),
        # The trade-off sweep goes up as well as down (x10 added on 2026-12-03, after seeing results: until then a
        # weight could only be chosen weaker than the published default).
        # Chapter 5's runs: 300 steps (75 until 2026-12-03, raised after seeing results). R8 at 500 per class with
        # about 30 epochs (4,688 steps), on the textured letters (a large-size target only) and the far target; until
        # 2026-12-04 at 100 per class on the near target at 300 steps, changed after seeing results: plain
        # fine-tuning reached 99.1% there, so "target below its ceiling" failed and R8 was not tested.
        regularization=Regularization(steps=300, weight_scales=(0.1, 1.0, 10.0), large_size=500, large_epochs=30,
                                      large_targets=("glyphs_near_textured", "textures_far")),
        neighbours=Neighbours(steps=75),
        # H3 compares 300 with 1,500 steps (until 2026-12-03 the grid's 75 with chapter 1's 150, raised after seeing
        # results). The learning-rate x momentum grid: 3 x 3 at 600 steps on six targets (until 2026-12-03 2 x 2 at
        # 75 steps on four; raised after seeing results). Its rates surround the 75-step grid's optima (effective
        # rates 0.3 to 3) and chapter 1's tuned ones, eight distinct effective rates; the two added targets' image
        # similarity to the source (digits in fonts 0.77, textured letters 0.32) falls between the four's (0.92,
        # 0.78, 0.15, 0.08), so that H1's and M3's rank correlations have six points. The grid, and H1's similarity
        # and M3's probe gap beside it, at 25 seeds since 2026-12-04 (ten until then; raised after seeing the
        # ten-seed verdicts: T9 and M3 inconclusive with their effects in the claimed direction, the power analysis
        # asking for about 25 and 26; H1's about 44 is not met).
        hp=HyperParameters(steps=600, lrs=(0.03, 0.1, 0.3), momenta=(0.0, 0.5, 0.9),
                           extra_targets=("digits_fonts", "glyphs_near_textured"), schedule_steps=(300, 1500),
                           mixup_sizes=(5, 20, 100, 500), mixup_epochs=30, grid_seeds=tuple(range(25))),
        # Re-initialised layers learn from nothing: 300 steps (75 until 2026-12-03, raised after seeing results).
        reinit=Reinit(steps=300),
        # Ten seeds where the effects are a point or less (chapters 5 and 6), raised from five on 2026-12-03 after
        # seeing the five-seed verdicts, most of them inconclusive.
        small_effect_seeds=tuple(range(10))),
    # Every size below exists in its dataset's training part (tests/data/test_real_tier.py: profile_violations against
    # tlcore.data.real.per_class_available). Flowers-102 (10 training images per class) is not a main target: it
    # could not take the sizes the claims compare; CIFAR-100 is the large target (up to 490 per class).
    "real": Profile(
        "real", "resnet50", ("pets", "dtd", "fgvc_aircraft", "cifar100"), (5, 15, 30), (0, 1, 2), steps=2000,
        batch_size=64, eval_every=200, tuning_size=15,
        lr_grid={"pretrained": (0.003, 0.01, 0.03), "scratch": (0.03, 0.1, 0.3)},
        ranking=Ranking(candidates=("resnet18", "resnet50", "densenet121", "mobilenetv3_large_100", "efficientnet_b0",
                                    "convnext_tiny", "vit_small_patch16_224"), size=15, lr=0.01, steps=1000),
        # Chapter 3: published ResNet-50-family weights that differ from a reference in one thing (and, as
        # tlcore.models.timm_sources says, often in more), each fine-tuned and probed.
        source_choice=SourceModels(roles=ROLES, finetuned=tuple(ROLES.values()), baselines=BASELINES),
        # Chapter 7: ViT-S/16 weights pretrained on ImageNet-1k, -21k, 21k then 1k, and 1k without labels (DINO).
        source_data=SourceData(targets=("pets", "dtd"), arms=SOURCE_ARMS),
        # R8 on CIFAR-100 at 400 per class with about 30 epochs (18,750 steps at batch 64), as the embedded tier.
        regularization=Regularization(targets=("cifar100", "dtd"), sizes=(5, 15), large_targets=("cifar100",),
                                      large_size=400, large_epochs=30),
        advice=Advice(cells=(("pets", 5), ("pets", 80), ("dtd", 5), ("dtd", 30))),
        transferred=Transferred(targets=("pets", "dtd"), size=15, difficulty_reference_size=15),
        reinit=Reinit(targets=("pets", "dtd"), size=15, lrs=(0.003, 0.01, 0.03), steps=1000),
        hp=HyperParameters(lrs=(0.003, 0.03), steps=1000, sizes=(5, 30), large_targets=("pets", "cifar100"),
                           quick_lr=0.001, quick_steps=200, mixup_target="cifar100", bit_target="dtd", bit_size=20,
                           bit_scale=1.0, bit_lrs=(0.003, 0.01, 0.03)),
        neighbours=Neighbours(steps=1000, adaptation_pair=("mnist", "usps"), adaptation_size=20,
                              adaptation_unlabelled=50, continual_target="dtd", continual_size=20,
                              few_shot_targets=("pets", "dtd"), few_shot_k=(1, 5, 15))),
    # The real tier's code path at toy scale, offline: generated RGB image folders (tlcore.data.standins) with the
    # split structures of Pets and Flowers-102, tiny timm architectures built without weights, 64 px. For tests.
    "real_smoke": Profile(
        "real_smoke", "test_resnet", ("standin_pets", "standin_flowers"), (4, 8), (0, 1), steps=6, batch_size=16,
        eval_every=3, tuning_size=4, lr_grid={"pretrained": (0.03,), "scratch": (0.1,)}, weightless=True,
        ranking=Ranking(candidates=("test_resnet", "test_efficientnet", "test_convnext"), size=6, steps=4),
        source_choice=SourceModels(roles=SMOKE_ROLES, finetuned=tuple(SMOKE_ROLES.values()), baselines=BASELINES),
        source_data=SourceData(targets=("standin_pets", "standin_flowers"), arms=SMOKE_SOURCE_ARMS),
        regularization=Regularization(targets=("standin_pets", "standin_flowers"), sizes=(4,),
                                      large_targets=("standin_pets",), large_size=12, steps=4),
        advice=Advice(cells=(("standin_pets", 4), ("standin_flowers", 8))),
        transferred=Transferred(targets=("standin_pets", "standin_flowers"), size=4, interpolation_points=3,
                                difficulty_reference_size=4),
        reinit=Reinit(targets=("standin_pets", "standin_flowers"), size=4, stages=(2, 4), lrs=(0.03, 0.1), steps=4),
        hp=HyperParameters(lrs=(0.03, 0.3), steps=4, sizes=(4, 8), large_targets=("standin_pets",), quick_steps=3,
                           mixup_target="standin_pets", bit_target="standin_flowers", bit_size=2, bit_scale=0.0025,
                           bit_lrs=(0.003, 0.3)),
        neighbours=Neighbours(steps=6, adaptation_pair=("standin_digits", "standin_digits_shifted"),
                              adaptation_size=4, adaptation_unlabelled=4, continual_target="standin_flowers",
                              continual_size=4, few_shot_targets=("standin_pets", "standin_flowers"),
                              few_shot_k=(1, 4))),
    "smoke": Profile(
        "smoke", "glyph_micro", ("glyphs_near", "textures_far"), (4, 8), (0, 1), steps=12, batch_size=32, eval_every=4,
        tuning_size=4, lr_grid={"pretrained": (0.03,), "scratch": (0.1,)},
        ranking=Ranking(candidates=("glyph_micro", "glyph_micro_ls"), size=6, steps=8, per_seed_pretraining=True),
        regularization=Regularization(sizes=(4, 8), large_size=12),
        advice=Advice(cells=(("glyphs_near", 4), ("textures_far", 8))),
        transferred=Transferred(size=4, interpolation_points=3, difficulty_reference_size=10),
        source_data=SourceData(
            targets=("textures_far", "digits_real"),
            models=("glyph_micro", "digits_fonts_micro", "textures_source_micro"),
            matched=(("digits_real", "digits_fonts_micro"), ("textures_far", "textures_source_micro")),
            few_letters_model="glyph_micro_few_letters", many_letters_model="glyph_micro",
            two_step_models=(("digits_real", "glyph_micro_then_digits_fonts"),
                             ("textures_far", "glyph_micro_then_textures_source")),
            datl_base="glyph_micro", datl_targets=("digits_real",),
            selfsup_models=(("textures_far", "textures_source_micro_simclr"),)),
        reinit=Reinit(size=4, stages=(2, 4), lrs=(0.03, 0.1), steps=8),
        source_choice=SourceModels(
            roles={"reference": "glyph_micro", "deeper": "glyph_micro_deep", "fewer_steps": "glyph_micro_short",
                   "fewer_images": "glyph_micro_fewer", "label_smoothing": "glyph_micro_ls",
                   "penultimate_dropout": "glyph_micro_dropout"},
            finetuned=("glyph_micro_deep", "glyph_micro_short", "glyph_micro_fewer")),
        hp=HyperParameters(steps=8, sizes=(4, 8), large_targets=("glyphs_near",), quick_steps=4,
                           mixup_target="glyphs_near", bit_size=2, bit_scale=0.0025, bit_lrs=(0.003, 0.3)),
        neighbours=Neighbours(steps=12, adaptation_size=4, adaptation_unlabelled=4, continual_size=4,
                              few_shot_k=(1, 4))),
}


def get_profile(name: str, **overrides) -> Profile:
    """Profile ``name`` with any non-None ``overrides`` applied (chapters pass their parameters cell here)."""
    if name not in PROFILES:
        raise KeyError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name].with_(**overrides)
