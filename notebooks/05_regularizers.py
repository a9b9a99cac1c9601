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
# # 5. Regularizers and normalisation
#
# ## The claim
#
# Plain fine-tuning lets the weights drift anywhere. The survey's parameter-regularisation family (§5.2.1–5.2.2)
# keeps them close to what the source taught: **L2-SP** pulls the weights towards their pretrained values
# {cite}`li2018l2sp`, **DELTA** keeps the feature maps close to the source's, weighted by channel importance
# {cite}`li2019delta`, **BSS** shrinks the smallest singular values of the features {cite}`chen2019bss`, and
# **StochNorm** mixes batch and moving statistics in BatchNorm {cite}`kou2020stochnorm`. The claims:
#
# - **R1** L2-SP beats L2 when source and target are similar, with little gain (or harm) when they are not;
# - **R2** DELTA slightly beats L2-SP on similar targets and can hurt on dissimilar ones;
# - **R3** BSS rarely hurts and helps most on small targets; the usual order is BSS > DELTA > L2-SP;
# - **R4** stochastic normalisation helps on targets with few samples.
#
# ## Setup
#
# The pretrained source model is fine-tuned on the most and the least similar target of the profile at two small
# sizes, with each set-up at its published default strength (the Transfer-Learning-Library's trade-offs: 0.01 for
# L2, L2-SP and DELTA, 0.001 for BSS, p = 0.5 for StochNorm — not tuned here), at each target's learning rate chosen
# on validation in chapter 1 (shared through the run store), three seeds.

# %% tags=["remove-cell"]
import sys

if "google.colab" in sys.modules:  # on Colab, install the package this book is built on
    # %pip install -q "tlcore[book] @ git+https://github.com/tlcore-book/deep-transfer-survey"
    pass

# %% tags=["parameters"]
profile = "embedded"
seeds = None  # None: the profile's seeds

# %%
import matplotlib.pyplot as plt
import seaborn as sns

import tlcore
from tlcore.analysis.similarity import probe_similarity
from tlcore.book import glue_verdict, reference_table, set_style, verdict_table
from tlcore.results import save_table
from tlcore.studies import regularizer_study

set_style()
setup = tlcore.get_profile(profile, seeds=tuple(seeds) if seeds else None)
similarity = probe_similarity(setup.arch, setup.regularizer_targets, seeds=setup.seeds)
save_table(similarity, "regularizer_similarity")
similarity.groupby("target")["similarity"].mean().round(3)

# %% [markdown]
# ## Experiment

# %%
study = regularizer_study(setup)
grid = study["grid"]
save_table(grid, "regularizer_grid")
table = grid.groupby(["target", "n_per_class", "regularizer"])["test_accuracy"].agg(["mean", "std"]).round(3)
table.unstack("regularizer")["mean"]

# %% [markdown]
# ## Result
#
# Gain of each set-up over plain fine-tuning (test accuracy points; bars are means over seeds, lines their spread).

# %%
plain = grid[grid.regularizer == "none"].set_index(["target", "n_per_class", "seed"])["test_accuracy"]
grid["gain"] = 100 * (grid["test_accuracy"] - plain.reindex(
    grid.set_index(["target", "n_per_class", "seed"]).index).to_numpy())
g = sns.catplot(data=grid[grid.regularizer != "none"], x="regularizer", y="gain", hue="n_per_class", col="target",
                kind="bar", errorbar="sd", height=3.2, aspect=1.3,
                order=[r for r in setup.regularizers if r != "none"])
g.refline(y=0, color="black", lw=0.8)
g.set_axis_labels("", "gain over plain fine-tuning (points)");

# %% [markdown]
# The published reference: the Transfer-Learning-Library's fine-grained benchmark with an ImageNet ResNet-50, at
# 15% to 100% of each training set. **Published figures, not results of this book** (single seed, and, as its README
# says, with the best epoch chosen on the test split).

# %%
published, caption = reference_table("tllib_finegrained_resnet50")
print(caption)
long = published.melt(id_vars=["dataset", "method"], var_name="fraction", value_name="top1")
erm = long[long.method == "ERM"].set_index(["dataset", "fraction"])["top1"]
long["gain"] = long["top1"] - erm.reindex(long.set_index(["dataset", "fraction"]).index).to_numpy()
g = sns.catplot(data=long[long.method != "ERM"], x="method", y="gain", hue="fraction", col="dataset", kind="bar",
                height=3.0, aspect=1.4)
g.refline(y=0, color="black", lw=0.8)
g.set_axis_labels("", "gain over ERM (points)");

# %% [markdown]
# ## Verdict

# %%
verdicts = [tlcore.claims.verdict(claim) for claim in ("R1", "R2", "R3", "R4")]
for v in verdicts:
    glue_verdict(v)
verdict_table(verdicts)

# %% [markdown]
# - **R1** — {glue:text}`r1_verdict`. {glue:text}`r1_detail`
# - **R2** — {glue:text}`r2_verdict`. {glue:text}`r2_detail`
# - **R3** — {glue:text}`r3_verdict`. {glue:text}`r3_detail`
# - **R4** — {glue:text}`r4_verdict`. {glue:text}`r4_detail`
#
# ## In practice
#
# - These regularisers are cheap (L2-SP and BSS cost almost nothing per step; DELTA one extra forward pass without
#   gradients), so try them — but their strength matters, and published defaults are tuned for ImageNet-scale
#   networks and targets. Tune the trade-off on validation data as you would the learning rate.
# - The survey's §7.2 advice: for a similar target, L2-SP-style regularisation towards the source is a sensible
#   default; for a dissimilar one, do not hold all layers near the source (at most the lower ones, see claim R5).
# - `tlcore.regularizers` has each of them as a loss term for `tlcore.fit`, and `tlcore.normalization` StochNorm.
