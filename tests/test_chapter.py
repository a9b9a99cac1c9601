"""The helpers chapters call at their start and end."""
import os

import pandas as pd
import pytest

from tlcore.chapter import start_chapter
from tlcore.studies.profiles import PROFILES


def test_start_chapter_applies_the_parameters_cell_and_keeps_the_profile_where_it_is_empty(monkeypatch):
    monkeypatch.setenv("TLCORE_PROFILE", "")
    setup = start_chapter("smoke", seeds=[5, 6], sizes=None)
    assert setup.seeds == (5, 6) and setup.sizes == PROFILES["smoke"].sizes
    assert start_chapter("smoke", seeds=[]).seeds == PROFILES["smoke"].seeds
    assert os.environ["TLCORE_PROFILE"] == "smoke"  # what the chapter's tables and store records are stamped with


def test_a_chapter_of_small_effects_runs_the_profiles_small_effect_seeds_unless_its_parameters_say(monkeypatch):
    monkeypatch.setenv("TLCORE_PROFILE", "")  # start_chapter sets it for the process
    embedded = PROFILES["embedded"]
    assert len(embedded.small_effect_seeds) > len(embedded.seeds)
    assert start_chapter("embedded", small_effects=True).seeds == embedded.small_effect_seeds
    assert start_chapter("embedded", small_effects=True, seeds=[3]).seeds == (3,)
    assert start_chapter("embedded").seeds == embedded.seeds
    assert PROFILES["smoke"].small_effect_seeds is None  # the smoke tier keeps its seeds
    assert start_chapter("smoke", small_effects=True).seeds == PROFILES["smoke"].seeds


def test_start_chapter_names_an_unknown_profile(monkeypatch):
    monkeypatch.setenv("TLCORE_PROFILE", "embedded")
    with pytest.raises(KeyError, match="unknown profile 'tiny'"):
        start_chapter("tiny")
    assert os.environ["TLCORE_PROFILE"] == "embedded"


def test_show_verdicts_glues_every_verdict_and_returns_their_table(tmp_results, monkeypatch):
    from tlcore import chapter

    glued = {}
    monkeypatch.setattr(chapter, "glue", lambda name, value, display=False: glued.setdefault(name, value))
    table = chapter.show_verdicts("T1", "T7")
    assert list(table["claim"]) == ["T1", "T7"] and set(table["verdict"]) == {"— not run"}
    assert {"t1_verdict", "t1_key", "t1_detail", "t7_verdict", "t7_key", "t7_detail", "survey_differences"} == set(glued)
    assert "**T1** has no results in this build" in glued["survey_differences"].data


def test_show_reference_prints_the_caption_and_returns_the_published_frame(capsys):
    from tlcore.chapter import reference_table, show_reference

    frame, caption = reference_table("kornblith2019_gains")
    assert show_reference("kornblith2019_gains").equals(frame)
    assert capsys.readouterr().out == caption + "\n"


def test_every_chapter_installs_the_package_from_the_books_repository_on_colab_only():
    # The install must run before the first tlcore import, so it is a hidden cell of each chapter; the address
    # lives in _config.yml (the launch buttons read it) and every chapter's cell must name it, pinned to the
    # package version's tag (`python scripts/install_cell.py --write` rewrites the cells).
    import importlib.util
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("install_cell", root / "scripts" / "install_cell.py")
    install_cell = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(install_cell)
    line = install_cell.install_spec(root)
    assert re.fullmatch(r"tlcore\[book\] @ git\+https://github\.com/[\w.-]+/[\w.-]+@v\d+\.\d+\.\d+", line), line
    for chapter in sorted(root.glob("notebooks/*.py")):
        text = chapter.read_text()
        cell = re.search(r'# %% tags=\["remove-cell"\]\n(.*?)\n# %%', text, re.S)
        assert cell, f"{chapter.name} has no hidden install cell"
        assert 'if "google.colab" in sys.modules:' in cell.group(1), chapter.name
        assert f'# %pip install -q "{line}"' in cell.group(1), chapter.name


def test_every_table_a_claim_reads_is_named_by_a_study(tmp_results):
    import importlib
    import pkgutil

    from tlcore import claims, studies
    from tlcore.results.tables import save_tables

    named = set()
    for module in pkgutil.iter_modules(studies.__path__):
        named |= set(getattr(importlib.import_module(f"tlcore.studies.{module.name}"), "TABLES", {}).values())
    read = {name for claim in claims.registry.CLAIMS.values() for name in claim.tables}
    assert read <= named, sorted(read - named)

    import pandas as pd

    frame = pd.DataFrame({"a": [1]})
    paths = save_tables({"grid": frame, "other": frame}, {"grid": "some_grid", "curves": "some_curves"})
    assert [p.name for p in paths] == ["some_grid.csv"] and (tmp_results / "tables" / "some_grid.csv").exists()


def test_tables_show_whole_cells_a_dash_for_missing_values_and_no_counter_index():
    import numpy as np

    from tlcore.chapter import table_html

    long_text = "steps(pretrained) to the fixed target " * 4
    html = table_html(pd.DataFrame({"claim": ["T1", "T7"], "detail": [long_text, None], "gain": [0.123456, np.nan]}))
    assert long_text.strip() in html and "..." not in html
    assert html.count(">–<") == 2 and ">nan<" not in html.lower() and ">none<" not in html.lower()
    assert ">0.1235<" in html
    assert 'class="row_heading' not in html  # a 0, 1 index says nothing
    by_target = table_html(pd.DataFrame({"gain": [1.0]}, index=pd.Index(["glyphs_near"], name="target")))
    assert "glyphs_near" in by_target and 'class="row_heading' in by_target


def test_chapters_register_the_table_display_for_frames_and_series():
    from IPython.core.interactiveshell import InteractiveShell

    from tlcore.chapter import set_style

    shell = InteractiveShell.instance()
    set_style()
    html = shell.display_formatter.formatters["text/html"]
    assert ">–<" in html(pd.Series([1.5, float("nan")], name="similarity"))
    assert "dtype" not in html(pd.Series([1.5], name="similarity"))
    InteractiveShell.clear_instance()


def test_survey_differences_names_what_agrees_and_why_each_other_claim_departs():
    from tlcore.chapter import DEPARTURES, survey_differences
    from tlcore.claims.registry import VERDICTS, Verdict

    assert set(DEPARTURES) == set(VERDICTS) - {"supported"}
    primary = {"primary": {"reason": "mean difference +0.4 points (90% CI -1 to +1.8, 5 seeds) includes both."}}
    text = survey_differences([Verdict("T1", "supported"), Verdict("T2", "supported"),
                               Verdict("T7", "inconclusive", numbers=primary),
                               Verdict("T8", "not run", detail="result tables missing: transfer_grid")])
    assert text.startswith("T1 and T2 agree with the survey (supported).")
    assert ("**T7** our test cannot tell at this budget (*inconclusive*): mean difference +0.4 points (90% CI -1 to "
            "+1.8, 5 seeds) includes both.") in text
    assert "**T8** has no results in this build (*not run*): result tables missing: transfer_grid." in text
    assert "do not depart" not in text
    assert survey_differences([Verdict("B1", "supported")]).endswith("Our verdicts do not depart from the survey here.")
    only = survey_differences([Verdict("S5", "not tested", numbers={"primary": {"reason": "precondition failed: x"}})])
    assert only == "**S5** was not tested, because a declared precondition failed (*not tested*): precondition failed: x."
