"""The extended loop: default behaviour unchanged, checkpoint/resume, early stopping, execution options."""
import json
import math

import pytest
import torch
import torch.nn.functional as F
from factories import CountingDataset, data, flushes_subnormals, tiny
from torch.utils.data import Dataset

from tlcore import data as datasets
from tlcore import models
from tlcore.finetune import LINEAR_PROBE, Protocol, StepContext, TransferRegularizer, evaluate, fit, random_shift
from tlcore.finetune.checkpoint import INDEX_FILE
from tlcore.regularizers import L2SP, CoTuning
from tlcore.seeding import seed_everything

QUICK = Protocol(lr=0.05, steps=9, batch_size=16, eval_every=3)


TRAIN, VAL, TEST = data(72, 1), data(24, 2), data(24, 3)


def plain_loop(model, protocol, seed):
    """The original algorithm written out: seeded batches, shifts, SGD, cosine schedule, best-val selection."""
    generator = seed_everything(seed)
    optimizer = torch.optim.SGD([{"params": list(model.fc.parameters())},
                                 {"params": [p for n, p in model.named_parameters() if not n.startswith("fc.")]}],
                                lr=protocol.lr, momentum=protocol.momentum)
    total = protocol.steps
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    per_epoch, order, best, state = len(TRAIN) // protocol.batch_size, None, -1.0, None
    for step in range(1, total + 1):
        position = (step - 1) % per_epoch
        if position == 0:
            order = torch.randperm(len(TRAIN), generator=generator)
        index = order[position * protocol.batch_size:(position + 1) * protocol.batch_size]
        model.train()
        inputs = random_shift(TRAIN.images[index], 2, generator)
        loss = F.cross_entropy(model(inputs), TRAIN.labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % protocol.eval_every == 0:
            accuracy = evaluate(model, VAL)[0]
            if accuracy > best:
                best, state = accuracy, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)


def test_default_protocol_trains_exactly_as_the_plain_algorithm():
    ours, reference = tiny(), tiny()
    fit(ours, TRAIN, VAL, protocol=QUICK, seed=4, progress=False)
    plain_loop(reference, QUICK, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), reference.state_dict().values()))


class Interrupt(Exception):
    pass


class Interrupter(TransferRegularizer):
    """Adds nothing; raises at ``fail_at`` to simulate a killed run."""

    def __init__(self, fail_at=None):
        super().__init__()
        self.fail_at = fail_at

    def penalty(self, ctx: StepContext) -> torch.Tensor:
        if ctx.step == self.fail_at:
            raise Interrupt
        return ctx.logits.new_zeros(())


class NoImages(Dataset):
    """A dataset without an ``images`` tensor, so the loop goes through a DataLoader."""

    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        return self.base[i]


def _resumable_run(tmp_path, fail_at, train=TRAIN):
    model = tiny()
    source = tiny(num_classes=7, seed=1)
    regularizers = [(0.1, L2SP(model)), (0.5, CoTuning.from_source_model(source, TRAIN, method="direct")),
                    (1.0, Interrupter(fail_at))]
    protocol = QUICK.with_(steps=12, eval_every=4, mixup_alpha=0.3, lp_steps=2, weight_decay=1e-3, batch_size=20)
    record = fit(model, train, VAL, TEST, protocol=protocol, regularizers=regularizers, seed=2, progress=False,
                 checkpoint_path=tmp_path)
    return model, record, regularizers[1][1]


