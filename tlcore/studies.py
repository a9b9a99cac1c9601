"""Studies: the multi-run experiments chapters are made of, each a few lines over :mod:`tlcore.experiment`."""
from __future__ import annotations

import pandas as pd

from . import data, models
from .experiment import TransferRun, run_many, select_on_validation
from .finetune.protocol import Protocol


def protocol_for(profile, lr: float) -> Protocol:
    """The chapter-wide fine-tuning protocol of ``profile`` at learning rate ``lr``."""
    return Protocol(lr=lr, steps=profile.steps, batch_size=profile.batch_size, eval_every=profile.eval_every)


def tuned_learning_rates(profile, *, progress: bool = True) -> pd.DataFrame:
    """The learning rate of each (target, init) chosen on validation accuracy, from ``profile.lr_grid[init]``, at
    ``profile.tuning_size`` images per class with the first seed. Returns the tidy frame of the choice (columns
    target, init, protocol_lr, best_val_accuracy); the tuning runs are stored, so every chapter shares them."""
    inits = {"pretrained": True, "scratch": False}
    tuning_specs = [
        TransferRun(target, profile.tuning_size, inits[init], profile.arch, protocol_for(profile, lr), profile.seeds[0])
        for target in profile.targets for init, lrs in profile.lr_grid.items() for lr in lrs
    ]
    return select_on_validation(run_many(tuning_specs, progress=progress), by=["target", "init"], param="protocol_lr")


def _lr_lookup(chosen: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(row.target, row.init): row.protocol_lr for row in chosen.itertuples()}


