"""Chapter 7, source data: sources of different size and match, two-step, DATL and self-supervision (S1-S5)."""

from __future__ import annotations

import pandas as pd

from .. import data, models
from ..remembered import remembered
from ..models.timm_source_data import GAPS, source_data_frame
from ..results.tables import not_in_tier
from ..runs.transfer import run_many
from .common import ranking_run

# The result tables this chapter saves (key: table name); the claims of the same name read them.
TABLES = {"runs": "source_runs", "roles": "source_roles", "emd": "source_emd", "datl_weights": "source_datl_weights",
          "random_probes": "source_random_probes", "matched": "source_matched"}


def source_data_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Sources of different size and match, two-step sources, DATL re-weighting and self-supervision (chapter 7).

    Every (source model, target) pair the claims compare is fine-tuned with the chapter-4 protocol and linear-probed
    (logistic regression on frozen features) at ``profile.ranking.size`` images per class, for every seed; both are
    scored on the test split, with no choice made on it. Returns ``runs`` (model, source, target, seed,
    finetune_accuracy, val_accuracy, probe_accuracy), ``roles`` (claim, target, arm, model: which run plays which
    part in each comparison), ``emd`` (EMD similarity of each source dataset to each target in the features of
    ``profile.arch``, per seed), ``datl_weights`` (the re-weighting of each DATL target), ``random_probes`` (the
    same probe on randomly initialised twins of the self-supervised models: the floor S5's "the source learned"
    precondition compares with), ``matched`` (target, model: S1's small matched sources) and ``sources`` (see
    :func:`source_models_table`). With ``profile.source_data.arms`` (the real tier) see
    :func:`published_weights_study`.
    """
    from ..models.datl import datl_entry

    if profile.source_data.arms:
        return published_weights_study(profile, progress=progress)

    roles = []
    for target in profile.source_data.targets:
        roles += [("S3", target, "source", model) for model in profile.source_data.models]
    for target, matched in profile.source_data.matched:
        roles += [
            ("S1", target, "generic_large", profile.arch),
            ("S1", target, "matched_small", matched),
            ("S1", target, "generic_few", profile.source_data.few_letters_model),
            ("S1", target, "generic_many", profile.source_data.many_letters_model),
        ]
    for target, two_step in profile.source_data.two_step_models:
        roles += [("S4", target, "one_step", profile.arch), ("S4", target, "two_step", two_step)]
    weight_tables = []
    for target in profile.source_data.datl_targets:
        name, weights = datl_entry(
            profile.source_data.datl_base, profile.arch, target, n_per_class=profile.ranking.size, seed=profile.seeds[0]
        )
        weight_tables.append(weights.assign(target=target, model=name))
        roles += [("S2", target, "unweighted", profile.source_data.datl_base), ("S2", target, "weighted", name)]
    for target, selfsup in profile.source_data.selfsup_models:
        roles += [("S5", target, "supervised_unrelated", profile.arch), ("S5", target, "selfsup_related", selfsup)]
    roles = pd.DataFrame(roles, columns=["claim", "target", "arm", "model"])

    pairs = roles[["model", "target"]].drop_duplicates()
    return {
        "runs": fine_tune_and_probe(profile, pairs, lambda name: models.ZOO[name].source, progress=progress),
        "roles": roles,
        "emd": source_emd(profile.arch, list(profile.source_data.models), list(profile.source_data.targets),
                          profile.ranking.size, list(profile.seeds)),
        "datl_weights": pd.concat(weight_tables),
        "random_probes": _random_probes(profile, profile.source_data.selfsup_models),
        "matched": pd.DataFrame(list(profile.source_data.matched), columns=["target", "model"]),
        "sources": source_models_table(pairs.model.unique()),
    }


def published_weights_study(profile, *, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Chapter 7 in the real tier: every (claim, arm, model) of ``profile.source_data.arms`` on every target of
    ``profile.source_data.targets``, fine-tuned and probed as :func:`source_data_study` does. The tables of the
    comparisons published weights cannot make (``emd``, ``datl_weights``, ``matched``) say why instead
    (:data:`tlcore.models.timm_source_data.GAPS`), and their claims read *not tested*."""
    roles = published_roles(profile)
    pairs = roles[["model", "target"]].drop_duplicates()
    sources = source_data_frame(list(pairs.model.unique()))
    selfsup = roles[(roles.claim == "S5") & (roles.arm == "selfsup_related")]
    return {"runs": fine_tune_and_probe(profile, pairs, sources.set_index("model")["source"].get, progress=progress),
            "roles": roles, **{name: not_in_tier(reason) for name, reason in GAPS.items()},
            "random_probes": _random_probes(profile, list(zip(selfsup.target, selfsup.model))),
            "sources": sources}


def published_roles(profile) -> pd.DataFrame:
    """Every (claim, target, arm, model) of ``profile.source_data.arms`` on every target (the real tier's roles)."""
    return pd.DataFrame([(claim, target, arm, model) for target in profile.source_data.targets
                         for claim, arm, model in profile.source_data.arms], columns=["claim", "target", "arm", "model"])


