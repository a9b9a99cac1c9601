"""Protocols as data: stages, freezing, re-initialisation, learning-rate groups, schedules, LP-FT, MixUp, recipes."""
import math

import pytest
import timm
import torch
from factories import data, tiny

from tlcore.finetune import (Protocol, StepContext, TrainingPlan, TransferRegularizer, UnknownFieldError,
    bit_hyperrule, fit, frozen_stages, linear_probe_then_finetune, model_stages, parameter_groups,
    reinitialize_from_stage, transfer_first_stages)
from tlcore.finetune import mixup
from tlcore.finetune.augment import mixup_cross_entropy, sample_beta
from tlcore.finetune.schedules import lr_factor

QUICK = Protocol(lr=0.05, steps=6, batch_size=16, eval_every=3)


TRAIN, VAL = data(64, 1), data(24, 2)


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --- stages -------------------------------------------------------------------------------------------------------

def test_small_resnet_has_four_stages_with_the_stem_in_stage_zero():
    stages = model_stages(tiny())
    assert [s.output for s in stages] == ["layer1", "layer2", "layer3", "layer4"]
    assert {"conv1.weight", "bn1.weight", "bn1.bias"} <= set(stages[0].parameter_names)
    names = [n for s in stages for n in s.parameter_names]
    assert len(names) == len(set(names))
    assert set(names) == {n for n, _ in tiny().named_parameters()} - {"fc.weight", "fc.bias"}


@pytest.mark.parametrize("name, kwargs, count, last_output", [
    ("resnet10t", {}, 4, "layer4"),
    ("vit_tiny_patch16_224", {"img_size": 32, "patch_size": 8, "depth": 3}, 3, "norm"),
])
def test_stages_of_timm_models_cover_the_backbone(name, kwargs, count, last_output):
    model = timm.create_model(name, num_classes=3, **kwargs)
    stages = model_stages(model)
    assert len(stages) == count and stages[-1].output == last_output
    head = {id(p) for p in model.get_classifier().parameters()}
    covered = {id(p) for s in stages for p in s.params()}
    assert covered == {id(p) for p in model.parameters()} - head


# --- validation of bad input ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"lp_steps": 6}, "lp_steps"), ({"lp_steps": -1}, "lp_steps"), ({"freeze_stages": -1}, "freeze_stages"),
    ({"reinit_from_stage": -2}, "reinit_from_stage"), ({"freeze_stages": 3, "reinit_from_stage": 1}, "re-initialised"),
    ({"layer_decay": 0.0}, "layer_decay"), ({"stage_lr_scales": (1, 0)}, "stage_lr_scales"),
    ({"warmup_steps": 6}, "warmup_steps"), ({"mixup_alpha": -0.1}, "mixup_alpha"), ({"patience": -1}, "patience"),
    ({"lp_steps": 2, "train_backbone": False}, "train_backbone"),
])
def test_bad_protocol_values_raise_value_errors_naming_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        QUICK.with_(**change)


def test_unknown_fields_raise_a_value_error_that_names_them():
    with pytest.raises(ValueError, match="freeze_layers"):
        QUICK.with_(freeze_layers=2)
    with pytest.raises(UnknownFieldError, match="momentumm"):
        Protocol.from_dict({**QUICK.to_dict(), "momentumm": 0.9})
    assert Protocol.from_dict(QUICK.with_(stage_lr_scales=[1, 2, 3, 4]).to_dict()) == QUICK.with_(
        stage_lr_scales=(1, 2, 3, 4))


@pytest.mark.parametrize("change", [{"freeze_stages": 5}, {"reinit_from_stage": 5}, {"stage_lr_scales": (1, 1)}])
def test_stage_options_out_of_range_for_the_model_raise(change):
    with pytest.raises(ValueError, match="stage"):
        TrainingPlan(tiny(), QUICK.with_(**change))


def test_key_dict_leaves_out_new_fields_while_they_are_off():
    assert set(Protocol().key_dict()) == set(Protocol().to_dict()) - {
        "lp_steps", "freeze_stages", "reinit_from_stage", "layer_decay", "stage_lr_scales", "warmup_steps",
        "mixup_alpha", "patience"}
    assert Protocol(freeze_stages=2).key_dict()["freeze_stages"] == 2


# --- learning-rate groups -----------------------------------------------------------------------------------------

def test_default_groups_are_head_then_backbone():
    model = tiny()
    groups = parameter_groups(model, Protocol(lr=0.1, head_lr_scale=10.0))
    assert [g["name"] for g in groups] == ["head", "backbone"]
    assert [g["lr"] for g in groups] == [pytest.approx(1.0), 0.1]
    assert len(groups[1]["params"]) == len(list(model.parameters())) - 2


