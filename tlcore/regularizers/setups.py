"""Named regularisation set-ups, so that a run can name its regulariser as data ("l2sp", 0.01) and be hashed.

Each set-up turns a freshly created model into (model, [(weight, regulariser), ...]) for :func:`tlcore.fit`. The
default weights are the Transfer-Learning-Library's defaults for these methods (trade-off 0.01 for L2, L2-SP and
DELTA; 0.001 for BSS; 2.3 for Co-Tuning; StochNorm's p = 0.5), not tuned on our data; a chapter may sweep them. The
sample-based regulariser has no library default: 0.01 is our choice, on the scale of the others.
"""
from __future__ import annotations

from torch import nn
from torch.utils.data import Dataset

from .bss import BSS
from .delta import DELTA
from .parameter import L2, L2SP

DEFAULT_WEIGHTS = {"none": 0.0, "l2": 0.01, "l2sp": 0.01, "delta": 0.01, "bss": 0.001, "stochnorm": 0.5,
                   "l2sp_lower": 0.01, "cotuning": 2.3, "sample": 0.01}
SETUPS = tuple(DEFAULT_WEIGHTS)
# Set-ups whose weight is a loss trade-off (worth sweeping); StochNorm's is a probability and "none" has none.
TRADE_OFF_SETUPS = tuple(name for name in SETUPS if name not in ("none", "stochnorm"))


def prepare(name: str, weight: float, model: nn.Module, train: Dataset, source_arch: str):
    """``model`` ready for set-up ``name`` and the regularisers to pass to ``fit``.

    - ``none``: plain fine-tuning.
    - ``l2``: weight * 1/2 ||w||^2 on every weight (weight decay towards zero).
    - ``l2sp``: weight * 1/2 ||w_S - w_S^0||^2 on the transferred weights, plus weight * L2 on the new head (Li et al.
      2018, with alpha = beta).
    - ``delta``: weight * attention-weighted feature-map distance to the source model (channel attention measured on
      ``train``), plus weight * L2 on the new head (Li et al. 2019).
    - ``bss``: weight * the smallest squared singular value of the batch features (Chen et al. 2019).
    - ``stochnorm``: BatchNorm layers become StochNorm with p = ``weight`` (Kou et al. 2020); no loss term.
    - ``l2sp_lower``: L2-SP on the lower half of the stages (stem included), L2 on the upper half and on the new head,
      all at ``weight`` (the mix of the survey's claim R5).
    - ``cotuning``: weight * the Co-Tuning loss of the source head, its label relationship learnt from ``train`` by
      the source model (You et al. 2020).
    - ``sample``: weight * the mean distance between features of same-class pairs in the batch (Jeon et al. 2020).
    """
    if name not in DEFAULT_WEIGHTS:
        raise ValueError(f"unknown regularizer set-up {name!r}; choose one of {SETUPS}")
    if name == "none":
        return model, []
    if name == "l2":
        return model, [(weight, L2(model))]
    if name == "l2sp":
        return model, [(weight, L2SP(model)), (weight, L2(model.get_classifier()))]
    if name == "delta":
        from ..models import create

        source = create(source_arch, pretrained=True, progress=False)
        return model, [(weight, DELTA(source, train)), (weight, L2(model.get_classifier()))]
    if name == "bss":
        return model, [(weight, BSS(k=1))]
    if name == "l2sp_lower":
        from ..finetune.stages import model_stages

        count = len(model_stages(model))
        lower, upper = range(count // 2), range(count // 2, count)
        return model, [(weight, L2SP(model, stages=lower)), (weight, L2(model, stages=upper)),
                       (weight, L2(model.get_classifier()))]
    if name == "cotuning":
        from ..models import create
        from .cotuning import CoTuning

        source = create(source_arch, pretrained=True, progress=False)  # no num_classes: keeps the source head
        return model, [(weight, CoTuning.from_source_model(source, train))]
    if name == "sample":
        from .sample_based import SampleBased

        return model, [(weight, SampleBased())]
    from ..normalization import convert_to_stochnorm

    return convert_to_stochnorm(model, p=weight), []
