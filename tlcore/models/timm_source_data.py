"""Real-tier source models for chapter 7: timm ViT-S/16 weights that differ in what they were pretrained on.

All four are ``vit_small_patch16_224`` (the same architecture), so their differences are the pretraining source and
objective, not the network. Facts from the papers the timm tags name, no network:

* ``augreg_in1k``: supervised on ImageNet-1k (1.28 M images, 1,000 classes) with the AugReg recipe ("How to train
  your ViT?", Steiner et al., arXiv:2106.10270).
* ``augreg_in21k``: supervised on ImageNet-21k (about 14 M images, 21,843 classes), same recipe family.
* ``augreg_in21k_ft_in1k``: the 21k weights, then fine-tuned on ImageNet-1k: a two-step source.
* ``dino``: self-supervised on ImageNet-1k without its labels (DINO, Caron et al., arXiv:2104.14294).

What the real tier can and cannot compare with them (chapter 7's claims):
* S1, more source data (21k vs 1k) is measured; its other half, a *small matched* source, has no timm weights for
  these targets, so S1 is not tested in this tier.
* S4, two steps (21k, then 1k) against one (21k): ImageNet-1k is the intermediate, closer to Pets (its dog and cat
  breeds) than to DTD or FGVC-Aircraft, so the claim's "intermediate close to the target" holds only in part.
* S5, self-supervised against supervised pretraining on the *same* images (ImageNet-1k): the claim's "related
  unlabelled vs less related labelled" becomes "no labels vs labels", a weaker contrast.
* S2 (DATL re-weights the source classes while pretraining) and S3 (EMD between source and target images) need the
  source images, which the tier does not load: not tested in this tier.
"""
from __future__ import annotations

import pandas as pd

VIT = "vit_small_patch16_224"
SOURCE_DATA: dict[str, dict[str, str]] = {
    f"{VIT}.augreg_in1k": {"source": "ImageNet-1k", "objective": "supervised", "parent": ""},
    f"{VIT}.augreg_in21k": {"source": "ImageNet-21k", "objective": "supervised", "parent": ""},
    f"{VIT}.augreg_in21k_ft_in1k": {"source": "ImageNet-1k", "objective": "supervised",
                                    "parent": f"{VIT}.augreg_in21k"},
    f"{VIT}.dino": {"source": "ImageNet-1k (no labels)", "objective": "dino", "parent": ""},
}
# (claim, arm, model): who plays which arm of each claim chapter 7 can compare in the real tier.
ARMS: tuple[tuple[str, str, str], ...] = (
    ("S1", "generic_few", f"{VIT}.augreg_in1k"), ("S1", "generic_many", f"{VIT}.augreg_in21k"),
    ("S4", "one_step", f"{VIT}.augreg_in21k"), ("S4", "two_step", f"{VIT}.augreg_in21k_ft_in1k"),
    ("S5", "supervised_unrelated", f"{VIT}.augreg_in1k"), ("S5", "selfsup_related", f"{VIT}.dino"),
)
# real_smoke: timm's tiny test networks take the arms (built without weights), so the path runs offline in seconds.
SMOKE_ARMS: tuple[tuple[str, str, str], ...] = (
    ("S1", "generic_few", "test_resnet.r160_in1k"), ("S1", "generic_many", "test_convnext.r160_in1k"),
    ("S4", "one_step", "test_convnext.r160_in1k"), ("S4", "two_step", "test_efficientnet.r160_in1k"),
    ("S5", "supervised_unrelated", "test_resnet.r160_in1k"), ("S5", "selfsup_related", "test_byobnet.r160_in1k"),
)
GAPS = {
    "matched": "no timm weights were pretrained on a small source matched to these targets (S1's second half)",
    "datl_weights": "DATL re-weights the source classes while pretraining; the real tier starts from finished timm "
                    "weights and loads no ImageNet images",
    "emd": "the EMD compares source images with the target's; the real tier loads no ImageNet images",
}


def source_data_frame(names) -> pd.DataFrame:
    """One row per timm weight of ``names``: model, source, objective, parent (columns of the zoo's source table;
    ``test_*`` stand-ins are described as what they are)."""
    rows = []
    for name in names:
        facts = SOURCE_DATA.get(name, {"source": "none (a test network built without weights)",
                                       "objective": "supervised", "parent": ""})
        rows.append({"model": name, **facts})
    return pd.DataFrame(rows, columns=["model", "source", "objective", "parent"])
