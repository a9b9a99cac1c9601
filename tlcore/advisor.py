"""The survey's best-practice table (§7.2) as an advisor: measure a target, place it in a quadrant, get a recipe.

    advice = tlcore.advise("glyph_resnet_narrow", "glyphs_near", n_per_class=5)
    print(advice)                      # quadrant, measurements, recipe, reasons
    advice.candidate_runs(...)         # the recipe as TransferRuns the book can run and rank

The two measurements are the target's **size** (labelled training images per class) and its **similarity** to the
model's source. Where the source's images are here (a zoo model and a target of the embedded world) similarity is
measured from image statistics alone (:func:`tlcore.analysis.similarity.image_similarity`: no network, no fine-tuning
outcome, so it cannot be the outcome chapter 10 ranks in disguise). A timm model's source (ImageNet) is not here, so
for it, or for a target outside the embedded world, the advisor falls back to the probe gain of
:mod:`tlcore.analysis.probes` (linear-probe accuracy on the model's frozen features minus that on a randomly
initialised twin's) and says so (``Advice.measurements["similarity_measure"]``). The thresholds are parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import data, models
from .analysis.probes import probe_similarity
from .analysis.similarity import image_similarity
from .finetune.protocol import Protocol
from .runs.transfer import TransferRun

# "Small" below this many labelled training images per class. The survey names no number; 50 per class separates
# its small fine-grained targets (Flowers-102: 10, Aircraft: 33) from its large ones (Pets: ~100, CIFAR: 5000) and the
# world's smallest sizes (5, 20) from its largest (100).
SMALL_BELOW_PER_CLASS = 50
# "Similar" at or above this similarity, on either measure's scale (both in [0, 1]: a probe gain of 0 is features no
# better than random ones, 1 perfect transfer; an image similarity 1 / (1 + Fréchet distance) of 1 is identical
# image statistics, 0.5 a Fréchet distance of 1 on pixels in [0, 1]). It was fixed for the probe gain before chapter
# 10 first ran; the image-statistics measure replaced the probe gain after chapter 1's values were seen (near 0.92,
# mid 0.78, real 0.15, far 0.08 against the letters source), and 0.5 places the world's targets as the probe gain did.
SIMILAR_FROM = 0.5
IMAGE_STATISTICS, PROBE_GAIN = "image statistics", "probe gain"
QUADRANTS = ("large/similar", "large/dissimilar", "small/similar", "small/dissimilar")


@dataclass(frozen=True)
class Recipe:
    """A fine-tuning recipe in the survey's terms, before it is made concrete for a model and a learning-rate grid.

    ``lr`` is "low" or "high": the lower or upper half of the candidate grid (chosen on validation inside it).
    ``schedule`` scales the number of steps ("short" x0.5: a fast decay; "long" x2: train longer before decaying).
    ``regularizer`` names a set-up of :mod:`tlcore.regularizers.setups`. ``reinit_top_stages`` re-initialises that
    many of the last stages. ``also_consider`` lists what the survey suggests beyond a single fine-tune.
    """

    lr: str
    schedule: str
    regularizer: str
    reinit_top_stages: int
    reasons: tuple[str, ...]
    also_consider: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.lr not in ("low", "high"):
            raise ValueError(f"lr must be 'low' or 'high', got {self.lr!r}")
        if self.schedule not in SCHEDULE_SCALE:
            raise ValueError(f"schedule must be one of {tuple(SCHEDULE_SCALE)}, got {self.schedule!r}")


SCHEDULE_SCALE = {"short": 0.5, "standard": 1.0, "long": 2.0}

RECIPES = {
    "large/similar": Recipe(
        "low", "standard", "none", 0,
        ("most techniques work well here, so little search is needed",
         "a lower learning rate suits a similar pair: the weights need not move far from their pretrained values",
         "fine-tune every layer rather than freezing any",
         "large targets need little extra regularisation (L2-SP and the like may help a little)")),
    "large/dissimilar": Recipe(
        "high", "long", "none", 1,
        ("negative transfer is most likely here: compare against training from scratch",
         "a higher learning rate and a longer schedule move the weights out of the pretrained basin",
         "no L2-SP/DELTA/BSS: the weights should move freely towards the large target",
         "re-initialise the most task-specific top layers; keep the general lower ones"),
        ("train from scratch as a baseline",)),
    "small/similar": Recipe(
        "low", "standard", "l2sp", 0,
        ("transfer helps most here, but small targets are sensitive to hyper-parameters",
         "a lower learning rate: the weights should stay near their pretrained values",
         "a transfer regulariser (L2-SP, DELTA, BSS, StochNorm) can help substantially on few samples")),
    "small/dissimilar": Recipe(
        "high", "short", "none", 0,
        ("the hardest case: the weights must move far enough, but small data invites overfitting",
         "a high initial learning rate that decays quickly (a short schedule)",
         "no transfer regulariser on all layers (at most on the lower ones)"),
        ("a more related source: self-supervised pretraining on related unlabelled data",
         "an intermediate fine-tuning step on a medium-sized, closely related dataset")),
}


@dataclass(frozen=True)
class Advice:
    """The advisor's answer: what it measured, the quadrant, and the recipe with its reasons."""

    model: str
    target: str
    n_per_class: float
    num_classes: int
    similarity: float
    quadrant: str
    recipe: Recipe
    measurements: dict = field(default_factory=dict)

    def learning_rates(self, grid) -> tuple[float, ...]:
        """The recipe's half of a candidate learning-rate ``grid`` (the middle value belongs to both halves)."""
        ordered = sorted(float(lr) for lr in grid)
        if not ordered:
            raise ValueError("the learning-rate grid is empty")
        half = math.ceil(len(ordered) / 2)
        return tuple(ordered[:half] if self.recipe.lr == "low" else ordered[-half:])

    def protocols(self, base: Protocol, grid, *, num_stages: int = 4) -> list[Protocol]:
        """The recipe made concrete on ``base``: one protocol per candidate learning rate."""
        steps = max(1, round(base.steps * SCHEDULE_SCALE[self.recipe.schedule]))
        reinit = num_stages - self.recipe.reinit_top_stages if self.recipe.reinit_top_stages else None
        return [base.with_(lr=lr, steps=steps, reinit_from_stage=reinit) for lr in self.learning_rates(grid)]

    def candidate_runs(self, base: Protocol, grid, seed: int, *, arch: str | None = None,
                       n_per_class: int | None = None) -> list[TransferRun]:
        """The recipe's runs (one per candidate learning rate) for ``seed``, ready for :func:`tlcore.run_many`."""
        return [TransferRun(self.target, int(n_per_class or self.n_per_class), True, arch or self.model, protocol,
                            seed, self.recipe.regularizer)
                for protocol in self.protocols(base, grid)]

    @property
    def similarity_measure(self) -> str:
        """How :attr:`similarity` was measured (an Advice built without it: the probe gain, the older measure)."""
        return self.measurements.get("similarity_measure", PROBE_GAIN)

    def summary(self) -> dict:
        return {"model": self.model, "target": self.target, "n_per_class": self.n_per_class,
                "similarity": self.similarity, "similarity_measure": self.similarity_measure,
                "quadrant": self.quadrant, "lr": self.recipe.lr,
                "schedule": self.recipe.schedule, "regularizer": self.recipe.regularizer,
                "reinit_top_stages": self.recipe.reinit_top_stages}

    def __str__(self) -> str:
        r = self.recipe
        lines = [f"target {self.target}: {self.n_per_class:g} images per class, {self.num_classes} classes; "
                 f"similarity to {self.model}'s source ({self.similarity_measure}) {self.similarity:+.2f}",
                 f"quadrant: {self.quadrant}",
                 f"recipe: fine-tune from the pretrained weights, {r.lr} learning rate, {r.schedule} schedule, "
                 f"regulariser {r.regularizer}, re-initialise the top {r.reinit_top_stages} stage(s)",
                 *(f"  - {reason}" for reason in r.reasons)]
        if r.also_consider:
            lines += ["also consider:", *(f"  - {item}" for item in r.also_consider)]
        return "\n".join(lines)


