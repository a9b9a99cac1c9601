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
# # 6. Hyper-parameters
#
# ## The claim
#
# The survey returns again and again to one caution (§5.2.4, §5.5, §7.1): many published comparisons of transfer
# methods are really comparisons of hyper-parameters. Its claims about them:
#
# - **T9** the smaller the target, the more results depend on fine-tuning hyper-parameters (§5.5, §5.6);
# - **H1** the best learning rate and momentum are lower for source/target pairs that are similar and higher for
#   dissimilar ones ({cite}`li2020rethinking`; §5.2.4, §7.1);
# - **H3** small targets want a faster learning-rate decay, i.e. fewer updates (§7.1);
# - **H4** MixUp helps on mid-size targets only (BiT, {cite}`kolesnikov2020bit`);
# - **H5** a recipe tuned for similar targets — BiT's HyperRule — is far from optimal on a dissimilar target, and
#   a larger learning rate with a longer schedule recovers much of the gap (the survey's table 1);
# - **M3** the gap between frozen-feature and fine-tuned accuracy, even with poor hyper-parameters, predicts good
#   fine-tuning hyper-parameters (§5.5).
#
# ## Setup
#
# The pretrained source model of chapter 1. The learning-rate × momentum grid trains for {glue:text}`hp_steps` steps
# (chapter 1's schedule has {glue:text}`base_steps`) with the learning rates {glue:text}`hp_lrs` and the momenta
# {glue:text}`hp_momenta`, whose effective learning rates $\mathrm{lr} / (1 - \mathrm{momentum})$ span
# {glue:text}`hp_decades` decades, on {glue:md}`grid_targets`. The other experiments reuse
# chapter 1's runs wherever they can (the run store shares them). Every choice is made on
# validation accuracy; test accuracy is reported once per run. The effects here are a point or less, so this chapter
# runs {glue:text}`n_seeds` seeds: the embedded tier's count was raised after results had been seen, from three to
# five (with the primary tests) and then to ten (when most five-seed tests were inconclusive).
# {glue:md}`grid_seeds_note`

# %% tags=["remove-cell"]
import sys

if "google.colab" in sys.modules:  # on Colab, install the package this book is built on
    # %pip install -q "tlcore[book] @ git+https://github.com/tlcore-book/deep-transfer-survey@v0.1.0"
    pass

# %% tags=["parameters"]
profile = "embedded"
seeds = None  # None: the profile's seeds for effects of a point or less

# %%
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

import tlcore
from tlcore import data
from tlcore.analysis.grids import grid_spread, optimum, score_diverged
from tlcore.analysis.probes import probe_similarity, similarity_order
from tlcore.analysis.similarity import with_image_similarity
from tlcore.chapter import (glue, glue_markdown, glue_verdicts, listed, show_reference, start_chapter,
    verdict_table)
from tlcore.results import save_table
from tlcore.studies import hyperparameters as hp

setup = start_chapter(profile, seeds=seeds, small_effects=True)
# the grid, H1's similarity and M3's probe gap at the profile's grid seeds, unless this notebook's parameters set seeds
grid_setup = hp.grid_setup(setup) if seeds is None else setup
glue("n_seeds", len(setup.seeds))
glue_markdown("grid_seeds_note", "Every experiment of the chapter runs these seeds."
              if grid_setup.seeds == setup.seeds else (
    f"The learning-rate × momentum grid, and the similarity and probe gap that H1 and M3 read beside it, run "
    f"{len(grid_setup.seeds)} seeds: raised from {len(setup.seeds)} after the {len(setup.seeds)}-seed verdicts of T9 "
    "and M3 were inconclusive with their effects in the claimed direction, when the power analysis asked for more"
    + (" (on 2026-12-04)" if profile == "embedded" else "") + "."))
glue("hp_steps", setup.hp.steps)
glue("base_steps", setup.steps)
glue("hp_lrs", listed([f"{lr:g}" for lr in setup.hp.lrs]))
glue("hp_momenta", listed([f"{m:g}" for m in setup.hp.momenta]))
extra = [t for t in hp.grid_targets(setup) if t not in setup.targets]
glue_markdown("grid_targets", f"chapter 1's {len(setup.targets)} targets" + (
    f" plus {listed([f'*{t}*' for t in extra])}, added so that H1's and M3's rank correlations across targets have "
    f"{len(hp.grid_targets(setup))} points (their image similarity to the source lies between the others')"
    if extra else "") + (
    ". Until 2026-12-03 the grid was 2 × 2 (learning rates 0.03 and 0.3, momenta 0 and 0.9) at 75 steps on chapter "
    "1's four targets; it was raised to this one after those results had been seen, as issue 13 asks"
    if profile == "embedded" else ""))
