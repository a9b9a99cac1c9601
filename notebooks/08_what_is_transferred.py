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
# (held-out letters and noisy gratings, see {doc}`../book/world`), {glue:text}`transferred_size` training images per
# class, {glue:text}`n_seeds` seeds, at the learning rate chapter 1 chose on validation for each (target, start).
# These are the same runs as chapter 1's grid at that size; the run store keeps their records, and `tlcore.runs.transfer.train_model` keeps their weights
# (safetensors, checked by hash), so re-running this page trains nothing. Every measurement uses one common test
# set per target, so models of different seeds can be compared sample by sample.

# %% tags=["remove-cell"]
import sys

if "google.colab" in sys.modules:  # on Colab, install the package this book is built on
    # %pip install -q "tlcore[book] @ git+https://github.com/tlcore-book/deep-transfer-survey@v0.1.0"
    pass

# %% tags=["parameters"]
profile = "embedded"
seeds = None  # None: the profile's seeds

# %%
import inspect

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

import tlcore
from tlcore.analysis.difficulty import knn_disagreement
from tlcore.chapter import glue, glue_verdicts, start_chapter, verdict_table
from tlcore.claims.what_is_transferred import DIFFICULTY_BINS, correctness_by_bin, extra_answer_difficulty
from tlcore.results.tables import save_tables
from tlcore.studies.what_is_transferred import TABLES, what_is_transferred

setup = start_chapter(profile, seeds=seeds)
glue("transferred_size", setup.transferred.size)
glue("n_seeds", len(setup.seeds))
glue("difficulty_k", inspect.signature(knn_disagreement).parameters["k"].default)
glue("difficulty_reference_size", setup.transferred.difficulty_reference_size)
glue("difficulty_bins", DIFFICULTY_BINS)
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
# For every two seeds of one (target, start), the accuracy along the straight line
# $\theta(\alpha) = (1 - \alpha)\,\theta_a + \alpha\,\theta_b$ in parameter space. An interpolated network's
# BatchNorm running statistics (the average of the two models') do not describe its own activations, so at every α —
# the ends included, so the curve is one procedure — they are recomputed exactly on the two models' training images;
# the barrier is the largest drop of accuracy below the straight line between the ends {cite}`neyshabur2020what`.

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
larger_moves = pretrained[far] > pretrained[near] and moved[far] > moved[near]
glue("p1_moves", "The far target asks for larger moves" if larger_moves else
     "Here the far target does not ask for larger moves on both counts")
glue("p1_basin", "Staying in one basin is a property of small moves from the source, which is what a similar "
                 "target asks for." if larger_moves else "")
pairs.groupby(["target", "init"])[["distance", "relative_distance", "error_barrier", "loss_barrier",
                                    "error_overlap"]].agg(["mean", "std"]).round(3)

# %% [markdown]
# The curves and the table show the error barrier of each start (points; pretrained vs scratch): on the near
# target {glue:text}`barrier_near_pretrained` vs {glue:text}`barrier_near_scratch`, on the far
# target {glue:text}`barrier_far_pretrained` vs {glue:text}`barrier_far_scratch`. Neyshabur et
# al.'s picture is a flat path (no barrier) between models fine-tuned from one pretrained start, a small distance
# relative to their norm, and more shared mistakes than between models trained from scratch.
# {glue:text}`p1_moves`: the learning rate validation chose there is {glue:text}`lr_ratio` times the near target's,
# and the fine-tuned models' distance relative to their norm is {glue:text}`distance_ratio` times the near
# target's. {glue:text}`p1_basin`
#
# ### P2: which layers change?
#
# Linear CKA {cite}`kornblith2019cka` between the source model's and the fine-tuned model's activations of each
# stage, on the target's test images: a CKA of $1$ means fine-tuning left that stage's representation as the source
# made it (up to rotation and scale), lower values that it was rewritten.

# %%
cka = measured["cka"]
fig, ax = plt.subplots(figsize=(6, 3.4))
sns.pointplot(data=cka, x="stage", y="cka", hue="target", errorbar=("pi", 100), dodge=0.2, ax=ax)
ax.set(ylim=(0, 1.02), xlabel="stage (input → output)", ylabel="linear CKA(source, fine-tuned)",
       title="Similarity to the source model after fine-tuning (range over seeds)")
# The reading below is written from these numbers: CKA at the first and last stage, mean over seeds.
by_stage = cka.groupby(["target", "stage"])["cka"].mean()
ends = {t: (by_stage[t].iloc[0], by_stage[t].iloc[-1]) for t in (near, far)}
trend = {t: "falls" if first > last else "rises" if first < last else "stays" for t, (first, last) in ends.items()}
drop = {t: first - last for t, (first, last) in ends.items()}
glue("p2_reading", "; ".join(f"on the {role} target ({t}) it {trend[t]} from {ends[t][0]:.2f} at the first stage to "
                             f"{ends[t][1]:.2f} at the last" for role, t in (("near", near), ("far", far)))
     + (", so the far target's representations moved further" if drop[far] > drop[near] else
        ", so the far target's representations moved no further than the near target's"));

