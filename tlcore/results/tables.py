"""Result tables: tidy CSV files that chapters write and the book and the claims registry read, written atomically.

Each table ``<name>.csv`` has a stamp beside it, ``<name>.stamp.json``: the profile it was computed under, the commit,
the results store's version and the date. The registry reads a claim whose tables were stamped under another store
version, under different profiles, or not at all, as *stale* rather than judging it (see :func:`stale_reasons`).
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..storage import PROFILE_ENV, STORE_VERSION, atomic_path, git_commit, results_dir, write_json_atomic


# The one column of a table standing for an experiment the profile's tier has no version of (e.g. forgetting of the
# source task where the source's images are not at hand): its single row says why; its claims are "not tested".
NOT_IN_TIER = "not_tested_in_this_tier"


def not_in_tier(reason: str) -> pd.DataFrame:
    """The table an experiment leaves in a tier that cannot run it: one row, column ``NOT_IN_TIER``, the reason."""
    return pd.DataFrame({NOT_IN_TIER: [reason]})


def tier_gap(frame: pd.DataFrame) -> str | None:
    """Why ``frame`` holds no results in this tier (:func:`not_in_tier`), or None when it holds results."""
    return str(frame[NOT_IN_TIER].iloc[0]) if NOT_IN_TIER in frame.columns and len(frame) else None


def tables_dir() -> Path:
    path = results_dir() / "tables"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_table(frame: pd.DataFrame, name: str) -> Path:
    """Write a tidy table ``name`` (letters, digits, underscores) that the book and the registry read."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"table name must be letters, digits and underscores, got {name!r}")
    path = tables_dir() / f"{name}.csv"
    stamp_path = _stamp_path(name)
    stamp_path.unlink(missing_ok=True)  # a crash between the two writes leaves an unstamped (so stale) table
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    write_json_atomic(stamp_path, {
        "table": name, "rows": len(frame), "profile": os.environ.get(PROFILE_ENV) or "unknown",
        "commit": git_commit(), "store_version": STORE_VERSION,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
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


def _stamp_path(name: str) -> Path:
    return tables_dir() / f"{name}.stamp.json"


def table_stamp(name: str) -> dict | None:
    """The stamp table ``name`` was saved with (profile, commit, store_version, date, rows), or None if it has none
    (or none that can be read)."""
    try:
        return json.loads(_stamp_path(name).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def stale_reasons(names) -> list[str]:
    """Why the saved tables ``names`` cannot be judged together as results of the current code, [] when they can:
    a table without a stamp, one stamped under another results-store version, or tables from different profiles."""
    reasons, profiles = [], {}
    for name in names:
        stamp = table_stamp(name)
        if stamp is None:
            reasons.append(f"{name} has no stamp (saved by an older tlcore)")
        elif stamp.get("store_version") != STORE_VERSION:
            reasons.append(f"{name} was computed under results-store version {stamp.get('store_version')}, "
                           f"now {STORE_VERSION}")
        else:
            profiles.setdefault(stamp.get("profile"), []).append(name)
    if len(profiles) > 1:
        reasons.append("tables of different profiles: " + "; ".join(
            f"{profile}: {', '.join(tables)}" for profile, tables in sorted(profiles.items(), key=str)))
    return reasons
