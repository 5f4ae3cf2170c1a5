"""Batch-norm folding for the frozen saliency model: equal outputs and equal SmoothGrad maps."""

import copy

import pytest
import torch
from torch import nn

from blurfocus import models, smoothgrad
from blurfocus.models import Normalized, fold_batchnorm
from blurfocus.smoothgrad_settings import SmoothGradSettings


def randomize_stats(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics and affine parameters (fresh ones are identities)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=g))
            if m.affine:
                m.weight.data.copy_(0.5 + torch.rand(n, generator=g))
                m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return model.eval()


class Shared(nn.Module):
    """A conv whose output feeds a BN and a skip, and a BN after a concatenation: neither may fold."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.bn_cat = nn.BatchNorm2d(7)
        self.conv2 = nn.Conv2d(7, 5, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(5)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 2))

    def forward(self, x):
        c = self.conv(x)
        y = torch.relu(self.bn(c)) + c  # conv output used twice
        y = self.bn_cat(torch.cat([y, x], 1))  # BN of a concatenation
        return self.head(torch.relu(self.bn2(self.conv2(y))))


def tiny_bn_net() -> Normalized:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU6(),  # depthwise, with bias
        nn.Conv2d(8, 6, 1), nn.BatchNorm2d(6, affine=False), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 2),
    )
    return randomize_stats(Normalized(net, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)))


def maps(model, x, settings):
    return smoothgrad.saliency_maps(model, x, [f"i{i}" for i in range(len(x))], [0] * len(x), settings)["map"]


def assert_same_model(a: nn.Module, b: nn.Module, x: torch.Tensor, n_samples: int = 6, rtol: float = 1e-3) -> None:
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=1e-4, atol=1e-5, check_dtype=False)
    s = SmoothGradSettings(n_samples=n_samples, batch_size=8)
    ma, mb = maps(a, x, s), maps(b, x, s)
    torch.testing.assert_close(ma, mb, rtol=rtol, atol=1e-6 * float(ma.abs().max()))


def test_fold_gives_equal_outputs_and_maps():
    model = tiny_bn_net()
    ref = copy.deepcopy(model)
    folded = fold_batchnorm(model)
    assert folded == ["net.1", "net.4", "net.7"]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    x = torch.rand(3, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    assert_same_model(smoothgrad.freeze(ref), smoothgrad.freeze(model), x)


def test_no_fold_where_the_conv_output_is_shared_or_bn_follows_no_conv():
    torch.manual_seed(0)
    model = randomize_stats(Normalized(Shared(), (0.5,) * 3, (0.25,) * 3))
    ref = copy.deepcopy(model)
    assert fold_batchnorm(model) == ["net.bn2"]
    assert isinstance(model.net.bn, nn.BatchNorm2d) and isinstance(model.net.bn_cat, nn.BatchNorm2d)
    x = torch.rand(2, 3, 10, 10, generator=torch.Generator().manual_seed(2))
    assert_same_model(smoothgrad.freeze(ref), smoothgrad.freeze(model), x)


def test_training_mode_is_not_folded():
    model = tiny_bn_net().train()
    assert fold_batchnorm(model) == []
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 3


@pytest.mark.parametrize("arch", ["efficientnet_lite0", "resnet18"])
def test_fold_real_architectures(arch):
    """timm's EfficientNet-Lite0 (BatchNormAct2d with ReLU6) and torchvision's ResNet-18, in float64:
    in float32 a deep ReLU6 network turns rounding differences into a few flipped gates (maps
    then agree to ~1e-3 relative, see benchmarks/bench_saliency.py); in float64 the fold is exact
    to rounding."""
    torch.manual_seed(0)
    model = randomize_stats(models.build_model(arch, "none", 2)[0])
    n_bn = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    ref = copy.deepcopy(model)
    folded = fold_batchnorm(model)
    assert len(folded) == n_bn  # every BN of these follows its own conv
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert_same_model(smoothgrad.freeze(ref.double()), smoothgrad.freeze(model.double()), x, n_samples=3, rtol=1e-5)
