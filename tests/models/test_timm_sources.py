"""The real-tier source-model facts table: names timm knows, architecture facts that match timm, the frame's shape."""
from __future__ import annotations

from functools import lru_cache

import pytest

from tlcore.models.timm_sources import (BASELINES, COLUMNS, ROLES, SMOKE_ROLES, TIMM_SOURCES, TimmSource,
                                        timm_source_frame)

PUBLISHED = sorted(name for name, source in TIMM_SOURCES.items() if source.imagenet_top1 is not None)

timm = pytest.importorskip("timm")


@lru_cache(maxsize=None)
def _built(arch: str):
    """The architecture built without weights (offline), once per architecture."""
    return timm.create_model(arch, pretrained=False)


def test_every_name_is_a_pretrained_tag_timm_knows():
    known = set(timm.list_pretrained())
    assert set(TIMM_SOURCES) <= known, sorted(set(TIMM_SOURCES) - known)
    assert all(isinstance(source, TimmSource) and source.name == name for name, source in TIMM_SOURCES.items())


@pytest.mark.parametrize("name", PUBLISHED)
def test_width_blocks_and_params_match_the_timm_architecture(name):
    source, model = TIMM_SOURCES[name], _built(name.split(".")[0])
    assert source.width == model.num_features
    assert source.blocks == sum(len(getattr(model, f"layer{i}")) for i in range(1, 5))
    assert source.params_m == pytest.approx(sum(p.numel() for p in model.parameters()) / 1e6, abs=0.006)


@pytest.mark.parametrize("name", PUBLISHED)
def test_the_quoted_224_row_is_a_default_eval_size_of_the_weight(name):
    cfg = timm.models.get_pretrained_cfg(name).to_dict()
    sizes = {cfg["input_size"][-1], (cfg.get("test_input_size") or cfg["input_size"])[-1]}
    assert 224 in sizes


def test_every_role_maps_to_a_known_name_and_every_contrast_to_a_role():
    assert set(ROLES.values()) <= set(TIMM_SOURCES)
    assert "reference" in ROLES
    assert set(BASELINES) <= set(ROLES) and set(BASELINES.values()) <= set(ROLES)


def test_frame_has_the_zoo_columns_and_accuracies_are_fractions():
    frame = timm_source_frame(list(ROLES.values()))
    assert list(frame.columns) == COLUMNS
    assert list(frame["model"]) == list(ROLES.values())
    for column in ("source_val_accuracy", "source_test_accuracy"):
        assert frame[column].between(0, 1).all()
    assert (frame["source_val_accuracy"] == frame["source_test_accuracy"]).all()
    assert (frame["pretrainings"] == 1).all() and frame["pretrain_seconds"].isna().all()
    reference = frame.set_index("model").loc[ROLES["reference"]]
    assert reference["source_val_accuracy"] == pytest.approx(TIMM_SOURCES[ROLES["reference"]].imagenet_top1 / 100)


def test_unknown_name_raises_a_key_error_naming_it():
    with pytest.raises(KeyError, match="resnet50.not_a_tag") as info:
        timm_source_frame(["resnet50.tv_in1k", "resnet50.not_a_tag"])
    assert "resnet50.tv_in1k" in str(info.value)  # the known names are listed


def test_the_smoke_stand_ins_are_distinct_test_networks_with_no_published_accuracy():
    assert set(SMOKE_ROLES) == set(ROLES) and len(set(SMOKE_ROLES.values())) == len(SMOKE_ROLES)
    assert all(name.startswith("test_") for name in SMOKE_ROLES.values())
    frame = timm_source_frame(list(SMOKE_ROLES.values()))
    assert frame["source_val_accuracy"].isna().all() and list(frame["model"]) == list(SMOKE_ROLES.values())
    assert len(PUBLISHED) == len(ROLES) and set(PUBLISHED) == set(ROLES.values())
