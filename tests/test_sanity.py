import numpy as np
import pytest
import torch
from torch import nn

from blurfocus import sanity
from blurfocus.models import Normalized


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ssim_matches_skimage(seed):
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(seed)
    a = rng.random((40, 33))
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    ref = metrics.structural_similarity(a, b, data_range=1.0, gaussian_weights=True, use_sample_covariance=False, sigma=1.5)
    assert sanity.ssim(a, b) == pytest.approx(ref, abs=1e-6)
    assert sanity.ssim(a, a) == pytest.approx(1.0)


def test_spearman_abs_and_unit_scale():
    a = np.array([[1.0, -3.0], [2.0, 0.5]])
    assert sanity.spearman_abs(a, np.abs(a) * 7) == pytest.approx(1.0)
    assert np.isnan(sanity.spearman_abs(a, np.ones((2, 2))))
    np.testing.assert_allclose(sanity.unit_scale(a), [[1 / 3, 1.0], [2 / 3, 1 / 6]])


def tiny_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    return Normalized(net, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval()


def test_cascade_layers_top_down_and_randomization_changes_maps():
    model = tiny_net()
    assert sanity.cascade_layers(model.net) == [["3"], ["0"]]
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))

    def maps_fn(m):
        inp = x.clone().requires_grad_(True)
        out = m(inp)
        (g,) = torch.autograd.grad(out[:, 0].sum(), inp)
        return g.abs().sum(1).numpy()

    before = [p.clone() for p in model.parameters()]
    table, maps = sanity.cascading_randomization(model, maps_fn, [["3"], ["0"]], seed=0, log_fn=lambda m: None)
    # the caller's model is untouched
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert list(maps) == ["trained", "3", "0"]
    assert set(table["step"]) == {0, 1, 2} and len(table) == 9
    summary = sanity.summarize(table)
    assert summary["spearman_mean"].iloc[0] == 1.0
    assert summary["spearman_mean"].iloc[-1] < 0.9  # a linear model's gradient is its weights: they changed
    flag, sentence = sanity.verdict(summary, 0.95)
    assert not flag and sentence.startswith("Passed")
    flag, sentence = sanity.verdict(summary, -1.0)
    assert not flag and sentence.startswith("Partly passed")  # SSIM fell: only the ranking stays
    flag, sentence = sanity.verdict(summary, -1.0, ssim_threshold=-1.0)
    assert flag and "RED FLAG" in sentence


def test_cascade_steps_for_alexnet_and_a_deep_network():
    from blurfocus import models

    alex, _ = models.build_model("alexnet", "none", 2)
    steps = sanity.cascade_layers(alex.net)
    assert steps == [["classifier.6"], ["classifier.4"], ["classifier.1"], ["features.10"], ["features.8"],
                     ["features.6"], ["features.3"], ["features.0"]]
    eff, _ = models.build_model("efficientnet_lite0", "none", 2)
    steps = sanity.cascade_layers(eff.net)
    assert 4 <= len(steps) <= 12
    flat = [n for g in steps for n in g]
    owners = [n for n, m in eff.net.named_modules() if n and any(True for _ in m.parameters(recurse=False))]
    assert sorted(flat) == sorted(owners)  # every layer is randomized exactly once
    assert steps[0] == ["classifier"] or "classifier" in steps[0]
    assert sanity.step_name(["blocks.3.0.conv", "blocks.3.1.bn"]) == "blocks.3"
