"""Chapter 9, neighbouring problems: domain adaptation, forgetting, few-shot learning (A1-A4)."""

from __future__ import annotations

import pandas as pd

from .. import data, models
from ..remembered import remembered
from ..results.tables import not_in_tier
from ..runs.transfer import TransferRun, run_many
from .common import _lr_lookup, protocol_for, tuned_learning_rates

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {"adaptation": "adaptation_runs", "continual": "continual_runs", "few_shot": "few_shot_runs"}


def domain_adaptation_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Source-only training vs DANN: the pretrained source model learns the labelled domain of
    ``profile.neighbours.adaptation_pair`` (``profile.neighbours.adaptation_size`` images per class) for
    ``profile.neighbours.steps`` steps at the labelled domain's tuned pretrained learning rate; DANN also sees
    ``profile.neighbours.adaptation_unlabelled`` unlabelled images per class of the shifted domain. Both keep their
    final weights (``select="last"``), so no label of the shifted domain is used; accuracy is read on the shifted
    domain's test split, for every seed."""
    from ..runs.adaptation import AdaptationRun

    labelled, shifted = profile.neighbours.adaptation_pair
    # The labelled domain is a chapter-1 target in the embedded world, not in the real tier: tuned alike either way.
    lr = _lr_lookup(tuned_learning_rates(profile, targets=(labelled,), progress=progress))[labelled, "pretrained"]
    protocol = protocol_for(profile, lr).with_(steps=profile.neighbours.steps, select="last")
    specs = [
        AdaptationRun(
            labelled,
            shifted,
            profile.neighbours.adaptation_size,
            method,
            profile.neighbours.adaptation_unlabelled,
            profile.arch,
            True,
            protocol,
            seed,
        )
        for method in ("source_only", "dann")
        for seed in profile.seeds
    ]
    return {"runs": run_many(specs, progress=progress)}


def continual_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Learn ``profile.neighbours.continual_target`` (``profile.neighbours.continual_size`` per class) from the
    pretrained source model with each of ``profile.neighbours.continual_methods`` for ``profile.neighbours.steps``
    steps, every seed, and score the source task before and after. Fine-tuning, LwF, L2-SP and the frozen probe use the
    target's tuned pretrained learning rate. The progressive network's new column starts from scratch: it uses the
    tuned scratch rate, lowered along the profile's learning-rate grid (scratch and pretrained values, descending)
    while its training diverges."""
    from ..runs.continual import ContinualRun, first_stable

    if profile.arch not in models.ZOO:
        return {"runs": not_in_tier(
            f"forgetting is measured on the source task's own test images, and {profile.arch}'s source (ImageNet) "
            "is not loaded by this tier")}
    lr_of = _lr_lookup(tuned_learning_rates(profile, progress=progress))
    target = profile.neighbours.continual_target
    scratch_lr = lr_of[target, "scratch"]
    fallback = sorted({lr for lrs in profile.lr_grid.values() for lr in lrs if lr <= scratch_lr}, reverse=True)
    specs = []
    for method in profile.neighbours.continual_methods:
        for seed in profile.seeds:
            lr = scratch_lr if method == "progressive" else lr_of[target, "pretrained"]
            spec = ContinualRun(
                target,
                profile.neighbours.continual_size,
                method,
                profile.arch,
                protocol_for(profile, lr).with_(steps=profile.neighbours.steps),
                seed,
            )
            specs.append(first_stable(spec, fallback) if method == "progressive" else spec)
    return {"runs": run_many(specs, progress=progress)}


def few_shot_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """k-shot learning on ``profile.neighbours.few_shot_targets`` for k in ``profile.neighbours.few_shot_k``:
    fine-tuning the pretrained source model (chapter 1's protocol and tuned learning rate, so k in ``profile.sizes``
    shares its runs) against the nearest-prototype classifier on the frozen source features, on the same k images per
    class, every seed. Returns ``runs``: target, k, method ("finetune" | "prototype"), seed, test_accuracy."""
    tuned = run_many(few_shot_runs(profile, progress=progress), progress=progress).assign(method="finetune")
    prototypes = prototype_runs(profile.arch, list(profile.neighbours.few_shot_targets),
                                list(profile.neighbours.few_shot_k), list(profile.seeds))
    columns = ["target", "n_per_class", "seed", "method", "test_accuracy"]
    runs = pd.concat([tuned[columns], prototypes[columns]], ignore_index=True)
    return {"runs": runs.rename(columns={"n_per_class": "k"})}


@remembered("prototypes", depends=lambda arguments: models.source_keys(arguments["arch"]))
def prototype_runs(arch: str, targets: list[str], shots: list[int], seeds: list[int]) -> pd.DataFrame:
    """The nearest-prototype classifier on pretrained ``arch``'s frozen features, fitted on k images per class (k in
    ``shots``, the seed's sample) and scored on the test split: columns target, n_per_class, seed, method
    ("prototype"), test_accuracy."""
    from ..analysis.prototypes import prototype_accuracy

    source = models.create(arch, pretrained=True, progress=False).eval()
    return pd.DataFrame([
        {"target": target, "n_per_class": k, "seed": seed, "method": "prototype",
         "test_accuracy": prototype_accuracy(source, data.load(target, "train", k, seed=seed),
                                             data.load(target, "test", seed=seed))}
        for target in targets for k in shots for seed in seeds])


def few_shot_runs(profile, *, progress: bool = True) -> list[TransferRun]:
    """:func:`few_shot_study`'s fine-tuning runs: every few-shot target, k and seed at chapter 1's tuned pretrained
    learning rate (the tuning runs are computed, or read, here)."""
    lr_of = _lr_lookup(tuned_learning_rates(profile, progress=progress))
    return [TransferRun(target, k, True, profile.arch, protocol_for(profile, lr_of[target, "pretrained"]), seed)
            for target in profile.neighbours.few_shot_targets
            for k in profile.neighbours.few_shot_k
            for seed in profile.seeds]
