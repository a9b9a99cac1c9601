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
# # Claims at a glance
#
# Every claim of the survey, by its stable ID, with the chapter that tests it and the verdict its rule computes from
# that chapter's saved results. This page is generated: it reads `tlcore.claims` and the result tables; nothing in
# the table is typed by hand. A verdict is the category of the claim's declared primary test (see below):
# *supported*, *not supported* (credibly smaller than the smallest effect of interest, or the other way),
# *inconclusive* (neither, at this budget), *not tested* (a declared precondition failed). *planned* means no chapter
# tests the claim yet; *not run* means its chapter has not been executed in this build; *stale* means its chapter's
# tables were saved by an older results-store version, under another profile than the claim's other tables, or
# without a stamp, so the claim is not judged until the chapter executes again.

# %% tags=["remove-input"]
from collections import Counter

import pandas as pd
from IPython.display import Markdown

import tlcore
from tlcore.chapter import BADGES, glue
from tlcore.results import has_table, load_table

frame = tlcore.claims.claims_frame()


def chapter_link(chapter):
    if chapter and (frame.loc[frame.chapter == chapter, "status"] == "implemented").any():
        return f"[{chapter.replace('_', ' ')}](../notebooks/{chapter}.ipynb)"
    return f"{chapter.replace('_', ' ')} (planned)" if chapter else ""


def number(value):
    return "" if pd.isna(value) else f"{value:g}"


# Four columns, the key number beside its verdict, so that the table fits the page's column.
rows = ["| ID (§) | claim | chapter | verdict: key number |", "|---|---|---|---|"]
for claim in frame.itertuples():
    key = f"{number(claim.key_number)} ({claim.key_label})" if claim.key_label else number(claim.key_number)
    verdict = f"{BADGES[claim.verdict]} {claim.verdict}" + (f": {key}" if key else "")
    rows.append(f"| **{claim.id}** ({claim.section}) | {claim.statement} | {chapter_link(claim.chapter)} | {verdict} |")
counts = Counter(frame.verdict)
glue("glance_counts", ", ".join(f"{n} {v}" for v, n in counts.most_common()))
Markdown("\n".join(rows))

# %% [markdown]
# In this build: {glue:text}`glance_counts`.
#
# ## The numbers behind each verdict

# %% tags=["remove-input"]
implemented = frame[frame.status == "implemented"][["id", "verdict", "detail", "rule"]]
Markdown("\n\n".join(f"**{r.id}** — {r.verdict}. {r.detail}\n\n*Rule:* {r.rule}" for r in implemented.itertuples()))

# %% [markdown]
# ## Primary tests and where their results come from
#
# Each claim's verdict is the category of one primary test declared in the registry
# ({doc}`the registry <api>`): the per-seed paired difference it tests, the claimed direction, the smallest
# effect of interest and its preconditions. The p-values are one-sided; the adjusted p-value is Bonferroni's over
# the {glue:text}`glance_family` declared tests, so that a claim's verdict depends on its own data only. "Results
# from" is the commit and date of the newest record of the claim's chapter in the results store.
#
# The budget changed after we had seen results: the embedded tier ran three fine-tuning seeds per arm until the
# primary tests were declared, when almost every test came out inconclusive; it now runs
# {glue:text}`glance_seeds`, and {glue:text}`glance_small_seeds` in chapters 5 and 6, whose effects are a point or less
# (raised from five when most five-seed tests there were inconclusive). Chapters 3, 4 and 7, which compare source
# models, pretrained each model once until we had seen those verdicts; now seed s starts from each model pretrained
# with seed s, so their per-seed differences vary with pretraining too. On the same day, also after seeing results,
# chapter 2's re-initialisation runs were lengthened to {glue:text}`glance_reinit_steps` steps and chapter 5's
# trade-off sweep gained a weight ten times the published default. Later that day, again after seeing results,
# chapter 5's regularised runs were lengthened to {glue:text}`glance_reg_steps` steps and H3's two schedules to
# {glue:text}`glance_h3_steps` steps, and H4's MixUp runs were extended to {glue:text}`glance_mixup_sizes` images
# per class at about {glue:text}`glance_mixup_epochs` epochs each. Chapter 6's learning-rate × momentum grid (T9, H1,
# M3) then went {glue:text}`glance_grid`, and chapter 1's runs (T1, T7, T8) {glue:text}`glance_transfer`, both also
# after seeing results. The next day, after seeing R8 untested (plain fine-tuning left under two points to gain on
# the near target), R8's runs went {glue:text}`glance_r8`. Later that day, after seeing T9 and M3 inconclusive with
# their effects in the claimed direction, chapter 6's grid and the similarity and probe gap that H1 and M3 read
# beside it went from {glue:text}`glance_small_seeds` to {glue:text}`glance_grid_seeds` seeds.

