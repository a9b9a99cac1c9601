"""How much a tier's chapters train: every fine-tuning run each chapter asks for, counted without training one.

:func:`chapter_runs` executes a chapter's grids (the study functions its page calls) inside
:func:`tlcore.runs.spec.planning`: each run is listed and given a placeholder outcome, so the selections on validation
and the grids that follow them go through as they would, without data, weights or a GPU. :func:`plan` gives, per
chapter, the runs and the training images they see (steps x batch size, the unlabelled batches of DANN not counted);
:func:`with_gpu_hours` turns images into hours at a stated throughput. Probes, CKA, metric scores and evaluation
passes (forward only) are not counted. ``tests/chapters/test_notebooks.py`` checks every chapter's plan against the
runs its page stores under ``real_smoke``, the real tier's code path.

The grids are those of the timm tiers (``real``, ``real_smoke``): chapter 7's are the published weights' arms.
"""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ..advisor import QUADRANTS, RECIPES, Advice
from ..runs.spec import RunSpec, planning
from ..runs.transfer import run_many
from . import hyperparameters as hp
from .best_practice import realise, rival_candidates
from .common import ranking_runs
from .does_transfer_help import tuned_transfer_grid
from .neighbouring_problems import continual_study, domain_adaptation_study, few_shot_runs
from .regularizers import regularizer_study
from .source_data import fine_tune_runs, published_roles
from .what_is_transferred import fine_tuned_runs
from .what_to_transfer import reinit_study
from .which_source_model import finetuned_models


def _advice_rivals(profile) -> None:
    """Chapter 10's rivals in every cell, each realised (tuned at the first seed, then every seed). Which quadrant
    the advisor picks does not change the runs: every quadrant's recipe is a rival."""
    for target, n in profile.advice.cells:
        advice = Advice(profile.arch, target, n, 0, 0.0, QUADRANTS[0], RECIPES[QUADRANTS[0]], {})
        for candidates in rival_candidates(profile, advice, n).values():
            realise(candidates, profile.seeds, progress=False)


def _source_data(profile) -> None:
    if not profile.source_data.arms:
        raise ValueError(f"profile {profile.name!r} has no published-weight arms: the plan covers the timm tiers")
    run_many(fine_tune_runs(profile, published_roles(profile)[["model", "target"]].drop_duplicates()),
             progress=False)


# Chapter -> what its page runs (its study functions, without the probes and measurements that need data).
CHAPTER_GRIDS: dict[str, Callable] = {
    "01": lambda p: tuned_transfer_grid(p, progress=False),
    "02": lambda p: (tuned_transfer_grid(p, progress=False), reinit_study(p, progress=False)),
    "03": lambda p: run_many(ranking_runs(p, finetuned_models(p)), progress=False),
    "04": lambda p: run_many(ranking_runs(p, list(p.ranking.candidates)), progress=False),
    "05": lambda p: regularizer_study(p, progress=False),
    "06": lambda p: (hp.lr_momentum_grid(hp.grid_setup(p), progress=False), hp.schedule_study(p, progress=False),
                     hp.mixup_study(p, progress=False), hp.bit_recipe_study(p, progress=False),
                     run_many(hp.quick_runs(hp.grid_setup(p)), progress=False)),
    "07": _source_data,
    "08": lambda p: run_many(list(fine_tuned_runs(p, progress=False).values()), progress=False),
    "09": lambda p: (domain_adaptation_study(p, progress=False), continual_study(p, progress=False),
                     run_many(few_shot_runs(p, progress=False), progress=False)),
    "10": _advice_rivals,
}


def chapter_runs(chapter: str, profile) -> list[RunSpec]:
    """Every run chapter ``chapter`` ("01" ... "10") asks for under ``profile``, each once, none trained."""
    if chapter not in CHAPTER_GRIDS:
        raise KeyError(f"unknown chapter {chapter!r}; choose one of {sorted(CHAPTER_GRIDS)}")
    with planning() as listed:
        CHAPTER_GRIDS[chapter](profile)
    return list({spec.key(): spec for spec in listed}.values())


def signature(spec: RunSpec) -> tuple:
    """What a run costs and where: kind, target (labelled domain), images per class, steps, batch size."""
    target = getattr(spec, "target", None) or getattr(spec, "labelled", None)
    return type(spec).__name__, target, spec.n_per_class, spec.protocol.steps, spec.protocol.batch_size


def plan(profile, chapters=None) -> pd.DataFrame:
    """One row per chapter of ``chapters`` (default: all): runs, steps and training images (steps x batch size),
    then a row ``book``: the distinct runs of all of them (chapters share runs: chapter 2 reads chapter 1's grid)."""
    rows, everything = [], {}
    for chapter in chapters or sorted(CHAPTER_GRIDS):
        specs = chapter_runs(chapter, profile)
        everything.update({spec.key(): spec for spec in specs})
        rows.append({"chapter": chapter, **_totals(specs)})
    rows.append({"chapter": "book", **_totals(list(everything.values()))})
    return pd.DataFrame(rows)


def _totals(specs: list[RunSpec]) -> dict:
    return {"runs": len(specs), "steps": sum(spec.protocol.steps for spec in specs),
            "train_images": sum(spec.protocol.steps * spec.protocol.batch_size for spec in specs)}


def with_gpu_hours(frame: pd.DataFrame, images_per_second: float) -> pd.DataFrame:
    """``frame`` (from :func:`plan`) with ``gpu_hours``: its training images at ``images_per_second``."""
    if not images_per_second > 0:
        raise ValueError(f"images_per_second must be positive, got {images_per_second}")
    return frame.assign(gpu_hours=(frame["train_images"] / images_per_second / 3600).round(2))


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` (from :func:`with_gpu_hours`) as the README's Markdown table."""
    lines = ["| chapter | runs | steps | training images | GPU hours |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {row.chapter} | {row.runs:,} | {row.steps:,} | {row.train_images:,} | {row.gpu_hours:.2f} |"
              for row in frame.itertuples()]
    return "\n".join(lines)
