import numpy as np
import pytest
import torch

from tlcore import data, models
from tlcore.finetune import LINEAR_PROBE, Protocol, evaluate, fit, random_shift
from tlcore.seeding import seed_everything
from factories import CountingDataset

QUICK = Protocol(lr=0.05, steps=12, batch_size=16, eval_every=4)


@pytest.fixture(scope="module")
def splits():
    return (data.load("glyphs_near", "train", 3, seed=0), data.load("glyphs_near", "val", seed=0),
            data.load("glyphs_near", "test", seed=0))


def _fit(splits, seed, protocol=QUICK):
    model = models.create("glyph_micro", num_classes=splits[0].num_classes, seed=seed)
    return model, fit(model, *splits, protocol=protocol, seed=seed, progress=False)


def test_same_seed_gives_identical_runs_and_another_seed_does_not(splits):
    _, first = _fit(splits, 0)
    _, again = _fit(splits, 0)
    _, other = _fit(splits, 1)
    assert first.history == again.history and first.test_accuracy == again.test_accuracy
    assert first.history != other.history


def test_record_is_tidy_and_selects_on_validation(splits):
    model, record = _fit(splits, 0)
    steps = [point["step"] for point in record.history]
    assert steps == [4, 8, 12]
    best = max(record.history, key=lambda p: p["val_accuracy"])
    assert record.val_accuracy == best["val_accuracy"] and record.best_step == best["step"]
    assert record.config["protocol"]["steps"] == 12 and record.seconds > 0
    assert evaluate(model, splits[1])[0] == pytest.approx(record.val_accuracy)  # the selected weights are kept


def test_test_split_is_read_once_after_training(splits):
    train, val, test = splits
    counted = CountingDataset(test.images, test.labels, test.classes, "counted", "test")
    CountingDataset.reads = 0
    _fit((train, val, counted), 0)
    assert CountingDataset.reads == 1


def test_linear_probe_leaves_the_backbone_untouched(splits):
    model = models.create("glyph_micro", num_classes=splits[0].num_classes, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, *splits, protocol=LINEAR_PROBE.with_(steps=8, eval_every=4), seed=0, progress=False)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"fc.weight", "fc.bias"}


def test_random_shift_moves_content_and_keeps_shape():
    generator = seed_everything(0)
    image = torch.zeros(1, 1, 8, 8)
    image[0, 0, 4, 4] = 1.0
    shifted = random_shift(image.repeat(64, 1, 1, 1), 2, generator)
    assert shifted.shape == (64, 1, 8, 8)
    assert torch.allclose(shifted.sum(dim=(1, 2, 3)), torch.ones(64))  # nothing falls off an interior pixel
    positions = {tuple(torch.nonzero(s[0])[0].tolist()) for s in shifted}
    assert len(positions) > 5 and all(2 <= r <= 6 and 2 <= c <= 6 for r, c in positions)


@pytest.mark.parametrize("change, message", [({"schedule": "wiggly"}, "unknown schedule"),
                                             ({"lr": -1.0}, "positive"), ({"label_smoothing": 1.5}, "label_smoothing")])
def test_bad_protocols_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        Protocol(**change)
    with pytest.raises(TypeError, match="unknown protocol field"):
        QUICK.with_(learning_rate=0.1)


def test_diverging_training_stops_with_a_clear_error(splits):
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        _fit(splits, 0, QUICK.with_(lr=1e12, steps=6))
