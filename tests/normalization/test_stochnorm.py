"""StochNorm honours p, reproduces either BatchNorm branch at the extremes, and is seeded."""
import copy

import pytest
import torch
from factories import data
from torch import nn

from tlcore.finetune import Protocol, fit
from tlcore.models import small_resnet
from tlcore.normalization import StochNorm, convert_to_stochnorm

QUICK = Protocol(lr=0.05, steps=4, batch_size=16, eval_every=2)


def source_bn(channels=6, seed=0):
    """A BatchNorm with non-trivial 'pretrained' statistics and affine weights."""
    g = torch.Generator().manual_seed(seed)
    bn = nn.BatchNorm2d(channels)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(channels, generator=g))
        bn.running_var.copy_(torch.rand(channels, generator=g) + 0.5)
        bn.weight.copy_(torch.randn(channels, generator=g))
        bn.bias.copy_(torch.randn(channels, generator=g))
    return bn


def stoch(bn, p, seed=0):
    layer = convert_to_stochnorm(nn.Sequential(copy.deepcopy(bn)), p, generator=torch.Generator().manual_seed(seed))
    return layer[0]


X = torch.randn(8, 6, 5, 5, generator=torch.Generator().manual_seed(1)) * 2 + 1


def test_p0_is_batchnorm_in_training_mode():
    bn = source_bn()
    layer = stoch(bn, 0.0)
    x1, x2 = X.clone().requires_grad_(), X.clone().requires_grad_()
    expected, got = bn.train()(x1), layer.train()(x2)
    assert torch.equal(got, expected)
    assert torch.equal(layer.running_mean, bn.running_mean) and torch.equal(layer.running_var, bn.running_var)
    upstream = torch.randn_like(expected)
    expected.backward(upstream)
    got.backward(upstream)
    assert torch.equal(x2.grad, x1.grad) and torch.equal(layer.weight.grad, bn.weight.grad)


def test_p1_normalises_with_the_moving_statistics_and_still_updates_them():
    bn = source_bn()
    layer = stoch(bn, 1.0)
    expected = copy.deepcopy(bn).eval()(X)  # the moving statistics before this batch
    got = layer.train()(X)
    assert torch.equal(got, expected)
    bn.train()(X)  # the update BatchNorm makes in training mode
    assert torch.equal(layer.running_mean, bn.running_mean) and torch.equal(layer.running_var, bn.running_var)


def test_intermediate_p_picks_one_branch_per_channel_with_probability_p():
    bn = source_bn()
    batch_branch = copy.deepcopy(bn).train()(X)
    moving_branch = copy.deepcopy(bn).eval()(X)
    layer = stoch(bn, 0.3, seed=5)
    moving = 0
    for _ in range(400):
        out = layer.train()(X)
        for c in range(6):
            is_moving = torch.equal(out[:, c], moving_branch[:, c])
            is_batch = torch.equal(out[:, c], batch_branch[:, c])
            assert is_moving != is_batch or torch.allclose(moving_branch[:, c], batch_branch[:, c])
            moving += is_moving
        layer.load_state_dict(bn.state_dict())  # reset the statistics for the next draw
    assert moving / 2400 == pytest.approx(0.3, abs=0.03)


def test_masks_are_deterministic_under_a_seed():
    bn = source_bn()
    first, again, other = stoch(bn, 0.5, seed=3), stoch(bn, 0.5, seed=3), stoch(bn, 0.5, seed=4)
    runs = [[layer.train()(X) for _ in range(3)] for layer in (first, again, other)]
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1]))
    assert any(not torch.equal(a, b) for a, b in zip(runs[0], runs[2]))


def test_eval_mode_is_batchnorm_eval():
    bn = source_bn()
    assert torch.allclose(stoch(bn, 0.5).eval()(X), bn.eval()(X), atol=1e-6)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_p_outside_the_unit_interval_is_rejected(p):
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
        StochNorm(4, p)
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
        convert_to_stochnorm(nn.Sequential(nn.BatchNorm2d(4)), p)


def test_conversion_keeps_weights_and_statistics():
    torch.manual_seed(0)
    model = small_resnet(channels=(4, 8, 8, 8), num_classes=3).eval()
    converted = convert_to_stochnorm(copy.deepcopy(model), 0.5)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    stochs = [m for m in converted.modules() if isinstance(m, StochNorm)]
    assert len(stochs) == len(bns) > 0 and all(m.p == 0.5 for m in stochs)
    x = torch.rand(4, 1, 16, 16)
    assert torch.allclose(converted.eval()(x), model(x), atol=1e-6)
    assert set(converted.state_dict()) == set(model.state_dict())


def test_in_the_loop_masks_come_from_the_seeded_generator_and_p0_trains_as_batchnorm():
    train, val = data(48, 1, classes=3), data(12, 2, classes=3)
    torch.manual_seed(0)
    base = small_resnet(channels=(4, 8, 8, 8), num_classes=3)
    results = []
    for p, seed in ((0.5, 0), (0.5, 0), (0.5, 1)):
        model = convert_to_stochnorm(copy.deepcopy(base), p)
        fit(model, train, val, protocol=QUICK, seed=seed, progress=False)
        assert all(m.generator is None for m in model.modules() if isinstance(m, StochNorm))  # unbound again
        results.append(model.fc.weight.detach().clone())
    assert torch.equal(results[0], results[1]) and not torch.equal(results[0], results[2])
    plain, as_stoch = copy.deepcopy(base), convert_to_stochnorm(copy.deepcopy(base), 0.0)
    fit(plain, train, val, protocol=QUICK, progress=False)
    fit(as_stoch, train, val, protocol=QUICK, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), as_stoch.state_dict().values()))