@pytest.mark.parametrize("through_loader", [False, True])
def test_resuming_from_a_checkpoint_ends_with_the_uninterrupted_weights(tmp_path, through_loader):
    train = NoImages(TRAIN) if through_loader else TRAIN
    straight, straight_record, straight_cotuning = _resumable_run(tmp_path / "a", None, train)
    with pytest.raises(Interrupt):
        _resumable_run(tmp_path / "b", 6, train)  # killed after the checkpoint of step 4, mid-epoch
    index = json.loads((tmp_path / "b" / INDEX_FILE).read_text())
    assert index["step"] == 4 and len(list((tmp_path / "b").glob("state-*.safetensors"))) == 1
    resumed, resumed_record, resumed_cotuning = _resumable_run(tmp_path / "b", None, train)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(straight_cotuning.source_head.weight, resumed_cotuning.source_head.weight)
    assert straight_record.history == resumed_record.history
    assert straight_record.test_accuracy == resumed_record.test_accuracy
    assert not list((tmp_path / "b").glob(".*"))  # no temporary files left behind


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    fit(tiny(), TRAIN, VAL, protocol=QUICK, seed=0, progress=False, checkpoint_path=tmp_path)
    with pytest.raises(ValueError, match="different run"):
        fit(tiny(), TRAIN, VAL, protocol=QUICK, seed=1, progress=False, checkpoint_path=tmp_path)


def test_a_finished_checkpoint_gives_the_same_record_again(tmp_path):
    model = tiny()
    first = fit(model, TRAIN, VAL, TEST, protocol=QUICK, progress=False, checkpoint_path=tmp_path)
    again_model = tiny(seed=5)
    again = fit(again_model, TRAIN, VAL, TEST, protocol=QUICK, progress=False, checkpoint_path=tmp_path)
    assert again.history == first.history and again.test_accuracy == first.test_accuracy
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again_model.state_dict().values()))


def test_early_stopping_watches_validation_and_reads_the_test_split_once():
    counted = CountingDataset(TEST.images, TEST.labels, TEST.classes, "counted", "test")
    CountingDataset.reads = 0
    record = fit(tiny(), TRAIN, VAL, counted, protocol=QUICK.with_(steps=60, eval_every=1, patience=2, lr=1e-6),
                 progress=False)
    assert CountingDataset.reads == 1
    accuracies = [p["val_accuracy"] for p in record.history]
    assert len(accuracies) < 60
    best = max(accuracies)
    assert all(a <= best for a in accuracies[-2:]) and accuracies.index(best) == len(accuracies) - 3
    assert record.best_step == accuracies.index(best) + 1


def test_regularizer_parameters_are_trained_and_flags_restored():
    model, source = tiny(), tiny(num_classes=7, seed=1)
    cotuning = CoTuning.from_source_model(source, TRAIN, method="direct")
    start = cotuning.source_head.weight.detach().clone()
    model.layer1.requires_grad_(False)  # frozen by hand: fit respects it and leaves it so
    fit(model, TRAIN, VAL, protocol=QUICK.with_(train_backbone=False), regularizers=[(1.0, cotuning)],
        progress=False)
    assert not torch.equal(start, cotuning.source_head.weight)
    assert all(p.requires_grad for n, p in model.named_parameters() if not n.startswith("layer1"))
    assert not any(p.requires_grad for p in model.layer1.parameters())


def test_amp_and_channels_last_paths_run_when_asked_for():
    # On CUDA both are on by default; on the CPU amp is off unless asked for, as here to exercise the code path.
    model = tiny(channels=(8, 8, 8, 8))
    record = fit(model, TRAIN, VAL, protocol=QUICK.with_(steps=3), amp=True, channels_last=True, progress=False)
    assert math.isfinite(record.history[-1]["train_loss"])
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)


