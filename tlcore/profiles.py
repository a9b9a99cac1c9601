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
    # Chapter 9 (neighbouring problems): domain adaptation, forgetting, few-shot, progressive networks.
    neighbour_steps: int = 150
    adaptation_pair: tuple[str, str] = ("glyphs_near", "glyphs_near_textured")
    adaptation_size: int = 20
    adaptation_unlabelled: int = 50
    continual_target: str = "glyphs_near"
    continual_size: int = 20
    continual_methods: tuple[str, ...] = ("finetune", "lwf", "l2sp", "progressive", "frozen")
    few_shot_targets: tuple[str, ...] = ("glyphs_near", "textures_far")
    few_shot_k: tuple[int, ...] = (1, 5, 10)

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
                    regularizer_targets=("flowers102", "dtd"), regularizer_sizes=(5, 20)),
    "smoke": Profile("smoke", "glyph_micro", ("glyphs_near", "textures_far"), (4, 8), (0, 1), steps=12,
                     batch_size=32, eval_every=4, tuning_size=4,
                     lr_grid={"pretrained": (0.03,), "scratch": (0.1,)},
                     candidates=("glyph_micro", "glyph_micro_ls"), ranking_size=6, ranking_steps=8,
                     regularizer_sizes=(4, 8), neighbour_steps=12, adaptation_size=4, adaptation_unlabelled=4,
                     continual_size=4, few_shot_k=(1, 4)),
}


def get_profile(name: str, **overrides) -> Profile:
    """Profile ``name`` with any non-None ``overrides`` applied (chapters pass their parameters cell here)."""
    if name not in PROFILES:
        raise KeyError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name].with_(**overrides)