def tuned_transfer_grid(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Pretrained vs scratch over ``profile.targets`` x ``profile.sizes`` x ``profile.seeds``, each (target, init)
    at its learning rate from :func:`tuned_learning_rates`. Returns the tidy frames ``chosen_lr``, ``grid`` (one row
    per run) and ``curves`` (one row per validation point)."""
    chosen = tuned_learning_rates(profile, progress=progress)
    lr_of = _lr_lookup(chosen)
    specs = [
        TransferRun(target, n, init == "pretrained", profile.arch, protocol_for(profile, lr_of[target, init]), seed)
        for target in profile.targets for n in profile.sizes for init in ("pretrained", "scratch")
        for seed in profile.seeds
    ]
    return {"chosen_lr": chosen, "grid": run_many(specs, progress=progress),
            "curves": run_many(specs, progress=False, curves=True)}


def regularizer_weights(profile, protocols: dict[str, Protocol], *, progress: bool = True) -> pd.DataFrame:
    """The trade-off sweep: every set-up of ``profile.regularizers`` with a loss weight, at its default weight times
    each of ``profile.regularizer_weight_scales``, on each regularizer target (``protocols[target]``) at
    ``profile.tuning_size`` with the first seed. One row per run, with the column ``scale``."""
    from .regularizers.setups import DEFAULT_WEIGHTS, TRADE_OFF_SETUPS

    swept = [name for name in profile.regularizers if name in TRADE_OFF_SETUPS]
    specs = [TransferRun(target, profile.tuning_size, True, profile.arch, protocols[target], profile.seeds[0], name,
                         float(f"{DEFAULT_WEIGHTS[name] * scale:.6g}"))
             for target in profile.regularizer_targets for name in swept for scale in profile.regularizer_weight_scales]
    sweep = run_many(specs, progress=progress)
    sweep["scale"] = [round(w / DEFAULT_WEIGHTS[r], 6) for w, r in zip(sweep.regularizer_weight, sweep.regularizer)]
    return sweep


def regularizer_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Regularised fine-tuning of the pretrained source model, each set-up at a trade-off chosen on validation.

    Every target of ``profile.regularizer_targets`` gets its tuned pretrained learning rate
    (:func:`tuned_learning_rates`) and ``profile.regularizer_steps`` steps. The weight of each set-up is chosen per
    target on validation accuracy from the sweep of :func:`regularizer_weights`; StochNorm keeps its default p. Then
    every set-up runs over ``profile.regularizer_sizes`` x ``profile.seeds`` (``grid``), and
    ``profile.regularizer_large_setups`` also at ``profile.regularizer_large_size`` images per class on
    ``profile.regularizer_large_targets`` (``large``), at the same schedule and weights.

    Returns the tidy frames ``sweep`` (one row per sweep run), ``chosen`` (target, regularizer, weight,
    best_val_accuracy), ``grid`` and ``large`` (one row per run, the weight in column ``weight``).
    """
    from .regularizers.setups import DEFAULT_WEIGHTS

    unswept = set(profile.regularizer_large_targets) - set(profile.regularizer_targets)
    if unswept:  # their weights would silently fall back to the defaults
        raise ValueError(f"regularizer_large_targets {sorted(unswept)} are not among regularizer_targets "
                         f"{profile.regularizer_targets}, where the weights are chosen")
    lr_of = _lr_lookup(tuned_learning_rates(profile, progress=progress))
    steps = profile.regularizer_steps or profile.steps
    protocols = {target: protocol_for(profile, lr_of[target, "pretrained"]).with_(steps=steps)
                 for target in {*profile.regularizer_targets, *profile.regularizer_large_targets}}
    sweep = regularizer_weights(profile, protocols, progress=progress)
    chosen = select_on_validation(sweep, by=["target", "regularizer"], param="regularizer_weight")
    weight_of = {(row.target, row.regularizer): row.regularizer_weight for row in chosen.itertuples()}

    def spec(target, n, name, seed):
        weight = weight_of.get((target, name), DEFAULT_WEIGHTS[name])
        return TransferRun(target, n, True, profile.arch, protocols[target], seed, name, weight)

    grid = [spec(target, n, name, seed) for target in profile.regularizer_targets for n in profile.regularizer_sizes
            for name in profile.regularizers for seed in profile.seeds]
    large = [spec(target, profile.regularizer_large_size, name, seed) for target in profile.regularizer_large_targets
             for name in profile.regularizer_large_setups for seed in profile.seeds]
    weight = {"regularizer_weight": "weight"}
    return {"sweep": sweep.rename(columns=weight), "chosen": chosen.rename(columns=weight),
            "grid": run_many(grid, progress=progress).rename(columns=weight),
            "large": run_many(large, progress=progress).rename(columns=weight)}


def transferability_study(profile, *, metrics=None, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Score every candidate source model on every target before fine-tuning, then fine-tune each on each.

    Scores use the target's training split at ``profile.ranking_size`` images per class (first seed). Each candidate
    is then fine-tuned from its pretrained weights with one protocol for all (``profile.ranking_lr``,
    ``profile.ranking_steps``), for every seed.
    Returns ``scores`` (target, model, metric, score) and ``accuracy`` (one row per fine-tuning run).
    """
    from .metrics import DEFAULT_METRICS, rank_models

    candidates = {name: models.create(name, pretrained=True, progress=False).eval() for name in profile.candidates}
    frames = []
    for target in profile.targets:
        train = data.load(target, "train", profile.ranking_size, seed=profile.seeds[0])
        scores = rank_models(candidates, train, metrics=metrics or DEFAULT_METRICS, progress=False)
        frames.append(scores.assign(target=target))
    accuracy = run_many(ranking_runs(profile, profile.candidates), progress=progress).rename(columns={"arch": "model"})
    return {"scores": pd.concat(frames, ignore_index=True), "accuracy": accuracy}


def source_data_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Sources of different size and match, two-step sources, DATL re-weighting and self-supervision (chapter 7).

    Every (source model, target) pair the claims compare is fine-tuned with the chapter-4 protocol and linear-probed
    (logistic regression on frozen features) at ``profile.ranking_size`` images per class, for every seed; both are
    scored on the test split, with no choice made on it. Returns ``runs`` (model, source, target, seed,
    finetune_accuracy, val_accuracy, probe_accuracy), ``roles`` (claim, target, arm, model: which run plays which
    part in each comparison), ``emd`` (EMD similarity of each source dataset to each target in the features of
    ``profile.arch``, per seed), ``datl_weights`` (the re-weighting of each DATL target) and ``sources`` (see
    :func:`source_models_table`).
    """
    from .analysis.similarity import linear_probe_accuracy
    from .source_data import datl_entry

    roles = []
    for target in profile.source_targets:
        roles += [("S3", target, "source", model) for model in profile.source_models]
    for target, matched in profile.matched_sources:
        roles += [("S1", target, "generic_large", profile.arch), ("S1", target, "matched_small", matched),
                  ("S1", target, "generic_few", profile.few_letters_model),
                  ("S1", target, "generic_many", profile.many_letters_model)]
    for target, two_step in profile.two_step_models:
        roles += [("S4", target, "one_step", profile.arch), ("S4", target, "two_step", two_step)]
    weight_tables = []
    for target in profile.datl_targets:
        name, weights = datl_entry(profile.datl_base, profile.arch, target, n_per_class=profile.ranking_size,
                                   seed=profile.seeds[0])
        weight_tables.append(weights.assign(target=target, model=name))
        roles += [("S2", target, "unweighted", profile.datl_base), ("S2", target, "weighted", name)]
    for target, selfsup in profile.selfsup_models:
        roles += [("S5", target, "supervised_unrelated", profile.arch), ("S5", target, "selfsup_related", selfsup)]
    roles = pd.DataFrame(roles, columns=["claim", "target", "arm", "model"])

    pairs = roles[["model", "target"]].drop_duplicates()
    protocol = protocol_for(profile, profile.ranking_lr).with_(steps=profile.ranking_steps)
    specs = [TransferRun(row.target, profile.ranking_size, True, row.model, protocol, seed)
             for row in pairs.itertuples() for seed in profile.seeds]
    runs = run_many(specs, progress=progress).rename(columns={"arch": "model", "test_accuracy": "finetune_accuracy"})
    probes = []
    for model_name in pairs.model.unique():
        model = models.create(model_name, pretrained=True, progress=False).eval()
        for target in pairs[pairs.model == model_name].target:
            for seed in profile.seeds:
                train = data.load(target, "train", profile.ranking_size, seed=seed)
                test = data.load(target, "test", seed=seed)
                probes.append({"model": model_name, "target": target, "seed": seed,
                               "probe_accuracy": linear_probe_accuracy(model, train, test)})
    runs = runs.merge(pd.DataFrame(probes), on=["model", "target", "seed"])
    runs["source"] = runs.model.map(lambda name: models.ZOO[name].source)
    runs = runs[["model", "source", "target", "seed", "finetune_accuracy", "val_accuracy", "probe_accuracy"]]
    return {"runs": runs, "roles": roles, "emd": source_emd(profile), "datl_weights": pd.concat(weight_tables),
            "sources": source_models_table(pairs.model.unique())}


def source_models_table(names) -> pd.DataFrame:
    """What each zoo source model was pretrained on, how long, and how well it learnt its own task: validation
    accuracy on its source, or for a self-supervised model (no source labels) its final SimCLR loss beside
    :func:`tlcore.selfsup.uniform_loss`, the loss of embeddings that tell no two images apart."""
    rows = []
    for name in names:
        entry, provenance = models.ZOO[name], models.load_source_model(name, progress=False)[1]
        rows.append({"model": name, "source": entry.source, "source_per_class": entry.source_per_class,
                     "parent": entry.parent, "objective": entry.objective, "steps": entry.protocol.steps,
                     "source_val_accuracy": provenance.get("source_val_accuracy"),
                     "selfsup_final_loss": provenance.get("selfsup_final_loss"),
                     "selfsup_uniform_loss": provenance.get("selfsup_uniform_loss")})
    return pd.DataFrame(rows)


def source_emd(profile) -> pd.DataFrame:
    """EMD similarity (Cui et al. 2018) between each source dataset of ``profile.source_models`` and each of
    ``profile.source_targets``, in the features of one generic model (``profile.arch``, as Cui et al. use one
    ImageNet model for every domain): source validation images (seed 0) against target training images at
    ``profile.ranking_size`` per class, one row per (source, target, seed)."""
    from .analysis.features import extract_features
    from .metrics import emd_similarity

    extractor = models.create(profile.arch, pretrained=True, progress=False).eval()
    rows = []
    for model_name in profile.source_models:
        source = models.ZOO[model_name].source
        source_x, source_y = extract_features(extractor, data.load(source, "val", seed=0))
        for target in profile.source_targets:
            for seed in profile.seeds:
                target_x, target_y = extract_features(extractor, data.load(target, "train", profile.ranking_size,
                                                                           seed=seed))
                rows.append({"model": model_name, "source": source, "target": target, "seed": seed,
                             "emd_similarity": emd_similarity(source_x, source_y, target_x, target_y)})
    return pd.DataFrame(rows)


def reinit_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Transfer the first k stages of the pretrained source model and re-initialise the rest, for every k in
    ``profile.reinit_stages`` (k = the number of stages is plain fine-tuning) x learning rate in
    ``profile.reinit_lrs`` x seed, on ``profile.reinit_targets`` at ``profile.reinit_size`` images per class for
    ``profile.reinit_steps`` steps. Every learning rate runs with every seed, so the choice of learning rate per k,
    made on mean validation accuracy, can itself be compared across seeds.

    Returns ``tuning`` (one row per run: target, transferred_stages, reinitialised_stages, lr, seed, val_accuracy,
    test_accuracy), ``chosen`` (per target and k, the learning rate of best mean validation accuracy) and ``grid``
    (the runs at the chosen learning rates).
    """
    from .finetune.stages import model_stages

    stages = len(model_stages(models.create(profile.arch, pretrained=False)))
    bad = [k for k in profile.reinit_stages if not 0 <= k <= stages]
    if bad:
        raise ValueError(f"reinit_stages {bad} out of range: {profile.arch} has {stages} stages")
    base = protocol_for(profile, profile.reinit_lrs[0]).with_(steps=profile.reinit_steps)
    specs = [TransferRun(target, profile.reinit_size, True, profile.arch,
                         base.with_(lr=lr, reinit_from_stage=k if k < stages else None), seed)
             for target in profile.reinit_targets for k in profile.reinit_stages for lr in profile.reinit_lrs
             for seed in profile.seeds]
    tuning = run_many(specs, progress=progress)
    tuning["transferred_stages"] = [int(k) if pd.notna(k) else stages for k in tuning["protocol_reinit_from_stage"]]
    tuning["reinitialised_stages"] = stages - tuning["transferred_stages"]
    tuning = tuning.rename(columns={"protocol_lr": "lr"})[
        ["target", "n_per_class", "transferred_stages", "reinitialised_stages", "lr", "seed", "val_accuracy",
         "test_accuracy", "best_step", "seconds"]]
    chosen = select_on_validation(tuning, by=["target", "transferred_stages"], param="lr")
    grid = tuning.merge(chosen[["target", "transferred_stages", "lr"]], on=["target", "transferred_stages", "lr"])
    return {"tuning": tuning, "chosen": chosen, "grid": grid}
def ranking_runs(profile, names) -> list[TransferRun]:
    """Fine-tune each pretrained zoo model of ``names`` on every target at ``profile.ranking_size`` images per class,
    one protocol for all (``profile.ranking_lr``, ``profile.ranking_steps``), every seed."""
    protocol = protocol_for(profile, profile.ranking_lr).with_(steps=profile.ranking_steps)
    return [TransferRun(target, profile.ranking_size, True, name, protocol, seed)
            for target in profile.targets for name in names for seed in profile.seeds]


def source_model_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Which source model transfers best? For every zoo model of ``profile.source_roles``: its source accuracy
    (``sources``, one row per model), the linear-probe test accuracy of its frozen features on every target at
    ``profile.ranking_size`` images per class (``probes``, one row per model x target x seed), and, for
    ``profile.candidates`` plus ``profile.source_finetuned``, fine-tuned accuracy at the ranking protocol of
    :func:`transferability_study` (``finetuned``, one row per run; the candidates' runs are the same runs)."""
    from .analysis.source_models import probe_frame, source_model_frame

    finetuned_names = list(dict.fromkeys([*profile.candidates, *profile.source_finetuned]))
    roles = dict(profile.source_roles)
    roles.update({name: name for name in finetuned_names if name not in roles.values()})  # T6 needs every source
    sources = source_model_frame(roles)
    finetuned = run_many(ranking_runs(profile, finetuned_names), progress=progress).rename(columns={"arch": "model"})
    probes = probe_frame(list(sources["model"]), profile.targets, n_per_class=profile.ranking_size,
                         seeds=profile.seeds)
    return {"sources": sources, "probes": probes, "finetuned": finetuned}
def domain_adaptation_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Source-only training vs DANN: the pretrained source model learns the labelled domain of
    ``profile.adaptation_pair`` (``profile.adaptation_size`` images per class) for ``profile.neighbour_steps`` steps
    at the labelled domain's tuned pretrained learning rate; DANN also sees ``profile.adaptation_unlabelled``
    unlabelled images per class of the shifted domain. Both keep their final weights (``select="last"``), so no
    label of the shifted domain is used; accuracy is read on the shifted domain's test split, for every seed."""
    from .adaptation.domain_shift import AdaptationRun, run_adaptation_many

    labelled, shifted = profile.adaptation_pair
    lr = _lr_lookup(tuned_learning_rates(profile, progress=progress))[labelled, "pretrained"]
    protocol = protocol_for(profile, lr).with_(steps=profile.neighbour_steps, select="last")
    specs = [AdaptationRun(labelled, shifted, profile.adaptation_size, method, profile.adaptation_unlabelled,
                           profile.arch, True, protocol, seed)
             for method in ("source_only", "dann") for seed in profile.seeds]
    return {"runs": run_adaptation_many(specs)}


def continual_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Learn ``profile.continual_target`` (``profile.continual_size`` per class) from the pretrained source model
    with each of ``profile.continual_methods`` for ``profile.neighbour_steps`` steps, every seed, and score the
    source task before and after. Fine-tuning, LwF, L2-SP and the frozen probe use the target's tuned pretrained
    learning rate. The progressive network's new column starts from scratch: it uses the tuned scratch rate, lowered
    along the profile's learning-rate grid (scratch and pretrained values, descending) while its training diverges."""
    from .adaptation.forgetting import ContinualRun, first_stable, run_continual_many

    lr_of = _lr_lookup(tuned_learning_rates(profile, progress=progress))
    target = profile.continual_target
    scratch_lr = lr_of[target, "scratch"]
    fallback = sorted({lr for lrs in profile.lr_grid.values() for lr in lrs if lr <= scratch_lr}, reverse=True)
    specs = []
    for method in profile.continual_methods:
        for seed in profile.seeds:
            lr = scratch_lr if method == "progressive" else lr_of[target, "pretrained"]
            spec = ContinualRun(target, profile.continual_size, method, profile.arch,
                                protocol_for(profile, lr).with_(steps=profile.neighbour_steps), seed)
            specs.append(first_stable(spec, fallback) if method == "progressive" else spec)
    return {"runs": run_continual_many(specs)}


def few_shot_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """k-shot learning on ``profile.few_shot_targets`` for k in ``profile.few_shot_k``: fine-tuning the pretrained
    source model (chapter 1's protocol and tuned learning rate, so k in ``profile.sizes`` shares its runs) against
    the nearest-prototype classifier on the frozen source features, on the same k images per class, every seed.
    Returns ``runs``: target, k, method ("finetune" | "prototype"), seed, test_accuracy."""
    from .fewshot import prototype_accuracy

    lr_of = _lr_lookup(tuned_learning_rates(profile, progress=progress))
    specs = [TransferRun(target, k, True, profile.arch, protocol_for(profile, lr_of[target, "pretrained"]), seed)
             for target in profile.few_shot_targets for k in profile.few_shot_k for seed in profile.seeds]
    tuned = run_many(specs, progress=progress).assign(method="finetune")
    source = models.create(profile.arch, pretrained=True, progress=False).eval()
    prototypes = [{"target": target, "n_per_class": k, "seed": seed, "method": "prototype",
                   "test_accuracy": prototype_accuracy(source, data.load(target, "train", k, seed=seed),
                                                       data.load(target, "test", seed=seed))}
                  for target in profile.few_shot_targets for k in profile.few_shot_k for seed in profile.seeds]
    columns = ["target", "n_per_class", "seed", "method", "test_accuracy"]
    runs = pd.concat([tuned[columns], pd.DataFrame(prototypes)[columns]], ignore_index=True)
    return {"runs": runs.rename(columns={"n_per_class": "k"})}
