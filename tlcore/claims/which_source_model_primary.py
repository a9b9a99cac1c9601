"""Primary tests (issue 14) of chapter 3's claims T2, T5, T6 and S6; :mod:`tlcore.claims.which_source_model`
imports ``PRIMARY``. The rules there stay as the secondary checks."""
from __future__ import annotations

import numpy as np

from .primary import Primary, collapsed_runs, describe_runs
from .primary_test import PrimaryTest
from .which_source_model import (FINETUNED, PRETRAININGS, PROBES, SOURCES, pretraining_pairs, role_models, seed_gains,
                                 source_target_rho, unknown_source_accuracy)


def _no_collapsed_run(*roles_compared):
    """The precondition check: no fine-tuning run of the compared models (every model when none is named) ended far
    below its siblings."""
    def check(tables) -> dict[str, str]:
        runs = tables(FINETUNED)
        if roles_compared:
            roles = role_models(tables(SOURCES))
            runs = runs[runs["model"].isin([roles[r] for r in roles_compared if r in roles])]
        collapsed = collapsed_runs(runs, ["model", "target"])
        return {"no collapsed run": describe_runs(collapsed, ["model", "target"])} if len(collapsed) else {}
    return check


def _t2_differences(tables):
    finetuned = tables(FINETUNED)
    gains = [seed_gains(finetuned, "test_accuracy", more, less) for more, less in
             pretraining_pairs(tables(SOURCES)).values()]
    return 100 * np.min(gains, axis=0)


def _t5_differences(tables):
    roles = role_models(tables(SOURCES))
    return 100 * seed_gains(tables(FINETUNED), "test_accuracy", roles["deeper"], roles["reference"])


def _t6_preconditions(tables) -> dict[str, str]:
    failed = dict(_no_collapsed_run()(tables))
    if unknown := unknown_source_accuracy(tables(SOURCES)):
        failed["source accuracy published"] = f"no published source accuracy for {', '.join(unknown)}"
    return failed


def _t6_differences(tables):
    """Per seed: rho between the source accuracy of the pretrainings that seed's runs start from and their
    fine-tuned accuracy."""
    if unknown_source_accuracy(tables(SOURCES)):
        return np.array([])  # a failed precondition: nothing to correlate
    pretrainings = tables(PRETRAININGS).set_index(["pretrain_seed", "model"])["source_val_accuracy"]
    finetuned = tables(FINETUNED)
    finetuned = finetuned[finetuned["model"].isin(pretrainings.index.get_level_values("model"))]
    return np.array([source_target_rho(runs, pretrainings.loc[runs["pretrain_seed"].iloc[0]])
                     for _, runs in finetuned.groupby("seed")])


def _s6_losses(tables):
    """(reference, every alternative-loss model, those that raised source accuracy, source accuracy by model)."""
    sources = tables(SOURCES)
    roles, accuracy = role_models(sources), sources.set_index("model")["source_val_accuracy"]
    losses = [roles[r] for r in ("label_smoothing", "penultimate_dropout") if r in roles]
    return roles["reference"], losses, [m for m in losses if accuracy[m] > accuracy[roles["reference"]]], accuracy


def _s6_differences(tables):
    reference, _, raised, _ = _s6_losses(tables)
    if not raised:
        return np.array([])
    return 100 * np.mean([seed_gains(tables(PROBES), "probe_accuracy", m, reference) for m in raised], axis=0)


def _s6_preconditions(tables) -> dict[str, str]:
    reference, losses, raised, accuracy = _s6_losses(tables)
    if unknown := unknown_source_accuracy(tables(SOURCES), [reference, *losses]):
        return {"a loss raises source accuracy": f"no published source accuracy for {', '.join(unknown)}"}
    return {} if raised else {"a loss raises source accuracy": "source accuracy minus cross-entropy's: " + (", ".join(
        f"{m} {100 * (accuracy[m] - accuracy[reference]):+.1f} points" for m in losses) or "no alternative loss")}


_PRETRAINING = ("; seed s fine-tunes (or probes) each model as pretrained with seed s where the profile pretrains "
                "per seed (the embedded tier; timm weights have one pretraining), so the per-seed differences vary "
                "with pretraining and fine-tuning")
_PAIRING = "fine-tuning runs sharing a seed (target sample, head initialisation, batch order), paired on target"
PRIMARY = {
    # 1 point: a smaller difference in fine-tuned accuracy would not justify the extra pretraining.
    "T2": Primary(
        PrimaryTest("fine-tuned test accuracy of the fully pretrained reference minus a less pretrained model, the "
                    "smaller of the two gains (over the model with fewer source steps, over that with fewer source "
                    "images), per seed averaged over targets" + _PRETRAINING, "greater", 1.0, method="t",
                    unit="points",
                    pairing=_PAIRING, preconditions=("no collapsed run",)),
        _t2_differences, _no_collapsed_run("reference", "fewer_steps", "fewer_images", "more_images",
                                           "steps_reference")),
    # 1 point: a smaller gain would not justify twice the blocks (and compute).
    "T5": Primary(
        PrimaryTest("fine-tuned test accuracy of the deeper model (twice the blocks per stage) minus the reference, "
                    "per seed averaged over targets" + _PRETRAINING, "greater", 1.0, method="t", unit="points",
                    pairing=_PAIRING, preconditions=("no collapsed run",)),
        _t5_differences, _no_collapsed_run("reference", "deeper")),
    # 0.2: a weaker rank correlation would make source accuracy useless for choosing among the zoo.
    "T6": Primary(
        PrimaryTest("Spearman rho across the zoo models between source validation accuracy and fine-tuned test "
                    "accuracy, computed per fine-tuning seed and averaged over targets, against 0" + _PRETRAINING,
                    "greater", 0.2, method="t", pairing="fine-tuning runs sharing a seed",
                    preconditions=("no collapsed run", "source accuracy published")),
        _t6_differences, _t6_preconditions),
    # 1 point of linear-probe accuracy: a smaller loss of transferability would not outweigh a better source model.
    "S6": Primary(
        PrimaryTest("linear-probe test accuracy of the alternative-loss models that raised source accuracy (label "
                    "smoothing, penultimate dropout) minus the cross-entropy reference, per seed averaged over "
                    "targets and those losses" + _PRETRAINING, "less", 1.0, method="t", unit="points",
                    pairing="probes on the same target samples of one seed",
                    preconditions=("a loss raises source accuracy",)),
        _s6_differences, _s6_preconditions),
}
