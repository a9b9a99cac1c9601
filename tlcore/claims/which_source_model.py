"""Verdict rules of chapter 3, "Which source model" (claims T2, T5, T6, S6).

Tables (written by the chapter):
- ``source_models``: one row per source model: role, model, source_val_accuracy (recorded when it was pretrained;
  the published ImageNet top-1 for timm weights, NaN where none is published), baseline (the role it is compared
  with). Roles: ``reference`` (shallow, cross-entropy, fully pretrained), ``deeper``, ``fewer_steps``,
  ``fewer_images`` (zoo) or ``more_images`` (timm), ``label_smoothing``, ``penultimate_dropout`` (and others).
- ``source_model_finetuned``: one row per fine-tuning run at the ranking protocol: model, target, seed,
  test_accuracy.
- ``source_model_probes``: one row per (model, target, seed): probe_accuracy (linear probe on frozen features).
- ``source_model_pretrainings``: one row per (model, pretrain_seed): source_val_accuracy of that pretraining. Where
  the profile pretrains per seed, seed s's runs and probes start from pretraining s.

A "gain" of model A over model B is, per seed, A's accuracy minus B's averaged over the targets; its interval is a
95% bootstrap over seeds.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr

from ..studies.which_source_model import TABLES as STUDY_TABLES
from .ladder import ladder
from .registry import Verdict
from .stats import bootstrap_ci, format_points

SOURCES, FINETUNED, PROBES, PRETRAININGS = (STUDY_TABLES["sources"], STUDY_TABLES["finetuned"], STUDY_TABLES["probes"],
                                            STUDY_TABLES["pretrainings"])


def role_models(sources: pd.DataFrame) -> dict[str, str]:
    """role -> model name, from the ``source_models`` table."""
    return dict(zip(sources["role"], sources["model"]))


def baselines(sources: pd.DataFrame) -> dict[str, str]:
    """role -> the role it is compared with (``reference`` for every role where the table names none)."""
    named = dict(zip(sources["role"], sources["baseline"])) if "baseline" in sources else {}
    return {role: named.get(role) if isinstance(named.get(role), str) else "reference"
            for role in sources["role"] if role != "reference"}


def pretraining_pairs(sources: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """T2's two kinds of more pretraining as (more pretrained model, less pretrained model): more source steps (the
    ``fewer_steps`` model against its baseline) and more source images (the ``fewer_images`` model against its
    baseline, or, among timm weights, the ``more_images`` model against its own)."""
    roles, base = role_models(sources), baselines(sources)
    images = ((roles[base["fewer_images"]], roles["fewer_images"]) if "fewer_images" in roles
              else (roles["more_images"], roles[base["more_images"]]))
    return {"steps": (roles[base["fewer_steps"]], roles["fewer_steps"]), "images": images}


def unknown_source_accuracy(sources: pd.DataFrame, names=None) -> list[str]:
    """The models (of ``names``, default all) whose source accuracy is not known (timm publishes none for them)."""
    accuracy = sources.drop_duplicates("model").set_index("model")["source_val_accuracy"]
    return [m for m in (accuracy.index if names is None else names) if not np.isfinite(accuracy.get(m, np.nan))]


def _unknown_verdict(claim_id: str, models) -> Verdict:
    return Verdict(claim_id, "not tested", detail=f"no published source accuracy for {', '.join(models)}")


def seed_gains(frame: pd.DataFrame, column: str, treated: str, control: str) -> np.ndarray:
    """Per seed: ``column`` of model ``treated`` minus that of ``control``, averaged over targets (runs paired on
    target and seed)."""
    wide = frame.pivot_table(index=["target", "seed"], columns="model", values=column, aggfunc="mean")
    missing = {treated, control} - set(wide.columns)
    if missing:
        raise ValueError(f"no {column} for model(s) {sorted(missing)}")
    return (wide[treated] - wide[control]).dropna().groupby(level="seed").mean().to_numpy()


def _gain(frame, column, treated, control) -> tuple[float, float, float]:
    return bootstrap_ci(seed_gains(frame, column, treated, control))


def _two_measure_verdict(cis) -> str:
    """supported: every interval above 0; not supported: every mean <= 0; mixed: otherwise."""
    return ladder(all(low > 0 for _, low, _ in cis), not_supported=all(mean <= 0 for mean, _, _ in cis))


def rule_t2(tables) -> Verdict:
    """Two kinds of more pretraining (:func:`pretraining_pairs`): more source iterations (the ``fewer_steps`` model
    against its baseline, the reference in the zoo) and more source images (the reference against the
    ``fewer_images`` model in the zoo; the ``more_images`` weights against the reference among timm's). For each, the
    gain of the more pretrained model in fine-tuned test accuracy (ranking protocol) and in linear-probe test
    accuracy, averaged over targets, with a 95% bootstrap interval over seeds. Supported when all four intervals lie
    above 0; not supported when all four means are <= 0; mixed otherwise. The ``half_steps`` model's probe accuracy
    is reported beside."""
    sources = tables(SOURCES)
    roles, pairs = role_models(sources), pretraining_pairs(sources)
    finetuned, probes = tables(FINETUNED), tables(PROBES)
    gains = {}
    for axis, (more, less) in pairs.items():
        gains[f"{axis}/finetuned"] = _gain(finetuned, "test_accuracy", more, less)
        gains[f"{axis}/probe"] = _gain(probes, "probe_accuracy", more, less)
    verdict = _two_measure_verdict(list(gains.values()))
    detail = "gain of more pretraining (points, 95% CI) — " + "; ".join(
        f"{more} over {less} (more source {'steps' if axis == 'steps' else 'images'}): fine-tuned "
        f"{format_points(gains[f'{axis}/finetuned'])}, probe {format_points(gains[f'{axis}/probe'])}"
        for axis, (more, less) in pairs.items()) + "."
    if "half_steps" in roles:
        probe_mean = probes.groupby("model")["probe_accuracy"].mean()
        order = [pairs["steps"][1], roles["half_steps"], pairs["steps"][0]]
        detail += " Mean probe accuracy by pretraining steps (short, half, full): " + ", ".join(
            f"{probe_mean[m]:.3f}" for m in order) + "."
    return Verdict("T2", verdict, round(100 * gains["steps/finetuned"][0], 1),
                   "fine-tuned gain of more pretraining steps (points)", detail,
                   {k: list(v) for k, v in gains.items()})


def rule_t5(tables) -> Verdict:
    """The ``deeper`` model (twice the blocks per stage, same widths) against the reference: the gain in fine-tuned
    test accuracy (ranking protocol) and in linear-probe test accuracy, averaged over targets, 95% bootstrap interval
    over seeds. Supported when both intervals lie above 0; not supported when both means are <= 0; mixed otherwise.
    Per-target fine-tuned gains are reported beside."""
    roles = role_models(tables(SOURCES))
    finetuned, probes = tables(FINETUNED), tables(PROBES)
    deep, reference = roles["deeper"], roles["reference"]
    tuned = _gain(finetuned, "test_accuracy", deep, reference)
    probe = _gain(probes, "probe_accuracy", deep, reference)
    per_target = (finetuned[finetuned.model == deep].groupby("target")["test_accuracy"].mean()
                  - finetuned[finetuned.model == reference].groupby("target")["test_accuracy"].mean())
    return Verdict("T5", _two_measure_verdict([tuned, probe]), round(100 * tuned[0], 1),
                   "fine-tuned gain of the deeper model (points)",
                   f"{deep} minus {reference} (points, 95% CI): fine-tuned {format_points(tuned)}, linear probe "
                   f"{format_points(probe)}; fine-tuned per target: "
                   + ", ".join(f"{t} {100 * g:+.1f}" for t, g in per_target.items()) + ".",
                   {"finetuned": tuned, "probe": probe, "per_target": per_target.to_dict()})


def source_target_rho(finetuned: pd.DataFrame, source_accuracy: pd.Series) -> float:
    """Spearman rho between source accuracy and mean fine-tuned test accuracy across models, averaged over targets."""
    means = finetuned.groupby(["target", "model"])["test_accuracy"].mean().unstack("model")
    rhos = [spearmanr(source_accuracy.reindex(row.index), row).statistic for _, row in means.iterrows()]
    return float(np.nanmean(rhos))


def curvature(finetuned: pd.DataFrame, source_accuracy: pd.Series) -> float:
    """Quadratic coefficient of mean target accuracy on standardised source accuracy, averaged over targets:
    negative when returns diminish."""
    means = finetuned.groupby(["target", "model"])["test_accuracy"].mean().unstack("model")
    x = source_accuracy.reindex(means.columns).to_numpy()
    x = (x - x.mean()) / x.std()
    return float(np.mean([np.polyfit(x, row.to_numpy(), 2)[0] for _, row in means.iterrows()]))


def rule_t6(tables, n_resamples: int = 2000) -> Verdict:
    """Across every fine-tuned zoo model: (a) Spearman rho between source validation accuracy and mean fine-tuned
    target accuracy, averaged over targets, with a 95% bootstrap interval over seeds (seeds resampled, means
    recomputed); (b) diminishing returns: the quadratic coefficient of target accuracy on standardised source
    accuracy, averaged over targets, is negative; (c) the best model (highest mean target accuracy) is not the same
    on every target. Supported when rho's interval lies above 0 and (b) and (c) hold; not supported when rho's mean
    is <= 0; mixed otherwise."""
    if unknown := unknown_source_accuracy(tables(SOURCES)):
        return _unknown_verdict("T6", unknown)
    sources = tables(SOURCES).drop_duplicates("model").set_index("model")["source_val_accuracy"]
    finetuned = tables(FINETUNED)
    finetuned = finetuned[finetuned.model.isin(sources.index)]
    rho = source_target_rho(finetuned, sources)
    # Resampling seeds: per-seed means as an array (seed, target, model), averaged over each resample's seeds.
    cube = finetuned.pivot_table(index=["seed", "target"], columns="model", values="test_accuracy", aggfunc="mean")
    seeds = cube.index.get_level_values("seed").unique()
    targets = cube.index.get_level_values("target").unique()
    array = np.stack([cube.loc[s].reindex(targets).to_numpy() for s in seeds])
    x = sources.reindex(cube.columns).to_numpy()
    generator = np.random.default_rng(0)
    boot = []
    for _ in range(n_resamples):
        means = array[generator.integers(0, len(seeds), len(seeds))].mean(axis=0)
        boot.append(np.nanmean([spearmanr(x, row).statistic for row in means]))
    low, high = np.nanquantile(boot, [0.025, 0.975])
    bend = curvature(finetuned, sources)
    means = finetuned.groupby(["target", "model"])["test_accuracy"].mean().unstack("model")
    best = means.idxmax(axis=1)
    taus = [kendalltau(means.loc[a], means.loc[b]).statistic for i, a in enumerate(means.index)
            for b in means.index[i + 1:]]
    differs = best.nunique() > 1
    verdict = ladder(low > 0 and bend < 0 and differs, not_supported=rho <= 0)
    return Verdict("T6", verdict, round(rho, 2), "Spearman rho(source accuracy, target accuracy), mean over targets",
                   f"rho {rho:+.2f} (95% CI {low:+.2f} to {high:+.2f}) over {len(sources.reindex(means.columns))} "
                   f"models; curvature {bend:+.4f} ({'diminishing' if bend < 0 else 'not diminishing'} returns); "
                   f"best model per target: " + ", ".join(f"{t} {m}" for t, m in best.items())
                   + f"; mean Kendall tau between targets' rankings {np.nanmean(taus):+.2f}.",
                   {"rho": (rho, float(low), float(high)), "curvature": bend, "best": best.to_dict(),
                    "kendall_between_targets": float(np.nanmean(taus))})


def rule_s6(tables) -> Verdict:
    """Each alternative source loss (roles ``label_smoothing`` and ``penultimate_dropout``) against plain
    cross-entropy (the reference): its change in source validation accuracy (one pretraining run each) and its gain
    in linear-probe test accuracy on the targets (averaged over targets, 95% bootstrap interval over seeds).
    Supported when every alternative loss raises source accuracy and has a probe gain whose interval lies below 0;
    not supported when every alternative loss has a probe gain with mean >= 0 (its features transfer no worse);
    mixed otherwise."""
    sources = tables(SOURCES)
    roles = role_models(sources)
    source_accuracy = sources.set_index("model")["source_val_accuracy"]
    probes, reference = tables(PROBES), roles["reference"]
    losses = [roles[r] for r in ("label_smoothing", "penultimate_dropout") if r in roles]
    if not losses:
        raise KeyError("source_models has no alternative-loss role (label_smoothing, penultimate_dropout)")
    if unknown := unknown_source_accuracy(sources, [reference, *losses]):
        return _unknown_verdict("S6", unknown)
    raised = {m: float(source_accuracy[m] - source_accuracy[reference]) for m in losses}
    probe = {m: _gain(probes, "probe_accuracy", m, reference) for m in losses}
    verdict = ladder(all(raised[m] > 0 and probe[m][2] < 0 for m in losses),
                     not_supported=all(probe[m][0] >= 0 for m in losses))
    worst = min(losses, key=lambda m: probe[m][0])
    return Verdict("S6", verdict, round(100 * probe[worst][0], 1), f"probe gain of {worst} over cross-entropy (points)",
                   "against cross-entropy (" + reference + "): " + "; ".join(
                       f"{m}: source accuracy {100 * raised[m]:+.1f} points, probe transfer {format_points(probe[m])}"
                       for m in losses) + ".",
                   {"source_change": raised, "probe_gain": probe})


from .which_source_model_primary import PRIMARY  # noqa: E402,F401  (after the helpers it uses)
