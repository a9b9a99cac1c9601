"""Chapter parameters per tier: ``embedded`` (offline, CPU, the default and what CI runs), ``real`` (timm ImageNet
backbones and torchvision datasets, for a GPU with internet) and ``smoke`` (seconds; for tests)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..data import TARGETS


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
    # (target, images per class) cells where chapter 10 runs the advisor's recipe and ranks it among the book's runs
    advice_cells: tuple[tuple[str, int], ...] = (("glyphs_near", 5), ("glyphs_near", 100), ("textures_far", 5),
                                                 ("textures_far", 100))
    transferred_targets: tuple[str, ...] = ("glyphs_near", "textures_far")
    transferred_size: int = 20
    interpolation_points: int = 11
    difficulty_reference_size: int = 50
    difficulty_reference_seed: int = 1000  # a training sample none of the compared models saw
    # Chapter 7 (source data): zoo models as sources, and which target each is matched to. Fine-tuning uses the
    # chapter-4 protocol (ranking_size, ranking_lr, ranking_steps), so the letters models' runs are shared with it.
    source_targets: tuple[str, ...] = ("glyphs_near", "glyphs_mid", "textures_far", "digits_real")
    source_models: tuple[str, ...] = ("glyph_resnet_narrow", "digits_fonts_narrow", "textures_source_narrow")
    matched_sources: tuple[tuple[str, str], ...] = (("digits_real", "digits_fonts_narrow"),
                                                    ("textures_far", "textures_source_narrow"))
    few_letters_model: str = "glyph_resnet_narrow_few_letters"
    many_letters_model: str = "glyph_resnet_narrow_short"
    two_step_models: tuple[tuple[str, str], ...] = (("digits_real", "glyph_resnet_narrow_then_digits_fonts"),
                                                    ("textures_far", "glyph_resnet_narrow_then_textures_source"))
    datl_base: str = "glyph_resnet_narrow_short"
    datl_targets: tuple[str, ...] = ("glyphs_mid", "digits_real")
    selfsup_models: tuple[tuple[str, str], ...] = (("textures_far", "textures_source_narrow_simclr"),)
    # What to transfer (chapter 2): keep the first k stages, re-initialise the rest, LR grid x seeds per k.
    reinit_targets: tuple[str, ...] = ("glyphs_near", "textures_far")
    reinit_size: int = 20
    reinit_stages: tuple[int, ...] = (1, 2, 3, 4)
    reinit_lrs: tuple[float, ...] = (0.03, 0.1, 0.3)
    reinit_steps: int = 100
    # Chapter 3: zoo models by the role they play in a comparison (the reference is plain cross-entropy, shallow,
    # fully pretrained); the ones fine-tuned beyond ``candidates``; the others are scored by linear probes only.
    source_roles: dict = field(default_factory=dict)
    source_finetuned: tuple[str, ...] = ()
    regularizers: tuple[str, ...] = ("none", "l2", "l2sp", "delta", "bss", "stochnorm", "l2sp_lower", "cotuning",
                                     "sample")
    regularizer_steps: int | None = None  # None: the profile's steps
    regularizer_weight_scales: tuple[float, ...] = (0.1, 1.0)  # trade-off sweep, as multiples of the defaults
    regularizer_large_size: int = 100
    regularizer_large_targets: tuple[str, ...] = ("glyphs_near",)
    regularizer_large_setups: tuple[str, ...] = ("none", "l2", "l2sp")
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
    # Step counts fit the whole book into 30 minutes on 2 cores (chapters side by side, one thread each): at 200 / 100
    # steps it took about 36 minutes, at 300 / 150 (one chapter at a time) about 80.
    "embedded": Profile("embedded", "glyph_resnet_narrow", TARGETS, (5, 20, 100), (0, 1, 2), steps=150,
                        batch_size=64, eval_every=25, tuning_size=20,
                        lr_grid={"pretrained": (0.01, 0.03, 0.1, 0.3), "scratch": (0.1, 0.3, 0.6)},
                        # the wide twin (4x the compute of the narrow model) is left out to fit CI's time
                        candidates=("glyph_resnet_narrow", "glyph_resnet_narrow_short", "glyph_resnet_narrow_ls",
                                    "glyph_resnet_deep"),
                        source_roles={"reference": "glyph_resnet_narrow", "deeper": "glyph_resnet_deep",
                                      "fewer_steps": "glyph_resnet_narrow_short",
                                      "half_steps": "glyph_resnet_narrow_mid",
                                      "fewer_images": "glyph_resnet_narrow_fewer",
                                      "label_smoothing": "glyph_resnet_narrow_ls",
                                      "penultimate_dropout": "glyph_resnet_narrow_dropout"},
                        source_finetuned=("glyph_resnet_narrow_fewer",),
                        regularizer_steps=75, ranking_steps=75, neighbour_steps=75, hp_steps=75, reinit_steps=75),
    "real": Profile("real", "resnet50", ("pets", "flowers102", "dtd", "fgvc_aircraft"), (5, 20, 50), (0, 1, 2),
                    steps=2000, batch_size=64, eval_every=200, tuning_size=20,
                    lr_grid={"pretrained": (0.003, 0.01, 0.03), "scratch": (0.03, 0.1, 0.3)},
                    candidates=("resnet18", "resnet50", "densenet121", "mobilenetv3_large_100", "efficientnet_b0",
                                "convnext_tiny", "vit_small_patch16_224"), ranking_lr=0.01, ranking_steps=1000,
                    regularizer_targets=("flowers102", "dtd"), regularizer_sizes=(5, 20),
                    advice_cells=(("flowers102", 5), ("flowers102", 50), ("dtd", 5), ("dtd", 50)),
                    transferred_targets=("flowers102", "dtd"),
                    reinit_targets=("flowers102", "dtd"), reinit_lrs=(0.003, 0.01, 0.03), reinit_steps=1000,
                    regularizer_large_targets=("dtd",), regularizer_large_size=40,
                    hp_lrs=(0.003, 0.03), hp_steps=1000, hp_sizes=(5, 50), hp_large_targets=("pets", "dtd"),
                    quick_lr=0.001, quick_steps=200, mixup_target="flowers102", bit_target="dtd", bit_scale=1.0,
                    bit_lrs=(0.003, 0.01, 0.03)),
    "smoke": Profile("smoke", "glyph_micro", ("glyphs_near", "textures_far"), (4, 8), (0, 1), steps=12,
                     batch_size=32, eval_every=4, tuning_size=4,
                     lr_grid={"pretrained": (0.03,), "scratch": (0.1,)},
                     candidates=("glyph_micro", "glyph_micro_ls"), ranking_size=6, ranking_steps=8,
                     regularizer_sizes=(4, 8), advice_cells=(("glyphs_near", 4), ("textures_far", 8)),
                     transferred_size=4, interpolation_points=3,
                     difficulty_reference_size=10,
                     source_targets=("textures_far", "digits_real"),
                     source_models=("glyph_micro", "digits_fonts_micro", "textures_source_micro"),
                     matched_sources=(("digits_real", "digits_fonts_micro"), ("textures_far", "textures_source_micro")),
                     few_letters_model="glyph_micro_few_letters", many_letters_model="glyph_micro",
                     two_step_models=(("digits_real", "glyph_micro_then_digits_fonts"),
                                      ("textures_far", "glyph_micro_then_textures_source")),
                     datl_base="glyph_micro", datl_targets=("digits_real",),
                     selfsup_models=(("textures_far", "textures_source_micro_simclr"),),
                     reinit_size=4, reinit_stages=(2, 4), reinit_lrs=(0.03, 0.1),
                     reinit_steps=8,
                     source_roles={"reference": "glyph_micro", "deeper": "glyph_micro_deep",
                                   "fewer_steps": "glyph_micro_short", "fewer_images": "glyph_micro_fewer",
                                   "label_smoothing": "glyph_micro_ls", "penultimate_dropout": "glyph_micro_dropout"},
                     source_finetuned=("glyph_micro_deep", "glyph_micro_short", "glyph_micro_fewer"),
                     regularizer_large_size=12,
                     hp_steps=8, hp_sizes=(4, 8), hp_large_targets=("glyphs_near",),
                     quick_steps=4, mixup_target="glyphs_near", bit_size=2, bit_scale=0.0025, bit_lrs=(0.003, 0.3),
                     neighbour_steps=12, adaptation_size=4, adaptation_unlabelled=4,
                     continual_size=4, few_shot_k=(1, 4)),
}


def get_profile(name: str, **overrides) -> Profile:
    """Profile ``name`` with any non-None ``overrides`` applied (chapters pass their parameters cell here)."""
    if name not in PROFILES:
        raise KeyError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name].with_(**overrides)