class FlushWitness(TransferRegularizer):
    """Adds nothing to the loss; notes at every step whether subnormals are flushed."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def penalty(self, ctx: StepContext) -> torch.Tensor:
        self.seen.append(flushes_subnormals())
        return ctx.logits.new_zeros(())


@pytest.mark.parametrize("flush", [True, False])
def test_subnormals_are_flushed_while_training_only_and_only_if_asked(flush):
    assert not flushes_subnormals()
    witness = FlushWitness()
    fit(tiny(), TRAIN, VAL, protocol=QUICK.with_(steps=3), regularizers=[(1.0, witness)], flush_subnormals=flush,
        progress=False)
    assert witness.seen == [flush] * 3
    assert not flushes_subnormals()  # torch's default again after the run


def test_channels_last_is_the_cpu_default_except_where_onednn_would_corrupt_memory():
    from tlcore.finetune.loop import nhwc_unsafe_on_cpu
    from tlcore.models import ZOO

    assert nhwc_unsafe_on_cpu(ZOO["glyph_resnet_narrow"].build(20)) is None
    assert nhwc_unsafe_on_cpu(ZOO["glyph_micro"].build(20)) is None
    unsafe = tiny()  # 4 channels into a strided 1x1 downsample
    assert "4 input channels" in nhwc_unsafe_on_cpu(unsafe)
    fit(unsafe, TRAIN, VAL, protocol=QUICK.with_(steps=3), progress=False)
    assert not unsafe.layer1[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="corrupt memory"):
        fit(tiny(), TRAIN, VAL, protocol=QUICK.with_(steps=3), channels_last=True, progress=False)
    safe = tiny(channels=(8, 8, 8, 8))
    fit(safe, TRAIN, VAL, protocol=QUICK.with_(steps=3), progress=False)
    assert safe.layer1[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)


def test_compiled_forward_trains_like_the_eager_one():
    eager, compiled = tiny(), tiny()
    fit(eager, TRAIN, VAL, protocol=QUICK.with_(steps=3), progress=False)
    fit(compiled, TRAIN, VAL, protocol=QUICK.with_(steps=3), compile="eager", progress=False)
    for a, b in zip(eager.state_dict().values(), compiled.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5)


def test_an_early_stopped_checkpoint_stays_stopped(tmp_path):
    protocol = QUICK.with_(steps=60, eval_every=1, patience=2, lr=1e-6)
    model = tiny()
    first = fit(model, TRAIN, VAL, protocol=protocol, progress=False, checkpoint_path=tmp_path)
    assert len(first.history) < 60
    again_model = tiny(seed=3)
    again = fit(again_model, TRAIN, VAL, protocol=protocol, progress=False, checkpoint_path=tmp_path)
    assert again.history == first.history
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again_model.state_dict().values()))

ZOO_QUICK = Protocol(lr=0.05, steps=12, batch_size=16, eval_every=4)


@pytest.fixture(scope="module")
def splits():
    """A real zoo target's three splits, for the tests that need a glyph model rather than random tensors."""
    return (datasets.load("glyphs_near", "train", 3, seed=0), datasets.load("glyphs_near", "val", seed=0),
            datasets.load("glyphs_near", "test", seed=0))


def _fit(splits, seed, protocol=ZOO_QUICK):
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
        ZOO_QUICK.with_(learning_rate=0.1)


def test_diverging_training_stops_with_a_clear_error(splits):
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        _fit(splits, 0, ZOO_QUICK.with_(lr=1e12, steps=6))


class Recorder(TransferRegularizer):
    """Adds nothing; records the calls ``fit`` makes to attach and detach it."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def attach(self, model):
        self.calls.append("attach")

    def detach(self):
        self.calls.append("detach")

    def penalty(self, ctx: StepContext) -> torch.Tensor:
        return ctx.logits.new_zeros(())


def test_set_up_and_tear_down_are_undone_even_when_set_up_fails(tmp_path):
    from tlcore.normalization import convert_to_stochnorm

    fit(tiny(), TRAIN, VAL, protocol=QUICK, seed=0, progress=False, checkpoint_path=tmp_path)
    model = convert_to_stochnorm(tiny(), 0.5)
    stochastic = [m for m in model.modules() if getattr(m, "uses_loop_generator", False)]
    previous = [m.generator for m in stochastic]
    recorder = Recorder()
    with pytest.raises(ValueError, match="different run"):  # raised while resuming, before training starts
        fit(model, TRAIN, VAL, protocol=QUICK.with_(train_backbone=False), regularizers=[(1.0, recorder)], seed=1,
            progress=False, checkpoint_path=tmp_path)
    assert recorder.calls == []  # never attached, so never detached
    assert all(p.requires_grad for p in model.parameters())
    assert [m.generator for m in stochastic] == previous and stochastic
    fit(model, TRAIN, VAL, protocol=QUICK.with_(steps=3), regularizers=[(1.0, recorder)], progress=False)
    assert recorder.calls == ["attach", "detach"]
    assert [m.generator for m in stochastic] == previous
