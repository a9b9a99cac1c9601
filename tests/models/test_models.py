import json
import time

import pytest
import torch

from tlcore import models
from tlcore.models import zoo


def test_small_resnet_has_timm_interface_and_32px_geometry():
    model = models.small_resnet((1, 1, 1, 1), (8, 16, 32, 64), num_classes=7)
    x = torch.randn(2, 1, 32, 32)
    assert model.forward_features(x).shape == (2, 64, 2, 2)
    assert model(x).shape == (2, 7)
    model.reset_classifier(3)
    assert model(x).shape == (2, 3)


def test_scratch_models_depend_on_the_seed_only():
    a = models.create("glyph_micro", num_classes=5, seed=1)
    b = models.create("glyph_micro", num_classes=5, seed=1)
    c = models.create("glyph_micro", num_classes=5, seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_zoo_cache_miss_then_hit(tmp_cache, monkeypatch):
    model, provenance = models.load_source_model("glyph_micro", progress=False)
    folder = models.entry_dir(models.ZOO["glyph_micro"])
    assert (folder / "weights.safetensors").exists()
    assert provenance["num_classes"] == model.get_classifier().out_features
    assert 0.0 <= provenance["source_val_accuracy"] <= 1.0 and provenance["seconds"] > 0
    assert json.loads((folder / "provenance.json").read_text())["sha256"] == provenance["sha256"]

    def no_training(*args, **kwargs):
        raise AssertionError("a cache hit must not train")

    monkeypatch.setattr(zoo, "_pretrain", no_training)
    again, _ = models.load_source_model("glyph_micro", progress=False)
    assert all(torch.equal(p, q) for p, q in zip(model.state_dict().values(), again.state_dict().values()))


def test_zoo_cache_corruption_is_detected_and_rebuilt(tmp_cache):
    models.load_source_model("glyph_micro", progress=False)
    folder = models.entry_dir(models.ZOO["glyph_micro"])
    weights = folder / "weights.safetensors"
    damaged = bytearray(weights.read_bytes())
    damaged[-10:] = b"\x00" * 10
    weights.write_bytes(bytes(damaged))
    model, provenance = models.load_source_model("glyph_micro", progress=False)
    from tlcore.storage import file_sha256

    assert file_sha256(weights) == provenance["sha256"]
    assert not list(folder.parent.glob(".*"))  # no staging folder left behind


def test_pretrained_start_keeps_the_backbone_and_replaces_the_head(tmp_cache):
    source, _ = models.load_source_model("glyph_micro", progress=False)
    model = models.create("glyph_micro", pretrained=True, num_classes=4, seed=0)
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert model.get_classifier().out_features == 4
    assert model.tlcore_provenance["name"] == "glyph_micro"


def test_unknown_model_and_extra_arguments_are_errors():
    with pytest.raises(KeyError, match="unknown model"):
        models.create("resnet_from_mars")
    with pytest.raises(TypeError, match="no extra arguments"):
        models.create("glyph_micro", drop_rate=0.5)


def test_timm_backbone_without_cached_weights_fails_fast_offline():
    start = time.perf_counter()
    with pytest.raises(models.ModelNotAvailable) as info:
        models.create("resnet18", pretrained=True, num_classes=3)
    assert time.perf_counter() - start < 1.0
    assert "resnet18" in str(info.value) and "HF_HUB_OFFLINE" in str(info.value)


def test_timm_backbone_builds_without_weights():
    model = models.create("resnet10t", pretrained=False, num_classes=3, in_chans=1)
    assert model.eval()(torch.randn(1, 1, 32, 32)).shape == (1, 3)


def test_a_pretraining_seed_is_another_pretraining_of_the_same_recipe(tmp_cache):
    first, again = models.seeded("glyph_micro", 0), models.seeded("glyph_micro", 1)
    assert first is models.ZOO["glyph_micro"]  # seed 0 keeps the key every stored outcome was computed under
    assert again.key() != first.key() and again.key().startswith("glyph_micro-")
    assert again.recipe() == {**first.recipe(), "seed": 1}
    zero = models.create("glyph_micro", pretrained=True, num_classes=4, seed=0)
    one = models.create("glyph_micro", pretrained=True, num_classes=4, seed=0, pretrain_seed=1)
    assert not torch.equal(zero.conv1.weight, one.conv1.weight)
    assert one.tlcore_provenance["key"] == again.key()
    assert models.entry_dir(again).exists() and models.entry_dir(first).exists()


def test_a_seeded_two_step_model_starts_from_the_parent_with_the_same_seed():
    child = models.seeded("glyph_micro_then_digits_fonts", 2)
    assert child.recipe()["parent_key"] == models.seeded("glyph_micro", 2).key()
    assert models.seeded("glyph_micro_then_digits_fonts", 0).recipe()["parent_key"] == models.ZOO["glyph_micro"].key()


def test_pretraining_seeds_are_checked():
    with pytest.raises(ValueError, match="non-negative integer"):
        models.seeded("glyph_micro", -1)
    with pytest.raises(KeyError, match="unknown zoo model"):
        models.seeded("resnet_from_mars", 1)
    with pytest.raises(ValueError, match="needs a pretrained zoo model"):
        models.create("glyph_micro", pretrained=False, pretrain_seed=1)
    with pytest.raises(ValueError, match="one seed"):
        models.create("resnet18", pretrained=True, pretrain_seed=1)
