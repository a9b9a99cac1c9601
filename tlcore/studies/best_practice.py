"""Chapter 10, best practice: the advisor's recipe in each quadrant, ranked among a declared set of rivals (B1)."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd

from ..advisor import QUADRANTS, RECIPES, Advice, advise, measure_similarity
from ..finetune.protocol import Protocol
from ..results.selection import select_on_validation
from ..runs.transfer import TransferRun, run_many
from .common import protocol_for

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {"advice": "advice", "leaderboard": "advice_leaderboard"}

# B1's rivals, declared before the runs: every recipe the advisor could have given (its four quadrants'), plain
# fine-tuning over the whole learning-rate grid, and training from scratch. Each is realised as the advised one is:
# its learning rate chosen on validation accuracy at the first seed among its candidates, then every seed at that
# rate; the test split chooses nothing. (Until 2026-12-03 the rivals were every recipe the results store held for
# the cell, whatever earlier chapters had happened to run.)
RIVALS = (*(f"{quadrant} recipe" for quadrant in QUADRANTS), "plain fine-tuning", "scratch")


_UNSHOWN = ("batch_size", "eval_every", "lr", "steps")


def recipe_label(recipe: dict) -> str:
    """A short human-readable name of a recipe (a run's configuration without target, size, arch, seed)."""
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
    """Where the ``advised`` runs (one row per seed) stand among ``recipes`` (one row per recipe and seed, column
    ``recipe``; the advised recipe may be among them) by mean test accuracy over seeds: rank (1 = best; equal means
    share a rank), number of recipes, the best recipe's mean and the advised mean."""
    if advised.empty:
        raise ValueError("no advised runs to rank")
    means = recipes.groupby("recipe")["test_accuracy"].mean()
    advised_key = "advised"
    means = means.drop(index=[r for r in advised["recipe"].unique() if r in means.index], errors="ignore")
    means.loc[advised_key] = advised["test_accuracy"].mean()
    ordered = means.sort_values(ascending=False)
    return {
        "rank": int((means > means[advised_key]).sum()) + 1,  # ties share a rank
        "n_recipes": len(ordered),
        "best_mean": float(ordered.iloc[0]),
        "advised_mean": float(means[advised_key]),
    }


def evaluate_advice(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Chapter 10's experiment: for each (target, size) cell of ``profile.advice.cells``, ask the advisor (which
    measures the target's similarity itself) and realise it and every rival of :data:`RIVALS`: each recipe's
    learning rate is chosen inside its candidates (the recipe's half of ``profile.lr_grid["pretrained"]``, the whole
    grid for plain fine-tuning, ``profile.lr_grid["scratch"]`` from scratch) on validation accuracy at the first seed,
    then every seed runs at that rate. A rival that realises the same configuration as an earlier one is counted once.

    Returns ``advice`` (one row per cell: quadrant, recipe, chosen lr, rank among the realised recipes by mean test
    accuracy, number of recipes, best and advised mean test accuracy), ``advised_runs`` (one row per seed) and
    ``leaderboard`` (one row per cell, recipe and seed: rival, recipe, label, init, regularizer, lr, steps, seed,
    val_accuracy, test_accuracy, target, n_per_class, quadrant, ``advised``).
    """
    similarity = {
        t: measure_similarity(profile.arch, t, seeds=profile.seeds)
        for t in dict.fromkeys(t for t, _ in profile.advice.cells)
    }
    cells, advised_runs, boards = [], [], []
    for target, n in profile.advice.cells:
        advice = advise(profile.arch, target, n_per_class=n, similarity=similarity[target], seeds=profile.seeds)
        candidates = rival_candidates(profile, advice, n)
        advised_name = f"{advice.quadrant} recipe"
        boards_of_rivals = []
        for name in RIVALS:
            runs = realise(candidates[name], profile.seeds, progress=progress)
            if not any(runs.recipe.iloc[0] == earlier.recipe.iloc[0] for earlier in boards_of_rivals):
                boards_of_rivals.append(runs.assign(rival=name))
        board = pd.concat(boards_of_rivals, ignore_index=True)
        board["advised"] = board["rival"] == advised_name
        advised = board[board.advised]
        cells.append({**advice.summary(), "chosen_lr": float(advised.lr.iloc[0]), "steps": int(advised.steps.iloc[0]),
                      **rank_of(board[~board.advised], advised)})
        advised_runs.append(advised.assign(quadrant=advice.quadrant))
        boards.append(board.assign(target=target, n_per_class=n, quadrant=advice.quadrant))
    return {
        "advice": pd.DataFrame(cells),
        "advised_runs": pd.concat(advised_runs, ignore_index=True),
        "leaderboard": pd.concat(boards, ignore_index=True),
    }


def rival_candidates(profile, advice: Advice, n: int) -> dict[str, list[TransferRun]]:
    """Every rival of :data:`RIVALS` in ``advice``'s cell (its target, ``n`` per class): the candidate runs, one
    per learning rate of its half of the grid (see :func:`evaluate_advice`), at the first seed."""
    base = protocol_for(profile, profile.lr_grid["pretrained"][0])
    grid, target, seed = profile.lr_grid["pretrained"], advice.target, profile.seeds[0]
    candidates = {f"{quadrant} recipe": dataclasses.replace(advice, quadrant=quadrant, recipe=RECIPES[quadrant])
                  .candidate_runs(base, grid, seed, n_per_class=n) for quadrant in QUADRANTS}
    candidates["plain fine-tuning"] = [TransferRun(target, n, True, profile.arch, base.with_(lr=lr), seed)
                                       for lr in grid]
    candidates["scratch"] = [TransferRun(target, n, False, profile.arch, base.with_(lr=lr), seed)
                             for lr in profile.lr_grid["scratch"]]
    return candidates


def realise(candidates: list[TransferRun], seeds, *, progress: bool = True) -> pd.DataFrame:
    """A recipe realised: among ``candidates`` (one run per candidate learning rate, at the first seed) the one with
    the best validation accuracy, then that configuration at every seed of ``seeds``. Returns one row per seed
    (columns recipe, label, init, regularizer, lr, steps, seed, val_accuracy, test_accuracy); a diverged run (NaN
    accuracies) counts with accuracy 0, the recipe having failed."""
    tuning = run_many(candidates, progress=False)
    lr = float(select_on_validation(tuning, by=["target"], param="protocol_lr")["protocol_lr"].iloc[0])
    chosen = next(run for run in candidates if run.protocol.lr == lr)
    runs = run_many([dataclasses.replace(chosen, seed=seed) for seed in seeds], progress=progress)
    recipe = {k: v for k, v in chosen.config().items() if k not in ("seed", "target", "n_per_class", "arch")}
    return pd.DataFrame({
        "recipe": json.dumps(recipe, sort_keys=True), "label": recipe_label(recipe),
        "init": "pretrained" if chosen.pretrained else "scratch", "regularizer": chosen.regularizer,
        "lr": chosen.protocol.lr, "steps": chosen.protocol.steps, "seed": runs["seed"].to_numpy(),
        "val_accuracy": runs["val_accuracy"].fillna(0.0).to_numpy(),
        "test_accuracy": runs["test_accuracy"].fillna(0.0).to_numpy()})