effective = [lr / (1 - m) for lr in setup.hp.lrs for m in setup.hp.momenta]
glue("hp_decades", f"{np.log10(max(effective) / min(effective)):.2g}")
short_schedule, long_schedule = hp.schedule_lengths(setup)[0], hp.schedule_lengths(setup)[-1]
glue("decay_ratio", f"{long_schedule / short_schedule:.2g}")
glue("schedule_pair", (f"the short schedule of the grid ({short_schedule} steps) against chapter 1's "
                       f"({long_schedule})" if (short_schedule, long_schedule) == (setup.hp.steps, setup.steps) else
                       f"a {short_schedule}-step schedule against a {long_schedule}-step one (H3's own runs, "
                       "lengthened from the grid's and chapter 1's after their results had been seen)"))
glue("hp_small", min(setup.hp.sizes))
glue("hp_large", max(setup.hp.sizes))
# the probe gain (descriptive) and the image-statistics similarity the claims use as x-axis
similarity = with_image_similarity(
    probe_similarity(setup.arch, hp.grid_targets(setup), n_per_class=setup.hp.sizes[0], seeds=grid_setup.seeds))
save_table(similarity, hp.TABLES["similarity"])
order = similarity_order(similarity)
similarity.groupby("target")["similarity"].mean().reindex(order).round(3)

# %% [markdown]
# ## Experiment
#
# ### A learning-rate × momentum grid (T9, H1)
#
# Every target at the smallest size, and the most and least similar ones also at the largest, for each learning
# rate and momentum of the grid and each seed.

# %%
grid = hp.lr_momentum_grid(grid_setup)
save_table(grid, hp.TABLES["grid"])
scored = score_diverged(grid)
scored["cell"] = [f"lr {lr:g}, m {m:g}" for lr, m in zip(scored.protocol_lr, scored.protocol_momentum)]
g = sns.catplot(data=scored, x="cell", y="test_accuracy", hue="n_per_class", col="target", col_order=order,
                kind="point", errorbar="sd", dodge=0.3, height=3.0, aspect=1.1, col_wrap=3)
g.set_axis_labels("", "test accuracy").set_titles("{col_name}")
for ax in g.axes.flat:
    ax.tick_params(axis="x", rotation=60)

# %% [markdown]
# The spread (max − min over the grid, per seed) and the validation optimum of each target and size:

# %%
spread = grid_spread(scored).groupby(["target", "n_per_class"])["spread"].agg(["mean", "std"])
best = optimum(scored)
spread.join(best.set_index(["target", "n_per_class"])).reindex(order, level=0).round(3)

# %% [markdown]
# ### Schedule length (H3)
#
# The most and least similar targets at chapter 1's learning rate, with {glue:text}`schedule_pair` (both cosine
# decays to zero, so the short one decays {glue:text}`decay_ratio` times faster).

# %%
schedule = hp.schedule_study(setup)
save_table(schedule, hp.TABLES["schedule"])
schedule.groupby(["target", "n_per_class", "protocol_steps"])["test_accuracy"].agg(["mean", "std"]).unstack(
    "protocol_steps").round(3)

# %% [markdown]
# ### MixUp (H4)
#
# MixUp with BiT's α on one target, {glue:md}`mixup_setup`.

# %%
mixup_steps = hp.mixup_schedule(setup)
if set(mixup_steps.values()) == {setup.steps} and tuple(mixup_steps) == tuple(setup.sizes):
    glue_markdown("mixup_setup", "at every size, against chapter 1's runs without it")
else:
    glue_markdown("mixup_setup", (
        f"at {', '.join(map(str, mixup_steps))} images per class, each for about {setup.hp.mixup_epochs:g} epochs "
        f"and never fewer than chapter 1's {setup.steps} steps ({', '.join(map(str, mixup_steps.values()))} steps), "
        "with runs without MixUp at the same schedules"
        + (". Until 2026-12-03 H4 ran at chapter 1's sizes and schedule, against chapter 1's runs; the sizes and "
           "schedules were raised after seeing those results, as issue 13 asks" if profile == "embedded" else "")))
