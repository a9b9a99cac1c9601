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
# # The embedded world
#
# Transfer learning needs a source, targets at several distances from it, and models pretrained on the source.
# Nothing can be downloaded in the offline tier, so `tlcore` carries a small world of its own: every image below is
# made on the fly from fonts that matplotlib ships, from a formula, or taken from scikit-learn's bundled digits, and
# every dataset is a pure function of its seed.
#
# ## How each dataset is made
#
# - **Source — `glyphs_source`.** Letters of the Latin, Greek and Cyrillic scripts rendered from sixteen DejaVu and
#   STIX faces (regular, bold, italic, mono, serif) at random size, rotation (±12°), position (±3 px), blur and
#   pixel noise, 32×32 grey. A class is a *shape*, not a code point: characters whose size-free outlines correlate
#   above 0.85 in the reference face (Latin A, Greek Α, Cyrillic А) are one class, so the source never asks a model
#   to tell identical shapes apart.
# - **Near — `glyphs_near`.** Twenty letter groups of the same three scripts held out of the source. Every source
#   group that looks like one of them (outline correlation above 0.75) or holds the same letter in the other case is
#   removed from the source too, so *near* is new shapes drawn the same way — like Yosinski et al.'s split of
#   ImageNet classes {cite}`yosinski2014transferable` — not renamed copies.
# - **Mid — `glyphs_mid`.** Twenty Georgian letters (no look-alike of any source or near letter): the same medium,
#   strokes of ink rendered the same way, but a script the source never saw.
# - **Far — `textures_far`.** Noisy sinusoidal gratings; the class is one of ten orientations (18° apart, ±6°
#   jitter) × two spatial frequencies. Nothing is a stroke at a place; the information is spread over the image
#   at low contrast under heavy noise.
# - **Real — `digits_real`.** scikit-learn's 1,797 handwritten digits (8×8 scans from UCI), upsampled to 32×32:
#   images nobody in this project made. Digits are not in the source.
#
# Validation and test sets have a fixed size per class; `n_per_class` sets the training size, and training sets of
# one seed are nested (the 5-per-class set is the start of the 20-per-class set).

# %%
import matplotlib.pyplot as plt
import pandas as pd

import tlcore
from tlcore.analysis.probes import similarity_order
from tlcore.chapter import glue, set_style
from tlcore.results import has_table, load_table
from tlcore.studies.does_transfer_help import TABLES

set_style()
tlcore.data.list_datasets()

# %%
names = [tlcore.data.SOURCE, *tlcore.data.TARGETS]
fig, axes = plt.subplots(len(names), 12, figsize=(12, 1.1 * len(names)))
for row, name in zip(axes, names):
    dataset = tlcore.data.load(name, "train", n_per_class=1, seed=0)
    for ax, index in zip(row, range(0, len(dataset), max(1, len(dataset) // 12))):
        ax.imshow(dataset.images[index, 0], cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
    row[0].set_title(name, fontsize=9, loc="left")
fig.tight_layout()

# %% [markdown]
# ## The zoo
#
# Source models are small ResNets built from timm's `ResNet` (so they share timm's interface: stages `layer1..4`,
# `forward_features`, `reset_classifier`), with a 3×3 stride-2 stem for 32-pixel images. `tlcore` pretrains each on
# the source corpus the first time it is asked for and caches it with its provenance (recipe, source accuracy,
# seconds, the weights' sha256), which is checked on every load.

# %%
tlcore.models.list_models()

# %%
provenance = []
for name in tlcore.models.ZOO:
    folder = tlcore.models.entry_dir(tlcore.models.ZOO[name])
    if (folder / "provenance.json").exists():
        info = pd.read_json(folder / "provenance.json", typ="series")
        provenance.append({"model": name, "source val accuracy": info["source_val_accuracy"],
                           "source test accuracy": info["source_test_accuracy"],
                           "pretraining seconds": round(info["seconds"], 1)})
pd.DataFrame(provenance)

# %% [markdown]
# ## Measured similarity to the source
#
# We call a target *near* or *far* only because we measured it. The measure is the **probe gain**: the validation
# accuracy of a logistic regression on the source model's frozen features minus that on a randomly initialised twin's
# features, five training images per class, three seeds ({doc}`../notebooks/01_does_transfer_help` computes it). It
# asks how much of what the target needs the source features already carry.

# %%
if has_table(TABLES["similarity"]):
    similarity = load_table(TABLES["similarity"])
    table = similarity.groupby("target")[["probe_pretrained", "probe_random", "similarity"]].mean()
    table = table.reindex(similarity_order(similarity)).round(3)
    glue("world_similarity_order", " > ".join(table.index))
    display(table)
else:
    print("Run chapter 1 first: it measures the similarity of every target.")

# %% [markdown]
# Order by measured similarity: {glue:text}`world_similarity_order`.