# %% tags=["remove-input"]
from tlcore.store import Store
from tlcore.studies.does_transfer_help import schedule_summary
from tlcore.studies.hyperparameters import grid_targets
from tlcore.studies.regularizers import large_steps

origin = Store().summary().set_index("file")
glue("glance_family", str(len(tlcore.claims.registry.primaries())))
glue("glance_seeds", str(len(tlcore.get_profile("embedded").seeds)))
glue("glance_small_seeds", str(len(tlcore.get_profile("embedded").small_effect_seeds)))
glue("glance_grid_seeds", str(len(tlcore.get_profile("embedded").hp.grid_seeds)))
glue("glance_reinit_steps", str(tlcore.get_profile("embedded").reinit.steps))
glue("glance_reg_steps", str(tlcore.get_profile("embedded").regularization.steps))
glue("glance_h3_steps", " and ".join(map(str, tlcore.get_profile("embedded").hp.schedule_steps)))
glue("glance_mixup_sizes", ", ".join(map(str, tlcore.get_profile("embedded").hp.mixup_sizes)))
glue("glance_mixup_epochs", f"{tlcore.get_profile('embedded').hp.mixup_epochs:g}")
embedded = tlcore.get_profile("embedded")
glue("glance_grid", f"from 2 × 2 at 75 steps on four targets to {len(embedded.hp.lrs)} × "
                    f"{len(embedded.hp.momenta)} at {embedded.hp.steps} steps on {len(grid_targets(embedded))} targets")
r8 = embedded.regularization
glue("glance_r8", f"from 100 per class on the near target at {r8.steps} steps to {r8.large_size} per class on "
                  f"{' and '.join(r8.large_targets)} at about {r8.large_epochs:g} epochs "
                  f"({', '.join(sorted({f'{large_steps(embedded, t):,}' for t in r8.large_targets}))} steps)")
glue("glance_transfer", f"from 150 steps at every size to {schedule_summary(embedded)}, with "
                        + " and ".join(f"{t} also at {', '.join(map(str, sizes))}" for t, sizes
                                       in embedded.transfer.extra_sizes) + " per class")


def results_from(chapter):
    if chapter not in origin.index:
        return "not in the store"
    return f"{origin.loc[chapter, 'commit']} ({origin.loc[chapter, 'date']})"


def interval(row):
    if pd.isna(row.primary_effect) or not row.primary_n:
        return "–"
    unit = f" {row.primary_unit}" if row.primary_unit else ""
    return f"{row.primary_effect:+.3g} [{row.primary_low:+.3g}, {row.primary_high:+.3g}]{unit}"


tested = frame[frame.status == "implemented"]
pd.DataFrame({
    "claim": tested.id,
    "verdict": [f"{BADGES[v]} {v}" for v in tested.verdict],
    "effect [90% CI]": [interval(row) for row in tested.itertuples()],
    "seeds": [int(n) if pd.notna(n) and n else "–" for n in tested.primary_n],
    "p": [f"{p:.2g}" if pd.notna(p) else "–" for p in tested.primary_p_value],
    "p adjusted": [f"{p:.2g}" if pd.notna(p) else "–" for p in tested.primary_p_adjusted],
    "results from": [results_from(c) for c in tested.chapter],
})

# %% [markdown]
# The results store, file by file (records, the newest record's commit and date, compute time):

# %% tags=["remove-input"]
origin.reset_index()

# %% [markdown]
# ## Execution time of this build

# %% tags=["remove-input"]
if has_table("book_timings"):
    display(load_table("book_timings"))
