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
# # 8. What is transferred
#
# ## The claim
#
# Chapter 1 measured *whether* a pretrained start helps. This chapter opens the fine-tuned models to see *what* the
# start gave them. Three claims of the survey are about that:
#
# - **P1** ({cite}`neyshabur2020what`, §5.2.5): models fine-tuned from the same pretrained weights stay in one
#   basin of the loss landscape — close in parameter space, with no barrier on the straight line between them, and
#   making similar mistakes — while models trained from scratch land in different basins;
# - **P2** ({cite}`yosinski2014transferable`, §3.4, §5.3): lower layers learn general features that fine-tuning
#   leaves almost as they were, higher layers task-specific ones that it rewrites, and more so for a dissimilar task;
# - **P4** (the blog's reading of {cite}`neyshabur2020what`): the pretrained start's extra correct answers are on
#   easy samples; on ambiguous samples it struggles to adapt.
#
# ## Setup
#
# One set of models serves all three claims: the source model fine-tuned from its pretrained weights and its
# scratch twin trained from a random initialisation, on the nearest and the farthest target of the embedded world
# (held-out letters and noisy gratings, see {doc}`../book/world`), 20 training images per class, three seeds, at the
# learning rate chapter 1 chose on validation for each (target, start). These are the same runs as chapter 1's grid
# at that size; the run store keeps their records, and `tlcore.runs.transfer.train_model` keeps their weights
# (safetensors, checked by hash), so re-running this page trains nothing. Every measurement uses one common test
# set per target, so models of different seeds can be compared sample by sample.

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

from tlcore.chapter import glue, show_verdicts, start_chapter
from tlcore.claims.what_is_transferred import correctness_by_bin, extra_answer_difficulty
from tlcore.results.tables import save_tables
from tlcore.studies.what_is_transferred import TABLES, what_is_transferred

setup = start_chapter(profile, seeds=seeds)
setup.parameters("transferred")

# %% [markdown]
# ## Experiment

# %%
measured = what_is_transferred(setup)
save_tables(measured, TABLES)
runs = measured["runs"]
runs.groupby(["target", "init"])[["protocol_lr", "val_accuracy", "test_accuracy"]].mean().round(3)

# %% [markdown]
# ## Result
#
# ### P1: one basin or many?
#
# For every two seeds of one (target, start), the accuracy along the straight line θ(α) = (1 − α) θ_a + α θ_b in
# parameter space. An interpolated network's BatchNorm running statistics (the average of the two models') do not
# describe its own activations, so at every α — the ends included, so the curve is one procedure — they are
# recomputed exactly on the two models' training images; the barrier is the largest drop of accuracy below the
# straight line between the ends {cite}`neyshabur2020what`.

# %%
curves = measured["curves"].assign(pair=lambda f: f.seed_a.astype(str) + "–" + f.seed_b.astype(str))
g = sns.relplot(data=curves, x="alpha", y="accuracy", hue="init", style="pair", col="target", kind="line",
                markers=True, height=3.2, aspect=1.2)
g.set_titles("{col_name}")
g.set_axis_labels("α (0: model of the first seed, 1: of the second)", "test accuracy");

# %% [markdown]
# Per pair: distance in parameter space (absolute, and relative to the models' norm), barriers in error and in
# loss, and the overlap of their mistakes (Jaccard index of the two sets of misclassified test images).

# %%
pairs = measured["pairs"]
barriers = 100 * pairs.groupby(["target", "init"])["error_barrier"].mean()
near, far = setup.transferred.targets
for (target, init), value in barriers.items():
    glue(f"barrier_{'near' if target == near else 'far'}_{init}", f"{value:.1f}")
pretrained = runs[runs.init == "pretrained"].groupby("target")["protocol_lr"].mean()
moved = pairs[pairs.init == "pretrained"].groupby("target")["relative_distance"].mean()
glue("lr_ratio", f"{pretrained[far] / pretrained[near]:.0f}")
glue("distance_ratio", f"{moved[far] / moved[near]:.1f}")
pairs.groupby(["target", "init"])[["distance", "relative_distance", "error_barrier", "loss_barrier",
                                    "error_overlap"]].agg(["mean", "std"]).round(3)