def quadrant(n_per_class: float, similarity: float, *, small_below: float = SMALL_BELOW_PER_CLASS,
             similar_from: float = SIMILAR_FROM) -> str:
    """The survey's §7.2 quadrant of a target with ``n_per_class`` training images per class and ``similarity`` to
    the source (see :func:`measure_similarity`)."""
    for name, value in (("n_per_class", n_per_class), ("similarity", similarity)):
        if value is None or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if n_per_class <= 0:
        raise ValueError(f"n_per_class must be positive, got {n_per_class}")
    size = "small" if n_per_class < small_below else "large"
    kind = "similar" if similarity >= similar_from else "dissimilar"
    return f"{size}/{kind}"


def similarity_measure(model: str, target: str) -> str:
    """How :func:`measure_similarity` measures ``target`` against ``model``'s source: ``IMAGE_STATISTICS`` where both
    the source's and the target's images are in the embedded world, else ``PROBE_GAIN``."""
    entry = models.ZOO.get(model)
    return IMAGE_STATISTICS if entry is not None and {entry.source, target} <= set(data.EMBEDDED) else PROBE_GAIN


def measure_similarity(model: str, target: str, *, n_per_class: int = 5, seeds=(0, 1, 2)) -> float:
    """Similarity of ``target`` to zoo/timm model ``model``'s source, in [0, 1] (higher: more similar), by
    :func:`similarity_measure`: :func:`tlcore.analysis.similarity.image_similarity` of the source's and the target's
    images (a fixed sample; ``n_per_class`` and ``seeds`` unused), or the mean probe gain over ``seeds`` at
    ``n_per_class`` images per class (:func:`tlcore.analysis.probes.probe_similarity`)."""
    if similarity_measure(model, target) == IMAGE_STATISTICS:
        return image_similarity(target, models.ZOO[model].source)
    gains = probe_similarity(model, [target], n_per_class=n_per_class, seeds=seeds)["similarity"]
    return float(np.mean(gains.to_numpy()))


