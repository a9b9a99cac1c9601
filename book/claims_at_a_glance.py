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
# the table is typed by hand. *planned* means no chapter tests the claim yet; *not run* means its chapter has not
# been executed in this build.

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
# ## Execution time of this build

# %% tags=["remove-input"]
if has_table("book_timings"):
    display(load_table("book_timings"))
