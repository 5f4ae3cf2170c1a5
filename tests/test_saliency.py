import numpy as np
import pyarrow.dataset as pads
import pytest
import torch
from torch import nn

from blurfocus import mapstore, selection, smoothgrad, topk
from blurfocus.models import Normalized
from blurfocus.smoothgrad_settings import SmoothGradSettings


def tiny_model(seed=0, classes=2):
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, classes),
    )
    return smoothgrad.freeze(Normalized(net, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)))


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
    s = SmoothGradSettings(n_samples=7, batch_size=5, mode=mode)
    sig = smoothgrad.sigma_abs(x, s)
    noise = [smoothgrad.image_noise(f"img{i}", x.shape[1:], 7, 0) * sig[i] for i in range(2)]
    ours = smoothgrad.smoothgrad_attributions(model, x, torch.tensor([[0, 1], [0, 1]]), noise, s)
    for i in range(2):
        for t in range(2):
            ref = captum_smoothgrad(model, x[i : i + 1], noise[i], t, mode)
            torch.testing.assert_close(ours[i, t], ref, rtol=1e-5, atol=1e-7)


def test_map_is_sum_of_reduced_per_class_maps_like_the_study():
    model = tiny_model()
    x = images(1)
    s = SmoothGradSettings(n_samples=6, target="both", reduce="abs_sum")
    out = smoothgrad.saliency_maps(model, x, ["a"], [0], s)
    sig = smoothgrad.sigma_abs(x, s)
    noise = smoothgrad.image_noise("a", x.shape[1:], 6, 0) * sig[0]
    expected = sum(captum_smoothgrad(model, x, noise, t).abs().sum(0) for t in (0, 1))
    torch.testing.assert_close(out["map"][0], expected, rtol=1e-5, atol=1e-7)


def test_same_map_for_batch_size_one_and_many_and_any_grouping():
    model = tiny_model()
    x = images(4)
    ids = ["a", "b", "c", "d"]
    s1 = SmoothGradSettings(n_samples=9, batch_size=1)
    s2 = SmoothGradSettings(n_samples=9, batch_size=36)
    m1 = smoothgrad.saliency_maps(model, x, ids, [0, 1, 0, 1], s1)["map"]
    m2 = smoothgrad.saliency_maps(model, x, ids, [0, 1, 0, 1], s2)["map"]
    # one image alone gives the same map as inside a group (noise seeded per image id)
    m3 = smoothgrad.saliency_maps(model, x[2:3], ids[2:3], [0], s2)["map"]
    torch.testing.assert_close(m1, m2, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(m3[0], m2[2], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("with_bn", [False, True])
def test_per_target_and_batched_backward_give_the_same_maps(with_bn):
    """The engine's default (one backward per target on the kept graph) and the vmapped batched
    backward are two executions of the same gradients: equal up to float rounding (bit for bit
    on the CPUs measured), on a plain and a depthwise + BatchNorm (folded) network, for 3 classes."""
    torch.manual_seed(1)
    layers = [nn.Conv2d(3, 6, 3, padding=1), nn.ReLU6()]
    if with_bn:
        layers += [nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False), nn.BatchNorm2d(6), nn.ReLU6()]
    net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 3))
    if with_bn:
        with torch.no_grad():
            net[3].running_mean.uniform_(-0.2, 0.2)
            net[3].running_var.uniform_(0.5, 2.0)
    model = smoothgrad.prepare_model(Normalized(net, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)))
    x = images(3)
    s = SmoothGradSettings(n_samples=5, batch_size=4)  # chunks straddle images
    ids = ["a", "b", "c"]
    per_target = smoothgrad.saliency_maps(model, x, ids, [0, 1, 2], s)["map"]
    batched = smoothgrad.saliency_maps(model, x, ids, [0, 1, 2], s, batched=True)["map"]
    assert per_target.abs().max() > 0
    torch.testing.assert_close(per_target, batched, rtol=1e-6, atol=1e-9)


def test_draws_and_seeds_give_independent_noise():
    a = smoothgrad.image_noise("x", (3, 4, 4), 5, seed=0, draw=0)
    assert torch.equal(a, smoothgrad.image_noise("x", (3, 4, 4), 5, seed=0, draw=0))
    assert not torch.allclose(a, smoothgrad.image_noise("x", (3, 4, 4), 5, seed=0, draw=1))
    assert not torch.allclose(a, smoothgrad.image_noise("x", (3, 4, 4), 5, seed=1, draw=0))
    assert not torch.allclose(a, smoothgrad.image_noise("y", (3, 4, 4), 5, seed=0, draw=0))
    # every (model, variant) stream has its own noise
    b = smoothgrad.image_noise("x", (3, 4, 4), 5, seed=0, draw=0, stream=("naive-s0", "clear"))
    assert not torch.allclose(a, b)
    assert not torch.allclose(b, smoothgrad.image_noise("x", (3, 4, 4), 5, seed=0, draw=0, stream=("naive-s0", "blur")))
    assert not torch.allclose(b, smoothgrad.image_noise("x", (3, 4, 4), 5, seed=0, draw=0, stream=("expert-s0", "clear")))


