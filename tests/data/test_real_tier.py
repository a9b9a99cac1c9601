"""The real tier as the datasets define it (official splits, per-class sizes), its decoded uint8 cache, and the real
profile's sizes checked against what the datasets hold."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from tlcore import data
from tlcore.data import decoded as decoded_module
from tlcore.data.decoded import DecodedImageDataset, decode
from tlcore.data.real import REAL, load_real, per_class_available


def test_every_dataset_declares_each_split_and_its_per_class_table():
    for name, spec in REAL.items():
        assert set(spec.splits) == {"train", "val", "test"}, name
        assert spec.official("train"), name
        assert set(spec.per_class) == {s for s in spec.splits if spec.official(s)}, name
        for split in ("train", "val", "test"):
            assert per_class_available(name, split) >= 1, (name, split)


def test_the_split_table_holds_the_documented_counts():
    assert REAL["flowers102"].splits["val"] == {"split": "val"}
    assert REAL["fgvc_aircraft"].splits["train"] == {"split": "train"}
    assert REAL["dtd"].splits["test"] == {"split": "test", "partition": 1}
    expected = {("flowers102", "train"): 10, ("flowers102", "val"): 10, ("dtd", "train"): 40, ("dtd", "val"): 40,
                ("fgvc_aircraft", "train"): 33, ("fgvc_aircraft", "val"): 33, ("pets", "train"): 83,
                ("pets", "val"): 10, ("stanford_cars", "train"): 14, ("cifar10", "train"): 4990,
                ("cifar100", "train"): 490, ("caltech101", "train"): 1, ("caltech101", "test"): 20}
    assert {key: per_class_available(*key) for key in expected} == expected


def test_asking_for_more_training_images_than_a_dataset_has_names_both_counts(tmp_path):
    with pytest.raises(ValueError, match=r"'flowers102'.*has 10 training images per class.*n_per_class=20"):
        data.load("flowers102", "train", n_per_class=20, seed=0, root=tmp_path)
    with pytest.raises(ValueError, match=r"'dtd'.*has 40 .*n_per_class=50"):
        data.load("dtd", "train", n_per_class=50, seed=0, root=tmp_path)
    with pytest.raises(data.DatasetNotAvailable):  # within the table: fails only because nothing is on disk
        data.load("flowers102", "train", n_per_class=10, seed=0, root=tmp_path)


class FakeTorchvision:
    """Stands in for a torchvision dataset class: ``split`` picks a part; labels in ``_labels``."""

    def __init__(self, root, download=False, split="train", **kwargs):
        self._labels = {"train": [0, 0, 0, 1, 1, 1], "val": [0, 0, 1, 1], "test": [0, 1, 1]}[split]
        self.split = split
        self.classes = ["a", "b"]

    def __len__(self):
        return len(self._labels)

    def __getitem__(self, index):
        value = {"train": 10, "val": 20, "test": 30}[self.split] + index
        return Image.new("RGB", (40, 30), (value, value, value)), self._labels[index]


def test_official_val_and_test_splits_are_read_whole_and_train_is_sampled(monkeypatch, tmp_path):
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd, "FakeTorchvision", FakeTorchvision, raising=False)
    spec = dataclasses.replace(REAL["flowers102"], name="fake", torchvision_class="FakeTorchvision",
                               per_class={"train": 3, "val": 2, "test": 1})
    monkeypatch.setitem(REAL, "fake", spec)
    val = load_real("fake", "val", None, 0, root=tmp_path, image_size=16)
    test = load_real("fake", "test", None, 0, root=tmp_path, image_size=16)
    train = load_real("fake", "train", 2, 0, root=tmp_path, image_size=16)
    assert (len(val), len(test), len(train)) == (4, 3, 4)
    assert val.base.split == "val" and test.base.split == "test" and train.base.split == "train"
    assert train.labels.tolist().count(0) == 2 and train.labels.tolist().count(1) == 2
    with pytest.raises(ValueError, match="has 3 training images per class; asked for n_per_class=4"):
        load_real("fake", "train", 4, 0, root=tmp_path)


def image_folder(root, classes=("cat", "dog"), per_class=6, size=(40, 30)):
    generator = np.random.default_rng(0)
    for class_name in classes:
        (root / class_name).mkdir(parents=True)
        for i in range(per_class):
            pixels = (generator.random((size[1], size[0], 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / class_name / f"{i}.png")
    return f"folder:{root}"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCORE_DATA", str(tmp_path / "cache"))
    return image_folder(tmp_path / "images")


def test_the_decoded_centre_crop_is_bit_identical_to_the_pil_path(folder):
    kwargs = {"image_size": 16, "val_per_class": 1, "test_per_class": 1}
    pil = data.load(folder, "test", seed=0, **kwargs)
    fast = data.load(folder, "test", seed=0, decoded=True, **kwargs)
    assert isinstance(fast, DecodedImageDataset) and fast.shape[2:] == (18, 18)
    from tlcore.finetune.features import ordered_batches

    (reference, labels), = list(ordered_batches(pil, 64))
    (pixels, again), = list(ordered_batches(fast, 64))
    assert torch.equal(labels, again) and pixels.dtype == torch.float32
    assert torch.equal(reference, pixels)


def test_the_cache_is_written_once_keyed_verified_and_rebuilt_when_corrupted(folder, monkeypatch):
    first = data.load(folder, "train", n_per_class=2, seed=0, image_size=16, decoded=True, val_per_class=1,
                      test_per_class=1)
    meta = json.loads(first.path.with_suffix(".json").read_text())
    assert meta["shape"] == [12, 3, 18, 18] and len(meta["sha256"]) == 64
    assert not list(first.path.parent.glob("*.tmp*"))
    writes = []
    monkeypatch.setattr(decoded_module, "_write", lambda *a: writes.append(a) or pytest.fail("rewritten"))
    other = data.load(folder, "train", n_per_class=3, seed=1, image_size=16, decoded=True, val_per_class=1,
                      test_per_class=1)
    assert other.path == first.path and not writes  # the whole part is cached: other sizes and seeds share it
    monkeypatch.undo()
    monkeypatch.setenv("TLCORE_DATA", str(first.path.parent.parent))
    with open(first.path, "r+b") as handle:
        handle.write(b"\xff\x00\xff")
    decoded_module._VERIFIED.clear()
    with pytest.warns(UserWarning, match="does not match its recorded SHA-256"):
        rebuilt = decode(data.load(folder, "train", n_per_class=2, seed=0, image_size=16, val_per_class=1,
                                   test_per_class=1))
    assert decoded_module.file_digest(rebuilt.path) == meta["sha256"]


def test_training_batches_are_augmented_on_the_device_and_resume_exactly(folder):
    from tlcore.finetune.batches import BatchStream

    train = data.load(folder, "train", n_per_class=4, seed=0, image_size=16, decoded=True, val_per_class=1,
                      test_per_class=1)
    stream = BatchStream(train, 4, torch.Generator().manual_seed(0), torch.device("cpu"))
    first = next(stream)
    assert first[0].shape == (4, 3, 16, 16) and first[0].dtype == torch.float32
    state, generator_state = stream.state_dict(), stream.generator.get_state()
    expected = [next(stream) for _ in range(3)]
    stream.load_state_dict(state)
    stream.generator.set_state(generator_state)
    for (inputs, labels), (want_inputs, want_labels) in zip([next(stream) for _ in range(3)], expected):
        assert torch.equal(inputs, want_inputs) and torch.equal(labels, want_labels)
    centre = train.evaluation_view()
    assert not centre.train and centre.path == train.path


def test_a_custom_transform_cannot_be_decoded(folder):
    with pytest.raises(ValueError, match="takes no transform"):
        data.load(folder, "train", seed=0, decoded=True, transform=lambda image: image, val_per_class=1,
                  test_per_class=1)


# --- the real profile against the split table ----------------------------------------------------------------------

def _groups(obj, prefix=""):
    """``(path, object)`` for the profile and every dataclass nested in it (the per-chapter groups)."""
    yield prefix, obj
    for item in dataclasses.fields(obj):
        value = getattr(obj, item.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from _groups(value, f"{prefix}{item.name}.")


def _dataset_names(value) -> tuple[str, ...]:
    values = value if isinstance(value, (tuple, list)) else (value,)
    return tuple(v for v in values if isinstance(v, str))


def _targets_for(group, field_name: str, profile) -> tuple[str, ...]:
    """The datasets a size field applies to: sibling fields named like it that end in targets / target / pair
    (``reinit_size`` -> ``reinit_targets``, ``regularizer_sizes`` -> ``regularizer_targets`` and
    ``regularizer_large_targets``); else the group's ``targets``; else the profile's."""
    stem = field_name.rsplit("size", 1)[0].rstrip("_s")
    names = [f.name for f in dataclasses.fields(group)]
    siblings = [n for n in names if n.startswith(stem) and n.endswith(("targets", "target", "pair"))] if stem else []
    if not siblings and "targets" in names:
        siblings = ["targets"]
    if not siblings:
        return profile.targets
    return tuple(dict.fromkeys(name for s in siblings for name in _dataset_names(getattr(group, s))))


def profile_violations(profile) -> list[str]:
    """Every (field, dataset, size) where the profile asks for more training images per class than the dataset's
    training split holds (:func:`per_class_available`); datasets outside the real tier are not checked."""
    found = []
    for prefix, group in _groups(profile):
        for item in dataclasses.fields(group):
            value = getattr(group, item.name)
            sizes = value if isinstance(value, tuple) else (value,)
            per_class = item.name.endswith(("size", "sizes")) and "batch" not in item.name  # not batch_size
            if per_class and sizes and all(type(v) is int for v in sizes):
                cells = [(t, n) for t in _targets_for(group, item.name, profile) for n in sizes]
            elif isinstance(value, tuple) and value and all(
                    isinstance(c, tuple) and len(c) == 2 and isinstance(c[0], str) and type(c[1]) is int
                    for c in value):
                cells = list(value)  # (target, size) cells such as advice_cells
            elif isinstance(value, tuple) and value and all(
                    isinstance(c, tuple) and len(c) == 2 and isinstance(c[0], str) and isinstance(c[1], tuple)
                    and all(type(n) is int for n in c[1]) for c in value):
                cells = [(target, n) for target, ns in value for n in ns]  # (target, sizes) such as extra_sizes
            else:
                continue
            for target, size in cells:
                if target in REAL and size > (available := per_class_available(target, "train")):
                    found.append(f"{prefix}{item.name}: {target} has {available} per class, asked {size}")
    return sorted(set(found))


def test_the_violation_finder_walks_groups_and_cells():
    Group = dataclasses.make_dataclass("Group", [("targets", tuple), ("size", int)])
    Fake = dataclasses.make_dataclass("Fake", [("targets", tuple), ("sizes", tuple), ("reinit", Group),
                                               ("cells", tuple), ("bit_target", str), ("bit_size", int)])
    fake = Fake(("dtd", "glyphs_near"), (5, 45), Group(("flowers102",), 11), (("pets", 90),), "dtd", 40)
    assert profile_violations(fake) == ["cells: pets has 83 per class, asked 90",
                                        "reinit.size: flowers102 has 10 per class, asked 11",
                                        "sizes: dtd has 40 per class, asked 45"]
    Transfer = dataclasses.make_dataclass("Transfer", [("extra_sizes", tuple)])
    Wider = dataclasses.make_dataclass("Wider", [("targets", tuple), ("sizes", tuple), ("transfer", Transfer)])
    wider = Wider(("dtd",), (5,), Transfer((("dtd", (30, 45)), ("glyphs_near", (500,)))))
    assert profile_violations(wider) == ["transfer.extra_sizes: dtd has 40 per class, asked 45"]


@pytest.mark.parametrize("name", ["real", "real_smoke"])
def test_the_real_profiles_fit_their_datasets_training_splits(name):
    from tlcore.studies.profiles import PROFILES

    assert profile_violations(PROFILES[name]) == []
