"""``glued_values.py diff``: what a recomputed store did to two builds' glued values, without executing anything."""
import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))  # glued_values imports build_book from beside it
SPEC = importlib.util.spec_from_file_location("glued_values", SCRIPTS / "glued_values.py")
glued_values = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(glued_values)


def _page(folder: Path, stem: str, values: dict[str, str]) -> None:
    """An executed notebook gluing ``values`` the way scrapbook records them."""
    cell = nbformat.v4.new_code_cell("glue(...)")
    prefix = "application/papermill.record/"
    cell.outputs = [nbformat.v4.new_output("display_data", data={f"{prefix}text/plain": text},
                                           metadata={"scrapbook": {"name": name, "mime_prefix": prefix}})
                    for name, text in values.items()]
    folder.mkdir(exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), folder / f"{stem}.ipynb")


def test_diff_names_every_changed_verdict_on_shared_pages_only(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    _page(old, "01_a", {"t1_verdict": "'✔ supported'", "t1_effect": "6.16", "t7_verdict": "'✘ not supported'"})
    _page(new, "01_a", {"t1_verdict": "'∅ not tested'", "t1_effect": "6.20", "t7_verdict": "'✘ not supported'"})
    _page(old, "02_b", {"t2_verdict": "'✔ supported'"})  # only in the old build: not compared
    _page(new, "03_c", {"t3_verdict": "'✔ supported'"})  # only in the new one: not compared either

    assert glued_values.diff_builds(old, new, ["_verdict"]) == [
        "notebooks/01_a: t1_verdict \"'✔ supported'\" -> \"'∅ not tested'\""]
    assert len(glued_values.diff_builds(old, new, [])) == 2  # the effect too, when no names are given

    assert glued_values.main(["diff", str(old), str(new), "--names", "_verdict"]) == 1
    assert "1 differences" in capsys.readouterr().out
    assert glued_values.main(["diff", str(old), str(old)]) == 0


def test_diff_refuses_folders_without_pages_in_common_and_a_missing_second_folder(tmp_path):
    _page(tmp_path / "old", "01_a", {"t1_verdict": "x"})
    _page(tmp_path / "new", "02_b", {"t2_verdict": "x"})
    with pytest.raises(SystemExit, match="no executed page in common"):
        glued_values.diff_builds(tmp_path / "old", tmp_path / "new", [])
    with pytest.raises(SystemExit, match="not a folder"):
        glued_values.diff_builds(tmp_path / "old", tmp_path / "missing", [])
    with pytest.raises(SystemExit):
        glued_values.main(["diff", str(tmp_path / "old")])
