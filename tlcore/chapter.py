"""Small helpers that chapters share: gluing numbers into the text, showing verdicts, reading published tables."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .claims.registry import Verdict

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
BADGES = {"supported": "✔", "not supported": "✘", "inconclusive": "?", "not tested": "∅", "mixed": "◐",
          "planned": "…", "not run": "—", "stale": "↻"}


def glue(name: str, value, display: bool = False):
    """``myst_nb.glue`` when building the book; a no-op elsewhere (e.g. running the .py script directly)."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # pragma: no cover - outside the book toolchain
        return value
    myst_glue(name, value, display=display)
    return value


def glue_verdict(verdict: Verdict) -> None:
    """Glue ``<id>_verdict``, ``<id>_key`` and ``<id>_detail`` for the text, and show the verdict as a table row."""
    prefix = verdict.claim.lower()
    glue(f"{prefix}_verdict", f"{BADGES[verdict.verdict]} {verdict.verdict}")
    glue(f"{prefix}_key", verdict.key_number)
    glue(f"{prefix}_detail", verdict.detail)
    primary = verdict.numbers.get("primary") if isinstance(verdict.numbers, dict) else None
    if primary:
        glue(f"{prefix}_primary", primary["reason"])


def primary_summary(verdict: Verdict) -> dict:
    """The primary test of a verdict in three short columns: effect with its interval, raw and adjusted p."""
    primary = verdict.numbers.get("primary") if isinstance(verdict.numbers, dict) else None
    if not primary or not primary.get("n"):
        return {"effect [90% CI]": "–", "p (adjusted)": "–"}
    unit = f" {primary['unit']}" if primary["unit"] else ""
    return {"effect [90% CI]": f"{primary['effect']:+.3g} [{primary['low']:+.3g}, {primary['high']:+.3g}]{unit}, "
                               f"n = {primary['n']}",
            "p (adjusted)": f"{primary['p_value']:.2g} ({primary['p_adjusted']:.2g})"}


def verdict_table(verdicts: list[Verdict]) -> pd.DataFrame:
    """One row per verdict, for display under a chapter's results: the category, its primary test's effect and
    p-values, and the numbers behind it."""
    return pd.DataFrame([{"claim": v.claim, "verdict": f"{BADGES[v.verdict]} {v.verdict}", **primary_summary(v),
                          "numbers behind it": v.detail} for v in verdicts])


# How a category departs from the survey, which states every claim as holding.
DEPARTURES = {
    "not supported": "does not hold at our scale",
    "inconclusive": "our test cannot tell at this budget",
    "not tested": "was not tested, because a declared precondition failed",
    "mixed": "holds in some of its declared parts and not in others",
    "not run": "has no results in this build",
    "stale": "was not judged, its results are stale",
    "planned": "has no experiment yet",
}


def survey_differences(verdicts: list[Verdict]) -> str:
    """One paragraph of Markdown for a chapter's "where our verdict and the survey differ": the claims that agree
    with the survey (supported), then each that does not, with what happened and the primary test's numbers (or the
    detail, where there is no primary test)."""
    agree = [v.claim for v in verdicts if v.verdict == "supported"]
    sentences = []
    if agree:
        sentences.append(f"{listed(agree)} {'agrees' if len(agree) == 1 else 'agree'} with the survey (supported).")
    for v in verdicts:
        if v.verdict == "supported":
            continue
        primary = v.numbers.get("primary") if isinstance(v.numbers, dict) else None
        why = primary["reason"] if primary else v.detail
        sentences.append(f"**{v.claim}** {DEPARTURES[v.verdict]} (*{v.verdict}*): {why.rstrip('.')}.")
    if len(agree) == len(verdicts):
        sentences.append("Our verdicts do not depart from the survey here.")
    return " ".join(sentences)


