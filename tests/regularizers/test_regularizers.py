"""Each regulariser's value and gradient against a closed form on tiny tensors and models."""
import copy
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from factories import data, tiny
from torch import nn

from tlcore.finetune import Protocol, StepContext, fit, model_stages
from tlcore.regularizers import BSS, DELTA, L2, L2SP, CoTuning, LwF, SampleBased, channel_attention, learn_relationship
from tlcore.regularizers.delta import _ablated_losses, _ablated_losses_by_full_forward, fit_linear_head

QUICK = Protocol(lr=0.05, steps=4, batch_size=16, eval_every=2)


TRAIN, VAL = data(64, 1), data(16, 2)


def context(model, inputs, labels, step=1):
    features = model.forward_head(model.forward_features(inputs), pre_logits=True)
    return StepContext(model, inputs, labels, features, model.get_classifier()(features), step)


def grads(loss, params):
    return torch.autograd.grad(loss, params)


# --- L2, L2-SP ------------------------------------------------------------------------------------------------------

def test_l2_is_half_the_squared_norm_with_gradient_w():
    model = tiny()
    head = list(model.get_classifier().parameters())
    l2 = L2(model.get_classifier())
    value = l2.penalty(None)
    assert torch.allclose(value, 0.5 * sum(p.pow(2).sum() for p in head))
    for g, p in zip(grads(value, head), head):
        assert torch.allclose(g, p)


def test_l2sp_is_zero_at_the_start_positive_after_a_step_with_gradient_w_minus_w0():
    model = tiny()
    l2sp = L2SP(model)
    backbone = [p for n, p in model.named_parameters() if not n.startswith("fc.")]
    assert len(l2sp.tensors) == len(backbone)  # the head is not a transferred weight
    assert l2sp.penalty(None).item() == 0.0
    start = [p.detach().clone() for p in backbone]
    fit(model, TRAIN, VAL, protocol=QUICK, regularizers=[(0.1, l2sp)], progress=False)
    value = l2sp.penalty(None)
    assert value.item() > 0
    assert torch.allclose(value, 0.5 * sum((p - s).pow(2).sum() for p, s in zip(backbone, start)))
    for g, p, s in zip(grads(value, backbone), backbone, start):
        assert torch.allclose(g, p - s)
    # usable on plain tensors
    w, w0 = [torch.ones(2, 2)], [torch.zeros(2, 2)]
    assert l2sp(w, w0).item() == 2.0


def test_per_stage_l2sp_and_l2_split_the_backbone():
    model = tiny()
    lower, upper = L2SP(model, stages=[0, 1]), L2(model, stages=[2, 3])
    stages = model_stages(model)
    assert [id(p) for p in lower.tensors] == [id(p) for s in stages[:2] for p in s.params()]
    assert [id(p) for p in upper.tensors] == [id(p) for s in stages[2:] for p in s.params()]
    with pytest.raises(ValueError, match="out of range"):
        L2SP(model, stages=[4])


# --- DELTA ----------------------------------------------------------------------------------------------------------

def stage_maps(model, x):
    """The four stage outputs of a small ResNet, written out."""
    x = model.maxpool(model.act1(model.bn1(model.conv1(x))))
    maps = []
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = layer(x)
        maps.append(x)
    return maps


def test_delta_without_attention_matches_the_feature_map_distance():
    source = tiny()
    target = copy.deepcopy(source)
    delta = DELTA(source, attention=False)
    x, y = TRAIN.images[:8], TRAIN.labels[:8]
    delta.attach(target)
    try:
        target.eval()  # in train mode BatchNorm would use batch statistics where the frozen source uses its own
        assert delta.penalty(context(target, x, y)).item() == 0.0
        target.train()
        with torch.no_grad():
            for p in target.parameters():
                p.add_(0.05 * torch.randn_like(p))
        value = delta.penalty(context(target, x, y))
    finally:
        delta.detach()
    with torch.no_grad():
        source_maps = stage_maps(source.eval(), x)
    closed = sum((t - s).pow(2).mean((2, 3)).sum(1).mean() for t, s in zip(stage_maps(target, x), source_maps))
    assert torch.allclose(value, closed, rtol=1e-5)
    params = list(target.parameters())[:6]
    for a, b in zip(grads(value, params), grads(closed, params)):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


def test_delta_costs_one_source_forward_without_gradients():
    source = tiny()
    delta = DELTA(source, attention=False)
    target = copy.deepcopy(source)
    calls = []
    delta.source.module.conv1.register_forward_hook(lambda m, i, o: calls.append(o.requires_grad))
    delta.attach(target)
    try:
        delta.penalty(context(target, TRAIN.images[:4], TRAIN.labels[:4]))
    finally:
        delta.detach()
    assert calls == [False]


