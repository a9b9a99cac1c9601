import time

import numpy as np
import pytest
import torch
from PIL import Image

from tlcore import data
from tlcore.data.embedded import EMBEDDED, load_embedded
from tlcore.data.world import LOOKALIKE_THRESHOLD, _max_similarity, glyph_world
from tlcore.models import small_resnet


@pytest.mark.parametrize("name", list(EMBEDDED))
def test_embedded_datasets_have_declared_shapes_and_balanced_classes(name):
    train = data.load(name, "train", n_per_class=3, seed=0)
    test = data.load(name, "test", seed=0)
    assert train.images.shape == (3 * train.num_classes, 1, 32, 32)
    assert train.images.dtype == torch.float32
    assert 0.0 <= float(train.images.min()) and float(train.images.max()) <= 1.0
    assert (train.counts() == 3).all()
    assert (test.counts() == EMBEDDED[name].test_per_class).all()
    assert train.classes == test.classes


@pytest.mark.parametrize("name", ["glyphs_near", "textures_far", "digits_real"])
def test_a_dataset_is_a_pure_function_of_its_seed(name):
    first = load_embedded(name, "train", 4, seed=3)  # uncached builder: really rebuilt each time
    again = load_embedded(name, "train", 4, seed=3)
    other = load_embedded(name, "train", 4, seed=4)
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    assert not torch.equal(first.images, other.images)


def test_training_sets_of_one_seed_are_nested():
    small = load_embedded("glyphs_mid", "train", 2, seed=1)
    large = load_embedded("glyphs_mid", "train", 5, seed=1)
    for c in range(small.num_classes):
        assert torch.equal(small.images[small.labels == c], large.images[large.labels == c][:2])


def test_splits_differ_and_bundled_digits_splits_are_disjoint():
    train = data.load("digits_real", "train", 100, seed=0)
    val = data.load("digits_real", "val", seed=0)
    test = data.load("digits_real", "test", seed=0)
    rows = lambda d: {tuple(np.round(x.numpy().ravel(), 4)) for x in d.images}
    assert not rows(train) & rows(test) and not rows(val) & rows(test) and not rows(train) & rows(val)
    glyph_train, glyph_test = data.load("glyphs_near", "train", 5, seed=0), data.load("glyphs_near", "test", seed=0)
    assert not torch.equal(glyph_train.images[:5], glyph_test.images[:5])


def test_near_target_shares_no_letter_or_lookalike_with_the_source():
    world = glyph_world()
    source_chars = {c for group in world.source for c in group}
    for group in world.near:
        assert not source_chars & set(group)
        assert not source_chars & {c.swapcase() for c in group}
        assert _max_similarity(group, list(world.source)) < LOOKALIKE_THRESHOLD
    for group in world.mid:
        assert _max_similarity(group, list(world.source) + list(world.near)) < LOOKALIKE_THRESHOLD
    assert len(world.near) == 20 and len(world.mid) == 20 and len(world.source) >= 40


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"name": "imagenet22k"}, KeyError, "unknown dataset"),
        ({"name": "glyphs_near", "split": "holdout"}, ValueError, "unknown split"),
        ({"name": "glyphs_near", "n_per_class": 0}, ValueError, "positive integer"),
        ({"name": "digits_real", "n_per_class": 500}, ValueError, "only 134 training images"),
        ({"name": "glyphs_near", "image_size": 64}, TypeError, "no extra arguments"),
    ],
)
def test_bad_requests_fail_with_a_message_naming_the_problem(kwargs, error, message):
    with pytest.raises(error, match=message):
        data.load(**kwargs)


def test_image_dataset_rejects_nan_and_bad_labels():
    with pytest.raises(ValueError, match="NaN"):
        data.ImageDataset(torch.full((2, 1, 4, 4), float("nan")), torch.zeros(2, dtype=torch.long), ["a"])
    with pytest.raises(ValueError, match="labels"):
        data.ImageDataset(torch.zeros(2, 1, 4, 4), torch.tensor([0, 3]), ["a", "b"])
    with pytest.raises(ValueError, match="shape"):
        data.ImageDataset(torch.zeros(2, 4, 4), torch.zeros(2, dtype=torch.long), ["a"])


def test_missing_real_tier_dataset_fails_fast_and_says_how_to_get_it(tmp_path):
    import torchvision.datasets  # noqa: F401  (import time is not the failure's time)

    start = time.perf_counter()
    with pytest.raises(data.DatasetNotAvailable) as info:
        data.load("pets", "train", n_per_class=5, seed=0, root=tmp_path)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "pets" in message and str(tmp_path) in message and "download=True" in message


def image_folder(root, per_class: int = 8):
    generator = np.random.default_rng(0)
    for class_name in ("cat", "dog"):
        (root / class_name).mkdir()
        for i in range(per_class):
            pixels = (generator.random((20, 24, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / class_name / f"{i}.png")
    return f"folder:{root}"


def test_image_folders_load_through_the_real_tier_path(tmp_path):
    image_folder(tmp_path)
    kwargs = dict(image_size=16, val_per_class=2, test_per_class=2)
    train = data.load(f"folder:{tmp_path}", "train", n_per_class=3, seed=0, **kwargs)
    test = data.load(f"folder:{tmp_path}", "test", seed=0, **kwargs)
    image, label = train[0]
    assert image.shape == (3, 16, 16) and label in (0, 1)
    assert train.classes == ["cat", "dog"] and len(train) == 6 and len(test) == 4
    assert not set(train.indices) & set(test.indices)
    with pytest.raises(data.DatasetNotAvailable, match="does not exist"):
        data.load(f"folder:{tmp_path / 'nope'}", "train")


def test_a_folder_too_small_for_its_held_out_blocks_says_so_instead_of_loading_nothing(tmp_path):
    name = image_folder(tmp_path, per_class=6)
    with pytest.raises(ValueError, match="has 6 images.*leaves none for train"):
        data.load(name, "train", seed=0, val_per_class=2, test_per_class=4)
    assert len(data.load(name, "train", seed=0, val_per_class=2, test_per_class=2)) == 4


def test_features_of_a_training_split_are_read_without_its_random_augmentation(tmp_path):
    from tlcore.finetune.features import extract_features

    name = image_folder(tmp_path)
    kwargs = dict(image_size=16, val_per_class=2, test_per_class=2)
    train = data.load(name, "train", seed=0, **kwargs)
    torch.manual_seed(0)
    assert not torch.equal(train[0][0], train[0][0])  # random crops and flips when training
    torch.manual_seed(0)
    model = small_resnet(channels=(4, 8, 8, 8), num_classes=2, in_chans=3)
    first, labels = extract_features(model, train)
    again, _ = extract_features(model, train)
    assert torch.equal(first, again) and torch.equal(labels, train.labels)
    centre_cropped = torch.stack([train.evaluation_transform(train.base[int(i)][0]) for i in train.indices])
    with torch.no_grad():
        expected = model.eval().forward_head(model.forward_features(centre_cropped), pre_logits=True)
    torch.testing.assert_close(first, expected)
