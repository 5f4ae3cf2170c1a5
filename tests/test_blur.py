import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from blurfocus import blur
from blurfocus.seeding import rng_for


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
    # ImageMagick's convention: out(p) = sum_i w_i in(p + o_i), o_i = i (cos a, sin a) with rows
    # growing downwards, so a bright pixel is smeared towards -o_i: left for angle 0, up for 90
    k = blur.motion_kernel(10, 3, 0.0, centered=False)
    c = k.shape[0] // 2
    row = k[c]
    assert row[c] == row.max()
    assert row[c - 5] > 0 and row[c + 1 :].sum() == 0
    assert np.count_nonzero(k) == np.count_nonzero(row)
    k90 = blur.motion_kernel(10, 3, 90.0, centered=False)
    col = k90[:, c]
    assert col[c - 5] > 0 and col[c + 1 :].sum() == 0  # upwards (rows decrease)
    assert np.count_nonzero(k90) == np.count_nonzero(col)


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
    assert blur.describe(steps) == (
        "gaussian_blur(sigma=2) -> motion_blur(radius=10, sigma=3, angle=random; ImageNet-C severity 1, lengths x1)"
    )
    assert math.isclose(steps[1].params["radius"], 10)


# --------------------------------------------------------------------------- motion blur vs ImageMagick


