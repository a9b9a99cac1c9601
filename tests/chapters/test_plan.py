"""The GPU plan: every chapter's runs counted without training one (tlcore.studies.plan), and the README's table."""
import os
import re
from pathlib import Path

import pytest

from tlcore.cli import main
from tlcore.runs.spec import planning, run_many
from tlcore.runs.store import RunStore
from tlcore.runs.transfer import TransferRun
from tlcore.studies.plan import chapter_runs, markdown_table, plan, with_gpu_hours
from tlcore.studies.profiles import get_profile
from tlcore.studies.which_source_model import finetuned_models

ROOT = Path(__file__).resolve().parents[2]
README_RATE = 1400.0  # the images per second the README's table states (measured on an H200, benchmarks/README.md)


@pytest.fixture(scope="module")
def real_plan():
    """The real tier's plan (offline: no dataset or weight is needed to count its runs)."""
    return plan(get_profile("real"))


def test_planned_runs_are_listed_not_trained_and_leave_no_record(tmp_results, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a planned run was trained")

    monkeypatch.setattr("tlcore.runs.transfer.fit", no_training)
    monkeypatch.setenv("TLCORE_EXECUTOR", "ray")  # planning never sends a run to a cluster
    spec = TransferRun("glyphs_near", 2, False, "glyph_micro", seed=3)
    named = RunStore(tmp_results / "named")
    with planning() as listed:
        first = run_many([spec, spec], store=named, progress=False)
        again = run_many([spec], progress=False)  # read back from the scratch store, not listed twice
        scratch = os.environ["TLCORE_STORE"]
    assert listed == [spec] and 0.2 <= first.val_accuracy[0] <= 0.8 and again.val_accuracy[0] == first.val_accuracy[0]
    assert os.environ["TLCORE_STORE"] == str(tmp_results / "store") and not Path(scratch).exists()
    assert len(RunStore()) == 0 and len(named) == 0  # not even in a store the caller names


def test_the_real_tiers_counts_follow_from_its_profile(real_plan):
    real = get_profile("real")
    by_chapter = real_plan.set_index("chapter")["runs"]
    # Chapter 3 fine-tunes every candidate and every source role on every target, every seed.
    assert by_chapter["03"] == len(finetuned_models(real)) * len(real.targets) * len(real.seeds) == 180
    # Chapter 1: the learning-rate tuning (first seed, tuning size) and the grid, which shares the tuning runs at the
    # tuning size, first seed and chosen rate.
    tuning = len(real.targets) * sum(len(lrs) for lrs in real.lr_grid.values())
    grid = len(real.targets) * len(real.sizes) * 2 * len(real.seeds)
    assert real.tuning_size in real.sizes and by_chapter["01"] == tuning + grid - len(real.targets) * 2 == 88
    assert by_chapter["book"] < by_chapter.drop("book").sum()  # chapters share runs; the book counts each once
    assert (real_plan.train_images == real_plan.steps * real.batch_size).all()


def test_the_readme_carries_the_real_tiers_plan(real_plan):
    table = markdown_table(with_gpu_hours(real_plan, README_RATE))
    readme = (ROOT / "README.md").read_text()
    assert table in readme, "README's GPU plan is stale: paste `python -m tlcore plan --markdown`"
    assert re.search(rf"at {README_RATE:,.0f} training images per second", readme)


def test_bad_requests_are_refused(real_plan):
    with pytest.raises(ValueError, match="images_per_second must be positive"):
        with_gpu_hours(real_plan, 0)
    with pytest.raises(KeyError, match="unknown chapter '11'"):
        chapter_runs("11", get_profile("real"))
    with pytest.raises(ValueError, match="the plan covers the timm tiers"):
        chapter_runs("07", get_profile("smoke"))


def test_the_command_line_prints_the_plan(capsys):
    assert main(["plan", "--profile", "real_smoke", "--chapters", "01", "--images-per-second", "100"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"\b01\s+16\s+96\s+1536\s+0\.0\b", printed) and "book" in printed


def test_chapter_six_plans_its_grid_and_quick_fine_tunes_at_the_grid_seeds():
    from tlcore.studies import hyperparameters as hp

    smoke = get_profile("smoke")
    raised = smoke.with_(hp={"grid_seeds": smoke.seeds + (7, 8)})
    extra = len(chapter_runs("06", raised)) - len(chapter_runs("06", smoke))
    cells = len(hp.grid_targets(smoke)) * len(smoke.hp.lrs) * len(smoke.hp.momenta)
    large = len(smoke.hp.large_targets) * (len(smoke.hp.sizes) - 1) * len(smoke.hp.lrs) * len(smoke.hp.momenta)
    assert extra == 2 * (cells + large + len(hp.grid_targets(smoke)))  # two seeds more: grid runs and quick runs
