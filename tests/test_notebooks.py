"""The chapters execute, and their paired .py and .ipynb sources agree."""
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAIRED = sorted(ROOT.glob("notebooks/*.py")) + sorted(ROOT.glob("book/*.py"))


@pytest.mark.parametrize("source", PAIRED, ids=lambda p: p.name)
def test_paired_sources_are_in_sync(source):
    text = jupytext.read(source)
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    strip = lambda nb: [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", []))) for c in nb.cells]
    assert strip(text) == strip(notebook), f"run `jupytext --sync {source.relative_to(ROOT)}`"


@pytest.mark.parametrize("source", [p for p in PAIRED if p.parent.name == "notebooks"], ids=lambda p: p.name)
def test_chapters_have_a_parameters_cell_with_a_profile(source):
    cells = jupytext.read(source).cells
    parameters = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1 and 'profile = "embedded"' in parameters[0].source


def test_chapter_one_executes_at_its_smallest_parameters(tmp_path, tmp_results):
    import papermill

    output = tmp_path / "chapter1.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / "01_does_transfer_help.ipynb"), str(output),
                               parameters={"profile": "smoke"}, cwd=str(ROOT / "notebooks"), kernel_name="python3",
                               progress_bar=False)
    executed = nbformat.read(output, as_version=4)
    glued = {o["metadata"]["scrapbook"]["name"] for c in executed.cells for o in c.get("outputs", [])
             if "scrapbook" in o.get("metadata", {})}
    assert {"t1_verdict", "t7_verdict", "t8_verdict", "similarity_summary"} <= glued
    assert (tmp_results / "tables" / "transfer_grid.csv").exists()
    images = sum("image/png" in o.get("data", {}) for c in executed.cells for o in c.get("outputs", []))
    assert images >= 3
