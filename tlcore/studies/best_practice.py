"""Chapter 10, best practice: the advisor's recipe in each quadrant, ranked among every recipe the book ran (B1)."""

from __future__ import annotations

import json

import pandas as pd

from ..advisor import advise, measure_similarity
from ..finetune.protocol import Protocol
from ..results.selection import select_on_validation
from ..runs.store import RunStore
from ..runs.transfer import TransferRun, run_many
from .common import protocol_for

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {"advice": "advice", "leaderboard": "advice_leaderboard"}


def recipes_run(
    target: str, n_per_class: int, *, arch: str, store: RunStore | None = None, min_seeds: int = 3
) -> pd.DataFrame:
    """Every fine-tuning recipe the results store holds for (``target``, ``n_per_class``, ``arch``) with at least
    ``min_seeds`` seeds: one row per (recipe, seed), columns ``recipe`` (a stable description of everything but the
    seed), ``init``, ``regularizer``, ``lr``, ``steps``, ``seed``, ``val_accuracy``, ``test_accuracy``.

    A diverged run counts with accuracy 0 (the recipe failed). Records of an older store version are skipped.
    """
    store = store or RunStore()
    rows = []
    for _, config, record in store.records(target=target, n_per_class=n_per_class, arch=arch):
        diverged = record.config.get("diverged")
        recipe = {k: v for k, v in config.items() if k not in ("seed", "target", "n_per_class", "arch")}
        protocol = recipe.get("protocol", {})
        rows.append(
            {
                "recipe": json.dumps(recipe, sort_keys=True),
                "label": recipe_label(recipe),
                "init": "pretrained" if config.get("pretrained") else "scratch",
                "regularizer": config.get("regularizer", "none"),
                "lr": protocol.get("lr"),
                "steps": protocol.get("steps"),
                "seed": config.get("seed"),
                "val_accuracy": 0.0 if diverged else record.val_accuracy,
                "test_accuracy": 0.0 if diverged else record.test_accuracy,
            }
        )
    frame = pd.DataFrame(
        rows, columns=["recipe", "label", "init", "regularizer", "lr", "steps", "seed", "val_accuracy", "test_accuracy"]
    )
    seeds = frame.groupby("recipe")["seed"].transform("nunique")
    return frame[seeds >= min_seeds].reset_index(drop=True)


_UNSHOWN = ("batch_size", "eval_every", "lr", "steps")


def recipe_label(recipe: dict) -> str:
    """A short human-readable name of a stored recipe (a run's configuration without target, size, arch, seed)."""
    protocol = recipe.get("protocol", {})
    parts = [
        "pretrained" if recipe.get("pretrained") else "scratch",
        f"lr {protocol.get('lr')}",
        f"{protocol.get('steps')} steps",
    ]
    default = Protocol().key_dict()
    parts += [f"{k} {v}" for k, v in sorted(protocol.items()) if k not in _UNSHOWN and default.get(k) != v]
    if recipe.get("regularizer", "none") != "none":
        parts.append(f"{recipe['regularizer']} {recipe.get('regularizer_weight')}")
    return ", ".join(parts)


def rank_of(recipes: pd.DataFrame, advised: pd.DataFrame) -> dict:
    """Where the ``advised`` runs (one row per seed) stand among ``recipes`` (from :func:`recipes_run`, the advised
    recipe may be among them) by mean test accuracy over seeds: rank (1 = best), number of recipes, the best
    recipe's mean and the advised mean."""
    if advised.empty:
        raise ValueError("no advised runs to rank")
    means = recipes.groupby("recipe")["test_accuracy"].mean()
    advised_key = "advised"
    means = means.drop(index=[r for r in advised["recipe"].unique() if r in means.index], errors="ignore")
    means.loc[advised_key] = advised["test_accuracy"].mean()
    ordered = means.sort_values(ascending=False)
    return {
        "rank": int(list(ordered.index).index(advised_key)) + 1,
        "n_recipes": len(ordered),
        "best_mean": float(ordered.iloc[0]),
        "advised_mean": float(means[advised_key]),
    }


def evaluate_advice(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Chapter 10's experiment: for each (target, size) cell of ``profile.advice.cells``, ask the advisor (which
    measures the target's similarity itself), run its recipe — the learning rate chosen inside the recipe's half of
    ``profile.lr_grid["pretrained"]`` on validation accuracy at the first seed, then every seed — and rank it among
    every recipe the results store holds for that cell with at least three seeds (the book's other chapters).

    Returns ``advice`` (one row per cell: quadrant, recipe, chosen lr, rank, number of recipes, best and advised mean
    test accuracy), ``advised_runs`` (one row per seed) and ``leaderboard`` (one row per cell, recipe and seed, with
    ``advised`` marking the advisor's recipe).
    """

    base = protocol_for(profile, profile.lr_grid["pretrained"][0])
    grid = profile.lr_grid["pretrained"]
    similarity = {
        t: measure_similarity(profile.arch, t, seeds=profile.seeds)
        for t in dict.fromkeys(t for t, _ in profile.advice.cells)
    }
    cells, advised_runs, boards = [], [], []
    for target, n in profile.advice.cells:
        advice = advise(profile.arch, target, n_per_class=n, similarity=similarity[target], seeds=profile.seeds)
        tuning = run_many(advice.candidate_runs(base, grid, profile.seeds[0], n_per_class=n), progress=False)
        lr = float(select_on_validation(tuning, by=["target"], param="protocol_lr")["protocol_lr"].iloc[0])
        chosen = [r for r in advice.candidate_runs(base, grid, profile.seeds[0], n_per_class=n) if r.protocol.lr == lr][
            0
        ]
        specs = [
            TransferRun(chosen.target, chosen.n_per_class, True, chosen.arch, chosen.protocol, seed, chosen.regularizer)
            for seed in profile.seeds
        ]
        runs = run_many(specs, progress=progress).assign(
            recipe=json.dumps(
                {k: v for k, v in specs[0].config().items() if k not in ("seed", "target", "n_per_class", "arch")},
                sort_keys=True,
            )
        )
        board = recipes_run(target, n, arch=profile.arch, min_seeds=min(3, len(profile.seeds)))
        standing = rank_of(board, runs)
        cells.append({**advice.summary(), "chosen_lr": lr, "steps": chosen.protocol.steps, **standing})
        advised_runs.append(runs.assign(quadrant=advice.quadrant))
        boards.append(
            board.assign(
                target=target, n_per_class=n, quadrant=advice.quadrant, advised=board["recipe"].isin(runs["recipe"])
            )
        )
    return {
        "advice": pd.DataFrame(cells),
        "advised_runs": pd.concat(advised_runs, ignore_index=True),
        "leaderboard": pd.concat(boards, ignore_index=True),
    }