def test_layer_decay_follows_timm_layer_ids_and_stage_scales_multiply():
    model = tiny()
    protocol = Protocol(lr=1.0, layer_decay=0.5, stage_lr_scales=(1.0, 2.0, 1.0, 1.0))
    lrs = {}
    for group in parameter_groups(model, protocol):
        for p in group["params"]:
            lrs[id(p)] = group["lr"]
    named = dict(model.named_parameters())
    # timm's fine matcher: stem = layer 0, layer1.0 .. layer4.0 = layers 1..4, the head = layer 5 (scale 1)
    assert lrs[id(named["conv1.weight"])] == pytest.approx(0.5 ** 5)  # stage 0 (the stem's stage): scale 1
    assert lrs[id(named["layer1.0.conv1.weight"])] == pytest.approx(0.5 ** 4)
    assert lrs[id(named["layer2.0.conv1.weight"])] == pytest.approx(0.5 ** 3 * 2.0)  # stage 1: scale 2
    assert lrs[id(named["layer4.0.conv1.weight"])] == pytest.approx(0.5)
    assert lrs[id(named["fc.weight"])] == pytest.approx(1.0)
    assert len(lrs) == len(named)


def test_frozen_stages_get_no_group():
    model = tiny()
    groups = parameter_groups(model, Protocol(freeze_stages=2))
    trained = {id(p) for g in groups for p in g["params"]}
    stages = model_stages(model)
    assert not trained & {id(p) for s in stages[:2] for p in s.params()}
    assert {id(p) for s in stages[2:] for p in s.params()} <= trained


# --- freezing, re-initialisation, LP-FT -----------------------------------------------------------------------------

def test_frozen_stages_are_bitwise_unchanged_and_the_rest_trains():
    model = tiny()
    before = snapshot(model)
    fit(model, TRAIN, VAL, protocol=frozen_stages(2, base=QUICK), progress=False)
    after = model.state_dict()
    stages = model_stages(model)
    frozen = {f"{n}." for s in stages[:2] for n, _ in s.modules}
    frozen_keys = [k for k in before if any(k.startswith(prefix) for prefix in frozen)]
    assert frozen_keys and all(torch.equal(before[k], after[k]) for k in frozen_keys)  # BN statistics included
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("layer3"))
    assert all(p.requires_grad for p in model.parameters())  # fit switches requires_grad back on


def test_reinitialisation_replaces_later_stages_only_and_is_seeded():
    model = tiny()
    before = snapshot(model)
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.add_(1.0)  # "pretrained": weights and BN statistics far from any fresh initialisation
    moved = snapshot(model)
    replaced = reinitialize_from_stage(model, 2, seed=7)
    after = model.state_dict()
    assert "layer3.0.bn1.running_mean" in replaced and "layer2.0.conv1.weight" not in replaced
    for k in after:
        if k.startswith(("layer3", "layer4")) and "num_batches" not in k:
            assert not torch.equal(after[k], moved[k]), k
        else:
            assert torch.equal(after[k], moved[k]), k
    assert torch.all(after["layer3.0.bn1.running_mean"] == 0)
    assert torch.all(after["layer3.0.bn1.weight"] == 1)  # the module's own init, not the shifted weights
    # timm's init_weights: the last BN of each residual branch starts at zero
    assert torch.all(after["layer3.0.bn2.weight"] == 0)
    again = tiny()
    again.load_state_dict(moved)
    reinitialize_from_stage(again, 2, seed=7)
    assert all(torch.equal(again.state_dict()[k], after[k]) for k in after)
    # a fresh stage's weights do not depend on where re-initialisation starts
    other = tiny()
    other.load_state_dict(moved)
    reinitialize_from_stage(other, 3, seed=7)
    assert torch.equal(other.layer4[0].conv1.weight, after["layer4.0.conv1.weight"])
    del before


def test_transfer_first_stages_recipe_reinitialises_and_trains():
    model = tiny()
    before = snapshot(model)
    fit(model, TRAIN, VAL, protocol=transfer_first_stages(3, freeze=True, base=QUICK), progress=False)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("conv1", "bn1", "layer1")))
    assert not torch.equal(before["layer4.0.conv1.weight"], after["layer4.0.conv1.weight"])


class Recorder(TransferRegularizer):
    """Keeps a copy of some tensors at every step (the penalty is computed before that step's update)."""

    def __init__(self, model):
        super().__init__()
        self.seen, self.model = [], [model]

    def penalty(self, ctx: StepContext) -> torch.Tensor:
        model = self.model[0]
        # the shortcut conv: timm zero-initialises the last BN of each branch, so branch convs start without gradient
        self.seen.append((ctx.step, model.layer2[0].downsample[0].weight.detach().clone(),
                          model.layer2[0].bn1.running_mean.clone(), model.fc.weight.detach().clone()))
        return ctx.logits.new_zeros(())