# %% [markdown]
# Similarity to the source, mean over seeds: {glue:text}`p2_reading`. The P2 verdict below says whether these
# differences exceed the spread over seeds.
#
# ### P4: where are the pretrained start's extra correct answers?
#
# A sample's difficulty must not come from the models being compared (a pretrained model's own confidence would
# make its mistakes "hard" by definition). It is the k-disagreeing-neighbours score {cite}`smith2014instance`: the
# share of its {glue:text}`difficulty_k` nearest images (in standardised pixel space) among a held-out labelled
# reference sample ({glue:text}`difficulty_reference_size` images per class, a training draw no compared model saw)
# that carry another label. Samples are cut into {glue:text}`difficulty_bins` equal-count difficulty bins per
# target.

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
extra = extra_answer_difficulty(samples)
# The reading below is written from these numbers and the difficulty bins above (means over seeds).
by_bin["lead"] = 100 * (by_bin.correct_pretrained - by_bin.correct_scratch)
lead = by_bin.groupby(["target", "bin"])["lead"].mean()
gap = extra.groupby("target")["difficulty_gap"].mean()


def p4_reading(target: str) -> str:
    leads = lead[target]
    largest = {leads.index.min(): "easiest", leads.index.max(): "hardest"}.get(leads.idxmax(), "middle")
    extra_answers = ("not comparable (one model had no extra answers)" if pd.isna(gap[target]) else
                     f"{'easier' if gap[target] > 0 else 'harder' if gap[target] < 0 else 'no easier'} than scratch's")
    return (f"on {target} the pretrained start's lead over scratch is {', '.join(f'{v:+.1f}' for v in leads)} points "
            f"from the easiest bin to the hardest, largest in the {largest} one, and its extra correct answers are "
            f"{extra_answers}")


glue("p4_reading", "; ".join(p4_reading(target) for target in (near, far)))
accuracy = runs.groupby(["target", "init"])["test_accuracy"].mean()
glue("p4_accuracy", f"{accuracy.min():.2f} to {accuracy.max():.2f}")
glue("p4_separating", f"{(extra.only_pretrained + extra.only_scratch).mean():.0f}")
extra.round(3)

# %% [markdown]
# Mean over seeds, {glue:text}`p4_reading`. The P4 verdict below judges the claim on these numbers. Two caveats:
# the difficulty score measures ambiguity in pixel space, which for gratings (where phase and noise dominate the
# pixels) is only a rough proxy for what makes a sample hard for a network; and with test accuracies of
# {glue:text}`p4_accuracy`, {glue:text}`p4_separating` test samples per seed, on average, separate the two models.

# %% [markdown]
# ## Verdict
#
# The rules were written in `tlcore.claims.what_is_transferred` before these runs; they read the tables saved above.

# %%
verdicts = glue_verdicts("P1", "P2", "P4")
# The advice below says what this build found, so it is chosen by the verdicts, not typed.
held = {claim: verdict.verdict == "supported" for claim, verdict in verdicts.items()}
glue("practice_p1", "here models fine-tuned from one pretrained start stayed in one basin (P1 supported), so "
                    "averaging them is safe on a target like this one" if held["P1"] else
     f"one pretrained start did not guarantee one basin here (verdict on P1: {verdicts['P1'].verdict})")
glue("practice_p2", "Here the lower stages changed least (P2 supported): freezing them or giving them a smaller "
                    "learning rate should cost little on a similar target, while on a dissimilar one re-initialising "
                    "or a higher learning rate is worth trying" if held["P2"] else
     f"Which stages fine-tuning rewrites is measurable (the CKA figure above; verdict on P2 here: "
     f"{verdicts['P2'].verdict}): freeze or slow down only the stages that barely move on your target")
glue("practice_p4", "Here the pretrained start's extra correct answers were the easy samples (P4 supported)"
     if held["P4"] else f"Do not assume a pretrained start wins only on the easy cases (verdict on P4 here: "
                        f"{verdicts['P4'].verdict}); look at where, by difficulty, your models differ")
verdict_table(list(verdicts.values()))

# %% [markdown]
# - **P1** — {glue:text}`p1_verdict`. {glue:text}`p1_detail`
# - **P2** — {glue:text}`p2_verdict`. {glue:text}`p2_detail`
# - **P4** — {glue:text}`p4_verdict`. {glue:text}`p4_detail`
#
# ### Where our verdict and the survey differ
#
# {glue:md}`survey_differences`
#
# ## In practice
#
# - Before averaging or interpolating fine-tuned models (as model soups do), check the path between them as above:
#   {glue:text}`practice_p1`.
# - {glue:text}`practice_p2` (chapter 2 measures re-initialising).
# - {glue:text}`practice_p4`.