def _imagemagick() -> str:
    """The real ImageMagick (Debian's imagemagick: /usr/bin/convert); never a stand-in."""
    for exe in (os.environ.get("BLURFOCUS_IMAGEMAGICK"), "/usr/bin/convert", "/usr/bin/magick"):
        if exe and Path(exe).is_file():
            out = subprocess.run([exe, "-version"], capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.startswith("Version: ImageMagick"):
                return exe
    pytest.skip(
        "SKIPPED LOUDLY: ImageMagick not found (install Debian's imagemagick for /usr/bin/convert, or set "
        "BLURFOCUS_IMAGEMAGICK): the motion-blur direction is NOT checked against ImageMagick"
    )


def _write_ppm16(path: Path, x: np.ndarray) -> None:
    h, w, _ = x.shape
    path.write_bytes(f"P6\n{w} {h}\n65535\n".encode() + np.rint(x * 65535).astype(">u2").tobytes())


def _read_ppm16(path: Path) -> np.ndarray:
    magic, w, h, maxval, pixels = path.read_bytes().split(maxsplit=4)
    assert magic == b"P6" and int(maxval) == 65535
    return np.frombuffer(pixels, dtype=">u2").reshape(int(h), int(w), 3).astype(np.float64) / 65535


def _smooth_test_image(h=48, w=56, seed=0):
    x = ndimage.gaussian_filter(np.random.default_rng(seed).random((h, w, 3)), (1.5, 1.5, 0))
    x = (x - x.min()) / (x.max() - x.min())
    return np.rint(x * 65535) / 65535  # exactly representable in the 16-bit file


MOTION_CASES = [(5, 3, 0.0), (5, 3, 30.0), (4, 2, 90.0), (6, 4, -45.0), (5, 3, 135.0), (3, 1.5, 200.0)]


@pytest.mark.parametrize("radius, sigma, angle", MOTION_CASES)
def test_motion_blur_direction_equals_imagemagick(radius, sigma, angle, tmp_path):
    exe = _imagemagick()
    x = _smooth_test_image()
    _write_ppm16(tmp_path / "in.ppm", x)
    subprocess.run(
        [exe, str(tmp_path / "in.ppm"), "-motion-blur", f"{radius}x{sigma}{angle:+g}", "-depth", "16", str(tmp_path / "out.ppm")],
        check=True,
    )
    im = _read_ppm16(tmp_path / "out.ppm")
    m = 2 * radius + 2  # ImageMagick extends the border by edge pixels; compare the interior
    inner = (slice(m, -m), slice(m, -m))
    xs = x[None].astype(np.float32)
    spec = {"kind": "motion_blur_imagenetc", "radius": radius, "sigma": sigma, "angle": angle}
    one_sided = blur.apply_step(xs, blur.parse_step(spec), ["a"])[0]
    np.testing.assert_allclose(one_sided[inner], im[inner], atol=3e-5)
    # the mirrored streak (the old kernel's columns) does not match: the test can tell directions
    if math.cos(math.radians(angle)) ** 2 > 0.1:
        mirrored = blur.filter_images(xs, blur.motion_kernel(radius, sigma, angle, centered=False)[:, ::-1])[0]
        assert np.abs(mirrored - im)[inner].max() > 0.05
    # the centred kernel is ImageMagick's streak moved back by the shift it makes
    dy, dx = blur.motion_shift(radius, sigma, angle)
    centred = blur.apply_step(xs, blur.parse_step({**spec, "kind": "motion_blur"}), ["a"])[0]
    np.testing.assert_allclose(centred[inner], ndimage.shift(im, (-dy, -dx, 0), order=1)[inner], atol=3e-5)


def _blob_image(size=121, seed=1):
    """A lopsided blob in the middle of a black image (no content near the border)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((1, size, size, 3), np.float32)
    c = size // 2
    patch = ndimage.gaussian_filter(rng.random((17, 13, 3)), (1, 1, 0))
    patch[:, :5] *= 2.5  # asymmetric, so a wrong shift cannot cancel out
    x[0, c - 8 : c + 9, c - 6 : c + 7] = np.clip(patch, 0, 1)
    return x


def _centre_of_mass(img: np.ndarray) -> np.ndarray:
    """(row, column) centre of mass of each channel of an HxWxC image, pixels."""
    rows, cols = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    mass = img.sum(axis=(0, 1))
    return np.stack([(img * rows[..., None]).sum(axis=(0, 1)) / mass, (img * cols[..., None]).sum(axis=(0, 1)) / mass])


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("angle", [0.0, 17.0, -45.0, 90.0, None])
def test_centred_motion_kernel_keeps_the_centre_of_mass(severity, angle):
    x = _blob_image()
    before = _centre_of_mass(x[0])
    spec = {"kind": "motion_blur", "severity": severity, "angle": angle}
    centred = blur.apply_step(x, blur.parse_step(spec), ["img"], seed=(3,))[0]
    np.testing.assert_allclose(_centre_of_mass(centred), before, atol=2e-3)
    # the ImageNet-C kernel moves it, by motion_shift (same seeded angle for both kinds)
    one_sided = blur.apply_step(x, blur.parse_step({**spec, "kind": "motion_blur_imagenetc"}), ["img"], seed=(3,))[0]
    moved = (_centre_of_mass(one_sided) - before).mean(axis=1)
    a = angle if angle is not None else float(rng_for(3, "motion_blur", "img").uniform(-45, 45))
    p = blur.SEVERITY["motion_blur"][severity - 1]
    np.testing.assert_allclose(moved, blur.motion_shift(p["radius"], p["sigma"], a), atol=2e-3)
    assert 2.0 < np.hypot(*moved) < 12.0  # the 2-11 px at severities 1-5 (224 px)


def test_motion_kernels_centre_of_mass_and_length():
    for r, s, a in MOTION_CASES + [(20, 15, 33.3), (0.4, 0.3, 10.0)]:
        k = blur.motion_kernel(r, s, a)
        h = k.shape[0] // 2
        rows, cols = np.mgrid[-h : h + 1, -h : h + 1]
        assert abs((k * rows).sum()) < 1e-12 and abs((k * cols).sum()) < 1e-12
        # the one-sided kernel's centre of mass (convolution form) is the shift it makes
        one = blur.motion_kernel(r, s, a, centered=False)
        ho = one.shape[0] // 2
        ro, co = np.mgrid[-ho : ho + 1, -ho : ho + 1]
        np.testing.assert_allclose([(one * ro).sum(), (one * co).sum()], blur.motion_shift(r, s, a), atol=1e-12)
    w = np.exp(-np.arange(21) ** 2 / 18.0)
    assert blur.motion_shift_length(10, 3) == pytest.approx((np.arange(21) * w).sum() / w.sum())


# --------------------------------------------------------------------------- defocus borders


def _cv2_reference_disk(radius, alias_sigma):
    """ImageNet-C's disk(), with cv2.GaussianBlur replaced by scipy's 'mirror' border, which is
    OpenCV's default BORDER_REFLECT_101 (gfedcb|abcdefgh|gfedcba)."""
    half = 8 if radius <= 8 else int(math.ceil(radius))
    L = np.arange(-half, half + 1)
    X, Y = np.meshgrid(L, L)
    disk = (X**2 + Y**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    ks = 3 if radius <= 8 else 5
    t = np.arange(ks) - (ks - 1) / 2
    g = np.exp(-(t**2) / (2 * alias_sigma**2))
    g /= g.sum()
    return ndimage.correlate(disk, np.outer(g, g), mode="mirror"), ndimage.correlate(disk, np.outer(g, g), mode="constant")


@pytest.mark.parametrize("radius, alias_sigma", [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5), (9.5, 0.7)])
def test_defocus_border_taps_equal_reflect101_reference(radius, alias_sigma):
    k = blur.defocus_kernel(radius, alias_sigma)
    ref, zero = _cv2_reference_disk(radius, alias_sigma)
    ref = ref / ref.sum()
    border = np.ones_like(k, bool)
    border[1:-1, 1:-1] = False
    np.testing.assert_allclose(k[border], ref[border], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(k, ref, rtol=1e-12, atol=1e-15)
    if radius >= 8:  # where the disc reaches the edge, zero padding is ~10% of the peak off
        assert np.abs(zero / zero.sum() - ref)[border].max() > 0.05 * k.max()


# --------------------------------------------------------------------------- severity scaling


def test_severity_scale_factor():
    assert blur.severity_scale("size", 224) == 1.0
    assert blur.severity_scale("size", 96) == pytest.approx(96 / 224)
    assert blur.severity_scale("raw", 96) == 1.0
    with pytest.raises(blur.BlurSpecError, match="blur.scale"):
        blur.severity_scale("pixels", 96)


@pytest.mark.parametrize("size", [64, 96, 224, 448])
def test_severity_parameters_scale_with_size(size):
    f = size / 224
    for sev in range(1, 6):
        g = blur.parse_step({"kind": "gaussian_blur", "severity": sev}, scale=f)
        assert g.params["sigma"] == pytest.approx([1, 2, 3, 4, 6][sev - 1] * f)
        d = blur.parse_step({"kind": "defocus_blur", "severity": sev}, scale=f)
        r, a = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][sev - 1]
        assert d.params == pytest.approx({"radius": r * f, "alias_sigma": a})  # alias smooths the pixel grid
        for kind in ("motion_blur", "motion_blur_imagenetc"):
            m = blur.parse_step({"kind": kind, "severity": sev}, scale=f)
            r, s = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][sev - 1]
            assert m.params == pytest.approx({"radius": r * f, "sigma": s * f})
        n = blur.parse_step({"kind": "gaussian_noise", "severity": sev}, scale=f)
        assert n.params["sigma"] == [0.08, 0.12, 0.18, 0.26, 0.38][sev - 1]  # intensities are not lengths
        assert g.severity == sev and g.scale == pytest.approx(f)
    # explicit parameters are pixels of the model input, never scaled
    assert blur.parse_step({"kind": "gaussian_blur", "sigma": 2.0}, scale=f).params["sigma"] == 2.0


