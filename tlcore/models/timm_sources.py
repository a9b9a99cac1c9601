"""Real-tier source models for chapter 3: timm ImageNet ResNets that differ from one reference in one thing.

Facts only, no network: every top-1 and parameter count is the ``img_size=224`` row of timm's
``results/results-imagenet.csv`` (huggingface/pytorch-image-models, file last changed in commit 4e5207c7; line numbers
below are of that version). 224 is each model's default eval size except ``tv2`` and ``a3``, where timm's ``input_size``
is the training size (176/160 px) and 224 is its ``test_input_size``; eval crops differ by family (the CSV's crop_pct:
0.875 bilinear for torchvision V1 and the FB weights, 0.965 bilinear for tv2, 0.95 bicubic for RSB). ``blocks`` is the
number of bottleneck blocks, ``width`` is ``model.num_features`` (2048 for all: a wide ResNet doubles the bottleneck's
inner channels, not its output, so its width shows in ``params_m``, not in ``width``). None means "not verified here".

Contrasts (role -> compared with ``BASELINES[role]``) and what else differs in each:

* deeper (ResNet-101 vs 50, torchvision V1): same documented recipe (torchvision README defaults). Clean.
* wider (WRN-50-2 vs ResNet-50, torchvision V1): also 256 epochs of SGD with cosine warm restarts and FP16 instead of
  90 epochs with step decay (vision PR 912). Depth and output width equal; 2.7x the parameters.
* label_smoothing (tv2 vs tv): the whole torchvision V2 recipe changes, not just the loss: 600 epochs, mixup, cutmix,
  TrivialAugment, random erasing, EMA, repeated augmentation, cosine LR 0.5, wd 2e-5, 176 px training. Weak contrast.
* more_images (FB semi-supervised vs tv): pretraining on a YFCC100M subset chosen by a ResNeXt-101 32x48d teacher
  trained on ImageNet-1k labels only, before ImageNet-1k fine-tuning; it is thus also teacher-student learning, and its
  schedule and recipe are FB's, not torchvision's. ``resnet50.fb_swsl_ig1b_ft_in1k`` (CSV line 879: 81.146; teacher
  built from 940M public hashtagged images, IG-1B) is a stronger, further-removed alternative, left out.
* half_steps / fewer_steps (RSB A2 300 / A3 100 epochs vs A1 600): no torchvision-recipe ResNet-50 has a shorter
  schedule than the 90-epoch reference, so these compare with ``steps_reference`` (A1), NOT with ``reference``. Other
  regularisation hyper-parameters of A1/A2/A3 also differ (paper Table 1, not read here; mmpretrain's re-implementation
  configs show e.g. mixup alpha 0.2 in A1 vs 0.1 in A2/A3, and LR 0.008 in A3); A3 trains at 160 px, A1/A2 at 224.
  RSB epochs are from the paper as quoted by mmpretrain's config names (a1-600e, a2-300e, a3-100e) and by reviews of it.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

IMAGENET_PER_CLASS = 1281  # nominal: 1,281,167 ImageNet-1k training images / 1000 classes
CSV = "timm results/results-imagenet.csv@4e5207c7"
TV_README = "pytorch/vision references/classification README (defaults: 90 epochs, SGD lr 0.1 step 30, wd 1e-4)"
RSB = "ResNet strikes back (arXiv:2110.00476); timm hfdocs/hparams.mdx: LAMB + BCE loss, cosine LR with warmup"


@dataclass(frozen=True)
class TimmSource:
    """One timm pretrained weight and what is known about how it was pretrained (see the module docstring)."""

    name: str  # timm name with pretrained tag
    imagenet_top1: float | None  # ImageNet-1k val top-1 (%) quoted from the CSV row at 224 px; None: not published
    params_m: float | None  # millions of parameters, the CSV's param_count
    blocks: int | None  # residual (bottleneck) blocks
    width: int | None  # channels of the final feature map, model.num_features
    pretrain_data: str
    pretrain_epochs: int | None
    label_smoothing: float | None
    recipe: str
    source_note: str
    drop_rate: float | None = 0.0  # dropout before the classifier while pretraining (torchvision ResNets have none)


_SOURCES = [
    TimmSource("resnet50.tv_in1k", 76.156, 25.56, 16, 2048, "ImageNet-1k", 90, 0.0, "torchvision original",
               f"{CSV} line 1378; recipe: ResNet50_Weights.IMAGENET1K_V1 links {TV_README}; the torchvision blog "
               "'How to Train State-Of-The-Art Models...' lists this baseline as epochs=90, no label smoothing"),
    TimmSource("resnet101.tv_in1k", 77.404, 44.55, 33, 2048, "ImageNet-1k", 90, 0.0, "torchvision original",
               f"{CSV} line 1308; recipe: ResNet101_Weights.IMAGENET1K_V1 links {TV_README}"),
    TimmSource("wide_resnet50_2.tv_in1k", 78.486, 68.88, 16, 2048, "ImageNet-1k", 256, 0.0,
               "torchvision V1, WRN variant (cosine warm restarts, FP16)",
               f"{CSV} line 1213; recipe: Wide_ResNet50_2_Weights.IMAGENET1K_V1 links pytorch/vision PR 912 (S. "
               "Zagoruyko): standard recipe except SGD with cosine LR and warm restarts for 256 epochs, FP16"),
    TimmSource("resnet50.tv2_in1k", 80.846, 25.56, 16, 2048, "ImageNet-1k", 600, 0.1, "torchvision V2 (new recipe)",
               f"{CSV} line 927 (224 = test size; trained at 176); recipe: ResNet50_Weights.IMAGENET1K_V2 links "
               "pytorch/vision issue 3995 comment 1013906621 and the blog: 600 epochs, label_smoothing 0.1, mixup 0.2, "
               "cutmix 1.0, ta_wide, random erase 0.1, EMA, ra-reps 4"),
    TimmSource("resnet50.fb_ssl_yfcc100m_ft_in1k", 79.252, 25.56, 16, 2048, "YFCC100M semi-supervised then 1k", None,
               None, "FB semi-supervised (teacher-student)",
               f"{CSV} line 1139; data: facebookresearch/semi-supervised-ImageNet1K-models README (arXiv:1905.00546): "
               "unlabeled YFCC100M subset, teacher ResNeXt-101 32x48d trained on ImageNet-1k labels only, then "
               "fine-tuned on ImageNet-1k. Epochs/label smoothing not verified (timm hfdocs ssl-resnet lists 'Epochs: "
               "30, batch 1536' without saying for which stage)"),
    TimmSource("resnet50.a1_in1k", 80.382, 25.56, 16, 2048, "ImageNet-1k", 600, None, "timm RSB A1", f"{CSV} line "
               f"995 (224 = input_size; 288 is timm's test size); {RSB}; label smoothing not verified", None),
    TimmSource("resnet50.a2_in1k", 79.828, 25.56, 16, 2048, "ImageNet-1k", 300, None, "timm RSB A2",
               f"{CSV} line 1069 (224 = input_size); {RSB}; label smoothing not verified", None),
    TimmSource("resnet50.a3_in1k", 78.052, 25.56, 16, 2048, "ImageNet-1k", 100, None, "timm RSB A3 (160 px)",
               f"{CSV} line 1252 (224 = test size; trained at 160 px); {RSB}; label smoothing not verified", None),
]
# The real_smoke profile's stand-ins: timm's tiny test networks, built without weights there, so the chapter's code
# path runs offline in seconds. They stand in for roles, not for the contrasts: nothing about them is "deeper" or
# "more pretrained", and timm publishes no ImageNet top-1 for them, so claims that read source accuracy are not tested
# on them.
_TEST = "timm test network (tiny, for sanity checks; no published top-1)"
_SMOKE_SOURCES = [TimmSource(f"{arch}.r160_in1k", None, None, None, None, "ImageNet-1k", None, None, _TEST,
                             "timm model card: 'A very small test ... model for testing and sanity checks'", None)
                  for arch in ("test_resnet", "test_byobnet", "test_convnext", "test_efficientnet", "test_nfnet",
                               "test_efficientnet_ln", "test_efficientnet_gn", "test_convnext2")]
TIMM_SOURCES: dict[str, TimmSource] = {source.name: source for source in _SOURCES + _SMOKE_SOURCES}

ROLES: dict[str, str] = {
    "reference": "resnet50.tv_in1k",
    "deeper": "resnet101.tv_in1k",
    "wider": "wide_resnet50_2.tv_in1k",
    "label_smoothing": "resnet50.tv2_in1k",
    "more_images": "resnet50.fb_ssl_yfcc100m_ft_in1k",
    "steps_reference": "resnet50.a1_in1k",
    "half_steps": "resnet50.a2_in1k",
    "fewer_steps": "resnet50.a3_in1k",
}
# The role each contrast is measured against: the step contrasts have their own (RSB A1) reference.
BASELINES: dict[str, str] = {"deeper": "reference", "wider": "reference", "label_smoothing": "reference",
                             "more_images": "reference", "half_steps": "steps_reference",
                             "fewer_steps": "steps_reference"}
SMOKE_ROLES: dict[str, str] = dict(zip(ROLES, (source.name for source in _SMOKE_SOURCES)))  # one network per role

COLUMNS = ["model", "source_val_accuracy", "source_test_accuracy", "pretrainings", "blocks", "width",
           "pretrain_steps", "source_per_class", "label_smoothing", "drop_rate", "pretrain_seconds"]


def timm_source_frame(names) -> pd.DataFrame:
    """One row per name of ``names`` with the columns of the zoo's source frame (``COLUMNS``).

    Accuracies are fractions of the CSV top-1; ``source_test_accuracy`` repeats the validation value (ImageNet's test
    labels are not public). ``pretrainings`` is 1 (one published weight). ``pretrain_steps`` holds pretraining
    *epochs* (not optimiser steps; batch sizes differ by recipe). ``source_per_class`` is the nominal ImageNet-1k
    count for ImageNet-1k-only weights and None otherwise. ``pretrain_seconds`` is NaN (not published).
    """
    unknown = [name for name in names if name not in TIMM_SOURCES]
    if unknown:
        raise KeyError(f"unknown timm source(s) {unknown}; known: {sorted(TIMM_SOURCES)}")
    rows = []
    for name in names:
        s = TIMM_SOURCES[name]
        top1 = float("nan") if s.imagenet_top1 is None else s.imagenet_top1 / 100
        rows.append({"model": name, "source_val_accuracy": top1,
                     "source_test_accuracy": top1, "pretrainings": 1, "blocks": s.blocks,
                     "width": s.width, "pretrain_steps": s.pretrain_epochs,
                     "source_per_class": IMAGENET_PER_CLASS if s.pretrain_data == "ImageNet-1k" else None,
                     "label_smoothing": s.label_smoothing, "drop_rate": s.drop_rate, "pretrain_seconds": float("nan")})
    return pd.DataFrame(rows, columns=COLUMNS)