def test_parameters_get_no_gradient():
    model = tiny_model()
    smoothgrad.saliency_maps(model, images(1), ["a"], [0], SmoothGradSettings(n_samples=3))
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())


def test_sigma_abs_image_range_and_space():
    x = torch.zeros(2, 3, 4, 4)
    x[0, 0, 0, 0] = 0.8
    x[1] = 0.25
    x[1, 2, 3, 3] = 0.75
    s = SmoothGradSettings(sigma=0.15)
    torch.testing.assert_close(smoothgrad.sigma_abs(x, s), torch.tensor([0.12, 0.075]))
    s2 = SmoothGradSettings(sigma=0.15, sigma_range="space")
    torch.testing.assert_close(smoothgrad.sigma_abs(x, s2), torch.tensor([0.15, 0.15]))


def test_reductions_on_hand_made_attribution():
    a = torch.tensor([[[1.0, -2.0]], [[-3.0, 4.0]], [[0.0, 0.0]]])  # (C=3, H=1, W=2)
    assert smoothgrad.reduce_channels(a, "abs_sum").tolist() == [[4.0, 6.0]]
    assert smoothgrad.reduce_channels(a, "sum").tolist() == [[-2.0, 2.0]]
    assert smoothgrad.reduce_channels(a, "abs_max").tolist() == [[3.0, 4.0]]
    torch.testing.assert_close(smoothgrad.reduce_channels(a, "l2"), torch.tensor([[10**0.5, 20**0.5]]))


def test_vargrad_is_population_variance():
    g = torch.tensor([1.0, 2.0, 6.0])
    out = smoothgrad.combine(g.sum().reshape(1), (g * g).sum().reshape(1), 3, "vargrad")
    assert out.item() == pytest.approx(g.var(unbiased=False).item())


def test_topk_on_hand_made_map_with_ties():
    m = np.array(
        [
            [0.0, 5.0, 1.0],
            [5.0, 2.0, 5.0],
            [1.0, 0.0, 3.0],
        ]
    )
    rows, cols, vals = topk.topk_pixels(m, 4)
    # the three 5s in row-major order, then the 3
    assert list(zip(rows, cols)) == [(0, 1), (1, 0), (1, 2), (2, 2)]
    assert vals.tolist() == [5, 5, 5, 3]
    # a tie at the boundary is broken by pixel index: 1.0 at (0,2) comes before 1.0 at (2,0)
    rows, cols, _ = topk.topk_pixels(m, 6)
    assert list(zip(rows, cols))[-2:] == [(1, 1), (0, 2)]
    with pytest.raises(ValueError, match="topk"):
        topk.topk_pixels(m, 10)


def test_topk_matches_full_stable_sort_on_random_maps():
    rng = np.random.default_rng(1)
    for _ in range(20):
        m = rng.integers(0, 5, size=(7, 9)).astype(float)  # many ties
        k = int(rng.integers(1, 63))
        r, c, _ = topk.topk_pixels(m, k)
        order = np.lexsort((np.arange(63), -m.ravel()))[:k]
        assert (r * 9 + c).tolist() == order.tolist()