# %% [markdown]
# The curves and the table show the error barrier of each start (points; pretrained vs scratch): on the near
# target {glue:text}`barrier_near_pretrained` vs {glue:text}`barrier_near_scratch`, on the far
# target {glue:text}`barrier_far_pretrained` vs {glue:text}`barrier_far_scratch`. Neyshabur et
# al.'s picture is a flat path (no barrier) between models fine-tuned from one pretrained start, a small distance
# relative to their norm, and more shared mistakes than between models trained from scratch. The far target asks
# for larger moves: the learning rate validation chose there is {glue:text}`lr_ratio` times the near target's, and
# the fine-tuned models' distance relative to their norm is {glue:text}`distance_ratio` times the near target's.
# Staying in one basin is a property of *small* moves from the source, which is what a similar target asks for.
#
# ### P2: which layers change?
#
# Linear CKA {cite}`kornblith2019cka` between the source model's and the fine-tuned model's activations of each
# stage, on the target's test images: 1 means fine-tuning left that stage's representation as the source made it
# (up to rotation and scale), lower values that it was rewritten.

# %%
cka = measured["cka"]
fig, ax = plt.subplots(figsize=(6, 3.4))
sns.pointplot(data=cka, x="stage", y="cka", hue="target", errorbar=("pi", 100), dodge=0.2, ax=ax)
ax.set(ylim=(0, 1.02), xlabel="stage (input → output)", ylabel="linear CKA(source, fine-tuned)",
       title="Similarity to the source model after fine-tuning (range over seeds)");

# %% [markdown]
# Both halves of the claim show: on either target similarity to the source falls from the first stage to the last,
# and it falls much further on the far target, where even the first stage is partly rewritten and the last keeps
# little of the source's representation. On the near target fine-tuning barely touches the first two stages.
#
# ### P4: where are the pretrained start's extra correct answers?
#
# A sample's difficulty must not come from the models being compared (a pretrained model's own confidence would
# make its mistakes "hard" by definition). It is the k-disagreeing-neighbours score {cite}`smith2014instance`: the
# share of its 10 nearest images (in standardised pixel space) among a held-out labelled reference sample (50
# images per class, a training draw no compared model saw) that carry another label. Samples are cut into three
# equal-count difficulty bins per target.

# %%
samples = measured["samples"]
by_bin = correctness_by_bin(samples)
long = by_bin.melt(id_vars=["target", "seed", "bin"], value_vars=["correct_pretrained", "correct_scratch"],
                   var_name="init", value_name="accuracy")
long["init"] = long["init"].str.removeprefix("correct_")
long["bin"] = long["bin"].map({0: "easy", 1: "medium", 2: "hard"})
g = sns.catplot(data=long, x="bin", y="accuracy", hue="init", col="target", kind="point", errorbar=("pi", 100),
                dodge=0.2, height=3.2, aspect=1.1)
g.set_titles("{col_name}")
g.set_axis_labels("difficulty tercile (k-disagreeing neighbours)", "test accuracy");

# %% [markdown]
# The samples only one of the two models of a seed gets right, and the difficulty gap (mean difficulty of the
# scratch model's extra answers minus that of the pretrained model's; positive if the pretrained model's are easier):

# %%
extra_answer_difficulty(samples).round(3)

# %% [markdown]
# Neither half of the claim holds here. On the near target the pretrained start is better in every tercile and its
# lead is *largest* on the hardest one: its extra answers are the ambiguous samples, not the easy ones. On the far
# target the pretrained start is worse than scratch at this size (chapter 1's negative transfer) and loses most on
# the hardest tercile — "struggles on ambiguous samples" in a sense — but the answers it gets and scratch misses are
# no easier than the reverse. Two caveats: the difficulty score measures ambiguity in pixel space, which for
# gratings (where phase and noise dominate the pixels) is only a rough proxy for what makes a sample hard for a
# network; and with test accuracies above 90 % only a few dozen samples per seed separate the two models.

# %% [markdown]
# ## Verdict
#
# The rules were written in `tlcore.claims.what_is_transferred` before these runs; they read the tables saved above.

# %%
show_verdicts("P1", "P2", "P4")

# %% [markdown]
# - **P1** — {glue:text}`p1_verdict`. {glue:text}`p1_detail`
# - **P2** — {glue:text}`p2_verdict`. {glue:text}`p2_detail`
# - **P4** — {glue:text}`p4_verdict`. {glue:text}`p4_detail`
#
# ## In practice
#
# - Fine-tuning from pretrained weights on a similar target is a local search: seeds end near each other and near
#   the source, in one basin, so averaging or interpolating such fine-tuned models (as model soups do) is safe. On a
#   dissimilar target, with the larger learning rate it needs, that no longer holds: check the path before averaging.
# - The lower stages change least, and on a similar target hardly at all: freezing them or giving them a smaller
#   learning rate costs little there. On a dissimilar target every stage moves, the top most; that is where
#   re-initialising or a higher learning rate pays (chapter 2 measures it).
# - Do not expect a pretrained start to win only on the easy cases: where the source fits, it also helps most on the
#   samples that are ambiguous in pixel space; where it does not fit, it loses there first.
