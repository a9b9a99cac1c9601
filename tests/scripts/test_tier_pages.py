"""Another tier's page, built from the results store alone: shown, labelled and linked when the store holds every
outcome the chapter reads; not shown, with the missing outcome named, when it does not. real_smoke stands in for the
real tier (the mechanism is the same for any profile)."""
import importlib.util
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if "build_book" not in sys.modules:
    spec = importlib.util.spec_from_file_location("build_book", SCRIPTS / "build_book.py")
    sys.modules["build_book"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules["build_book"])
build_book = sys.modules["build_book"]
spec = importlib.util.spec_from_file_location("tier_pages", SCRIPTS / "tier_pages.py")
tier_pages = sys.modules["tier_pages"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tier_pages)

CHAPTER = "notebooks/01_does_transfer_help"


def store_records(root: Path) -> list[str]:
    return [line for path in root.glob("*.jsonl") for line in path.read_text().splitlines()]


@pytest.fixture
def staged(tmp_path, monkeypatch):
    for module in (build_book, tier_pages):
        monkeypatch.setattr(module, "STAGING", tmp_path / "src")
        monkeypatch.setattr(module, "LOGS", tmp_path / "logs")
    build_book.stage()
    return tmp_path / "src"


def _markdown(notebook: Path) -> str:
    return "\n".join(cell.source for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "markdown")


@pytest.mark.slow
def test_a_tier_the_store_holds_gets_its_page_and_one_it_only_partly_holds_does_not(staged, tmp_path, capsys):
    store = tmp_path / "store"
    filling = build_book.papermill_process(CHAPTER, "real_smoke", 1, output="filled",
                                           env={"TLCORE_STORE": str(store), "TLCORE_RESULTS": str(tmp_path / "fill")})
    assert filling.wait() == 0
    assert (store / "01_does_transfer_help@real_smoke.jsonl").exists()
    assert not (store / "01_does_transfer_help.jsonl").exists()  # the embedded tier's file is not touched

    made = tier_pages.tier_pages([CHAPTER], "real_smoke", store=store, results=tmp_path / "results")
    page = f"{CHAPTER}_real_smoke"
    assert made == [page] and (staged / f"{page}.ipynb").exists()
    label = _markdown(staged / f"{page}.ipynb")
    assert "# 1. Does transfer help? (real_smoke tier)" in label and "nothing was trained to build it" in label
    read = int(re.search(r"from the (\d+) records of the results store it reads", label).group(1))
    assert read == len(store_records(store))  # every record it needs, and it needs every one the chapter stored
    assert f"{{doc}}`its results and verdicts <01_does_transfer_help_real_smoke>`" in _markdown(
        staged / f"{CHAPTER}.ipynb")
    chapters = [c for part in yaml.safe_load((staged / "_toc.yml").read_text())["parts"] for c in part["chapters"]]
    assert {"file": page} in next(c for c in chapters if c["file"] == CHAPTER)["sections"]
    assert not (tmp_path / "results" / "tables").exists()  # its tables went to their own folder
    assert (tmp_path / "results" / "tier-real_smoke" / "tables" / "transfer_grid.csv").exists()

    # One record fewer: the page would have to train, which a store-only build refuses; it is not shown.
    tier_file = store / "01_does_transfer_help@real_smoke.jsonl"
    lines = tier_file.read_text().splitlines()
    dropped = next(line for line in lines if json.loads(line)["kind"] == "TransferRun")
    tier_file.write_text("".join(line + "\n" for line in lines if line != dropped))
    (staged / f"{page}.ipynb").unlink()
    assert tier_pages.tier_pages([CHAPTER], "real_smoke", store=store, results=tmp_path / "again") == []
    printed = capsys.readouterr().out
    assert f"{CHAPTER} in the real_smoke tier: not shown" in printed and json.loads(dropped)["key"] in printed
    assert not (staged / f"{page}.ipynb").exists()
    assert len(tier_file.read_text().splitlines()) == len(lines) - 1  # nothing was computed or stored


def test_a_chapter_without_records_of_the_tier_is_left_alone(staged, tmp_path):
    def never(*args, **kwargs):
        raise AssertionError("a chapter without tier records was executed")

    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "01_does_transfer_help.jsonl").write_text("")  # embedded records only
    assert tier_pages.tier_pages([CHAPTER], "real", store=tmp_path / "store", results=tmp_path, runner=never) == []
    toc = yaml.safe_load((staged / "_toc.yml").read_text())
    assert not any("sections" in c for part in toc["parts"] for c in part["chapters"])
