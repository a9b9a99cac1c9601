"""The site check on small synthetic sites: a clean one passes, each kind of problem is found and named."""
import importlib.util
import sys
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("site_check", Path(__file__).resolve().parents[2] / "scripts" / "site_check.py")
site_check = sys.modules["site_check"] = importlib.util.module_from_spec(SPEC)  # dataclasses look it up
SPEC.loader.exec_module(site_check)



@pytest.fixture(autouse=True)
def _one_thread():
    """Overrides the conftest's: nothing here trains, so these tests need not import torch (seconds on a busy machine)."""
    yield


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def page(body: str, title: str = "Page") -> str:
    return (f'<!DOCTYPE html><html><head><title>{title}</title><link rel="stylesheet" href="{{root}}_static/theme.css">'
            f'<script src="{{root}}_static/theme.js"></script></head><body>{body}</body></html>')


CHAPTER = """
<section id="does-transfer-help"><h1>Does transfer help?</h1>
<p>Transfer wins by <span class="pasted-text">0.12</span> on <span class="pasted-text">'flowers'</span>.</p>
<div class="cell docutils container"><div class="cell_output docutils container">
<div class="output stream highlight-myst-ansi notranslate"><pre>trained 3 runs</pre></div>
<img alt="scatter" src="../_images/scatter.png">
<img alt="inline" src="data:image/png;base64,iVBORw0KGgo=">
</div></div>
<table><tr><th>model</th><th>acc</th></tr><tr><td>resnet</td><td>0.91</td></tr></table>
<p>See <a href="../book/intro.html#the-book">the intro</a>, <a href="#does-transfer-help">this section</a>,
<a href="https://example.org/missing.html#nowhere">the paper</a>, <a href="mailto:a@b.c">mail</a>,
<a href="../_sources/notebooks/01_does_transfer_help.ipynb">source</a> and <a href="../">home</a>.</p>
</section>
"""
INTRO = '<section id="the-book"><h1>The book</h1><p><a href="../notebooks/01_does_transfer_help.html">Chapter 1</a></p></section>'


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    depth = relative.count("/")
    path.write_text(text.replace("{root}", "../" * depth))
    return path


@pytest.fixture
def site(tmp_path):
    """A clean two-page site with a root index, the theme's assets, an image and a source download."""
    root = tmp_path / "html"
    write(root, "index.html", page('<p><a href="book/intro.html">Start</a></p>'))
    write(root, "book/intro.html", page(INTRO))
    write(root, "notebooks/01_does_transfer_help.html", page(CHAPTER))
    write(root, "_static/theme.css", "body {}")
    write(root, "_static/theme.js", "")
    write(root, "_static/search.html", "<a href='nowhere.html'>theme template, not a page</a>")
    write(root, "_sources/notebooks/01_does_transfer_help.ipynb", "{}")
    (root / "_images").mkdir()
    (root / "_images" / "scatter.png").write_bytes(PNG)
    site_check._parse.cache_clear()
    site_check.ids.cache_clear()
    return root


def chapter(site: Path, old: str, new: str) -> None:
    path = site / "notebooks" / "01_does_transfer_help.html"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def kinds(site: Path) -> dict[str, list[str]]:
    problems, _ = site_check.check_site(site)
    found = {}
    for problem in problems:
        found.setdefault(problem.kind, []).append(f"{problem.page}: {problem.excerpt}")
    return found


def test_a_clean_site_passes_and_the_theme_folders_are_not_pages(site, capsys):
    assert [p.relative_to(site).as_posix() for p in site_check.pages(site)] == [
        "book/intro.html", "index.html", "notebooks/01_does_transfer_help.html"]
    assert site_check.check_site(site) == ([], [])
    assert site_check.main(["--html", str(site), "--no-screenshots"]) == 0
    assert "3 page(s) checked: no problems" in capsys.readouterr().out


def test_an_empty_or_missing_site_is_an_error_not_a_pass(tmp_path):
    assert site_check.main(["--html", str(tmp_path / "nowhere"), "--no-screenshots"]) == 2


@pytest.mark.parametrize("output", [
    '<div class="output traceback highlight-ipythontb notranslate"><pre>ValueError  Traceback (most recent call last)'
    '\nCell In[3], line 1\nValueError: boom</pre></div>',
    '<div class="output stderr highlight-myst-ansi notranslate"><pre>UserWarning: careful</pre></div>',
    '<div class="output stream highlight-myst-ansi notranslate"><pre>Traceback (most recent call last):\n'
    '  File "x.py", line 1\nKeyError: \'flowers\'</pre></div>',
])
def test_an_error_output_is_found_once_with_its_text(site, output):
    chapter(site, "<pre>trained 3 runs</pre></div>", "<pre>trained 3 runs</pre></div>" + output)
    found = kinds(site)
    assert list(found) == ["error-output"] and len(found["error-output"]) == 1
    page, text = found["error-output"][0].split(": ", 1)
    assert page == "notebooks/01_does_transfer_help.html"
    assert any(word in text for word in ("Traceback", "UserWarning"))


