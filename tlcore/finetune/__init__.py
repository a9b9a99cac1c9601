"""Fine-tuning: protocols as data, the one training loop, regularizers plugged in as loss terms."""
from .loop import RunRecord, StepContext, TransferRegularizer, evaluate, fit, predict, random_shift
from .protocol import LINEAR_PROBE, Protocol, parameter_groups, set_train_mode

__all__ = ["fit", "evaluate", "predict", "random_shift", "RunRecord", "StepContext", "TransferRegularizer",
           "Protocol", "LINEAR_PROBE", "parameter_groups", "set_train_mode"]
