"""Generated stand-ins for the real tier's datasets: ImageFolder trees with their datasets' split structures."""
import hashlib

import pytest
import torch

from tlcore import data
from tlcore.data import standins
from tlcore.data.real import REAL, per_class_available


def _digest(root):
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(root.rglob("*.png")))).hexdigest()


def test_a_standin_is_an_image_folder_per_official_part_with_the_declared_sizes(tmp_cache):
    root = standins.folder("standin_pets")
    spec = standins.STANDINS["standin_pets"]
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == sorted(spec.parts)  # trainval and test, no val
    for part, per_class in spec.parts.items():
        classes = sorted((root / part).iterdir())
        assert len(classes) == spec.classes
        assert all(len(list(c.glob("*.png"))) == per_class for c in classes)


def test_standins_load_through_the_real_tier_with_official_and_carved_splits(tmp_cache):
    # Flowers' stand-in has an official val part; Pets' carves val from its trainval part, as the datasets do.
    assert REAL["standin_flowers"].official("val") and not REAL["standin_pets"].official("val")
    train = data.load("standin_pets", "train", n_per_class=5, seed=0)
    val, test = data.load("standin_pets", "val", seed=0), data.load("standin_pets", "test", seed=0)
    assert isinstance(train, data.RealImageDataset) and train[0][0].shape == (3, 64, 64)
    assert len(train) == 6 * 5 and len(val) == 6 * 4 and len(test) == 6 * 8
    assert not set(train.indices) & set(val.indices)  # carved from the same part, disjoint
    assert per_class_available("standin_pets", "train") == 24 - 4
    with pytest.raises(ValueError, match="has 20 training images per class"):
        data.load("standin_pets", "train", n_per_class=21, seed=0)


def test_standins_are_the_same_bytes_wherever_they_are_generated(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCORE_CACHE", str(tmp_path / "a"))
    first = _digest(standins.folder("standin_digits_shifted"))
    monkeypatch.setenv("TLCORE_CACHE", str(tmp_path / "b"))
    assert _digest(standins.folder("standin_digits_shifted")) == first


def test_a_damaged_standin_is_generated_again_not_used(tmp_cache):
    root = standins.folder("standin_flowers")
    image = next((root / "train").rglob("*.png"))
    original = image.read_bytes()
    image.write_bytes(original[:-10])
    standins._VERIFIED.clear()  # as a new process would
    assert standins.folder("standin_flowers") == root and image.read_bytes() == original
    assert not list(root.parent.glob(".standin_flowers*"))  # no staging folder left behind


def test_the_shifted_standin_shares_classes_and_differs_in_look(tmp_cache):
    plain = data.load("standin_digits", "test", seed=0)
    shifted = data.load("standin_digits_shifted", "test", seed=0)
    assert plain.classes == shifted.classes
    # Noisy backgrounds: far more pixel variance within an image of the shifted domain.
    spread = lambda d: torch.stack([d[i][0].std() for i in range(10)]).mean()
    assert spread(shifted) > spread(plain)


def test_picture_and_union_serve_both_tiers(tmp_cache):
    a, b = data.load("standin_pets", "train", 2, seed=0), data.load("standin_pets", "train", 2, seed=1)
    joined = data.union(a, b)
    assert len(joined) == len(a) + len(b) and torch.equal(joined.labels[len(a):], b.labels)
    picture = data.picture(a, 0)
    assert picture.shape == (64, 64, 3) and 0 <= picture.min() and picture.max() <= 1
    embedded = data.load("glyphs_near", "train", 2, seed=0)
    assert data.picture(embedded, 0).shape == (32, 32)
    with pytest.raises(TypeError, match="not samples of one dataset"):
        data.union(a, embedded)
