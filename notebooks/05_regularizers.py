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
# Plain fine-tuning lets the weights drift anywhere. The survey's parameter-regularisation family (§5.2.1–5.2.3)
# keeps them close to what the source taught: **L2-SP** pulls the weights towards their pretrained values
# {cite}`li2018l2sp`, **DELTA** keeps the feature maps close to the source's, weighted by channel importance
# {cite}`li2019delta`, **BSS** shrinks the smallest singular values of the features {cite}`chen2019bss`,
# **StochNorm** mixes batch and moving statistics in BatchNorm {cite}`kou2020stochnorm`, **Co-Tuning** keeps training
# the source classifier towards the source labels each target label implies {cite}`you2020cotuning`, and the
# **sample-based** regulariser pulls features of same-class images together {cite}`jeon2020sample`. The claims:
#
# - **R1** L2-SP beats L2 when source and target are similar, with little gain (or harm) when they are not;
# - **R2** DELTA slightly beats L2-SP on similar targets and can hurt on dissimilar ones;
# - **R3** BSS rarely hurts and helps most on small targets; the usual order is BSS > DELTA > L2-SP;
# - **R4** stochastic normalisation helps on targets with few samples;
# - **R5** L2-SP on the lower layers with L2 on the upper layers can beat either on all layers;
# - **R6** Co-Tuning improves fine-tuning;
# - **R7** sample-based regularisation beats L2-SP, DELTA and BSS;
# - **R8** with a schedule adapted to target size, extra regularisation (L2, L2-SP) adds little on large targets.
#
# ## Setup
#
# The pretrained source model is fine-tuned on the most and the least similar target of the profile at
# {glue:text}`reg_sizes` images per class, {glue:text}`n_seeds` seeds, at each target's learning rate chosen on
# validation in chapter 1, with {glue:text}`reg_schedule`. The effects here are a point
# or less, so this chapter runs more seeds than the others: the embedded tier's count was raised after results had
# been seen, from three to five (with the primary tests) and then to ten (when most five-seed tests were
# inconclusive).
#
# A regulariser's strength matters as much as a learning rate. The published defaults (the Transfer-Learning-Library's
# trade-offs; the sample-based term has none, so its default is our choice on the scale of the others:
# {glue:text}`default_weights`) were tuned for ImageNet-scale networks, so each set-up's trade-off is first **swept on
# validation**: the default times each of the factors {glue:text}`weight_scales`, at the tuning size (the one chapter 1
# tunes the learning rate at) with the first seed, per target; the weight with the best validation accuracy is then
# used for every size and seed. StochNorm keeps its default $p$ = {glue:text}`stochnorm_p` (a probability, not a
# trade-off; not swept). For R8, plain fine-tuning, L2 and L2-SP also run at {glue:text}`reg_large_size` images per
# class on {glue:text}`r8_targets`, with {glue:text}`r8_schedule`.

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
import pandas as pd
import seaborn as sns

import tlcore
from tlcore.analysis.probes import probe_similarity
from tlcore.analysis.similarity import with_image_similarity
from tlcore.chapter import glue, listed, show_reference, show_verdicts, start_chapter
from tlcore.finetune.recipes import bit_hyperrule
from tlcore.regularizers.setups import DEFAULT_WEIGHTS
from tlcore.results import save_table
from tlcore.results.tables import save_tables
from tlcore.studies.regularizers import TABLES, large_only_targets, large_steps, regularizer_study

setup = start_chapter(profile, seeds=seeds, small_effects=True)
reg = setup.regularization
glue("reg_sizes", " and ".join(map(str, reg.sizes)))
glue("reg_large_size", reg.large_size)
glue("reg_smallest", min(reg.sizes))
glue("n_seeds", len(setup.seeds))
reg_steps = reg.steps or setup.steps
glue("reg_schedule", f"chapter 1's schedule ({reg_steps} steps), so plain fine-tuning here is chapter 1's run"
     if reg_steps == setup.steps else
     f"a {'shorter' if reg_steps < setup.steps else 'longer'} schedule ({reg_steps} steps against chapter 1's "
     f"{setup.steps}" + ("; 75 until 2026-12-03, lengthened to 300 after seeing the results, as issue 13 asks"
                         if profile == "embedded" and reg_steps == 300 else "")
     + "), so plain fine-tuning here is its own run, not chapter 1's")
names = {"l2": "L2", "l2sp": "L2-SP", "delta": "DELTA", "bss": "BSS", "cotuning": "Co-Tuning", "sample": "sample-based"}
large_only = large_only_targets(setup)
glue("r8_targets", listed(reg.large_targets) + (
    f" ({listed(large_only)} only at this size: {'its' if len(large_only) == 1 else 'their'} learning rate is tuned "
    f"and the weights of {listed([names[r] for r in reg.large_setups if r in names])} swept there as for the "
    "others)" if large_only else ""))