def listed(names: list[str]) -> str:
    """``names`` as prose: "a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def glue_markdown(name: str, text: str) -> str:
    """Glue ``text`` as Markdown under ``name`` (for ``{glue:md}``, so its emphasis renders) and return it."""
    try:
        from IPython.display import Markdown
    except ImportError:  # pragma: no cover - outside the book toolchain
        return text
    glue(name, Markdown(text))
    return text


def glue_survey_differences(verdicts: list[Verdict]) -> str:
    """Glue :func:`survey_differences` as ``survey_differences`` (Markdown, for ``{glue:md}``) and return it."""
    return glue_markdown("survey_differences", survey_differences(verdicts))


def pretraining_text(setup) -> str:
    """How a chapter comparing source models draws their pretraining (Markdown): once per seed, with seed s's runs
    starting from pretraining s, or once for all seeds."""
    seeds = setup.seeds
    if setup.ranking.per_seed_pretraining:
        return (f"Each seed also draws the pretraining: every zoo model compared here is pretrained {len(seeds)} times "
                f"(seeds {seeds[0]} to {seeds[-1]}: its source sample, initialisation and batch order), and seed s "
                "fine-tunes, probes and scores the models pretrained with seed s, so each per-seed difference varies "
                "with pretraining as well as fine-tuning. Until 2026-12-03 every model was pretrained once; that "
                "change came after seeing the one-pretraining verdicts.")
    return ("Each source model has one pretraining in this profile (timm weights come in one), so the per-seed "
            "differences vary with the fine-tuning seed only.")


def glue_pretraining(setup) -> str:
    """Glue :func:`pretraining_text` as ``pretraining`` (Markdown, for ``{glue:md}``) and return it."""
    return glue_markdown("pretraining", pretraining_text(setup))


def glue_verdicts(*claim_ids: str) -> dict[str, Verdict]:
    """Judge ``claim_ids`` and glue each verdict (:func:`glue_verdict`) and the chapter's
    :func:`survey_differences` for the text; returns ``{claim id: verdict}``."""
    from . import claims

    verdicts = {claim: claims.verdict(claim) for claim in claim_ids}
    for verdict in verdicts.values():
        glue_verdict(verdict)
    glue_survey_differences(list(verdicts.values()))
    return verdicts


def show_verdicts(*claim_ids: str) -> pd.DataFrame:
    """A chapter's verdict cell: :func:`glue_verdicts`, then the verdicts as a table."""
    return verdict_table(list(glue_verdicts(*claim_ids).values()))


def reference_table(name: str) -> tuple[pd.DataFrame, str]:
    """A published table shipped with tlcore (copied from the project's shared reference folder): (frame, caption).

    The caption is the file's first comment line: where the figures were published.
    """
    path = REFERENCE_DIR / f"{name}.csv"
    if not path.exists():
        known = sorted(p.stem for p in REFERENCE_DIR.glob("*.csv"))
        raise FileNotFoundError(f"no published reference table {name!r}; known: {known}")
    caption = path.read_text().splitlines()[0].lstrip("# ").strip()
    return pd.read_csv(path, comment="#"), caption


def show_reference(name: str) -> pd.DataFrame:
    """Print a published table's caption (where the figures were published) and return the table."""
    frame, caption = reference_table(name)
    print(caption)
    return frame


def start_chapter(profile: str, *, small_effects: bool = False, **parameters):
    """A chapter's set-up: the :class:`~tlcore.studies.profiles.Profile` named ``profile`` with the chapter's parameters
    cell applied (a parameter left None or empty keeps the profile's value; lists become tuples, as papermill
    passes lists), and the book's plot style. ``small_effects``: the chapter measures effects of a point or less, so
    unless its parameters set seeds it runs the profile's ``small_effect_seeds``. The profile's name goes to
    ``$TLCORE_PROFILE`` for this process, so that the chapter's result tables and store records say what they were
    computed under, in the book or in Jupyter."""
    from .models import WEIGHTLESS_ENV
    from .storage import PROFILE_ENV
    from .studies.profiles import get_profile

    set_style()
    overrides = {name: (tuple(value) if value else None) if isinstance(value, (list, tuple)) else value
                 for name, value in parameters.items()}
    setup = get_profile(profile, **overrides)
    if small_effects and overrides.get("seeds") is None and setup.small_effect_seeds:
        setup = setup.with_(seeds=setup.small_effect_seeds)
    os.environ[PROFILE_ENV] = profile
    if setup.weightless:
        os.environ[WEIGHTLESS_ENV] = "1"
    else:
        os.environ.pop(WEIGHTLESS_ENV, None)
    return setup


def set_style() -> None:
    """The book's plot style, and tables shown as a reader wants them (:func:`table_html`)."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - outside the book toolchain
        return
    shell = get_ipython()
    if shell is not None:
        html = shell.display_formatter.formatters["text/html"]
        html.for_type(pd.DataFrame, table_html)
        html.for_type(pd.Series, lambda series: table_html(series.to_frame()))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table_html(frame: pd.DataFrame) -> str:
    """``frame`` as the page shows it: every cell whole (no "..."), a missing value as "–", numbers to four
    significant digits, and no 0, 1, 2 ... index column (a meaningful index, e.g. targets, is kept)."""
    styler = frame.style.format(_cell, na_rep="–")
    if isinstance(frame.index, pd.RangeIndex):
        styler = styler.hide(axis="index")
    return styler.to_html()