def advise(model: str, target: str, *, n_per_class: int | None = None, probe_per_class: int = 5, seeds=(0, 1, 2),
           similarity: float | None = None, small_below: float = SMALL_BELOW_PER_CLASS,
           similar_from: float = SIMILAR_FROM) -> Advice:
    """Measure ``target`` against ``model``'s source and return the survey's recipe for its quadrant.

    ``n_per_class``: the training images per class you will fine-tune on (None: the dataset's default training
    size). ``similarity``: a similarity measured before (skips the measurement; on :func:`similarity_measure`'s
    scale).
    """
    try:
        train = data.load(target, "train", n_per_class, seed=seeds[0])
    except data.DatasetNotAvailable:
        if n_per_class is None:
            raise
        train = None  # a tier read from the results store, without its images: the size asked for
    if train is None:
        size, num_classes, smallest = float(n_per_class), data.num_classes(target), n_per_class
    else:
        counts = np.bincount(np.asarray(train.labels))
        size, num_classes, smallest = float(np.median(counts[counts > 0])), int(train.num_classes), int(counts.min())
    if num_classes < 2:
        raise ValueError(f"target {target!r} has fewer than two classes; there is nothing to classify")
    if similarity is None:
        similarity = measure_similarity(model, target, n_per_class=min(probe_per_class, smallest), seeds=seeds)
    where = quadrant(size, similarity, small_below=small_below, similar_from=similar_from)
    return Advice(model, target, size, int(num_classes), float(similarity), where, RECIPES[where],
                  {"small_below": small_below, "similar_from": similar_from, "probe_per_class": probe_per_class,
                   "seeds": list(seeds), "similarity_measure": similarity_measure(model, target)})