mixup = hp.mixup_study(setup)
save_table(mixup, hp.TABLES["mixup"])
mixup.groupby(["n_per_class", "protocol_mixup_alpha"])["test_accuracy"].agg(["mean", "std"]).unstack(
    "protocol_mixup_alpha").round(3)

# %% [markdown]
# ### BiT's rule on a dissimilar target (H5)
#
# The BiT-HyperRule {cite}`kolesnikov2020bit` scaled to this world (`tlcore.finetune.recipes.bit_hyperrule`; step
# schedule, warmup, last weights kept) on the least similar target, and a grid of learning rate × schedule length
# (`x2`: twice the steps) around it; chapter 1's tuned recipe stands in for the survey's "best known result".

# %%
default = hp.bit_default(setup)
glue("bit_default_steps", default.steps)
bit = hp.bit_recipe_study(setup)
save_table(bit, hp.TABLES["bit"])
bit_table = score_diverged(bit).groupby(["recipe", "protocol_lr", "schedule"])[["val_accuracy", "test_accuracy"]].mean()
bit_table.round(3)

# %% [markdown]
# ### The linear-probe / quick fine-tune gap (M3)
#
# A quick fine-tune at a fixed, untuned learning rate against the linear probe on frozen features behind the
# similarity measure above, both on validation data at the smallest size.

# %%
gap = hp.probe_gap_study(grid_setup, similarity)
save_table(gap, hp.TABLES["probe_gap"])
gap.groupby("target")[["probe", "quick_ft", "gap"]].mean().reindex(order).round(3)

# %% [markdown]
# ## Result

# %%
small = best[best.n_per_class == best.n_per_class.min()].set_index("target").reindex(order)
mean_similarity = similarity.groupby("target")["similarity"].mean().reindex(order)
mean_gap = gap.groupby("target")["gap"].mean().reindex(order)
spread_seed = grid_spread(scored)

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
sns.pointplot(data=spread_seed, x="n_per_class", y="spread", hue="target", hue_order=order, errorbar="sd",
              dodge=0.2, ax=axes[0])
axes[0].set(title="T9: spread over the grid", xlabel="training images per class", ylabel="max − min test accuracy")
axes[1].scatter(mean_similarity, small["effective_lr"])
axes[2].scatter(mean_gap, small["effective_lr"])
for t in order:
    axes[1].annotate(t, (mean_similarity[t], small.loc[t, "effective_lr"]), fontsize=8)
    axes[2].annotate(t, (mean_gap[t], small.loc[t, "effective_lr"]), fontsize=8)
axes[1].set(yscale="log", title="H1: optimum vs similarity", xlabel="similarity (probe gain)",
            ylabel="optimum effective LR")
axes[2].set(yscale="log", title="M3: optimum vs FT − probe gap", xlabel="quick FT − probe (validation)",
            ylabel="optimum effective LR")
fig.tight_layout()

# %% [markdown]
# Schedule, MixUp and the BiT rule: test accuracy (mean over seeds, bars their spread).

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
sns.pointplot(data=schedule, x="n_per_class", y="test_accuracy", hue="protocol_steps", errorbar="sd", dodge=0.2,
              ax=axes[0])
axes[0].set(title="H3: schedule length", xlabel="training images per class", ylabel="test accuracy")
sns.pointplot(data=mixup, x="n_per_class", y="test_accuracy", hue="protocol_mixup_alpha", errorbar="sd", dodge=0.2,
              ax=axes[1])
axes[1].set(title=f"H4: MixUp on {setup.hp.mixup_target}", xlabel="training images per class", ylabel="")
bit_grid = score_diverged(bit[bit.recipe == "grid"])
sns.pointplot(data=bit_grid, x="protocol_lr", y="test_accuracy", hue="schedule", errorbar="sd", dodge=0.2,
              ax=axes[2])
axes[2].axhline(bit[bit.recipe == "tuned_reference"].test_accuracy.mean(), color="black", ls="--", lw=1,
                label="chapter 1's recipe")
axes[2].legend(fontsize=8)
axes[2].set(title=f"H5: BiT rule grid on {setup.hp.bit_target}", xlabel="learning rate", ylabel="")
fig.tight_layout()

# %% [markdown]
# The published reference: the survey's table 1 — BiT-M fine-tuned on Stanford Cars with the BiT recipe, at four
# learning rates and two schedule lengths. These are **published figures, not results of this book**: BiT's default
# (the smallest rate, default schedule) is beaten by a larger rate with twice the steps, and both stay well below the
# best known result for this model family (in the caption).

