"""Models: the self-pretrained zoo and timm backbones, behind one entry point, :func:`create`.

>>> model = create("glyph_resnet_narrow", pretrained=True, num_classes=20)   # zoo: pretrained here, cached
>>> model = create("resnet50", pretrained=True, num_classes=37)              # timm: ImageNet weights (real tier)
"""
from __future__ import annotations

import os

import pandas as pd
from torch import nn

from ..seeding import seed_everything
from .provenance import source_keys, source_provenance
from .resnet import small_resnet
from .timm_weights import WEIGHTS_ENV, WeightsNotFound, weights_overlay
from .zoo import ZOO, ZooEntry, entry_dir, load_source_model, register, seeded

__all__ = [
    "WEIGHTLESS_ENV",
    "ZOO",
    "ModelNotAvailable",
    "ZooEntry",
    "create",
    "entry_dir",
    "list_models",
    "load_source_model",
    "register",
    "seeded",
    "small_resnet",
    "source_keys",
    "source_provenance",
]


# Set (to "1") only by the ``real_smoke`` profile: timm models asked for pretrained are built without weights, from a
# fixed random initialisation, so that the real tier's code path runs here with no hub and no weights file.
WEIGHTLESS_ENV = "TLCORE_WEIGHTLESS"


class ModelNotAvailable(FileNotFoundError):
    """Pretrained weights for a timm model are not cached here and cannot be downloaded."""


def create(name: str, pretrained: bool = False, num_classes: int | None = None, *, seed: int = 0,
           pretrain_seed: int = 0, progress: bool = True, **kwargs) -> nn.Module:
    """Build model ``name`` with a fresh ``num_classes``-way classifier.

    Zoo names (see :func:`list_models`) give the small ResNets of the embedded world; with ``pretrained=True`` the
    backbone carries the weights learnt on the source corpus (trained and cached on first use). Any other name is
    passed to ``timm.create_model``. ``seed`` fixes the random initialisation (of everything when not pretrained, of
    the new classifier otherwise), so a pretrained model and its scratch twin differ only in where they start.
    ``pretrain_seed`` picks which of a zoo model's pretrainings to start from (timm weights have one).
    """
    if pretrain_seed and (name not in ZOO or not pretrained):
        why = "is not pretrained here" if name in ZOO else "comes from timm, whose weights have one seed"
        raise ValueError(f"pretrain_seed={pretrain_seed} needs a pretrained zoo model; {name!r} {why}")
    if name in ZOO:
        if kwargs:
            raise TypeError(f"zoo model {name!r} takes no extra arguments, got {sorted(kwargs)}")
        if pretrained:
            model, provenance = load_source_model(name, pretrain_seed=pretrain_seed, progress=progress)
            seed_everything(seed)
            if num_classes is not None:
                model.reset_classifier(num_classes)
            model.tlcore_provenance = provenance
            return model.train()
        seed_everything(seed)
        return ZOO[name].build(num_classes if num_classes is not None else 10).train()
    return _create_timm(name, pretrained, num_classes, seed, **kwargs)


def _create_timm(name: str, pretrained: bool, num_classes: int | None, seed: int, **kwargs) -> nn.Module:
    import timm

    if not timm.is_model(name):
        raise KeyError(f"unknown model {name!r}: not in tlcore's zoo {sorted(ZOO)} nor in timm")
    if pretrained and os.environ.get(WEIGHTLESS_ENV) == "1":
        return _weightless(name, num_classes, seed, **kwargs)
    seed_everything(seed)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if pretrained:
        try:
            kwargs = weights_overlay(name, kwargs)  # $TLCORE_WEIGHTS: a local file instead of the hub
        except WeightsNotFound as error:
            raise ModelNotAvailable(str(error)) from None
    try:
        return timm.create_model(name, pretrained=pretrained, **kwargs)
    except Exception as error:  # hub and network errors come in many types; all mean "weights not here"
        if not pretrained or "file" in (kwargs.get("pretrained_cfg_overlay") or {}):
            raise
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
        raise ModelNotAvailable(
            f"pretrained weights for timm model {name!r} are not in the local Hugging Face cache"
            f"{' and HF_HUB_OFFLINE is set' if offline else ' and could not be downloaded'}. Run once on a machine "
            f"with internet (e.g. Colab): timm.create_model({name!r}, pretrained=True), or copy its hub cache to "
            f"$HF_HOME, or set ${WEIGHTS_ENV} to its weights file or a folder of them. "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from None


def _weightless(name: str, num_classes: int | None, seed: int, **kwargs) -> nn.Module:
    """timm model ``name`` as a stand-in for its pretrained self: the backbone from one fixed random initialisation
    (the same for every run, as pretrained weights are), the classifier from ``seed``."""
    import timm

    seed_everything(0)
    model = timm.create_model(name, pretrained=False, **kwargs)
    seed_everything(seed)
    model.reset_classifier(num_classes if num_classes is not None else model.num_classes)
    model.tlcore_provenance = {"weights": f"none: {name} at a fixed random initialisation (${WEIGHTLESS_ENV})"}
    return model


def list_models() -> pd.DataFrame:
    """The zoo: name, stage depths, widths, parameters, source, description."""
    rows = []
    for entry in ZOO.values():
        model = entry.build(10)
        rows.append({"name": entry.name, "layers": entry.layers, "channels": entry.channels,
                     "parameters": sum(p.numel() for p in model.parameters()), "source": entry.source,
                     "source_per_class": entry.source_per_class, "description": entry.description})
    return pd.DataFrame(rows)
