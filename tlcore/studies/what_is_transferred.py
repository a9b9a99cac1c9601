"""What is transferred: one set of fine-tuned models (pretrained and scratch starts x targets x seeds) and the
measurements that look inside them — basins and shared mistakes (P1), stage-wise similarity to the source (P2) and
which samples the pretrained start gets right (P4)."""

from __future__ import annotations

from itertools import combinations

import pandas as pd
from tqdm.auto import tqdm

from .. import data, models
from ..analysis.basins import barrier, error_overlap, evaluate_predictions, interpolation_curve, parameter_distance
from ..analysis.cka import stagewise_cka
from ..analysis.difficulty import knn_disagreement
from ..remembered import remembered
from ..runs.transfer import TransferRun, run_many, train_model
from .common import _lr_lookup, protocol_for, tuned_learning_rates

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {
    "runs": "transferred_runs",
    "curves": "transferred_curves",
    "pairs": "transferred_pairs",
    "cka": "transferred_cka",
    "samples": "transferred_samples",
}

INITS = ("pretrained", "scratch")


def fine_tuned_runs(profile, *, progress: bool = True) -> dict[tuple[str, str, int], TransferRun]:
    """Every (target, init, seed) of ``profile.transferred.targets`` x both starts x ``profile.seeds``: the run
    fine-tuned at ``profile.transferred.size`` images per class with chapter 1's tuned learning rate of that
    (target, init)."""
    chosen = tuned_learning_rates(profile.with_(targets=profile.transferred.targets), progress=progress)
    lr_of = _lr_lookup(chosen)
    return {
        (target, init, seed): TransferRun(target, profile.transferred.size, init == "pretrained", profile.arch,
                                          protocol_for(profile, lr_of[target, init]), seed)
        for target in profile.transferred.targets for init in INITS for seed in profile.seeds
    }


def what_is_transferred(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Fine-tune (or load) the models of :func:`fine_tuned_runs` and measure them on each target's test images
    (the test split of the first seed, one common set so that models of different seeds compare sample by sample).

    Returns tidy frames:
    - ``runs``: one row per fine-tuned model;
    - ``curves``: accuracy and loss along the linear path between every two seeds' models of one (target, init),
      BatchNorm statistics recomputed at every point on the two models' training images;
    - ``pairs``: per such pair, absolute and relative parameter distance, error and loss barrier, error overlap;
    - ``cka``: per (target, seed, stage), linear CKA between the source model and the pretrained start's fine-tuned
      model, with the target's ``role`` in P2 ("near": the first of ``transferred.targets``, "far": the last);
    - ``samples``: per (target, seed, test sample), its difficulty (k-disagreeing neighbours among
      ``profile.transferred.difficulty_reference_size`` reference images per class of a held-out training sample) and
      whether the pretrained and the scratch model of that seed get it right.
    """
    specs = fine_tuned_runs(profile, progress=progress)
    runs = run_many(list(specs.values()), progress=progress)[list(specs[next(iter(specs))].summary())
                                                               + ["val_accuracy", "test_accuracy"]]
    measured = [
        target_measures(profile.arch, target, [spec.config() for (t, _, _), spec in specs.items() if t == target],
                        points=profile.transferred.interpolation_points,
                        reference_size=profile.transferred.difficulty_reference_size,
                        reference_seed=profile.transferred.difficulty_reference_seed)
        for target in tqdm(profile.transferred.targets, disable=not progress, desc="targets", mininterval=2.0)
    ]
    tables = {"runs": runs, **{name: pd.concat([m[name] for m in measured], ignore_index=True)
                               for name in ("curves", "pairs", "cka", "samples")}}
    # P2 compares the near and the far target: the first and the last of transferred.targets, whatever their names.
    near, far = profile.transferred.targets[0], profile.transferred.targets[-1]
    tables["cka"]["role"] = tables["cka"]["target"].map({near: "near", far: "far"})
    return tables


@remembered("transferred", depends=lambda arguments: models.source_keys(arguments["arch"]))
def target_measures(arch: str, target: str, runs: list[dict], *, points: int, reference_size: int,
                    reference_seed: int) -> dict[str, pd.DataFrame]:
    """The measurements of :func:`what_is_transferred` on one target, from the fine-tuned models of ``runs`` (the
    stored configurations of its transfer runs, both starts, every seed; their weights are trained again if the
    weight cache lacks them)."""
    specs = [TransferRun.from_config(config) for config in runs]
    fitted = {(spec.target, "pretrained" if spec.pretrained else "scratch", spec.seed): train_model(spec)[0]
              for spec in specs}
    seeds = list(dict.fromkeys(spec.seed for spec in specs))  # in the profile's order
    source = models.create(arch, pretrained=True, progress=False).eval()
    curves, pairs, cka, samples = [], [], [], []
    size = specs[0].n_per_class
    evaluation = data.load(target, "test", seed=seeds[0])
    correct = {
        (init, seed): evaluate_predictions(fitted[target, init, seed], evaluation)[0]
        for init in INITS
        for seed in seeds
    }
    for init in INITS:
        for seed_a, seed_b in combinations(seeds, 2):
            a, b = fitted[target, init, seed_a], fitted[target, init, seed_b]
            own_data = data.union(data.load(target, "train", size, seed=seed_a),
                                  data.load(target, "train", size, seed=seed_b))
            curve = interpolation_curve(a, b, evaluation, points=points, batchnorm_data=own_data)
            keys = {"target": target, "init": init, "seed_a": seed_a, "seed_b": seed_b}
            curves += [{**keys, **point} for point in curve]
            pairs.append(
                {
                    **keys,
                    "distance": parameter_distance(a, b),
                    "relative_distance": parameter_distance(a, b, relative=True),
                    "error_barrier": barrier([1 - p["accuracy"] for p in curve]),
                    "loss_barrier": barrier([p["loss"] for p in curve]),
                    "error_overlap": error_overlap(correct[init, seed_a], correct[init, seed_b]),
                }
            )
    for seed in seeds:
        for stage, value in stagewise_cka(source, fitted[target, "pretrained", seed], evaluation).items():
            cka.append({"target": target, "seed": seed, "stage": stage, "cka": value})
    difficulty = knn_disagreement(data.load(target, "train", reference_size, seed=reference_seed), evaluation)
    for seed in seeds:
        samples.append(
            pd.DataFrame(
                {
                    "target": target,
                    "seed": seed,
                    "sample": range(len(evaluation)),
                    "label": evaluation.labels.numpy(),
                    "difficulty": difficulty,
                    "correct_pretrained": correct["pretrained", seed],
                    "correct_scratch": correct["scratch", seed],
                }
            )
        )
    return {
        "curves": pd.DataFrame(curves),
        "pairs": pd.DataFrame(pairs),
        "cka": pd.DataFrame(cka),
        "samples": pd.concat(samples, ignore_index=True),
    }
