"""The parameter groups of a :class:`~tlcore.studies.profiles.Profile`: one per chapter that needs its own."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Transfer:
    """Chapter 1: pretrained against scratch at the profile's sizes and, on some targets, ``extra_sizes`` (target ->
    sizes added there), each run for about ``epochs`` passes over its training split and never fewer than the
    profile's steps (None: the profile's steps at every size)."""

    epochs: float | None = None
    extra_sizes: tuple[tuple[str, tuple[int, ...]], ...] = ()


@dataclass(frozen=True)
class Ranking:
    """Chapters 3, 4 and 7: one fine-tuning protocol for every candidate source model (so their runs are shared).
    ``per_seed_pretraining``: fine-tuning (and probe, and score) seed s starts from the zoo model pretrained with
    seed s, so a comparison of source models varies with pretraining as well as fine-tuning (zoo models only; timm
    weights have one pretraining)."""

    candidates: tuple[str, ...] = ()
    size: int = 20
    lr: float = 0.05
    steps: int = 150
    per_seed_pretraining: bool = False

    def pretrain_seed(self, seed: int) -> int:
        """The pretraining seed the runs of fine-tuning seed ``seed`` start from."""
        return seed if self.per_seed_pretraining else 0


@dataclass(frozen=True)
class Reinit:
    """Chapter 2, what to transfer: keep the first k stages, re-initialise the rest, LR grid x seeds per k."""

    targets: tuple[str, ...] = ("glyphs_near", "textures_far")
    size: int = 20
    stages: tuple[int, ...] = (1, 2, 3, 4)
    lrs: tuple[float, ...] = (0.03, 0.1, 0.3)
    steps: int = 100


@dataclass(frozen=True)
class SourceModels:
    """Chapter 3: source models (zoo models, or timm weights of :mod:`tlcore.models.timm_sources`) by the role they
    play in a comparison (the reference is plain cross-entropy, shallow, fully pretrained) and the ones fine-tuned
    beyond the ranking candidates; the others are scored by probes only."""

    roles: dict = field(default_factory=dict)
    finetuned: tuple[str, ...] = ()
    # role -> the role it is compared with, where that is not ``reference`` (timm's RSB step contrasts have their
    # own reference: no torchvision-recipe ResNet-50 was trained for fewer epochs)
    baselines: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Regularization:
    """Chapter 5: the set-ups, where and how long they run, and the trade-off sweep (multiples of the defaults)."""

    targets: tuple[str, ...] = ("glyphs_near", "textures_far")
    sizes: tuple[int, ...] = (5, 20)
    setups: tuple[str, ...] = ("none", "l2", "l2sp", "delta", "bss", "stochnorm", "l2sp_lower", "cotuning", "sample")
    steps: int | None = None  # None: the profile's steps
    weight_scales: tuple[float, ...] = (0.1, 1.0)
    large_size: int = 100
    large_targets: tuple[str, ...] = ("glyphs_near",)
    large_setups: tuple[str, ...] = ("none", "l2", "l2sp")
    # The large size's schedule adapted to its size (R8 asks about "a schedule adapted to target size"): about this
    # many epochs, never fewer than ``steps``; None: ``steps``, as at the grid's sizes.
    large_epochs: float | None = None


@dataclass(frozen=True)
class HyperParameters:
    """Chapter 6: a short LR x momentum grid on every target at ``sizes[0]`` and at every size on ``large_targets``;
    MixUp on one target; the BiT rule (at ``bit_scale``) against an LR x schedule grid on one target."""

    lrs: tuple[float, ...] = (0.03, 0.3)
    momenta: tuple[float, ...] = (0.0, 0.9)
    steps: int = 100
    sizes: tuple[int, ...] = (5, 100)
    large_targets: tuple[str, ...] = ("glyphs_near", "textures_far")
    # Targets the grid (and H1's and M3's similarity and probe gap) adds to the profile's: rank correlations across
    # four targets move in steps of 0.2, so H1 and M3 need more of them than the other chapters do.
    extra_targets: tuple[str, ...] = ()
    # Seeds of the grid and of H1's similarity and M3's probe gap, which rank targets by the grid's optima (None: the
    # chapter's). Their effects need more seeds than the chapter's other experiments (``studies.hyperparameters``'s
    # ``grid_setup``).
    grid_seeds: tuple[int, ...] | None = None
    # H3's short and long schedules (steps); None: ``steps`` (the grid's) against the profile's ``steps``.
    schedule_steps: tuple[int, ...] | None = None
    quick_lr: float = 0.01
    quick_steps: int = 50
    mixup_target: str = "glyphs_mid"
    mixup_alpha: float = 0.1
    # H4's sizes (None: the profile's) and schedule in epochs at each (None: the profile's steps at every size; else
    # the steps that make about this many epochs, never fewer than the profile's steps)
    mixup_sizes: tuple[int, ...] | None = None
    mixup_epochs: float | None = None
    bit_target: str = "textures_far"
    bit_size: int = 20
    bit_scale: float = 0.025
    bit_lrs: tuple[float, ...] = (0.003, 0.03, 0.3)


@dataclass(frozen=True)
class SourceData:
    """Chapter 7: zoo models as sources and which target each is matched to (or, in the real tier, ``arms`` of
    published timm weights). Fine-tuning uses the ranking protocol, so the letters models' runs are shared with
    chapter 4."""

    targets: tuple[str, ...] = ("glyphs_near", "glyphs_mid", "textures_far", "digits_real")
    models: tuple[str, ...] = ("glyph_resnet_narrow", "digits_fonts_narrow", "textures_source_narrow")
    matched: tuple[tuple[str, str], ...] = (("digits_real", "digits_fonts_narrow"),
                                            ("textures_far", "textures_source_narrow"))
    few_letters_model: str = "glyph_resnet_narrow_few_letters"
    many_letters_model: str = "glyph_resnet_narrow_short"
    two_step_models: tuple[tuple[str, str], ...] = (("digits_real", "glyph_resnet_narrow_then_digits_fonts"),
                                                    ("textures_far", "glyph_resnet_narrow_then_textures_source"))
    datl_base: str = "glyph_resnet_narrow_short"
    datl_targets: tuple[str, ...] = ("glyphs_mid", "digits_real")
    selfsup_models: tuple[tuple[str, str], ...] = (("textures_far", "textures_source_narrow_simclr"),)
    # The real tier: (claim, arm, model) of published timm weights (tlcore.models.timm_source_data) on every target
    # of ``targets``, instead of the zoo's sources above; empty: the zoo's.
    arms: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class Transferred:
    """Chapter 8: fine-tuned pairs on these targets (the first the near one, the last the far one, as P2 reads them),
    interpolation points, and the per-sample difficulty reference (a training sample none of the compared models
    saw)."""

    targets: tuple[str, ...] = ("glyphs_near", "textures_far")
    size: int = 20
    interpolation_points: int = 11
    difficulty_reference_size: int = 50
    difficulty_reference_seed: int = 1000


@dataclass(frozen=True)
class Neighbours:
    """Chapter 9: domain adaptation, forgetting, few-shot learning and progressive networks."""

    steps: int = 150
    adaptation_pair: tuple[str, str] = ("glyphs_near", "glyphs_near_textured")
    adaptation_size: int = 20
    adaptation_unlabelled: int = 50
    continual_target: str = "glyphs_near"
    continual_size: int = 20
    continual_methods: tuple[str, ...] = ("finetune", "lwf", "l2sp", "progressive", "frozen")
    few_shot_targets: tuple[str, ...] = ("glyphs_near", "textures_far")
    few_shot_k: tuple[int, ...] = (1, 5, 10)


@dataclass(frozen=True)
class Advice:
    """Chapter 10: the (target, images per class) cells where the advisor's recipe is run and ranked."""

    cells: tuple[tuple[str, int], ...] = (("glyphs_near", 5), ("glyphs_near", 100), ("textures_far", 5),
                                          ("textures_far", 100))
