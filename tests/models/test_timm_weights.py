"""Pretrained timm weights from ``$TLCORE_WEIGHTS`` (a file or a folder) instead of the hub, offline."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from tlcore import models
from tlcore.models.timm_weights import WEIGHTS_ENV, candidates

NAME = "test_resnet"  # timm's tiny test model


@pytest.fixture
def saved(tmp_path):
    import timm

    torch.manual_seed(123)
    model = timm.create_model(NAME, pretrained=False)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    return state


def _assert_weights(model, state, skip=()):
    loaded = model.state_dict()
    for key, value in state.items():
        if not key.startswith(skip) and value.is_floating_point():
            assert torch.equal(loaded[key], value), key


@pytest.mark.parametrize("layout", ["file", "folder", "hub_folder"])
def test_pretrained_weights_come_from_tlcore_weights_offline(saved, tmp_path, monkeypatch, layout):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = {"file": tmp_path / "any_name.safetensors", "folder": tmp_path / f"{NAME}.safetensors",
            "hub_folder": tmp_path / NAME / "model.safetensors"}[layout]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(saved, str(path))
    monkeypatch.setenv(WEIGHTS_ENV, str(path if layout == "file" else tmp_path))
    model = models.create(NAME, pretrained=True, seed=7)
    _assert_weights(model, saved)


def test_a_new_classifier_keeps_the_backbone_weights(saved, tmp_path, monkeypatch):
    save_file(saved, str(tmp_path / f"{NAME}.safetensors"))
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    model = models.create(NAME, pretrained=True, num_classes=5)
    assert model.get_classifier().out_features == 5
    _assert_weights(model, saved, skip=("fc.", "head."))


def test_a_missing_weights_file_is_a_clear_error_naming_the_paths(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.safetensors"
    monkeypatch.setenv(WEIGHTS_ENV, str(missing))
    with pytest.raises(models.ModelNotAvailable, match=str(missing)):
        models.create(NAME, pretrained=True)
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(models.ModelNotAvailable) as info:
        models.create(NAME, pretrained=True)
    assert str(tmp_path / NAME / "model.safetensors") in str(info.value) and NAME in str(info.value)


def test_tagged_names_fall_back_to_the_architecture(tmp_path):
    paths = candidates(tmp_path, "resnet50.a1_in1k")
    assert paths[0] == tmp_path / "resnet50.a1_in1k.safetensors"
    assert tmp_path / "resnet50" / "model.safetensors" in paths


def test_without_the_variable_nothing_changes_for_scratch_models(monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    assert models.create(NAME, pretrained=False, num_classes=3).get_classifier().out_features == 3


def test_weightless_stand_ins_are_built_only_when_the_real_smoke_profile_asks(monkeypatch):
    from tlcore.chapter import start_chapter
    from tlcore.studies.profiles import get_profile

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(models.WEIGHTLESS_ENV, raising=False)
    with pytest.raises(models.ModelNotAvailable):  # no hub, no file: a pretrained model is refused
        models.create(NAME, pretrained=True, num_classes=3)
    start_chapter("real_smoke")
    first, second = (models.create(NAME, pretrained=True, num_classes=3, seed=s) for s in (0, 1))
    backbone = lambda m: {k: v for k, v in m.state_dict().items() if not k.startswith("fc.")}
    # One fixed "pretraining" for every run, as real weights would be; the new classifier follows the seed.
    assert all(torch.equal(v, backbone(second)[k]) for k, v in backbone(first).items())
    assert not torch.equal(first.fc.weight, second.fc.weight) and first.fc.out_features == 3
    start_chapter("smoke")  # any other profile turns it off again
    assert models.WEIGHTLESS_ENV not in __import__("os").environ
    with pytest.raises(ValueError, match="only real_smoke"):
        get_profile("real").with_(weightless=True)
