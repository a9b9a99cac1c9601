"""The chapters' Colab install line, from the one place the repository URL lives (``_config.yml``'s
``repository.url``, which the launch buttons read too) and the package version (``pyproject.toml``), pinned to
that version's release tag.

    python scripts/install_cell.py            # list chapters whose install line differs (exit 1 if any)
    python scripts/install_cell.py --write    # rewrite them (the .py source; then `jupytext --sync`)
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r'^(\s*# %pip install -q )"tlcore\[book\] @ git\+[^"]*"$', re.M)


def install_spec(root: Path = ROOT) -> str:
    """``tlcore[book] @ git+<repository url>@v<version>``."""
    url = yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    return f"tlcore[book] @ git+{url}@v{version}"


def chapters(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("*.py"))


def out_of_date(root: Path = ROOT) -> list[Path]:
    """Chapters without exactly one install line, or whose line is not :func:`install_spec`'s."""
    spec = install_spec(root)
    stale = []
    for path in chapters(root):
        found = LINE.findall(path.read_text())
        if len(found) != 1 or f'"{spec}"' not in path.read_text():
            stale.append(path)
    return stale


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    stale = out_of_date()
    if args.write:
        spec = install_spec()
        for path in stale:
            path.write_text(LINE.sub(lambda m: f'{m.group(1)}"{spec}"', path.read_text()))
        print(f"rewrote {len(stale)} chapter(s); run `jupytext --sync notebooks/*.py`")
        return
    for path in stale:
        print(f"{path.relative_to(ROOT)}: install line is not \"{install_spec()}\"")
    sys.exit(1 if stale else 0)


if __name__ == "__main__":
    main()