def test_scaled_severity_blurs_as_the_scaled_sigma():
    x = rand_images(2, 40, 40)
    step = blur.parse_step({"kind": "gaussian_blur", "severity": 3}, scale=blur.severity_scale("size", 96))
    ref = np.stack([ndimage.gaussian_filter(x[i], sigma=(3 * 96 / 224,) * 2 + (0,), mode="reflect", truncate=4.0) for i in range(2)])
    np.testing.assert_allclose(blur.apply_step(x, step, ["a", "b"]), np.clip(ref, 0, 1), atol=2e-6)


def test_job_record_states_the_scaling_and_the_motion_shift():
    steps = blur.parse_variant([{"kind": "motion_blur", "severity": 1, "angle": 30}, {"kind": "gaussian_noise", "sigma": 0.01}], "m", scale=96 / 224)
    rec = blur.job_record(steps, "size", 96)
    assert rec["severity_scale_mode"] == "size" and rec["severity_scale"] == pytest.approx(96 / 224)
    assert rec["reference_size"] == 224 and rec["image_size"] == 96 and rec["uses_severity"]
    m = rec["steps"][0]
    assert m["centered"] is True and m["severity"] == 1 and m["radius"] == pytest.approx(10 * 96 / 224)
    assert m["one_sided_shift_px"] == pytest.approx(blur.motion_shift_length(10 * 96 / 224, 3 * 96 / 224))
    assert m["one_sided_shift_rows_cols"] == pytest.approx(list(blur.motion_shift(10 * 96 / 224, 3 * 96 / 224, 30)))
    raw = blur.job_record(blur.parse_variant({"kind": "gaussian_blur", "sigma": 2}), "raw", 96)
    assert raw["severity_scale"] == 1.0 and not raw["uses_severity"]


# --------------------------------------------------------------------------- translation control


@pytest.mark.parametrize("dx, dy", [(0, 0), (3, 0), (-2, 5), (12, -7), (-30, 40)])
def test_translate_matches_scipy_shift_with_reflected_border(dx, dy):
    x = rand_images(2, 9, 11)
    out = blur.apply_step(x, blur.parse_step({"kind": "translate", "dx": dx, "dy": dy}), ["a", "b"])
    np.testing.assert_array_equal(out, ndimage.shift(x, (0, dy, dx, 0), order=0, mode="reflect"))


def test_translate_moves_content_right_and_down():
    x = _blob_image(41)
    out = blur.apply_step(x, blur.parse_step({"kind": "translate", "dx": 3, "dy": -2}), ["a"])
    np.testing.assert_allclose(_centre_of_mass(out[0]) - _centre_of_mass(x[0]), [[-2] * 3, [3] * 3], atol=1e-4)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"kind": "translate", "dx": 0.5}, "whole number of pixels"),
        ({"kind": "translate", "severity": 2}, "do not apply"),
        ({"kind": "translate", "sigma": 1}, "do not apply"),
        ({"kind": "motion_blur_imagenetc", "radius": 3}, "needs 'sigma'"),
    ],
)
def test_bad_new_kind_specs_name_the_key(spec, message):
    with pytest.raises(blur.BlurSpecError, match=message):
        blur.parse_variant(spec, "myblur")
