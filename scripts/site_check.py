"""Check the built book as a reader gets it: every page of the HTML site, parsed, and (optionally) photographed.

    python scripts/site_check.py [--html _build/html] [--screenshots _build/screenshots] [--no-screenshots]

Run it after ``scripts/build_book.py`` (``make site-check`` installs Chromium first where it is missing). It fails
(exit 1) and lists every problem, one line each (``page: [kind] excerpt``), where a page shows

- ``error-output``: a cell output that is a traceback, stderr or error text (myst-nb's ``output traceback`` /
  ``output stderr`` classes, or "Traceback (most recent call last)" and kin in an output);
- ``glue-empty`` / ``glue-nan``: a glued value (myst-nb's ``pasted-*`` spans) that is empty or nan/NaN/None/<NA>;
- ``broken-link`` / ``broken-anchor``: an internal link to a file the site does not have, or a ``#fragment`` with no
  element of that id on the target page (external links, those with a scheme or host, are not followed);
- ``broken-asset``: a stylesheet, script or icon the page loads from the site that is not there;
- ``broken-image``: an image whose ``src`` is not in the site, is an empty file, or is an empty ``data:`` URI;
- ``screenshot``: Chromium could not render the page.

Table cells that read ``NaN`` are warnings, printed separately; they do not fail the check. With screenshots on
(the default) each page is loaded in headless Chromium and written to ``--screenshots`` as a PNG under the page's
relative path (``notebooks/01_does_transfer_help.html`` -> ``notebooks/01_does_transfer_help.png``).
Exit status: 0 clean, 1 problems found, 2 nothing to check or Chromium missing.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[1]
PARSER = "html.parser"  # the standard library's: no compiled dependency
EXCERPT = 100
# Text in a cell output that means the code failed (papermill's banner included).
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|An Exception was encountered at|"
                        r"^\w+(Error|Exception): ", re.MULTILINE)
ERROR_CLASSES = ({"output", "traceback"}, {"output", "stderr"}, {"output", "error"})
MISSING = {"", "''", '""', "nan", "'nan'", "none", "<na>", "nat", "null"}
WINDOW = (1280, 2000)
SCREENSHOT_TIMEOUT_S = 90


@dataclass(frozen=True)
class Problem:
    page: str  # relative to the site root, with '/' separators
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.page}: [{self.kind}] {self.excerpt}"


def excerpt(text: str, limit: int = EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def pages(site: Path) -> list[Path]:
    """Every HTML page of the site, except the theme's and Sphinx's own folders (``_static``, ``_sources``, ...)."""
    found = []
    for path in sorted(site.rglob("*.html")):
        relative = path.relative_to(site)
        if not relative.parts[0].startswith("_"):
            found.append(path)
    return found


@lru_cache(maxsize=None)
def _parse(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8", errors="replace"), PARSER)


@lru_cache(maxsize=None)
def ids(path: Path) -> frozenset[str]:
    """Every id (and old-style ``<a name>``) a page defines: what a ``#fragment`` may point at."""
    soup = _parse(path)
    named = [t["name"] for t in soup.find_all("a", attrs={"name": True})]
    return frozenset([t["id"] for t in soup.find_all(id=True)] + named)


def _classes(tag) -> set[str]:
    return set(tag.get("class") or [])


def error_outputs(soup: BeautifulSoup) -> list[str]:
    """Excerpts of the cell outputs that show a traceback, stderr or error text (the outermost such block once)."""
    flagged = [tag for tag in soup.find_all(class_=True) if any(wanted <= _classes(tag) for wanted in ERROR_CLASSES)]
    flagged += [tag for tag in soup.select(".cell_output, .output") if ERROR_TEXT.search(tag.get_text())]
    marked = {id(tag) for tag in flagged}
    outermost = {id(tag): tag for tag in flagged if not any(id(parent) in marked for parent in tag.parents)}
    excerpts = []
    for tag in outermost.values():
        text = tag.get_text()
        match = ERROR_TEXT.search(text)
        excerpts.append(excerpt(text[match.start():] if match else text))
    return excerpts


