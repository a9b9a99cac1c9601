"""Choosing a hyper-parameter on validation data, never on the test split."""
from __future__ import annotations

import pandas as pd


def select_on_validation(frame: pd.DataFrame, *, by: list[str], param: str,
                         metric: str = "val_accuracy") -> pd.DataFrame:
    """For each ``by`` group, the value of ``param`` with the best mean ``metric`` (validation only, never test).

    Ties go to the first value in sorted order, so the choice is deterministic.
    """
    if metric.startswith("test"):
        raise ValueError("hyper-parameters are selected on validation data, never on the test split")
    means = frame.groupby([*by, param], as_index=False)[metric].mean().sort_values([*by, param])
    best = means.loc[means.groupby(by)[metric].idxmax()]
    return best.rename(columns={metric: f"best_{metric}"}).reset_index(drop=True)