def test_lp_ft_keeps_the_backbone_frozen_in_the_probe_phase():
    model = tiny()
    recorder = Recorder(model)
    protocol = linear_probe_then_finetune(0.5, base=QUICK)
    assert protocol.lp_steps == 3
    fit(model, TRAIN, VAL, protocol=protocol, regularizers=[(1.0, recorder)], progress=False)
    steps = {step: rest for step, *rest in recorder.seen}
    start_weight, start_stats, start_head = steps[1]
    for step in (2, 3, 4):  # the weights seen at step 4 are those after the three probe updates
        assert torch.equal(steps[step][0], start_weight)
    for step in (2, 3):  # BatchNorm statistics stay the source's while probing (step 4's forward trains them)
        assert torch.equal(steps[step][1], start_stats)
    assert not torch.equal(steps[4][1], start_stats)
    assert not torch.equal(steps[2][2], start_head)  # the head learns from the first step
    assert not torch.equal(steps[5][0], start_weight)  # then the backbone


# --- schedules ------------------------------------------------------------------------------------------------------

def test_schedules():
    step = lr_factor(Protocol(steps=100, schedule="step"))
    assert [step(t) for t in (0, 29, 30, 59, 60, 90, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.001, 0.001])
    assert lr_factor(Protocol(steps=100, schedule="constant"))(77) == 1.0
    cosine = lr_factor(Protocol(steps=100))
    assert cosine(0) == 1.0 and cosine(50) == pytest.approx(0.5) and cosine(100) == pytest.approx(0.0)
    warm = lr_factor(Protocol(steps=100, schedule="constant", warmup_steps=10))
    assert [warm(t) for t in (0, 5, 10, 50)] == pytest.approx([0.0, 0.5, 1.0, 1.0])
    lpft = lr_factor(Protocol(steps=100, lp_steps=20, schedule="step"))
    assert [lpft(t) for t in (0, 19, 20, 43, 44)] == pytest.approx([1, 1, 1, 1, 0.1])  # 30% of the 80 FT steps


def test_bit_hyperrule_scales_steps_and_thresholds():
    small, medium, large = bit_hyperrule(500), bit_hyperrule(5_000), bit_hyperrule(100_000)
    assert (small.steps, medium.steps, large.steps) == (200, 4000, 8000)  # 500/10k/20k * 0.05 * 512/64
    assert (small.warmup_steps, medium.warmup_steps, large.warmup_steps) == (40, 200, 200)
    assert (small.mixup_alpha, medium.mixup_alpha, large.mixup_alpha) == (0.0, 0.1, 0.1)
    assert small.schedule == "step" and small.lr == 0.003 and small.select == "last"
    unscaled = bit_hyperrule(19_999, scale=1.0, batch_size=512)
    assert unscaled.steps == 500 and bit_hyperrule(20_000, scale=1.0, batch_size=512).steps == 10_000
    assert bit_hyperrule(500, lr=0.01).lr == 0.01


# --- MixUp ----------------------------------------------------------------------------------------------------------

def test_mixup_is_a_convex_mix_and_deterministic_under_the_generator():
    x, y = torch.rand(8, 1, 4, 4), torch.arange(8)
    first = mixup(x, y, 0.4, torch.Generator().manual_seed(3))
    again = mixup(x, y, 0.4, torch.Generator().manual_seed(3))
    assert torch.equal(first.inputs, again.inputs) and first.lam == again.lam
    assert 0.0 <= first.lam <= 1.0
    assert torch.allclose(first.inputs, first.lam * x + (1 - first.lam) * x[first.permutation])
    logits = torch.randn(8, 8)
    expected = (first.lam * torch.nn.functional.cross_entropy(logits, y)
                + (1 - first.lam) * torch.nn.functional.cross_entropy(logits, y[first.permutation]))
    assert torch.allclose(mixup_cross_entropy(logits, first), expected)


def test_beta_draws_have_the_right_mean_and_spread():
    g = torch.Generator().manual_seed(0)
    draws = torch.tensor([sample_beta(0.2, g) for _ in range(4000)])
    assert draws.mean() == pytest.approx(0.5, abs=0.03)
    assert draws.var() == pytest.approx(1 / (4 * (2 * 0.2 + 1)), abs=0.02)  # var of Beta(a, a)


def test_fit_with_mixup_is_deterministic_under_seed():
    runs = []
    for seed in (0, 0, 1):
        model = tiny()
        fit(model, TRAIN, VAL, protocol=QUICK.with_(mixup_alpha=0.4), seed=seed, progress=False)
        runs.append(model.fc.weight.detach().clone())
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
    assert math.isfinite(float(runs[0].sum()))
