# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. Which source model? Transferability metrics
#
# ## The claim
#
# Choosing a pretrained model by fine-tuning every candidate is expensive. The survey (§5.2.5, §7.1 item 6) reviews
# scores computed from a single forward pass over the target data that should predict the ranking instead:
# H-score {cite}`bao2019hscore`, NCE {cite}`tran2019nce` and LEEP {cite}`nguyen2020leep`; later work added LogME
# {cite}`you2021logme`, TransRate {cite}`huang2022transrate` and GBC. Claim **M1**: these scores rank pretrained
# models by how well they fine-tune on a target. Claim **M2**: LEEP correlates with transfer performance better
# than NCE and H-score.
#
# ## Setup
#
# Every candidate source model of the profile is scored on each target's training images (before any
# fine-tuning), then fine-tuned on the same images with one protocol for all candidates, for every seed. The
# ranking quality of a metric is the weighted Kendall τ between its scores and the mean fine-tuned test accuracy
# (weighted so that the top of the ranking counts most, as in {cite}`you2021logme`). This profile ranks
# {glue:text}`n_candidates` candidates; in the embedded tier they are zoo models that differ in depth, width,
# pretraining length, source size and objective. The claims' rules were written for the six metrics above; the
# newer SFDA, NCTI, ETran, PED and k-NN accuracy, and two baselines that look at nothing of the target, are shown
# beside them. The primary tests of M1 and M2 compute τ per seed: that seed's scores (its training sample) against
# that seed's fine-tuned accuracies.
#
# {glue:md}`pretraining`

# %% tags=["remove-cell"]
import sys

if "google.colab" in sys.modules:  # on Colab, install the package this book is built on
    # %pip install -q "tlcore[book] @ git+https://github.com/tlcore-book/deep-transfer-survey@v0.1.0"
    pass

# %% tags=["parameters"]
profile = "embedded"
seeds = None  # None: the profile's seeds

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

import tlcore
from tlcore.chapter import glue, glue_pretraining, show_reference, show_verdicts, start_chapter
from tlcore.claims.transferability_metrics import DECLARED_METRICS, kendall_by_metric, tau_summary
from tlcore.metrics import pearson
from tlcore.results import save_table
from tlcore.results.tables import save_tables
from tlcore.studies.transferability_metrics import TABLES, transferability_study

setup = start_chapter(profile, seeds=seeds)
glue("n_candidates", len(setup.ranking.candidates))
glue_pretraining(setup)
tlcore.models.list_models().query("name in @setup.ranking.candidates") if profile != "real" else setup.ranking.candidates

# %% [markdown]
# ## Experiment

# %%
study = transferability_study(setup)
save_tables(study, TABLES)
accuracy = study["accuracy"].groupby(["target", "model"])["test_accuracy"].agg(["mean", "std"]).round(3)
accuracy.unstack("target")

# %% [markdown]
# ## Result
#
# Each point is one candidate model on one target: its score against its fine-tuned accuracy, for the six metrics
# the claims were declared over. A good metric puts the points on a rising curve within each target (scores are
# comparable only within a metric and a target).

# %%
mean_accuracy = study["accuracy"].groupby(["target", "model"], as_index=False)["test_accuracy"].mean()
merged = study["scores"].merge(mean_accuracy, on=["target", "model"])
g = sns.relplot(data=merged[merged.metric.isin(DECLARED_METRICS)], x="score", y="test_accuracy", hue="model", col="metric", row="target", height=1.9,
                aspect=1.1, facet_kws={"sharex": False, "sharey": "row"}, s=45)
g.set_titles("{row_name} | {col_name}", size=8);

# %%
tau = kendall_by_metric(study["scores"], study["accuracy"])


def pearson_or_nan(cell: pd.DataFrame) -> float:
    """Pearson r of a metric's scores with accuracy on one target; NaN where the scores do not vary."""
    try:
        return pearson(cell["score"].to_numpy(), cell["test_accuracy"].to_numpy())
    except ValueError:
        return float("nan")


tau["pearson"] = [pearson_or_nan(merged[(merged.target == r.target) & (merged.metric == r.metric)])
                  for r in tau.itertuples()]
save_table(tau, TABLES["correlations"])
fig, ax = plt.subplots(figsize=(8, 3.2))
sns.barplot(data=tau, x="metric", y="tau", hue="target", ax=ax)
ax.axhline(0, color="black", lw=0.8)
ax.set(ylabel="weighted Kendall τ", title="Ours: how well each metric ranks the candidates, per target")
ax.tick_params(axis="x", labelrotation=45);

# %% [markdown]
# Every score `tlcore.metrics` has, the newer ones included (SFDA, NCTI, ETran, PED over LogME, k-NN accuracy), and
# two sanity baselines that look at nothing of the target: a model's parameter count and the accuracy it reached
# on its own source. One number per score: the weighted τ averaged over targets, with an interval from
# resampling the fine-tuning seeds (its level in the axis label). The claims' rules were declared over the first six metrics before the others
# were added; these rows are descriptive.

# %%
ranked = pd.concat([study["scores"].assign(kind="metric"), study["baselines"].assign(kind="baseline")])
summary = tau_summary(ranked, study["accuracy"]).merge(ranked[["metric", "kind"]].drop_duplicates(), on="metric")
save_table(summary, TABLES["tau"])
fig, ax = plt.subplots(figsize=(7, 0.32 * len(summary) + 1))
ax.hlines(summary.metric, summary.low, summary.high, color="grey", lw=2)
sns.scatterplot(data=summary, x="tau", y="metric", hue="kind", s=60, ax=ax, zorder=3)
ax.axvline(0, color="black", lw=0.8)
ax.set(xlabel="mean weighted Kendall τ over targets (95% interval over seeds)", ylabel="",
       title="Ours: every metric and the baselines");

# %% [markdown]
# The published reference: the Transfer-Learning-Library's model-selection benchmark (ten ImageNet models, real
# datasets). **Published figures, not results of this book.**

# %%
published = show_reference("tllib_ranking_kendall")
fig, ax = plt.subplots(figsize=(8, 3.2))
sns.barplot(data=published, x="metric", y="weighted_kendall_tau", hue="dataset", ax=ax)
ax.axhline(0, color="black", lw=0.8)
ax.legend(fontsize=7, ncol=3)
ax.set(ylabel="weighted Kendall τ", title="Published: TLlib ranking benchmark");

# %% [markdown]
# And the newer published comparisons, means over their benchmarks (**published figures, not results of this
# book**): SFDA against LogME on its authors' benchmark, and a ranker that orders models by size without looking at
# the target at all.

# %%
show_reference("published_model_selection")

# %% [markdown]
# ## Verdict

# %%
show_verdicts("M1", "M2")

# %% [markdown]
# - **M1** — {glue:text}`m1_verdict`. {glue:text}`m1_detail`
# - **M2** — {glue:text}`m2_verdict`. {glue:text}`m2_detail`
#
# ### Where our verdict and the survey differ
#
# {glue:md}`survey_differences`
#
# ## In practice
#
# - Scoring a handful of candidates costs one forward pass each; fine-tuning them all costs a training run each.
#   Use the score to shortlist, then fine-tune the top two or three — a rank correlation well below one means the
#   metric's single top pick is not always the best model.
# - Feature-based scores (LogME, H-score, TransRate, GBC) need no source classifier; LEEP and NCE need the source
#   head and measure label overlap, which is weak when the target classes are unrelated to the source classes.
# - `tlcore.metrics.rank_models` (and `python -m tlcore rank`) scores your own candidates on your own data.