def test_delta_attention_is_the_normalised_loss_increase_of_removed_channels():
    source = tiny()
    images, labels = TRAIN.images[:48], TRAIN.labels[:48]
    last = model_stages(source)[3:]
    weights = channel_attention(source, images, labels, last, temperature=5.0)[0]
    # closed form for the last stage: zero channel j of layer4's output, pool, target head, cross-entropy
    source.eval()
    with torch.no_grad():
        before = source.forward_features(images)
        pooled = lambda maps: source.forward_head(maps, pre_logits=True)
        head = fit_linear_head(pooled(before), labels)
        base = F.cross_entropy(head(pooled(before)), labels)
        increases = []
        for j in range(before.shape[1]):
            zeroed = before.clone()
            zeroed[:, j] = 0
            increases.append(float(F.cross_entropy(head(pooled(zeroed)), labels) - base))
    increase = torch.tensor(increases, dtype=torch.float64)
    z = (increase - increase.mean()) / increase.std(unbiased=False)
    expected = len(increase) * torch.softmax(z / 5.0, 0)
    assert torch.allclose(weights.double(), expected, atol=1e-5)
    assert weights.mean().item() == pytest.approx(1.0) and int(weights.argmax()) == int(increase.argmax())


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_stacked_channel_ablations_equal_one_full_forward_per_channel(stage):
    source = tiny().eval()
    images, labels = TRAIN.images[:40], TRAIN.labels[:40]
    module = source.get_submodule(model_stages(source)[stage].output)
    channels = stage_maps(source, images[:1])[stage].shape[1]
    # The source's own classifier as the head. Batches of 16 (the last one short) and few copies per forward: several groups and batches are summed.
    rows = []
    handle = source.conv1.register_forward_hook(lambda m, i, output: rows.append(len(output)))
    stacked = _ablated_losses(source, module, channels, images, labels, torch.device("cpu"), batch_size=16,
                              max_stacked_elements=3 * 16 * 8 * 8 * 8)
    handle.remove()
    full = _ablated_losses_by_full_forward(source, module, channels, images, labels, torch.device("cpu"))
    assert stacked.shape == (channels + 1,)
    torch.testing.assert_close(stacked, full, rtol=1e-5, atol=1e-6)
    # The stem never sees the stacked copies, and runs fewer times than once per ablation.
    assert max(rows) <= 16 and sum(rows) < (channels + 1) * len(images)


@pytest.mark.parametrize("downstream", ["reuses_the_input", "mixes_the_batch"])
def test_stacked_ablations_fall_back_when_later_layers_cannot_take_them(downstream):
    conv, head = nn.Conv2d(1, 3, 3), nn.Linear(3, 4)
    torch.manual_seed(0)

    def logits(x):
        pooled = conv(x).mean((2, 3))
        if downstream == "reuses_the_input":  # a skip from before the ablated module: batch sizes disagree
            return head(pooled) + x.mean((1, 2, 3))[:, None]
        return head(pooled - pooled.mean(0))  # batch statistics: the stacked copies would shift each other

    images, labels = torch.rand(10, 1, 6, 6), torch.arange(10) % 4
    stacked = _ablated_losses(logits, conv, 3, images, labels, torch.device("cpu"))
    full = _ablated_losses_by_full_forward(logits, conv, 3, images, labels, torch.device("cpu"))
    torch.testing.assert_close(stacked, full)


def test_delta_attention_weights_the_distance_and_is_deterministic():
    source = tiny()
    first, again = DELTA(source, TRAIN), DELTA(source, TRAIN)
    target = copy.deepcopy(source).eval()
    first.attach(target)
    try:  # the attention's own forward passes leave nothing behind: the first penalty sees this batch
        assert first.penalty(context(target, TRAIN.images[:4], TRAIN.labels[:4])).item() == 0.0
    finally:
        first.detach()
    assert all(torch.equal(a, b) for a, b in zip(first.weights, again.weights))
    assert [len(w) for w in first.weights] == [4, 8, 8, 8]
    target_maps = [torch.randn(2, len(w), 3, 3) for w in first.weights]
    source_maps = [torch.zeros_like(m) for m in target_maps]
    closed = sum((m.pow(2).mean((2, 3)) * w).sum(1).mean() for m, w in zip(target_maps, first.weights))
    assert torch.allclose(first(target_maps, source_maps), closed)
    with pytest.raises(ValueError, match="data"):
        DELTA(source)


# --- BSS ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, k", [((8, 16), 1), ((16, 8), 1), ((12, 5), 3), ((6, 6), 2)])
def test_bss_is_the_sum_of_the_smallest_squared_singular_values(shape, k):
    features = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0),
                           requires_grad=True)
    value = BSS(k)(features)
    reference = torch.linalg.svdvals(features).pow(2).sort().values[:k].sum()
    assert torch.allclose(value, reference, rtol=1e-8)
    assert torch.allclose(grads(value, [features])[0], grads(reference, [features])[0], rtol=1e-6, atol=1e-9)


def test_bss_rejects_bad_k():
    with pytest.raises(ValueError, match="k"):
        BSS(0)
    with pytest.raises(ValueError, match="exceeds"):
        BSS(5)(torch.randn(4, 8))


# --- Co-Tuning ------------------------------------------------------------------------------------------------------

