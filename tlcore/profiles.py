"""Chapter parameters per tier: ``embedded`` (offline, CPU, the default and what CI runs), ``real`` (timm ImageNet
backbones and torchvision datasets, for a GPU with internet) and ``smoke`` (seconds; for tests)."""
from __future__ import annotations

from dataclasses import dataclass, replace

from .data import TARGETS


@dataclass(frozen=True)
class Profile:
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
    candidates: tuple[str, ...] = ()
    ranking_size: int = 20
    ranking_lr: float = 0.05
    ranking_steps: int = 150
    regularizer_targets: tuple[str, ...] = ("glyphs_near", "textures_far")
    regularizer_sizes: tuple[int, ...] = (5, 20)
    regularizers: tuple[str, ...] = ("none", "l2", "l2sp", "delta", "bss", "stochnorm")
    # Chapter 6, hyper-parameters: a short LR x momentum grid on every target at hp_sizes[0], and at every hp size on
    # hp_large_targets; MixUp on one target; the BiT rule (at bit_scale) against an LR x schedule grid on one target.
    hp_lrs: tuple[float, ...] = (0.03, 0.3)
    hp_momenta: tuple[float, ...] = (0.0, 0.9)
    hp_steps: int = 100
    hp_sizes: tuple[int, ...] = (5, 100)
    hp_large_targets: tuple[str, ...] = ("glyphs_near", "textures_far")
    quick_lr: float = 0.01
    quick_steps: int = 50
    mixup_target: str = "glyphs_mid"
    mixup_alpha: float = 0.1
    bit_target: str = "textures_far"
    bit_size: int = 20
    bit_scale: float = 0.025
    bit_lrs: tuple[float, ...] = (0.003, 0.03, 0.3)

    def with_(self, **changes) -> "Profile":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


PROFILES = {
    "embedded": Profile("embedded", "glyph_resnet_narrow", TARGETS, (5, 20, 100), (0, 1, 2), steps=300,
                        batch_size=64, eval_every=25, tuning_size=20,
                        lr_grid={"pretrained": (0.01, 0.03, 0.1, 0.3), "scratch": (0.1, 0.3, 0.6)},
                        candidates=("glyph_resnet_narrow", "glyph_resnet_narrow_short", "glyph_resnet_narrow_ls",
                                    "glyph_resnet_wide", "glyph_resnet_deep")),
    "real": Profile("real", "resnet50", ("pets", "flowers102", "dtd", "fgvc_aircraft"), (5, 20, 50), (0, 1, 2),
                    steps=2000, batch_size=64, eval_every=200, tuning_size=20,
                    lr_grid={"pretrained": (0.003, 0.01, 0.03), "scratch": (0.03, 0.1, 0.3)},
                    candidates=("resnet18", "resnet50", "densenet121", "mobilenetv3_large_100", "efficientnet_b0",
                                "convnext_tiny", "vit_small_patch16_224"), ranking_lr=0.01, ranking_steps=1000,
                    regularizer_targets=("flowers102", "dtd"), regularizer_sizes=(5, 20),
                    hp_lrs=(0.003, 0.03), hp_steps=1000, hp_sizes=(5, 50), hp_large_targets=("pets", "dtd"),
                    quick_lr=0.001, quick_steps=200, mixup_target="flowers102", bit_target="dtd", bit_scale=1.0,
                    bit_lrs=(0.003, 0.01, 0.03)),
    "smoke": Profile("smoke", "glyph_micro", ("glyphs_near", "textures_far"), (4, 8), (0, 1), steps=12,
                     batch_size=32, eval_every=4, tuning_size=4,
                     lr_grid={"pretrained": (0.03,), "scratch": (0.1,)},
                     candidates=("glyph_micro", "glyph_micro_ls"), ranking_size=6, ranking_steps=8,
                     regularizer_sizes=(4, 8), hp_steps=8, hp_sizes=(4, 8), hp_large_targets=("glyphs_near",),
                     quick_steps=4, mixup_target="glyphs_near", bit_size=2, bit_scale=0.0025, bit_lrs=(0.003, 0.3)),
}


def get_profile(name: str, **overrides) -> Profile:
    """Profile ``name`` with any non-None ``overrides`` applied (chapters pass their parameters cell here)."""
    if name not in PROFILES:
        raise KeyError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name].with_(**overrides)