def test_parquet_roundtrip_schema_and_metadata(tmp_path):
    model = tiny_model()
    x = images(5)
    ids = [f"img{i}" for i in range(5)]
    s = SmoothGradSettings(n_samples=4)

    def batches():
        for start in (0, 3):
            chunk = ids[start : start + 3]
            out = smoothgrad.saliency_maps(model, x[start : start + 3], chunk, [0] * len(chunk), s)
            n = len(out["map"])
            yield {**out, "image_id": ids[start : start + n], "label": [0] * n, "class_name": ["cat"] * n,
                   "model": "naive-s0", "variant": "clear", "draw": 0}

    path = str(tmp_path / "shard0.parquet")
    assert mapstore.write_maps(path, batches(), s, 5, {"model": "naive-s0"}, log_fn=lambda m: None) == 5
    table = pads.dataset([path], format="parquet").to_table()
    assert table.num_rows == 5
    for col in ["image_id", "label", "model", "variant", "pred", "prob", "map", "topk_rows", "topk_cols", "topk_values"]:
        assert col in table.column_names
    assert str(table.schema.field("map").type) == "list<element: halffloat>"
    maps = mapstore.read_maps(table)
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
    sel = selection.select_images(rows, 2)
    assert sel["image_id"].tolist() == ["a", "b", "c", "d"]
    parts = [selection.shard_rows(rows, 3, i)["image_id"].tolist() for i in range(3)]
    assert sum(parts, []) == list("abcdefg")
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_blurred_image_gets_the_sigma_of_its_clear_image():
    """Maps of a blurred image use σ from the clear image: the map equals an independent
    Captum computation with the image's noise scaled by the clear image's σ (issue 10)."""
    model = tiny_model()
    clear = images(2)
    blurred = 0.5 + 0.3 * (clear - 0.5)  # a smaller range, as blurring gives
    s = SmoothGradSettings(n_samples=5, target="predicted")
    clear_sigma = s.sigma * (clear.reshape(2, -1).amax(1) - clear.reshape(2, -1).amin(1))
    out = smoothgrad.saliency_maps(model, blurred, ["a", "b"], [0, 1], s, noise_sigma=smoothgrad.sigma_abs(clear, s))
    torch.testing.assert_close(out["sigma_abs"], clear_sigma)
    assert not torch.allclose(out["sigma_abs"], smoothgrad.sigma_abs(blurred, s))
    for i, image_id in enumerate(["a", "b"]):
        noise = smoothgrad.image_noise(image_id, clear.shape[1:], 5, 0) * clear_sigma[i]
        ref = captum_smoothgrad(model, blurred[i : i + 1], noise, int(out["pred"][i])).abs().sum(0)
        torch.testing.assert_close(out["map"][i], ref, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="noise_sigma"):
        smoothgrad.saliency_maps(model, blurred, ["a", "b"], [0, 1], s, noise_sigma=torch.ones(3))


def test_settings_from_config_json_roundtrip_and_errors():
    from blurfocus.config import validate_config
    cfg = validate_config({"saliency": {"n_samples": 7, "sigma": 0.2, "precision": "bf16"}})
    s = SmoothGradSettings.from_config(cfg["saliency"])
    assert (s.n_samples, s.sigma, s.precision, s.batch_size) == (7, 0.2, "bf16", cfg["saliency"]["batch_size"])
    text = s.to_json()
    assert SmoothGradSettings.from_json(text) == s
    assert text == SmoothGradSettings.from_config(dict(reversed(list(cfg["saliency"].items())))).to_json()  # stable
    with pytest.raises(ValueError, match="expected the keys"):
        SmoothGradSettings.from_json('{"n_samples": 3}')
    with pytest.raises(ValueError, match="not JSON"):
        SmoothGradSettings.from_json("n_samples=3")
    with pytest.raises(ValueError, match="saliency.sigma_range"):
        SmoothGradSettings.from_config({"sigma_range": "blurred"})
    with pytest.raises(ValueError, match="saliency.n_samples"):
        SmoothGradSettings.from_config({"n_samples": "25"})
    assert "clear" in s.sigma_reference and "[0, 1]" in SmoothGradSettings(sigma_range="space").sigma_reference


@pytest.mark.e2e
def test_every_map_of_an_image_has_the_same_sigma(tiny_run):
    """All maps of one image (every model, variant, draw) carry the σ of its clear version."""
    import json

    import pandas as pd

    from blurfocus import data, ingest

    dataset = pads.dataset(str(tiny_run / "results" / "saliency"), format="parquet")
    df = dataset.to_table(columns=["image_id", "model", "variant", "draw", "sigma_abs"]).to_pandas()
    assert df["variant"].nunique() >= 2 and df["draw"].nunique() >= 2
    assert (df.groupby("image_id")["sigma_abs"].nunique() == 1).all()
    meta = json.loads(dataset.schema.metadata[b"blurfocus.smoothgrad"])
    assert meta["sigma_range"] == "image" and meta["sigma_reference"].startswith("clear image range")
    # and that σ is sigma × (max - min) of the clear image
    rows = ingest.load_split(pd.read_parquet(tiny_run / "results" / "data" / "manifest.parquet"), "test")
    clear = data.open_images(tiny_run / "results" / "data" / "clear" / "test.npy")
    sig = df.groupby("image_id")["sigma_abs"].first()
    idx = rows.set_index("image_id").loc[sig.index, "split_index"].to_numpy()
    flat = clear[idx].reshape(len(idx), -1).astype(np.float64) / 255
    np.testing.assert_allclose(sig.to_numpy(), meta["sigma"] * (flat.max(1) - flat.min(1)), rtol=1e-6)
