"""Non-blur controls at matched strength: match_strength picks the noise sigma / shift / blur
size whose mean SSIM to the clear images equals a given blur's (checked with scikit-image)."""

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from blurfocus import blur, synthetic
from blurfocus.seeding import rng_for


@pytest.fixture(scope="module")
def images():
    """Eight known-answer images (48 px), float [0, 1]."""
    imgs = [synthetic.render(i % 2, 48, rng_for(0, "control-test", i))[0] for i in range(8)]
    return np.stack(imgs).astype(np.float32) / 255.0


def skimage_mean_ssim(a, b):
    return float(np.mean([
        structural_similarity(a[i], b[i], data_range=1.0, channel_axis=-1, gaussian_weights=True, use_sample_covariance=False)
        for i in range(len(a))
    ]))


def degrade(x, spec, ids, seed=()):
    return blur.degrade_uint8(np.rint(x * 255).astype(np.uint8), blur.parse_variant(spec), ids, seed=seed).astype(np.float32) / 255.0


def test_mean_ssim_equals_skimage(images):
    other = blur.apply_step(images, blur.parse_step({"kind": "gaussian_blur", "sigma": 1.3}), [str(i) for i in range(8)])
    assert blur.mean_ssim(images, other) == pytest.approx(skimage_mean_ssim(images, other), abs=1e-6)
    assert blur.mean_ssim(images, images) == pytest.approx(1.0)


@pytest.mark.parametrize("target", [{"kind": "gaussian_blur", "sigma": 2.0}, {"kind": "defocus_blur", "radius": 1.5}])
def test_noise_matched_to_a_blur_has_its_ssim(images, target):
    ids = [f"img{i}" for i in range(8)]
    m = blur.match_strength(images, target, "gaussian_noise", image_ids=ids, seed=(5,), tol=1e-4)
    assert m.kind == "gaussian_noise" and m.param == "sigma" and m.spec == {"kind": "gaussian_noise", "sigma": m.value}
    assert "equal mean SSIM" in m.criterion
    # independent check with scikit-image, the noise drawn as the pipeline draws it
    blurred = blur.apply_step(images, blur.parse_step(target), ids, seed=(5,))
    noisy = blur.apply_step(images, blur.parse_step(m.spec), ids, seed=(5,))
    target_ssim = skimage_mean_ssim(images, blurred)
    assert m.target_ssim == pytest.approx(target_ssim, abs=1e-6)
    assert skimage_mean_ssim(images, noisy) == pytest.approx(target_ssim, abs=2e-4)
    # and a bit less / more noise misses it on either side: the match is not trivially wide
    for factor, sign in ((0.8, 1), (1.25, -1)):
        other = blur.apply_step(images, blur.parse_step({"kind": "gaussian_noise", "sigma": m.value * factor}), ids, seed=(5,))
        assert sign * (skimage_mean_ssim(images, other) - target_ssim) > 5e-3


def test_blur_sizes_can_be_matched_too(images):
    target = {"kind": "gaussian_blur", "sigma": 2.0}
    # a disc's pixels change only at some radii, so the defocus match is as close as those steps allow
    for kind, gap in (("defocus_blur", 1e-3), ("motion_blur", 2e-4)):
        m = blur.match_strength(images, target, kind, fixed={"angle": 0} if kind == "motion_blur" else None, tol=1e-4)
        out = blur.apply_step(images, blur.parse_step(m.spec), [str(i) for i in range(8)])
        assert skimage_mean_ssim(images, out) == pytest.approx(m.achieved_ssim, abs=1e-6)
        assert m.achieved_ssim == pytest.approx(m.target_ssim, abs=gap)


def test_translation_is_the_closest_whole_shift(images):
    ids = [str(i) for i in range(8)]
    target = [{"kind": "gaussian_blur", "sigma": 1.0}]
    m = blur.match_strength(images, target, "translate", bounds=(1, 6), image_ids=ids)
    assert m.param == "dx" and m.value == int(m.value) and 1 <= m.value <= 6
    t = skimage_mean_ssim(images, blur.apply_step(images, blur.parse_step(target[0]), ids))
    scores = {s: skimage_mean_ssim(images, blur.translate_images(images, s, 0)) for s in range(1, 7)}
    best = min(scores, key=lambda s: (abs(scores[s] - t), s))
    assert m.value == best and m.achieved_ssim == pytest.approx(scores[best], abs=1e-6)
    assert m.spec == {"kind": "translate", "dx": float(best)}


def test_unreachable_target_is_a_clear_error(images):
    with pytest.raises(blur.BlurSpecError, match="widen bounds"):
        blur.match_strength(images, {"kind": "gaussian_blur", "sigma": 4.0}, "gaussian_noise", bounds=(0.0, 0.001))


def test_uint8_and_float_inputs_agree(images):
    u8 = np.rint(images * 255).astype(np.uint8)
    a = blur.match_strength(u8, {"kind": "gaussian_blur", "sigma": 2.0}, "gaussian_noise", tol=1e-3)
    b = blur.match_strength(u8.astype(np.float32) / 255, {"kind": "gaussian_blur", "sigma": 2.0}, "gaussian_noise", tol=1e-3)
    assert a == b
