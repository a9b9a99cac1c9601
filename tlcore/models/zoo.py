"""The zoo: source models that tlcore pretrains on the embedded source corpus itself, and caches.

A zoo entry is a recipe (architecture, source data, protocol, seed). Its weights live in
``cache_dir()/zoo/<name>-<hash of the recipe>/`` as ``weights.safetensors`` beside ``provenance.json`` (the recipe,
source accuracy, seconds, and the file's sha256). Loading checks the hash; a missing, partial or corrupted cache is
rebuilt, and a new cache appears only once it is complete (written to a temporary folder, then renamed).
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..finetune.loop import fit
from ..finetune.protocol import Protocol
from ..seeding import seed_everything
from ..storage import cache_dir, computed_once, config_hash, file_sha256
from .resnet import small_resnet

log = logging.getLogger(__name__)
WEIGHTS_FILE = "weights.safetensors"
# Bump when pretraining changes meaning (the loop, the source data) so that cached weights are not reused.
# 3: each entry is trained once, from its parent or by its objective (version 2 trained a second, plain
# supervised model from scratch and kept that one); 4: a self-supervised entry's provenance records its final
# and uniform SimCLR loss (the weights are unchanged, the record was incomplete)
ZOO_VERSION = 4
PROVENANCE_FILE = "provenance.json"
OBJECTIVES = ("supervised", "simclr")
SIMCLR_FINAL_STEPS = 10  # steps averaged for the final SimCLR loss kept in a model's provenance
_RECIPE_OFF = {"parent": None, "objective": "supervised", "class_weights": ()}


@dataclass(frozen=True)
class ZooEntry:
    """A source model recipe. ``source_fraction`` < 1 keeps that share of the source classes (for source-size
    experiments); ``source_per_class`` is the number of source training images per class. ``drop_rate`` is dropout
    on the penultimate features during pretraining only (a source-loss variant of Kornblith et al. 2021); the
    models handed out for transfer have none."""

    name: str
    layers: tuple[int, ...]
    channels: tuple[int, ...]
    description: str
    source: str = "glyphs_source"
    source_per_class: int = 300
    protocol: Protocol = field(default_factory=lambda: Protocol(lr=0.1, steps=800, batch_size=128, eval_every=200,
                                                                  weight_decay=5e-4))
    seed: int = 0
    # Added for chapter 7; left out of the recipe (so of the cache key) at these defaults. ``parent`` names a zoo
    # entry to start from (an intermediate fine-tuning step: parent -> this source); ``objective`` "simclr" ignores
    # the labels (self-supervised, see tlcore.models.selfsup); ``class_weights`` (one per source class) draws the source
    # training images with probability proportional to their class weight (DATL-style re-weighting).
    parent: str | None = None
    objective: str = "supervised"
    class_weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown pretraining objective {self.objective!r}; choose one of {OBJECTIVES}")
        object.__setattr__(self, "class_weights", tuple(float(w) for w in self.class_weights))
        if any(w < 0 for w in self.class_weights) or (self.class_weights and sum(self.class_weights) <= 0):
            raise ValueError("class_weights must be non-negative with a positive sum")
    drop_rate: float = 0.0

    def recipe(self) -> dict:
        recipe = asdict(self)
        recipe.pop("description")
        if not self.drop_rate:  # entries from before the field existed keep their cache keys
            recipe.pop("drop_rate")
        recipe["protocol"] = self.protocol.key_dict()
        recipe["zoo_version"] = ZOO_VERSION
        for name, off in _RECIPE_OFF.items():
            if recipe[name] == off:
                del recipe[name]
        if self.parent is not None:  # a new parent recipe must give a new child; a seeded child has a seeded parent
            recipe["parent_key"] = seeded(self.parent, self.seed).key()
        return recipe

    def key(self) -> str:
        return f"{self.name}-{config_hash(self.recipe(), 12)}"

    def build(self, num_classes: int, *, pretraining: bool = False) -> nn.Module:
        drop_rate = self.drop_rate if pretraining else 0.0
        return small_resnet(self.layers, self.channels, num_classes=num_classes, drop_rate=drop_rate)


ZOO: dict[str, ZooEntry] = {}


def register(entry: ZooEntry) -> ZooEntry:
    if entry.name in ZOO and ZOO[entry.name] != entry:
        raise ValueError(f"zoo entry {entry.name!r} is already registered with a different recipe")
    ZOO[entry.name] = entry
    return entry


register(ZooEntry("glyph_resnet_narrow", (1, 1, 1, 1), (16, 32, 64, 128),
                  "ResNet-10 style, widths 16-128 (0.3 M parameters): the default source model."))
register(ZooEntry("glyph_resnet_wide", (1, 1, 1, 1), (32, 64, 128, 256),
                  "ResNet-10 style, widths 32-256 (1.2 M parameters): the wider twin."))
register(ZooEntry("glyph_resnet_deep", (2, 2, 2, 2), (16, 32, 64, 128),
                  "ResNet-18 style, widths 16-128 (0.7 M parameters): the deeper twin."))
register(ZooEntry("glyph_resnet_narrow_short", (1, 1, 1, 1), (16, 32, 64, 128),
                  "The narrow model with a quarter of the pretraining steps: less pretraining.",
                  protocol=Protocol(lr=0.1, steps=200, batch_size=128, eval_every=100, weight_decay=5e-4)))
register(ZooEntry("glyph_resnet_narrow_ls", (1, 1, 1, 1), (16, 32, 64, 128),
                  "The narrow model pretrained with label smoothing 0.1: a different source loss.",
                  protocol=Protocol(lr=0.1, steps=800, batch_size=128, eval_every=200, weight_decay=5e-4,
                                    label_smoothing=0.1)))
register(ZooEntry("glyph_micro", (1, 1, 1, 1), (8, 16, 32, 64),
                  "A tiny model on a small source sample, for smoke tests only.", source_per_class=20,
                  protocol=Protocol(lr=0.1, steps=30, batch_size=64, eval_every=15)))
register(ZooEntry("glyph_micro_ls", (1, 1, 1, 1), (8, 16, 32, 64),
                  "The tiny smoke-test model with label smoothing: a second candidate for smoke tests.",
                  source_per_class=20,
                  protocol=Protocol(lr=0.1, steps=30, batch_size=64, eval_every=15, label_smoothing=0.1)))

# Which source model (chapter 3): more or less pretraining, and a second source-loss variant.
register(ZooEntry("glyph_resnet_narrow_mid", (1, 1, 1, 1), (16, 32, 64, 128),
                  "The narrow model with half the pretraining steps: between short and full pretraining.",
                  protocol=Protocol(lr=0.1, steps=400, batch_size=128, eval_every=200, weight_decay=5e-4)))
register(ZooEntry("glyph_resnet_narrow_fewer", (1, 1, 1, 1), (16, 32, 64, 128),
                  "The narrow model pretrained on a fifth of the source images (60 per class): a smaller source.",
                  source_per_class=60))
register(ZooEntry("glyph_resnet_narrow_dropout", (1, 1, 1, 1), (16, 32, 64, 128),
                  "The narrow model pretrained with dropout 0.5 on the penultimate features: a different source "
                  "loss.", drop_rate=0.5))
for _name, _changes, _what in (("glyph_micro_deep", {"layers": (2, 2, 2, 2)}, "deeper"),
                               ("glyph_micro_short", {"protocol": Protocol(lr=0.1, steps=10, batch_size=64,
                                                                           eval_every=5)}, "shorter-pretrained"),
                               ("glyph_micro_fewer", {"source_per_class": 8}, "smaller-source"),
                               ("glyph_micro_dropout", {"drop_rate": 0.5}, "dropout-pretrained")):
    register(replace(ZOO["glyph_micro"], name=_name, description=f"The {_what} tiny model, for smoke tests only.",
                     **_changes))


# Chapter 7 (source data): small sources that match a target, two-step sources and a self-supervised one. Each comes
# in the narrow architecture (embedded profile) and the micro one (smoke tests). Small sources train for 200 steps.
def _source_protocol(steps: int, batch_size: int = 128, lr: float = 0.1) -> Protocol:
    return Protocol(lr=lr, steps=steps, batch_size=batch_size, eval_every=max(steps // 2, 1), weight_decay=5e-4)


for _arch, _widths, _steps, _few, _per_class in (("glyph_resnet_narrow", (16, 32, 64, 128), 200, 20, 100),
                                                  ("glyph_micro", (8, 16, 32, 64), 10, 5, 10)):
    _small = "narrow" if _arch == "glyph_resnet_narrow" else "micro"
    register(ZooEntry(f"{_arch}_few_letters", (1, 1, 1, 1), _widths,
                      "The letters source with few images per class and a short schedule: a small generic source.",
                      source_per_class=_few, protocol=_source_protocol(_steps)))
    # From scratch, the gratings need a high learning rate: on the source's validation split lr 0.05 and 0.1 (batch
    # 128, 200-400 steps) stayed at chance (0.09-0.11 of 20 classes), lr 0.3 at batch 64 for 400 steps reached 0.95.
    _scratch_recipes = {"digits_fonts": _source_protocol(_steps),
                        "textures_source": _source_protocol(2 * _steps, batch_size=64, lr=0.3)}
    for _source, _what in (("digits_fonts", "font digits"), ("textures_source", "source gratings")):
        register(ZooEntry(f"{_source}_{_small}", (1, 1, 1, 1), _widths,
                          f"Pretrained from scratch on the {_what} only: a small source matched to one target.",
                          source=_source, source_per_class=_per_class, protocol=_scratch_recipes[_source]))
        register(ZooEntry(f"{_arch}_then_{_source}", (1, 1, 1, 1), _widths,
                          f"The letters model fine-tuned on the {_what}: two-step transfer's intermediate step.",
                          source=_source, source_per_class=_per_class, parent=_arch,
                          protocol=_source_protocol(max(_steps * 3 // 4, 1), batch_size=64, lr=0.05)))
    register(ZooEntry(f"textures_source_{_small}_simclr", (1, 1, 1, 1), _widths,
                      "SimCLR on the source gratings without their labels: self-supervised on related data.",
                      source="textures_source", source_per_class=_per_class, objective="simclr",
                      protocol=_source_protocol(_steps, lr=0.3)))


def seeded(name: str, pretrain_seed: int = 0) -> ZooEntry:
    """Zoo entry ``name`` pretrained with ``pretrain_seed`` (which fixes its source sample, initialisation, batch
    order and augmentation): the same recipe otherwise, under the same name. Seed 0 is the registered entry itself,
    so its cache key and every outcome computed from it are unchanged."""
    if name not in ZOO:
        raise KeyError(f"unknown zoo model {name!r}; the zoo has {sorted(ZOO)}")
    if not isinstance(pretrain_seed, int) or isinstance(pretrain_seed, bool) or pretrain_seed < 0:
        raise ValueError(f"a pretraining seed is a non-negative integer, got {pretrain_seed!r}")
    entry = ZOO[name]
    return entry if pretrain_seed == entry.seed else replace(entry, seed=pretrain_seed)


def entry_dir(entry: ZooEntry) -> Path:
    return cache_dir() / "zoo" / entry.key()


def load_source_model(name: str, *, pretrain_seed: int = 0, progress: bool = True) -> tuple[nn.Module, dict]:
    """The pretrained source model ``name`` (with its source classifier) and its provenance, from cache or trained;
    ``pretrain_seed`` picks one of its pretrainings (see :func:`seeded`)."""
    entry = seeded(name, pretrain_seed)
    folder = entry_dir(entry)
    # A chapter executing beside this one may be pretraining the same entry: computed_once waits for it.
    provenance = computed_once(folder, lambda: _read_valid_cache(folder), lambda: _pretrain(entry, folder, progress))
    model = entry.build(provenance["num_classes"])
    model.load_state_dict(load_file(folder / WEIGHTS_FILE))
    return model.eval(), provenance


def _read_valid_cache(folder: Path) -> dict | None:
    weights, info = folder / WEIGHTS_FILE, folder / PROVENANCE_FILE
    if not (weights.exists() and info.exists()):
        return None
    try:
        provenance = json.loads(info.read_text())
        if file_sha256(weights) == provenance["sha256"]:
            return provenance
        log.warning("zoo cache %s does not match its recorded hash; rebuilding it", folder)
    except (json.JSONDecodeError, KeyError) as error:
        log.warning("zoo cache %s has unreadable provenance (%s); rebuilding it", folder, error)
    return None


def _pretrain(entry: ZooEntry, folder: Path, progress: bool) -> dict:
    from .. import data

    train = data.load(entry.source, "train", entry.source_per_class, seed=entry.seed)
    val = data.load(entry.source, "val", seed=entry.seed)
    test = data.load(entry.source, "test", seed=entry.seed)
    if entry.class_weights:
        train = resample_by_class(train, entry.class_weights, seed=entry.seed)
    if entry.parent is not None:
        model, _ = load_source_model(entry.parent, pretrain_seed=entry.seed, progress=progress)
        seed_everything(entry.seed)
        model.reset_classifier(train.num_classes)
    else:
        seed_everything(entry.seed)
        model = entry.build(train.num_classes, pretraining=True)
    if entry.objective == "simclr":
        record = _simclr(entry, model, train)
    else:
        record = fit(model, train, val, test, protocol=entry.protocol, seed=entry.seed, progress=progress,
                     config={"zoo_entry": entry.name})
    model.cpu()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, staging / WEIGHTS_FILE)
        provenance = {
            "name": entry.name, "key": entry.key(), "recipe": entry.recipe(), "num_classes": train.num_classes,
            "source_classes": list(train.classes), "source_val_accuracy": record.val_accuracy,
            "source_test_accuracy": record.test_accuracy, "seconds": record.seconds,
            "selfsup_final_loss": record.config.get("final_loss"),
            "selfsup_uniform_loss": record.config.get("uniform_loss"),
            "sha256": file_sha256(staging / WEIGHTS_FILE), "torch": torch.__version__,
        }
        (staging / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=1, default=str))
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return provenance


def resample_by_class(dataset, weights, *, seed: int = 0):
    """A same-size sample of ``dataset`` drawn with replacement, each image with probability proportional to the
    weight of its class (``weights``: one non-negative number per class)."""
    from ..seeding import rng

    weights = np.asarray(weights, dtype=float)
    if weights.shape != (dataset.num_classes,):
        raise ValueError(f"need one weight per class ({dataset.num_classes}), got {weights.shape[0]}")
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("class weights must be non-negative with a positive sum")
    per_image = weights[dataset.labels.numpy()]
    indices = rng("resample-by-class", seed).choice(len(dataset), size=len(dataset), p=per_image / per_image.sum())
    return dataset.subset(np.sort(indices))


def _simclr(entry: ZooEntry, model: nn.Module, train):
    """Self-supervised pretraining of ``model`` on ``train``'s images (labels unused); a record without accuracy."""
    import time

    from ..finetune.record import RunRecord
    from .selfsup import simclr_pretrain, uniform_loss

    start = time.perf_counter()
    losses = simclr_pretrain(model, train.images, steps=entry.protocol.steps, batch_size=entry.protocol.batch_size,
                             lr=entry.protocol.lr, weight_decay=entry.protocol.weight_decay, seed=entry.seed)
    # The mean of the last steps, not the last one: NT-Xent on a batch is noisy.
    final_loss = float(np.mean(losses[-SIMCLR_FINAL_STEPS:]))
    record = RunRecord(config={"zoo_entry": entry.name, "objective": "simclr", "final_loss": final_loss,
                               "uniform_loss": uniform_loss(entry.protocol.batch_size)})
    record.seconds = time.perf_counter() - start
    return record
