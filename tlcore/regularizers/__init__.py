"""Transfer regularisers: terms added to the fine-tuning loss, each a :class:`~tlcore.finetune.TransferRegularizer`.

Each has ``forward(...)`` on plain tensors (usable on its own) and ``penalty(ctx)`` for the loop; pass them to
``fit`` as ``(weight, regularizer)`` pairs::

    fit(model, train, val, regularizers=[(0.01, L2SP(model)), (0.01, L2(model.get_classifier()))])

=================  ====================================================================  ===========================
class              penalty                                                               paper
=================  ====================================================================  ===========================
``L2``             1/2 ||w||^2                                                           weight decay
``L2SP``           1/2 ||w_S - w_S^0||^2 on transferred weights (optionally per stage)   Li et al. 2018
``DELTA``          attention-weighted feature-map distance to the frozen source          Li et al. 2019
``BSS``            sum of the k smallest squared singular values of the batch features   Chen et al. 2019
``CoTuning``       source head trained towards p(y_s | y_t)                               You et al. 2020
``LwF``            distillation of the old head towards the original network             Li & Hoiem 2016
``SampleBased``    distance between features of same-class pairs                         Jeon et al. 2020
=================  ====================================================================  ===========================

StochNorm (Kou et al. 2020) changes the model rather than the loss: :func:`tlcore.normalization.convert_to_stochnorm`.
"""
from .bss import BSS
from .cotuning import CoTuning, learn_relationship
from .delta import DELTA, channel_attention
from .lwf import LwF
from .parameter import L2, L2SP, backbone_parameters
from .sample_based import SampleBased

__all__ = ["L2", "L2SP", "DELTA", "BSS", "CoTuning", "LwF", "SampleBased", "channel_attention",
           "learn_relationship", "backbone_parameters"]
