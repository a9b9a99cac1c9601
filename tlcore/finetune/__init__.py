"""Fine-tuning: protocols as data, the one training loop, regularizers plugged in as loss terms."""
from .augment import mixup, random_shift
from .evaluation import evaluate, predict
from .frozen import Frozen
from .loop import fit
from .protocol import LINEAR_PROBE, Protocol, TrainingPlan, UnknownFieldError, parameter_groups, set_train_mode
from .recipes import (bit_hyperrule, frozen_stages, full_finetuning, linear_probe, linear_probe_then_finetune,
    transfer_first_stages)
from .record import RunRecord
from .regularizer import StepContext, TransferRegularizer
from .reinit import reinitialize_from_stage
from .stages import Stage, StageOutputs, model_stages, stage_parameters

__all__ = ["fit", "evaluate", "predict", "random_shift", "RunRecord", "StepContext", "TransferRegularizer",
           "Protocol", "LINEAR_PROBE", "TrainingPlan", "UnknownFieldError", "parameter_groups", "set_train_mode",
           "full_finetuning", "linear_probe", "linear_probe_then_finetune", "frozen_stages", "transfer_first_stages",
           "bit_hyperrule", "mixup", "Frozen", "reinitialize_from_stage", "Stage", "StageOutputs", "model_stages",
           "stage_parameters"]
