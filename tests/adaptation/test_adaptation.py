"""Progressive networks keep their source column; DANN reverses gradients and trains in the one loop."""

import pytest
import torch
from factories import data, tiny

from tlcore.adaptation import DANN, ProgressiveNet, dann_lambda, fit_dann, reverse_gradient
from tlcore.finetune import Protocol, StepContext, fit
from tlcore.models import small_resnet

QUICK = Protocol(lr=0.05, steps=4, batch_size=16, eval_every=2)


TRAIN, VAL = data(48, 1), data(16, 2)


def test_progressive_net_trains_the_new_column_and_leaves_the_source_bitwise_unchanged():
    source = tiny(num_classes=7, seed=1)
    net = ProgressiveNet(source, tiny(seed=2, channels=(4, 6, 6, 8)))  # columns may differ in width
    before = {k: v.clone() for k, v in net.source.state_dict().items()}
    target_before = net.target.layer4[0].downsample[0].weight.detach().clone()
    lateral_before = net.laterals[2].reduce.weight.detach().clone()
    fit(net, TRAIN, VAL, protocol=QUICK, progress=False)
    assert all(torch.equal(before[k], v) for k, v in net.source.state_dict().items())  # BN statistics included
    assert not torch.equal(target_before, net.target.layer4[0].downsample[0].weight)
    assert not torch.equal(lateral_before, net.laterals[2].reduce.weight)
    net.train()
    assert not net.source.module.training and net.target.training


def test_progressive_net_output_depends_on_the_source_column():
    net = ProgressiveNet(tiny(num_classes=7, seed=1), tiny(seed=2)).eval()
    x = TRAIN.images[:4]
    out = net(x)
    with torch.no_grad():
        net.source.module.conv1.weight.mul_(3.0)
    assert not torch.allclose(out, net(x))
    with pytest.raises(ValueError, match="depth"):
        ProgressiveNet(tiny(), small_resnet((1, 1, 1), (4, 8, 8), num_classes=5))


def test_gradient_reversal_is_identity_forward_and_flips_the_gradient():
    x = torch.randn(5, 3, requires_grad=True)
    weight = torch.randn(5, 3)
    y = reverse_gradient(x, 0.7)
    assert torch.equal(y, x)
    (y * weight).sum().backward()
    assert torch.allclose(x.grad, -0.7 * weight)


def test_dann_lambda_schedule():
    assert dann_lambda(0.0) == 0.0 and dann_lambda(1.0) == pytest.approx(0.99991, abs=1e-5)
    values = [dann_lambda(p / 10) for p in range(11)]
    assert values == sorted(values)


def test_dann_trains_the_domain_classifier_and_reverses_the_features_gradient():
    dann = DANN(torch.rand(10, 1, 16, 16), features=8, hidden=16, fixed_lambda=0.5)
    dann.eval()  # no dropout, so the two passes below see the same network
    source, target = torch.randn(6, 8, requires_grad=True), torch.randn(6, 8)
    dann.reversal.scale = 0.5
    loss = dann(source, target)
    reversed_grad, classifier_grad = torch.autograd.grad(loss, [source, dann.classifier.net[0].weight])
    dann.reversal.scale = -1.0  # reversing by -1 is no reversal at all: the plain domain-loss gradient
    plain_loss = dann(source, target)
    plain_grad, plain_classifier_grad = torch.autograd.grad(plain_loss, [source, dann.classifier.net[0].weight])
    assert torch.allclose(reversed_grad, -0.5 * plain_grad, atol=1e-7)
    assert torch.allclose(classifier_grad, plain_classifier_grad)  # the classifier itself descends the loss


def test_fit_dann_is_seeded_and_uses_the_target_domain():
    target_domain = data(40, 3, shift=0.3)
    weights = []
    for seed in (0, 0, 1):
        model = tiny()
        record = fit_dann(model, TRAIN, target_domain, VAL, protocol=QUICK, hidden=16, seed=seed, progress=False)
        assert record.history
        weights.append(model.layer4[0].downsample[0].weight.detach().clone())
    assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2])
    source_only = tiny()
    fit(source_only, TRAIN, VAL, protocol=QUICK, seed=0, progress=False)
    assert not torch.equal(source_only.layer4[0].downsample[0].weight, weights[0])


def test_dann_penalty_draws_target_batches_from_the_loop_generator():
    model = tiny()
    dann = DANN(data(40, 3).images, features=8, hidden=16)
    x, y = TRAIN.images[:6], TRAIN.labels[:6]
    features = model.forward_head(model.forward_features(x), pre_logits=True)
    values = []
    for _ in range(2):
        ctx = StepContext(model, x, y, features, model.fc(features), 3, torch.Generator().manual_seed(9), 10)
        dann.eval()
        values.append(dann.penalty(ctx))
    assert torch.equal(values[0], values[1])
    assert dann.reversal.scale == pytest.approx(dann_lambda(0.3))
