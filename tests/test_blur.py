import math

import numpy as np
import pytest
from scipy import ndimage

from blurfocus import blur


def rand_images(n=3, h=23, w=31, seed=0):
    return np.random.default_rng(seed).random((n, h, w, 3)).astype(np.float32)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 3.7])
def test_gaussian_blur_matches_scipy(sigma):
    x = rand_images()
    ours = blur.apply_step(x, blur.parse_step({"kind": "gaussian_blur", "sigma": sigma}), ["a", "b", "c"])
    ref = np.stack([ndimage.gaussian_filter(x[i], sigma=(sigma, sigma, 0), mode="reflect", truncate=4.0) for i in range(3)])
    np.testing.assert_allclose(ours, np.clip(ref, 0, 1), atol=2e-6)


def test_gaussian_kernel_matches_scipy_impulse():
    k = blur.gaussian_kernel(1.5)
    impulse = np.zeros_like(k)
    impulse[k.shape[0] // 2, k.shape[1] // 2] = 1
    np.testing.assert_allclose(k, ndimage.gaussian_filter(impulse, 1.5, mode="constant"), atol=1e-12)


@pytest.mark.parametrize(
    "kernel",
    [
        blur.gaussian_kernel(2.0),
        blur.defocus_kernel(3, 0.1),
        blur.defocus_kernel(10, 0.5),
        blur.motion_kernel(15, 5, 30.0),
        blur.motion_kernel(20, 15, -45.0),
    ],
)
def test_kernels_sum_to_one_and_are_nonnegative(kernel):
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    assert (kernel >= 0).all()


def test_general_kernel_filter_matches_scipy_convolve():
    x = rand_images(2)
    k = blur.motion_kernel(10, 3, 30.0)
    ours = blur.filter_images(x, k)
    ref = np.stack([ndimage.convolve(x[i], k[:, :, None], mode="reflect") for i in range(2)])
    np.testing.assert_allclose(ours, ref, atol=2e-6)


def test_defocus_kernel_is_a_disc():
    k = blur.defocus_kernel(4, 0.5)
    assert k.shape == (17, 17)
    c = 8
    assert k[c, c] > 0 and k[c, c + 4] > 0  # inside the radius
    assert k[c, c + 7] < 1e-6  # well outside
    np.testing.assert_allclose(k, k.T, atol=1e-12)  # isotropic


def test_motion_kernel_points_along_angle():
    k = blur.motion_kernel(10, 3, 0.0)
    c = k.shape[0] // 2
    # angle 0: the line goes to the right of the centre (one-sided), weights decreasing
    row = k[c]
    assert row[c] == row.max()
    assert row[c + 5] > 0 and row[: c].sum() == 0
    assert np.count_nonzero(k) == np.count_nonzero(row)
    k90 = blur.motion_kernel(10, 3, 90.0)
    col = k90[:, c]
    assert col[c - 5] > 0 and col[c + 1 :].sum() == 0  # upwards (rows decrease)


def test_severity_table_is_imagenet_c():
    sev = blur.SEVERITY
    assert [p["sigma"] for p in sev["gaussian_blur"]] == [1, 2, 3, 4, 6]
    assert [(p["radius"], p["alias_sigma"]) for p in sev["defocus_blur"]] == [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)]
    assert [(p["radius"], p["sigma"]) for p in sev["motion_blur"]] == [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)]
    assert [p["sigma"] for p in sev["gaussian_noise"]] == [0.08, 0.12, 0.18, 0.26, 0.38]
    step = blur.parse_step({"kind": "defocus_blur", "severity": 3})
    assert dict(step.params) == {"radius": 6, "alias_sigma": 0.5}


def test_noise_is_seeded_per_image_not_per_batch():
    x = np.full((4, 8, 8, 3), 0.5, np.float32)
    step = blur.parse_step({"kind": "gaussian_noise", "sigma": 0.1})
    ids = ["a", "b", "c", "d"]
    whole = blur.apply_step(x, step, ids, seed=(1,))
    parts = np.concatenate([blur.apply_step(x[:1], step, ids[:1], seed=(1,)), blur.apply_step(x[1:], step, ids[1:], seed=(1,))])
    np.testing.assert_array_equal(whole, parts)
    assert not np.allclose(whole[0], whole[1])
    assert abs(float((whole - 0.5).std()) - 0.1) < 0.02
    other_seed = blur.apply_step(x, step, ids, seed=(2,))
    assert not np.allclose(whole, other_seed)


def test_chain_blur_then_noise_and_uint8_roundtrip():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(5, 16, 16, 3), dtype=np.uint8)
    steps = blur.parse_variant([{"kind": "gaussian_blur", "sigma": 1.0}, {"kind": "gaussian_noise", "sigma": 0.05}])
    out = blur.degrade_uint8(img, steps, [str(i) for i in range(5)], chunk=2)
    assert out.dtype == np.uint8 and out.shape == img.shape
    # deterministic, and independent of the chunk size
    np.testing.assert_array_equal(out, blur.degrade_uint8(img, steps, [str(i) for i in range(5)], chunk=5))
    # B = K*L + N: the blur reduces the pixel variance of white-ish noise images
    blurred = blur.degrade_uint8(img, steps[:1], [str(i) for i in range(5)])
    assert blurred.astype(float).std() < img.astype(float).std() / 2


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"kind": "gaussian_blurr", "sigma": 1}, "not a blur kind"),
        ({"kind": "gaussian_blur"}, "needs 'sigma'"),
        ({"kind": "gaussian_blur", "sigma": -1}, "must be > 0"),
        ({"kind": "gaussian_blur", "sigma": 0}, "must be > 0"),
        ({"kind": "gaussian_blur", "severity": 6}, "integer 1-5"),
        ({"kind": "gaussian_blur", "severity": 2, "sigma": 1}, "not both"),
        ({"kind": "gaussian_noise", "radius": 3, "sigma": 0.1}, "do not apply"),
        ({"kind": "motion_blur", "radius": 5}, "needs 'sigma'"),
    ],
)
def test_bad_blur_specs_name_the_key(spec, message):
    with pytest.raises(blur.BlurSpecError, match=message):
        blur.parse_variant(spec, "myblur")


def test_describe():
    steps = blur.parse_variant([{"kind": "gaussian_blur", "sigma": 2}, {"kind": "motion_blur", "severity": 1}])
    assert blur.describe(steps) == "gaussian_blur(sigma=2) -> motion_blur(radius=10, sigma=3, angle=random)"
    assert math.isclose(steps[1].params["radius"], 10)