def glued(soup: BeautifulSoup) -> list:
    """Every glued value on a page: myst-nb renders ``{glue:text}`` (and ``{glue}`` text) as ``<span class="pasted-text">``,
    inline markdown as ``pasted-inline``."""
    return soup.find_all(class_=re.compile(r"^pasted-(text|inline)$"))


def glue_problems(soup: BeautifulSoup) -> list[tuple[str, str]]:
    problems = []
    for tag in glued(soup):
        value = tag.get_text().strip()
        block = tag.find_parent(["p", "li", "td", "th", "dd", "h1", "h2", "h3"]) or tag.parent
        near = excerpt(block.get_text(), 80)
        if value.strip("'\"").strip() == "":
            problems.append(("glue-empty", f"glued value is empty ({value!r}) in: {near}"))
        elif value.lower() in MISSING:
            problems.append(("glue-nan", f"glued value is {value!r} in: {near}"))
    return problems


def nan_cells(soup: BeautifulSoup) -> int:
    return sum(1 for cell in soup.find_all(["td", "th"]) if cell.get_text().strip() in ("NaN", "nan"))


def _is_external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme or parts.netloc)


def _resolve(site: Path, page: Path, path: str) -> Path | None:
    """The file a relative URL path points at from ``page`` (a folder means its index.html); None outside the site."""
    base = site if path.startswith("/") else page.parent
    target = (base / unquote(path).lstrip("/")).resolve()
    try:
        target.relative_to(site.resolve())
    except ValueError:
        return None
    if target.is_dir() or path.endswith("/"):
        target = target / "index.html"
    return target


def redirects(soup: BeautifulSoup) -> list[tuple]:
    """``(tag, url)`` of each ``<meta http-equiv="refresh" content="0; url=...">`` (Jupyter Book's root index.html)."""
    found = []
    for tag in soup.find_all("meta", attrs={"http-equiv": re.compile("^refresh$", re.I)}):
        match = re.search(r"url\s*=\s*['\"]?([^'\"]+)", tag.get("content", ""), re.I)
        if match:
            found.append((tag, match.group(1).strip()))
    return found


def link_problems(site: Path, page: Path, soup: BeautifulSoup) -> list[tuple[str, str]]:
    problems = []
    references = [("broken-link", tag, tag.get("href")) for tag in soup.find_all(["a", "area"], href=True)]
    references += [("broken-asset", tag, tag.get("href")) for tag in soup.find_all("link", href=True)]
    references += [("broken-asset", tag, tag.get("src")) for tag in soup.find_all("script", src=True)]
    references += [("broken-link", tag, target) for tag, target in redirects(soup)]
    for kind, tag, url in references:
        url = url.strip()
        if not url or _is_external(url):
            continue
        parts = urlsplit(url)
        label = excerpt(tag.get_text() or "", 40)
        shown = f"{url}" + (f" ('{label}')" if label else "")
        if parts.path:
            target = _resolve(site, page, parts.path)
            if target is None or not target.is_file():
                problems.append((kind, f"{shown}: no such file in the site"))
                continue
        else:
            target = page
        fragment = unquote(parts.fragment)
        if fragment and target.suffix == ".html" and fragment not in ids(target.resolve()):
            where = "this page" if target == page else target.relative_to(site).as_posix()
            problems.append(("broken-anchor", f"{shown}: no id '{fragment}' on {where}"))
    return problems


def image_problems(site: Path, page: Path, soup: BeautifulSoup) -> list[tuple[str, str]]:
    problems = []
    for tag in soup.find_all("img"):
        src = (tag.get("src") or "").strip()
        alt = tag.get("alt") or ""
        shown = excerpt(src, 60) + (f" (alt '{excerpt(alt, 30)}')" if alt else "")
        if not src:
            problems.append(("broken-image", f"<img> without a src {shown}"))
        elif src.lower().startswith("data:"):
            header, _, payload = src.partition(",")
            if not payload.strip():
                problems.append(("broken-image", f"empty data: URI {shown}"))
        elif _is_external(src):
            continue
        else:
            target = _resolve(site, page, urlsplit(src).path)
            if target is None or not target.is_file():
                problems.append(("broken-image", f"{shown}: no such file in the site"))
            elif target.stat().st_size == 0:
                problems.append(("broken-image", f"{shown}: the file is empty"))
    return problems