r8_steps = {target: large_steps(setup, target) for target in reg.large_targets}
glue("r8_schedule", "the same schedule and the weights chosen above" if reg.large_epochs is None else
     f"a schedule adapted to that size (about {reg.large_epochs:g} epochs: "
     f"{listed(sorted({f'{s:,}' for s in r8_steps.values()}))} steps against the grid's {reg_steps}) and the weights "
     "chosen above" + ("; until 2026-12-04 R8 ran at 100 per class on the near target at the grid's 300 steps, and "
                       "was changed after seeing the results: plain fine-tuning reached 99.1% there, so the test's "
                       "precondition 'target below its ceiling' failed and R8 was not tested"
                       if profile == "embedded" else ""))
glue("default_weights", ", ".join(f"{names[r]} {DEFAULT_WEIGHTS[r]:g}" for r in names))
glue("stochnorm_p", DEFAULT_WEIGHTS["stochnorm"])
scales = sorted(reg.weight_scales)
glue("weight_scales", listed([f"{s:g}" for s in scales]))
direction = ", never stronger than it" if scales[-1] <= 1 else ", never weaker than it" if scales[0] >= 1 else ""
glue("sweep_range", listed([f"×{s:g}" for s in scales]) + " the default" + direction)
# the probe gain (descriptive) and the image-statistics similarity the claims use as x-axis
similarity = with_image_similarity(probe_similarity(setup.arch, setup.regularization.targets, seeds=setup.seeds))
save_table(similarity, TABLES["similarity"])
similarity.groupby("target")["similarity"].mean().round(3)

# %% [markdown]
# ## Experiment
#
# First the trade-off sweep: validation accuracy of each set-up at each weight (as a multiple of its default), at
# {glue:text}`tuning_size` images per class, first seed. The chosen weight is the best of each row.

# %%
study = regularizer_study(setup)
sweep, chosen, grid, large = study["sweep"], study["chosen"], study["grid"], study["large"]
save_tables(study, TABLES)
glue("tuning_size", setup.tuning_size)
sweep.pivot_table(index=["target", "regularizer"], columns="scale", values="val_accuracy").round(3)

# %%
chosen_scale = sweep.merge(chosen[["target", "regularizer", "weight"]], on=["target", "regularizer", "weight"])
glue("chosen_scales", "; ".join(f"{r.target} {r.regularizer} x{r.scale:g}" for r in chosen_scale.itertuples()))
glue("default_kept", f"{(chosen_scale.scale == 1).sum()} of {len(chosen_scale)}")
at_default = sweep[sweep.scale == 1].set_index(["target", "regularizer"])["val_accuracy"]
moved = chosen_scale[chosen_scale.scale != 1]
glue("sweep_moves", "; ".join(
    f"{r.regularizer} on {r.target} {at_default[r.target, r.regularizer]:.3f} -> {r.val_accuracy:.3f}"
    for r in moved.itertuples()) or "none")
chosen_scale.pivot(index="regularizer", columns="target", values="scale")

# %% [markdown]
# The default was kept in {glue:text}`default_kept` (set-up, target) pairs. Then the grid at the chosen weights
# (mean test accuracy over seeds):

# %%
grid.groupby(["target", "n_per_class", "regularizer"])["test_accuracy"].mean().unstack("regularizer").round(3)

# %% [markdown]
# ## Result
#
# Gain of each set-up over plain fine-tuning (test accuracy points; bars are means over seeds, lines their spread).

# %%
def gains_over_plain(frame: pd.DataFrame) -> pd.DataFrame:
    plain = frame[frame.regularizer == "none"].set_index(["target", "n_per_class", "seed"])["test_accuracy"]
    index = frame.set_index(["target", "n_per_class", "seed"]).index
    return frame.assign(gain=100 * (frame["test_accuracy"] - plain.reindex(index).to_numpy()))


grid = gains_over_plain(grid)
g = sns.catplot(data=grid[grid.regularizer != "none"], x="regularizer", y="gain", hue="n_per_class", col="target",
                kind="bar", errorbar="sd", height=3.2, aspect=1.6,
                order=[r for r in setup.regularization.setups if r != "none"])
g.refline(y=0, color="black", lw=0.8)
g.set_xticklabels(rotation=45)
g.set_axis_labels("", "gain over plain fine-tuning (points)");

# %% [markdown]
# Claim R8: the gain of L2 and L2-SP against target size on each of R8's targets: the grid's sizes where the grid
# runs the target, and the large size, with {glue:text}`r8_schedule`.

# %%
by_size = gains_over_plain(pd.concat([grid[grid.target.isin(large.target.unique())].drop(columns="gain"), large],
                                     ignore_index=True))
g = sns.catplot(data=by_size[by_size.regularizer.isin(["l2", "l2sp"])], x="n_per_class", y="gain",
                hue="regularizer", col="target", kind="point", errorbar="sd", dodge=0.2, height=3.2, aspect=1.2,
                sharex=False)
g.refline(y=0, color="black", lw=0.8)
g.set_axis_labels("images per class", "gain over plain fine-tuning (points)");

