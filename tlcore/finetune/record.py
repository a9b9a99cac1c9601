"""The tidy record of one training run: its configuration, validation history and selected accuracies."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd


@dataclass
class RunRecord:
    """A tidy record of one training run."""

    config: dict
    history: list[dict] = field(default_factory=list)
    best_step: int = 0
    val_accuracy: float = float("nan")
    test_accuracy: float = float("nan")
    test_loss: float = float("nan")
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunRecord":
        return cls(**data)

    def history_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)