@pytest.mark.parametrize("value, kind", [("", "glue-empty"), ("''", "glue-empty"), ("nan", "glue-nan"),
                                         ("NaN", "glue-nan"), ("'nan'", "glue-nan"), ("None", "glue-nan")])
def test_an_empty_or_nan_glued_value_is_found_with_its_sentence(site, value, kind):
    chapter(site, '<span class="pasted-text">0.12</span>', f'<span class="pasted-text">{value}</span>')
    found = kinds(site)
    assert list(found) == [kind]
    assert "Transfer wins by" in found[kind][0]


def test_a_link_to_a_missing_page_is_found_and_named(site):
    chapter(site, "../book/intro.html#the-book", "../book/gone.html")
    assert kinds(site) == {"broken-link": ["notebooks/01_does_transfer_help.html: ../book/gone.html ('the intro'): "
                                           "no such file in the site"]}


def test_a_fragment_with_no_such_id_is_found_on_the_target_and_on_the_page_itself(site):
    chapter(site, "intro.html#the-book", "intro.html#the-chapters")
    chapter(site, 'href="#does-transfer-help"', 'href="#does-it"')
    found = kinds(site)["broken-anchor"]
    assert len(found) == 2
    assert "no id 'the-chapters' on book/intro.html" in found[0]
    assert "no id 'does-it' on this page" in found[1]


def test_a_link_leaving_the_site_and_a_missing_asset_are_found(site):
    chapter(site, '<a href="mailto:a@b.c">', '<a href="../../elsewhere.html">')
    (site / "_static" / "theme.js").unlink()
    found = kinds(site)
    assert len(found["broken-link"]) == 1 and "../../elsewhere.html" in found["broken-link"][0]
    assert len(found["broken-asset"]) == 3  # every page loads it


def test_external_links_and_images_are_not_followed(site):
    chapter(site, "</section>", '<a href="http://nowhere.invalid/x.html#y">x</a><a href="//cdn.invalid/y">y</a>'
                                '<img src="https://nowhere.invalid/z.png"></section>')
    assert kinds(site) == {}


@pytest.mark.parametrize("src, message", [("../_images/gone.png", "no such file"),
                                          ("data:image/png;base64,", "empty data: URI"),
                                          ("../_images/empty.png", "the file is empty")])
def test_an_image_that_is_not_there_is_found(site, src, message):
    (site / "_images" / "empty.png").write_bytes(b"")
    chapter(site, 'src="../_images/scatter.png"', f'src="{src}"')
    found = kinds(site)
    assert list(found) == ["broken-image"] and message in found["broken-image"][0]
    assert "(alt 'scatter')" in found["broken-image"][0]


def test_nan_table_cells_are_warnings_only(site, capsys):
    chapter(site, "<td>0.91</td>", "<td>NaN</td>")
    problems, warnings = site_check.check_site(site)
    assert problems == [] and warnings == ["notebooks/01_does_transfer_help.html: 1 table cell(s) read NaN"]
    assert site_check.main(["--html", str(site), "--no-screenshots"]) == 0
    assert "warning: notebooks/01_does_transfer_help.html: 1 table cell(s) read NaN" in capsys.readouterr().out


def test_main_lists_every_problem_with_counts_and_fails(site, capsys):
    chapter(site, '<span class="pasted-text">0.12</span>', '<span class="pasted-text">nan</span>')
    chapter(site, "../book/intro.html#the-book", "../book/gone.html")
    assert site_check.main(["--html", str(site), "--no-screenshots"]) == 1
    out = capsys.readouterr().out
    assert "2 problem(s) on 1 of 3 page(s): 1 broken-link, 1 glue-nan" in out
    assert "notebooks/01_does_transfer_help.html: [glue-nan] glued value is 'nan'" in out


def test_the_chromium_command_is_headless_sized_and_points_at_the_page(site, tmp_path):
    target = site / "notebooks" / "01_does_transfer_help.html"
    command = site_check.chromium_command(target, tmp_path / "shot.png", tmp_path / "profile")
    assert command[0] == "chromium"
    assert {"--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000"} <= set(command)
    assert f"--screenshot={tmp_path / 'shot.png'}" in command
    assert command[-1] == target.resolve().as_uri() and command[-1].startswith("file:///")


def test_screenshots_need_chromium_unless_turned_off(site, capsys):
    assert site_check.main(["--html", str(site), "--browser", "no-such-chromium-here"]) == 2
    assert "--no-screenshots" in capsys.readouterr().err


def test_a_redirect_to_a_missing_page_is_a_broken_link(site):
    (site / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    assert kinds(site) == {}
    (site / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/start.html" />')
    site_check._parse.cache_clear()
    assert kinds(site) == {"broken-link": ["index.html: book/start.html: no such file in the site"]}
