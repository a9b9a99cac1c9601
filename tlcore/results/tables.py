"""Result tables: tidy CSV files that chapters write and the book and the claims registry read, written atomically."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..storage import atomic_path, results_dir


def tables_dir() -> Path:
    path = results_dir() / "tables"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_table(frame: pd.DataFrame, name: str) -> Path:
    """Write a tidy table ``name`` (letters, digits, underscores) that the book and the registry read."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"table name must be letters, digits and underscores, got {name!r}")
    path = tables_dir() / f"{name}.csv"
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def save_tables(frames, names) -> list[Path]:
    """Save ``frames[key]`` as table ``names[key]`` for every key the two mappings share, in the order of ``names``
    (a study's result and its module's ``TABLES``)."""
    return [save_table(frames[key], name) for key, name in names.items() if key in frames]


def load_table(name: str) -> pd.DataFrame:
    path = tables_dir() / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"result table {name!r} does not exist yet ({path}); run the chapter that makes it")
    return pd.read_csv(path)


def has_table(name: str) -> bool:
    return (tables_dir() / f"{name}.csv").exists()