def check_page(site: Path, page: Path) -> tuple[list[Problem], list[str]]:
    """Problems and warnings of one page."""
    name = page.relative_to(site).as_posix()
    soup = _parse(page.resolve())
    found = [("error-output", text) for text in error_outputs(soup)]
    found += glue_problems(soup)
    found += link_problems(site.resolve(), page.resolve(), soup)
    found += image_problems(site.resolve(), page.resolve(), soup)
    warnings = []
    if (count := nan_cells(soup)):
        warnings.append(f"{name}: {count} table cell(s) read NaN")
    return [Problem(name, kind, text) for kind, text in found], warnings


def check_site(site: Path) -> tuple[list[Problem], list[str]]:
    problems, warnings = [], []
    for page in pages(site):
        page_problems, page_warnings = check_page(site, page)
        problems += page_problems
        warnings += page_warnings
    return problems, warnings


def chromium_command(page: Path, screenshot: Path, profile_dir: Path, browser: str = "chromium") -> list[str]:
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={profile_dir}", f"--screenshot={screenshot}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}", page.resolve().as_uri()]


def screenshots(site: Path, out: Path, browser: str = "chromium") -> list[Problem]:
    problems = []
    with tempfile.TemporaryDirectory(prefix="site-check-chromium-") as profile_dir:
        for page in pages(site):
            name = page.relative_to(site).as_posix()
            if redirects(_parse(page.resolve())):
                continue  # a redirect (the root index.html): Chromium does not photograph it; its target is a page
            target = out / Path(name).with_suffix(".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            try:
                result = subprocess.run(chromium_command(page, target, Path(profile_dir), browser), capture_output=True,
                                        text=True, timeout=SCREENSHOT_TIMEOUT_S)
                failed = "" if target.is_file() and target.stat().st_size else excerpt(result.stderr[-300:] or f"exit {result.returncode}")
            except subprocess.TimeoutExpired:
                failed = f"no screenshot within {SCREENSHOT_TIMEOUT_S} s"
            if failed:
                problems.append(Problem(name, "screenshot", failed))
            else:
                print(f"[site-check] {target}", flush=True)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html", help="the built site (default: _build/html)")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "_build" / "screenshots",
                        help="where the page PNGs go (default: _build/screenshots)")
    parser.add_argument("--no-screenshots", action="store_true", help="check the HTML only; do not start Chromium")
    parser.add_argument("--browser", default="chromium", help="the Chromium executable (default: chromium)")
    args = parser.parse_args(argv)

    site = args.html
    if not site.is_dir() or not pages(site):
        print(f"[site-check] no HTML pages under {site}: build the book first (make book)", file=sys.stderr)
        return 2
    if not args.no_screenshots and shutil.which(args.browser) is None:
        print(f"[site-check] {args.browser} not found: install it (make site-check does) or pass --no-screenshots",
              file=sys.stderr)
        return 2

    problems, warnings = check_site(site)
    if not args.no_screenshots:
        problems += screenshots(site, args.screenshots, args.browser)

    checked = len(pages(site))
    for warning in warnings:
        print(f"[site-check] warning: {warning}")
    if problems:
        kinds = {}
        for problem in problems:
            kinds[problem.kind] = kinds.get(problem.kind, 0) + 1
        print(f"[site-check] {len(problems)} problem(s) on {len({p.page for p in problems})} of {checked} page(s): "
              + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))
        for problem in problems:
            print(f"  {problem}")
        return 1
    print(f"[site-check] {checked} page(s) checked: no problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
