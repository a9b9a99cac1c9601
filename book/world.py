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
# - **Source — `glyphs_source`.** Letters of the Latin, Greek and Cyrillic scripts rendered from
#   {glue:text}`n_faces` DejaVu and STIX faces (regular, bold, italic, mono, serif) at random size, rotation
#   (±{glue:text}`rotation_deg`°), position (±{glue:text}`shift_px` px), blur and pixel noise,
#   {glue:text}`image_size` grey. A class is a *shape*, not a code point: characters whose size-free outlines
#   correlate above {glue:text}`merge_threshold` in the reference face (Latin A, Greek Α, Cyrillic А) are one class,
#   so the source never asks a model to tell identical shapes apart.
# - **Near — `glyphs_near`.** {glue:text}`near_classes` letter groups of the same three scripts held out of the
#   source. Every source group that looks like one of them (outline correlation above
#   {glue:text}`lookalike_threshold`) or holds the same letter in the other case is removed from the source too, so *near* is new shapes drawn the same way — like Yosinski et al.'s split of
#   ImageNet classes {cite}`yosinski2014transferable` — not renamed copies.
# - **Mid — `glyphs_mid`.** {glue:text}`mid_classes` Georgian letters (no look-alike of any source or near letter): the same medium,
#   strokes of ink rendered the same way, but a script the source never saw.
# - **Far — `textures_far`.** Noisy sinusoidal gratings; the class is one of {glue:text}`n_orientations`
#   orientations ({glue:text}`orientation_step`° apart, ±{glue:text}`orientation_jitter`° jitter) ×
#   {glue:text}`n_frequencies` spatial frequencies. Nothing is a stroke at a place; the information is spread over the image
#   at low contrast under heavy noise.
# - **Real — `digits_real`.** scikit-learn's {glue:text}`n_digits` handwritten digits ({glue:text}`digits_scan`
#   scans from UCI), upsampled to {glue:text}`image_size`:
#   images nobody in this project made. Digits are not in the source.
#
# Validation and test sets have a fixed size per class; `n_per_class` sets the training size, and training sets of
# one seed are nested (a smaller training set is the start of every larger one).

# %%
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.datasets import load_digits

import tlcore
from tlcore.analysis.probes import similarity_order
from tlcore.chapter import glue, set_style
from tlcore.data import glyphs, textures
from tlcore.data import world as glyph_world
from tlcore.results import has_table, load_table
from tlcore.studies.does_transfer_help import TABLES

set_style()
datasets = tlcore.data.list_datasets()
# Every number the text above gives is read from the code that makes the world.
glyph_style, texture_style = glyphs.RenderStyle(), textures.TextureStyle()
orientations = textures.ORIENTATIONS_DEG
glue("n_faces", len(glyphs.FONT_FILES))
glue("rotation_deg", f"{glyph_style.rotation_deg:g}")
glue("shift_px", f"{glyph_style.shift_px:g}")
glue("image_size", f"{glyph_style.size}×{glyph_style.size}")
glue("merge_threshold", glyph_world.MERGE_THRESHOLD)
glue("lookalike_threshold", glyph_world.LOOKALIKE_THRESHOLD)
glue("near_classes", int(datasets.set_index("name").loc["glyphs_near", "classes"]))
glue("mid_classes", int(datasets.set_index("name").loc["glyphs_mid", "classes"]))
glue("n_orientations", len(orientations))
glue("orientation_step", orientations[1] - orientations[0])
glue("orientation_jitter", f"{texture_style.orientation_jitter_deg:g}")
glue("n_frequencies", len(textures.CYCLES_PER_IMAGE))
scans = load_digits().images
glue("n_digits", f"{len(scans):,}")
glue("digits_scan", f"{scans.shape[1]}×{scans.shape[2]}")
stem = tlcore.models.ZOO["glyph_resnet_narrow"].build(10).conv1
glue("stem", f"{stem.kernel_size[0]}×{stem.kernel_size[1]} stride-{stem.stride[0]}")
datasets

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
# `forward_features`, `reset_classifier`), with a {glue:text}`stem` stem for {glue:text}`image_size` images. `tlcore` pretrains each on
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
# features, on a few training images per class and every seed of the profile
# ({doc}`../notebooks/01_does_transfer_help` computes it and gives the numbers). It
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