# %% [markdown]
# The published reference: the Transfer-Learning-Library's fine-grained benchmark with an ImageNet ResNet-50, at
# several fractions of each training set (the caption names them). **Published figures, not results of this book**
# (single seed, and, as its README says, with the best epoch chosen on the test split).

# %%
published = show_reference("tllib_finegrained_resnet50")
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
# What the BiT-HyperRule (scaled as chapter 6 scales it) would run at each size of this chapter, for R8's caveat.
cells = [(t, n) for t in reg.targets for n in reg.sizes] + [(t, reg.large_size) for t in reg.large_targets]
images = {(t, n): n * tlcore.data.num_classes(t) for t, n in cells}
bit_steps = {cell: bit_hyperrule(count, scale=setup.hp.bit_scale, batch_size=setup.batch_size).steps
             for cell, count in images.items()}
shortest = min(bit_steps.values())
longer = [f"{n} per class on {t} ({images[t, n]:,} images: {steps} steps)" for (t, n), steps in bit_steps.items()
          if steps > shortest]
ours = {(t, n): reg_steps for t in reg.targets for n in reg.sizes} | {(t, reg.large_size): r8_steps[t]
                                                                    for t in reg.large_targets}
if reg.large_epochs is None:
    glue("r8_bit_buckets", "R8's \"schedule adapted to target size\" is, at our scale, one schedule for all sizes: the "
         "BiT-HyperRule (`tlcore.finetune.recipes.bit_hyperrule`, scaled as in chapter 6) "
         + (f"gives every size here its shortest schedule ({shortest} steps) except " + "; ".join(longer)
            + ", which the budget does not allow" if longer else
            f"gives every size here the same schedule ({shortest} steps)"))
else:
    shown = [min(ours, key=lambda cell: cell[1])] + [(t, reg.large_size) for t in reg.large_targets]
    glue("r8_bit_buckets", "R8's \"schedule adapted to target size\" is, here, about "
         f"{reg.large_epochs:g} epochs at the large size and the grid's {reg_steps} steps at every smaller one. The "
         "BiT-HyperRule (`tlcore.finetune.recipes.bit_hyperrule`, scaled as in chapter 6) would run "
         + "; ".join(f"{bit_steps[c]:,} steps at {c[1]} per class on {c[0]} (ours {ours[c]:,})" for c in shown)
         + ("; ours is at least as long everywhere" if all(ours[c] >= bit_steps[c] for c in shown) else ""))
show_verdicts("R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8")

# %% [markdown]
# - **R1** — {glue:text}`r1_verdict`. {glue:text}`r1_detail`
# - **R2** — {glue:text}`r2_verdict`. {glue:text}`r2_detail`
# - **R3** — {glue:text}`r3_verdict`. {glue:text}`r3_detail`
# - **R4** — {glue:text}`r4_verdict`. {glue:text}`r4_detail`
# - **R5** — {glue:text}`r5_verdict`. {glue:text}`r5_detail`
# - **R6** — {glue:text}`r6_verdict`. {glue:text}`r6_detail`
# - **R7** — {glue:text}`r7_verdict`. {glue:text}`r7_detail`
# - **R8** — {glue:text}`r8_verdict`. {glue:text}`r8_detail`
#
# **What changed since the first version of this chapter.** It ran every set-up at its published default weight with
# another schedule, and the defaults were far too strong at the far target's high tuned learning rate: DELTA and L2-SP
# collapsed there, so R1 and R2 compared a collapsed run with a sane one. Now each
# weight is chosen on validation (where the sweep moved it, validation accuracy at the default -> at the chosen weight:
# {glue:text}`sweep_moves`) and the schedule is the one the setup names, so the numbers above are not comparable
# one-to-one with the first version's. The sweep is coarse ({glue:text}`sweep_range`; one seed, one size), and the choice made at the
# tuning size is used at every size: a weight that suits {glue:text}`tuning_size` images per class may be too strong
# at {glue:text}`reg_smallest` or too weak at {glue:text}`reg_large_size`.
#
# **Limits of the test.** Our source is a small ResNet pretrained on a synthetic glyph corpus and our targets hold
# {glue:text}`reg_sizes` (and {glue:text}`reg_large_size`) small grey images per class; the survey's evidence is
# ImageNet ResNets on fine-grained sets of thousands. {glue:text}`r8_bit_buckets`.
#
# ### Where our verdict and the survey differ
#
# {glue:md}`survey_differences`
#
# ## In practice
#
# - These regularisers are cheap (L2-SP and BSS cost almost nothing per step; DELTA one extra forward pass without
#   gradients; Co-Tuning a logistic regression before training), so try them — but tune their strength on validation
#   data as you would the learning rate: published defaults are tuned for ImageNet-scale networks and targets.
# - The survey's §7.2 advice: for a similar target, L2-SP-style regularisation towards the source is a sensible
#   default; for a dissimilar one, do not hold all layers near the source (at most the lower ones, claim R5).
# - `tlcore.regularizers` has each of them as a loss term for `tlcore.fit`, `tlcore.normalization` StochNorm, and
#   `tlcore.regularizers.setups` the named set-ups this chapter runs.
