import numpy as np
import pyarrow.dataset as pads
import pytest
import torch
from torch import nn

from blurfocus import saliency
from blurfocus.models import Normalized


def tiny_model(seed=0, classes=2):
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, classes),
    )
    return saliency.freeze(Normalized(net, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)))


def images(n=3, size=12, seed=0):
    return torch.rand((n, 3, size, size), generator=torch.Generator().manual_seed(seed))


def captum_smoothgrad(model, x, noise, target, nt_type="smoothgrad"):
    """Captum's NoiseTunnel(Saliency(abs=False)) for one image with our noise tensor injected."""
    from captum.attr import NoiseTunnel, Saliency

    nt = NoiseTunnel(Saliency(model))
    original = NoiseTunnel._add_noise_to_input
    NoiseTunnel._add_noise_to_input = staticmethod(lambda inp, stdev, n: inp.repeat_interleave(n, 0) + noise)
    try:
        return nt.attribute(x, nt_type=nt_type, nt_samples=noise.shape[0], stdevs=1.0, target=target, abs=False)[0]
    finally:
        NoiseTunnel._add_noise_to_input = original


@pytest.mark.parametrize("mode", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_equals_captum_noise_tunnel_for_same_noise(mode):
    model = tiny_model()
    x = images(2)
    s = saliency.SmoothGradSettings(n_samples=7, batch_size=5, mode=mode)
    sig = saliency.sigma_abs(x, s)
    noise = [saliency.image_noise(f"img{i}", x.shape[1:], 7, 0) * sig[i] for i in range(2)]
    ours = saliency.smoothgrad_attributions(model, x, torch.tensor([[0, 1], [0, 1]]), noise, s)
    for i in range(2):
        for t in range(2):
            ref = captum_smoothgrad(model, x[i : i + 1], noise[i], t, mode)
            torch.testing.assert_close(ours[i, t], ref, rtol=1e-5, atol=1e-7)


def test_map_is_sum_of_reduced_per_class_maps_like_the_study():
    model = tiny_model()
    x = images(1)
    s = saliency.SmoothGradSettings(n_samples=6, target="both", reduce="abs_sum")
    out = saliency.saliency_maps(model, x, ["a"], [0], s)
    sig = saliency.sigma_abs(x, s)
    noise = saliency.image_noise("a", x.shape[1:], 6, 0) * sig[0]
    expected = sum(captum_smoothgrad(model, x, noise, t).abs().sum(0) for t in (0, 1))
    torch.testing.assert_close(out["map"][0], expected, rtol=1e-5, atol=1e-7)


def test_same_map_for_batch_size_one_and_many_and_any_grouping():
    model = tiny_model()
    x = images(4)
    ids = ["a", "b", "c", "d"]
    s1 = saliency.SmoothGradSettings(n_samples=9, batch_size=1)
    s2 = saliency.SmoothGradSettings(n_samples=9, batch_size=36)
    m1 = saliency.saliency_maps(model, x, ids, [0, 1, 0, 1], s1)["map"]
    m2 = saliency.saliency_maps(model, x, ids, [0, 1, 0, 1], s2)["map"]
    # one image alone gives the same map as inside a group (noise seeded per image id)
    m3 = saliency.saliency_maps(model, x[2:3], ids[2:3], [0], s2)["map"]
    torch.testing.assert_close(m1, m2, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(m3[0], m2[2], rtol=1e-4, atol=1e-7)


def test_draws_and_seeds_give_independent_noise():
    a = saliency.image_noise("x", (3, 4, 4), 5, seed=0, draw=0)
    assert torch.equal(a, saliency.image_noise("x", (3, 4, 4), 5, seed=0, draw=0))
    assert not torch.allclose(a, saliency.image_noise("x", (3, 4, 4), 5, seed=0, draw=1))
    assert not torch.allclose(a, saliency.image_noise("x", (3, 4, 4), 5, seed=1, draw=0))
    assert not torch.allclose(a, saliency.image_noise("y", (3, 4, 4), 5, seed=0, draw=0))
    # every (model, variant) stream has its own noise
    b = saliency.image_noise("x", (3, 4, 4), 5, seed=0, draw=0, stream=("naive-s0", "clear"))
    assert not torch.allclose(a, b)
    assert not torch.allclose(b, saliency.image_noise("x", (3, 4, 4), 5, seed=0, draw=0, stream=("naive-s0", "blur")))
    assert not torch.allclose(b, saliency.image_noise("x", (3, 4, 4), 5, seed=0, draw=0, stream=("expert-s0", "clear")))


def test_parameters_get_no_gradient():
    model = tiny_model()
    saliency.saliency_maps(model, images(1), ["a"], [0], saliency.SmoothGradSettings(n_samples=3))
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())


def test_sigma_abs_image_range_and_space():
    x = torch.zeros(2, 3, 4, 4)
    x[0, 0, 0, 0] = 0.8
    x[1] = 0.25
    x[1, 2, 3, 3] = 0.75
    s = saliency.SmoothGradSettings(sigma=0.15)
    torch.testing.assert_close(saliency.sigma_abs(x, s), torch.tensor([0.12, 0.075]))
    s2 = saliency.SmoothGradSettings(sigma=0.15, sigma_range="space")
    torch.testing.assert_close(saliency.sigma_abs(x, s2), torch.tensor([0.15, 0.15]))


def test_reductions_on_hand_made_attribution():
    a = torch.tensor([[[1.0, -2.0]], [[-3.0, 4.0]], [[0.0, 0.0]]])  # (C=3, H=1, W=2)
    assert saliency.reduce_channels(a, "abs_sum").tolist() == [[4.0, 6.0]]
    assert saliency.reduce_channels(a, "sum").tolist() == [[-2.0, 2.0]]
    assert saliency.reduce_channels(a, "abs_max").tolist() == [[3.0, 4.0]]
    torch.testing.assert_close(saliency.reduce_channels(a, "l2"), torch.tensor([[10**0.5, 20**0.5]]))


def test_vargrad_is_population_variance():
    g = torch.tensor([1.0, 2.0, 6.0])
    out = saliency.combine(g.sum().reshape(1), (g * g).sum().reshape(1), 3, "vargrad")
    assert out.item() == pytest.approx(g.var(unbiased=False).item())


def test_topk_on_hand_made_map_with_ties():
    m = np.array(
        [
            [0.0, 5.0, 1.0],
            [5.0, 2.0, 5.0],
            [1.0, 0.0, 3.0],
        ]
    )
    rows, cols, vals = saliency.topk_pixels(m, 4)
    # the three 5s in row-major order, then the 3
    assert list(zip(rows, cols)) == [(0, 1), (1, 0), (1, 2), (2, 2)]
    assert vals.tolist() == [5, 5, 5, 3]
    # a tie at the boundary is broken by pixel index: 1.0 at (0,2) comes before 1.0 at (2,0)
    rows, cols, _ = saliency.topk_pixels(m, 6)
    assert list(zip(rows, cols))[-2:] == [(1, 1), (0, 2)]
    with pytest.raises(ValueError, match="topk"):
        saliency.topk_pixels(m, 10)


def test_topk_matches_full_stable_sort_on_random_maps():
    rng = np.random.default_rng(1)
    for _ in range(20):
        m = rng.integers(0, 5, size=(7, 9)).astype(float)  # many ties
        k = int(rng.integers(1, 63))
        r, c, _ = saliency.topk_pixels(m, k)
        order = np.lexsort((np.arange(63), -m.ravel()))[:k]
        assert (r * 9 + c).tolist() == order.tolist()


def test_parquet_roundtrip_schema_and_metadata(tmp_path):
    model = tiny_model()
    x = images(5)
    ids = [f"img{i}" for i in range(5)]
    s = saliency.SmoothGradSettings(n_samples=4)

    def batches():
        for start in (0, 3):
            chunk = ids[start : start + 3]
            out = saliency.saliency_maps(model, x[start : start + 3], chunk, [0] * len(chunk), s)
            n = len(out["map"])
            yield {**out, "image_id": ids[start : start + n], "label": [0] * n, "class_name": ["cat"] * n,
                   "model": "naive-s0", "variant": "clear", "draw": 0}

    path = str(tmp_path / "shard0.parquet")
    assert saliency.write_maps(path, batches(), s, 5, {"model": "naive-s0"}, log_fn=lambda m: None) == 5
    table = pads.dataset([path], format="parquet").to_table()
    assert table.num_rows == 5
    for col in ["image_id", "label", "model", "variant", "pred", "prob", "map", "topk_rows", "topk_cols", "topk_values"]:
        assert col in table.column_names
    assert str(table.schema.field("map").type) == "list<element: halffloat>"
    maps = saliency.read_maps(table)
    assert maps.shape == (5, 12, 12)
    import json

    meta = json.loads(table.schema.metadata[b"blurfocus.smoothgrad"])
    assert meta["n_samples"] == 4 and meta["topk"] == 5 and "before mean/std normalization" in meta["noise_space"]
    r = table.slice(0, 1).to_pylist()[0]
    assert len(r["topk_rows"]) == 5
    # top-k recorded from the float32 map agrees with the stored float16 map's top values
    assert maps[0].ravel()[r["topk_rows"][0] * 12 + r["topk_cols"][0]] == pytest.approx(maps[0].max(), rel=1e-3)


def test_select_and_shard_rows():
    import pandas as pd

    rows = pd.DataFrame({"label": [0, 1, 0, 1, 0, 1, 0], "split_index": range(7), "image_id": list("abcdefg")})
    sel = saliency.select_images(rows, 2)
    assert sel["image_id"].tolist() == ["a", "b", "c", "d"]
    parts = [saliency.shard_rows(rows, 3, i)["image_id"].tolist() for i in range(3)]
    assert sum(parts, []) == list("abcdefg")
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