def fine_tune_runs(profile, pairs: pd.DataFrame) -> list:
    """Every (model, target) of ``pairs`` fine-tuned at the ranking protocol, every seed."""
    return [ranking_run(profile, row.target, row.model, seed) for row in pairs.itertuples() for seed in profile.seeds]


def fine_tune_and_probe(profile, pairs: pd.DataFrame, source_of, *, progress: bool = True) -> pd.DataFrame:
    """Every (model, target) of ``pairs`` fine-tuned at the ranking protocol and linear-probed, every seed: model,
    source (``source_of(model)``), target, seed, pretrain_seed, finetune_accuracy, val_accuracy, probe_accuracy."""
    from ..analysis.probes import probe_frame

    runs = run_many(fine_tune_runs(profile, pairs), progress=progress).rename(columns={"arch": "model", "test_accuracy": "finetune_accuracy"})
    probes = [probe_frame([model_name], list(pairs[pairs.model == model_name].target),
                          n_per_class=profile.ranking.size, seeds=list(profile.seeds),
                          per_seed_pretraining=profile.ranking.per_seed_pretraining)
              for model_name in pairs.model.unique()]
    probes = pd.concat(probes, ignore_index=True)[["model", "target", "seed", "pretrain_seed", "probe_accuracy"]]
    runs = runs.merge(probes, on=["model", "target", "seed", "pretrain_seed"])
    runs["source"] = runs.model.map(source_of)
    return runs[["model", "source", "target", "seed", "pretrain_seed", "finetune_accuracy", "val_accuracy",
                 "probe_accuracy"]]


def _random_probes(profile, selfsup_models) -> pd.DataFrame:
    """:func:`random_feature_probes` of each (target, self-supervised model), one frame."""
    frames = [random_feature_probes(model_name, [target], profile.ranking.size, list(profile.seeds))
              for target, model_name in selfsup_models]
    return (pd.concat(frames, ignore_index=True) if frames
            else pd.DataFrame(columns=["model", "target", "seed", "probe_accuracy"]))


def source_models_table(names) -> pd.DataFrame:
    """What each zoo source model was pretrained on, how long, and how well it learnt its own task: validation
    accuracy on its source, or for a self-supervised model (no source labels) its final SimCLR loss beside
    :func:`tlcore.models.selfsup.uniform_loss`, the loss of embeddings that tell no two images apart."""
    rows = []
    for name in names:
        entry, provenance = models.ZOO[name], models.source_provenance(name)
        rows.append(
            {
                "model": name,
                "source": entry.source,
                "source_per_class": entry.source_per_class,
                "parent": entry.parent,
                "objective": entry.objective,
                "steps": entry.protocol.steps,
                "source_val_accuracy": provenance.get("source_val_accuracy"),
                "selfsup_final_loss": provenance.get("selfsup_final_loss"),
                "selfsup_uniform_loss": provenance.get("selfsup_uniform_loss"),
            }
        )
    return pd.DataFrame(rows)


@remembered("emd", depends=lambda arguments: models.source_keys(arguments["arch"]))
def source_emd(arch: str, source_models: list[str], targets: list[str], n_per_class: int, seeds: list[int]
               ) -> pd.DataFrame:
    """EMD similarity (Cui et al. 2018) between the source dataset of each zoo model of ``source_models`` and each of
    ``targets``, in the features of one generic model (``arch``, as Cui et al. use one ImageNet model for every
    domain): source validation images (seed 0) against target training images at ``n_per_class`` per class, one row
    per (source, target, seed)."""
    from ..finetune.features import extract_features
    from ..metrics import emd_similarity

    extractor = models.create(arch, pretrained=True, progress=False).eval()
    rows = []
    for model_name in source_models:
        source = models.ZOO[model_name].source
        source_x, source_y = extract_features(extractor, data.load(source, "val", seed=0))
        for target in targets:
            for seed in seeds:
                target_x, target_y = extract_features(extractor, data.load(target, "train", n_per_class, seed=seed))
                rows.append({"model": model_name, "source": source, "target": target, "seed": seed,
                             "emd_similarity": emd_similarity(source_x, source_y, target_x, target_y)})
    return pd.DataFrame(rows)


@remembered("probes")
def random_feature_probes(model_name: str, targets: list[str], n_per_class: int, seeds: list[int]) -> pd.DataFrame:
    """:func:`~tlcore.analysis.probes.probe_frame` on randomly initialised twins of zoo model ``model_name`` (seeded
    by each seed): the accuracy features that learnt nothing already give, at the same size, split and seeds.
    Columns model, target, seed, probe_accuracy."""
    from ..analysis.probes import linear_probe_accuracy

    return pd.DataFrame([
        {"model": model_name, "target": target, "seed": seed,
         "probe_accuracy": linear_probe_accuracy(models.create(model_name, pretrained=False, seed=seed).eval(),
                                                 data.load(target, "train", n_per_class, seed=seed),
                                                 data.load(target, "test", seed=seed))}
        for target in targets for seed in seeds])