# %%
published = show_reference("bit_stanford_cars")
fig, ax = plt.subplots(figsize=(5.5, 3.4))
sns.pointplot(data=published, x="lr", y="top1", hue="schedule", ax=ax)
ax.axhline(95.3, color="black", ls="--", lw=1, label="best known (Ngiam et al.)")
ax.legend(fontsize=8)
ax.set(xlabel="learning rate", ylabel="top-1 (%)", title="Published: survey table 1 (BiT-M on Stanford Cars)");

# %% [markdown]
# ## Verdict
#
# The rules were written in `tlcore.claims.hyperparameters` before these runs; they read the tables saved above.

# %%
verdicts = glue_verdicts("T9", "H1", "H3", "H4", "H5", "M3")
# The advice below says what this build found, so it is chosen by the verdicts, not typed.
glue("practice_h5", "in this world a larger rate with a longer schedule recovered much of the gap: H5 supported"
     if verdicts["H5"].verdict == "supported" else f"the survey's H5; verdict here: {verdicts['H5'].verdict}")
glue("practice_m3", "here a large gap between them went with a high optimal learning rate (M3 supported), so read "
                    "it as a sign that the features must move" if verdicts["M3"].verdict == "supported" else
     f"the survey reads a large gap between them as a sign that the features must move and the learning rate should "
     f"be high, but here M3's verdict is {verdicts['M3'].verdict}")
classes = data.num_classes(setup.hp.large_targets[-1])
epochs = {n: setup.hp.steps * setup.batch_size / (n * classes) for n in (min(setup.hp.sizes), max(setup.hp.sizes))}
glue_markdown("t9_reading", (
    f"The grid is short ({setup.hp.steps} steps, fewer than chapter 1's {setup.steps}). That matters for **T9**: with "
    "so few steps a low effective learning rate can *under-fit* a large, dissimilar target, so the spread there can "
    "be larger than at the smallest size. The survey's argument is about the opposite regime — enough updates that "
    "a small target over-fits or drifts — and this grid does not reach it; the rule reports what this grid shows."
    if setup.hp.steps < setup.steps else
    f"For **T9**, the grid's {setup.hp.steps} steps are about {epochs[min(epochs)]:.0f} epochs at {min(epochs)} "
    f"images per class and {epochs[max(epochs)]:.0f} at {max(epochs)} (on a {classes}-class target): updates "
    "enough for a small target to over-fit or drift, the regime the survey's argument is about."))
verdict_table(list(verdicts.values()))

# %% [markdown]
# - **T9** — {glue:text}`t9_verdict`. {glue:text}`t9_detail`
# - **H1** — {glue:text}`h1_verdict`. {glue:text}`h1_detail`
# - **H3** — {glue:text}`h3_verdict`. {glue:text}`h3_detail`
# - **H4** — {glue:text}`h4_verdict`. {glue:text}`h4_detail`
# - **H5** — {glue:text}`h5_verdict`. {glue:text}`h5_detail`
# - **M3** — {glue:text}`m3_verdict`. {glue:text}`m3_detail`
#
# ### Reading the verdicts
#
# - {glue:md}`t9_reading`
# - **H1** and **M3** rank the targets by a coarse grid: equal optima (several targets at the same effective
#   learning rate) are ties, and a seed resample in which the dissimilar target's optimum moves can make every
#   optimum equal, which widens their intervals.
# - **H3** compares a shorter cosine schedule with a longer one at the same learning rate: a positive
#   interaction means the small targets lose less from fewer updates than the large ones, the weaker half of the
#   claim; "supported" needs the small targets to lose nothing.
#
# ### Where our verdict and the survey differ
#
# {glue:md}`survey_differences`
#
# ## In practice
#
# - Tune the learning rate — or the effective learning rate $\mathrm{lr} / (1 - \mathrm{momentum})$, in which the
#   grid above is read — per target, on validation data; see the H1 figure for how far apart the optima of similar
#   and dissimilar targets lie.
# - A recipe tuned for targets like the source (BiT's small learning rate, short schedule) can leave accuracy on the
#   table for a target unlike it: widen the grid towards larger rates and longer schedules there
#   ({glue:text}`practice_h5`).
# - A quick fine-tune at any modest rate beside a linear probe costs seconds; {glue:text}`practice_m3`.
# - Every run of this chapter is in the tables `hp_grid`, `hp_schedule`, `hp_mixup`, `hp_bit_recipe` and
#   `hp_probe_gap` (`results/tables`).
