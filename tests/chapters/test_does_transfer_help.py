"""Chapter 1's study: sizes per target and schedules matched in epochs (the profile's ``transfer`` group)."""
import math

import pytest

import tlcore
from tlcore.runs.spec import planning
from tlcore.studies import does_transfer_help as study
from tlcore.studies.common import epoch_steps, protocol_for


def test_without_epochs_every_size_runs_the_chapter_wide_protocol():
    profile = tlcore.get_profile("smoke")
    assert profile.transfer.epochs is None and profile.transfer.extra_sizes == ()
    for target in profile.targets:
        assert study.transfer_sizes(profile, target) == profile.sizes
        assert study.transfer_protocol(profile, target, 100, 0.1) == protocol_for(profile, 0.1)  # same run keys


def test_epoch_matched_schedules_and_extra_sizes():
    profile = tlcore.get_profile("embedded").with_(seeds=(0, 1))
    assert profile.transfer.epochs == 30 and profile.transfer.extra_sizes == (("textures_far", (500,)),)
    assert study.transfer_sizes(profile, "textures_far") == (5, 20, 100, 500)
    assert study.transfer_sizes(profile, "glyphs_near") == (5, 20, 100)
    # 20 classes, batch 64: ceil(30 * n * 20 / 64), never under the chapter's 150 steps; digits have 10 classes
    assert [epoch_steps(profile, "textures_far", n, 30) for n in (5, 20, 100, 500)] == [150, 188, 938, 4688]
    assert epoch_steps(profile, "digits_real", 100, 30) == math.ceil(30 * 100 * 10 / 64) == 469
    assert epoch_steps(profile, "digits_real", 100, None) == profile.steps
    with planning() as listed:
        frames = study.tuned_transfer_grid(profile, progress=False)
    grid = frames["grid"]
    cells = {(t, n) for t in profile.targets for n in study.transfer_sizes(profile, t)}
    assert set(zip(grid.target, grid.n_per_class)) == cells
    assert len(grid) == len(cells) * 2 * len(profile.seeds)  # pretrained and scratch, every seed
    steps = {(run.target, run.n_per_class): run.protocol.steps for run in listed if run.n_per_class in (100, 500)}
    assert steps[("textures_far", 500)] == 4688 and steps[("digits_real", 100)] == 469


def test_extra_sizes_name_targets_of_the_profile():
    with pytest.raises(ValueError, match=r"extra sizes for 'digits_fonts', which is not one of its targets"):
        tlcore.get_profile("embedded").with_(transfer={"extra_sizes": (("digits_fonts", (500,)),)})