def test_direct_relationship_is_the_class_average_of_source_predictions():
    logits, labels = torch.randn(30, 6), torch.arange(30) % 3
    relation = learn_relationship(logits, labels, method="direct")
    probabilities = torch.softmax(logits, 1)
    for t in range(3):
        assert torch.allclose(relation[t], probabilities[labels == t].mean(0), atol=1e-6)


def test_calibrated_relationship_recovers_a_planted_mapping():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(90) % 3
    logits = torch.randn(90, 6, generator=g)
    logits[torch.arange(90), 2 * labels] += 4.0  # target class t looks like source classes 2t and 2t+1
    logits[torch.arange(90), 2 * labels + 1] += 3.0
    relation = learn_relationship(logits, labels, method="calibrated")
    assert relation.shape == (3, 6) and torch.allclose(relation.sum(1), torch.ones(3)) and (relation >= 0).all()
    for t in range(3):
        assert relation[t, 2 * t] + relation[t, 2 * t + 1] > 0.8
    with pytest.raises(ValueError, match="method"):
        learn_relationship(logits, labels, method="reverse")


def test_cotuning_loss_and_gradient_are_the_soft_cross_entropy():
    relation = torch.softmax(torch.randn(3, 6), 1)
    cotuning = CoTuning(torch.nn.Linear(4, 6), relation)
    logits = torch.randn(5, 6, requires_grad=True)
    labels = torch.tensor([0, 2, 1, 1, 0])
    value = cotuning(logits, labels)
    closed = -(relation[labels] * torch.log_softmax(logits, 1)).sum(1).mean()
    assert torch.allclose(value, closed)
    assert torch.allclose(grads(value, [logits])[0], (torch.softmax(logits, 1) - relation[labels]) / 5, atol=1e-6)
    other = labels.flip(0)
    mixed = cotuning(logits, labels, other, 0.3)
    soft = 0.3 * relation[labels] + 0.7 * relation[other]
    assert torch.allclose(mixed, -(soft * torch.log_softmax(logits, 1)).sum(1).mean())


def test_cotuning_keeps_a_trainable_copy_of_the_source_head():
    source = tiny(num_classes=7, seed=1)
    cotuning = CoTuning.from_source_model(source, TRAIN)
    assert cotuning.relationship.shape == (5, 7)
    assert cotuning.source_head is not source.get_classifier()
    assert torch.equal(cotuning.source_head.weight, source.get_classifier().weight)
    assert all(p.requires_grad for p in cotuning.source_head.parameters())


# --- LwF, sample-based ----------------------------------------------------------------------------------------------

def test_lwf_is_tempered_distillation_with_closed_form_gradient():
    lwf = LwF(tiny(num_classes=7), temperature=2.0)
    new, old = torch.randn(4, 7, requires_grad=True), torch.randn(4, 7)
    value = lwf(new, old)
    closed = -(torch.softmax(old / 2, 1) * torch.log_softmax(new / 2, 1)).sum(1).mean()
    assert torch.allclose(value, closed)
    expected = (torch.softmax(new / 2, 1) - torch.softmax(old / 2, 1)) / (2 * 4)
    assert torch.allclose(grads(value, [new])[0], expected, atol=1e-6)


def test_sample_based_is_the_mean_distance_over_same_class_pairs():
    features = torch.randn(7, 3, requires_grad=True)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3])
    pairs = [(i, j) for i, j in itertools.combinations(range(7), 2) if labels[i] == labels[j]]
    closed = sum((features[i] - features[j]).pow(2).sum() for i, j in pairs) / len(pairs)
    value = SampleBased()(features, labels)
    assert torch.allclose(value, closed, rtol=1e-5)
    assert torch.allclose(grads(value, [features])[0], grads(closed, [features])[0], rtol=1e-4, atol=1e-6)
    assert SampleBased()(torch.randn(3, 2), torch.tensor([0, 1, 2])).item() == 0.0


# --- all of them in the loop ------------------------------------------------------------------------------------------

BUILD = {"L2": lambda model, source: L2(model.get_classifier()), "L2SP": lambda model, source: L2SP(model),
         "DELTA": lambda model, source: DELTA(source, TRAIN), "BSS": lambda model, source: BSS(),
         "CoTuning": lambda model, source: CoTuning.from_source_model(source, TRAIN),
         "LwF": lambda model, source: LwF(source), "SampleBased": lambda model, source: SampleBased()}


@pytest.mark.parametrize("name", list(BUILD))
def test_every_regularizer_trains_deterministically_in_the_loop(name):
    weights = []
    for _ in range(2):
        source = tiny(num_classes=7, seed=1)
        model = copy.deepcopy(source)
        model.reset_classifier(5)
        regularizer = BUILD[name](model, source)
        record = fit(model, TRAIN, VAL, protocol=QUICK.with_(mixup_alpha=0.2), regularizers=[(0.1, regularizer)],
                     seed=3, progress=False)
        assert math.isfinite(record.history[-1]["train_loss"])
        weights.append(model.fc.weight.detach().clone())
    assert torch.equal(*weights)
