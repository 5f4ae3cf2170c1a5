"""Property-based tests (hypothesis): config validation and blur parameters never fail in an
uncontrolled way, and valid blur parameters always give valid images."""

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blurfocus import blur
from blurfocus.config import ConfigError, validate_config

DEFAULT = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())


def leaf_paths(d, prefix=()):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from leaf_paths(v, prefix + (k,))
        yield prefix + (k,)


PATHS = sorted(set(leaf_paths(validate_config(DEFAULT, check_paths=False))))

values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.lists(st.integers(-5, 5), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=3), st.booleans())
def test_config_mutations_validate_or_raise_config_error(mutations, add_unknown):
    cfg = copy.deepcopy(DEFAULT)
    for path, value in mutations:
        node = cfg
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
    if add_unknown:
        cfg["bogus_key"] = 1
    try:
        out = validate_config(cfg, check_paths=False)
    except ConfigError as exc:
        assert str(exc).startswith("invalid configuration:")
        assert "  - " in str(exc)
        if add_unknown:
            assert "bogus_key" in str(exc)
    else:
        assert not add_unknown
        assert isinstance(out, dict) and out["saliency"]["n_samples"] >= 1


@settings(max_examples=80, deadline=None)
@given(
    kind=st.sampled_from(blur.KINDS),
    a=st.floats(0.1, 9.0),
    b=st.floats(0.1, 9.0),
    angle=st.one_of(st.none(), st.floats(-180, 180)),
    size=st.integers(5, 24),
)
def test_valid_blur_parameters_give_valid_images(kind, a, b, angle, size):
    spec = {"kind": kind}
    if kind == "gaussian_blur":
        spec["sigma"] = a
    elif kind == "defocus_blur":
        spec.update(radius=a, alias_sigma=b / 10)
    elif kind in blur.MOTION_KINDS:
        spec.update(radius=a, sigma=b, angle=angle)
    elif kind == "translate":
        spec.update(dx=round(a), dy=-round(b))
    else:
        spec["sigma"] = a / 20
    step = blur.parse_step(spec)
    x = np.random.default_rng(0).random((2, size, size + 3, 3)).astype(np.float32)
    out = blur.apply_step(x, step, ["a", "b"])
    assert out.shape == x.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    if kind not in ("gaussian_noise", "translate"):
        k = {"gaussian_blur": lambda: blur.gaussian_kernel(a), "defocus_blur": lambda: blur.defocus_kernel(a, b / 10),
             "motion_blur": lambda: blur.motion_kernel(a, b, angle or 0.0),
             "motion_blur_imagenetc": lambda: blur.motion_kernel(a, b, angle or 0.0, centered=False)}[kind]()
        assert math.isclose(k.sum(), 1.0, abs_tol=1e-9) and (k >= 0).all()
        # a constant image stays constant (the kernel sums to 1, borders are reflected)
        const = np.full((1, size, size, 3), 0.3, np.float32)
        np.testing.assert_allclose(blur.apply_step(const, step, ["c"]), 0.3, atol=1e-5)


bad_numbers = st.one_of(st.floats(max_value=0.0), st.just(float("nan")), st.just(float("inf")), st.booleans(),
                        st.text(max_size=3), st.none())


@settings(max_examples=120, deadline=None)
@given(kind=st.sampled_from(["gaussian_blur", "defocus_blur", "motion_blur"]), bad=bad_numbers)
def test_invalid_blur_parameters_raise_blur_spec_error(kind, bad):
    key = {"gaussian_blur": "sigma", "defocus_blur": "radius", "motion_blur": "radius"}[kind]
    spec = {"kind": kind, key: bad}
    if kind == "motion_blur":
        spec["sigma"] = 2.0
    with pytest.raises(blur.BlurSpecError, match=key):
        blur.parse_step(spec)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["kind", "sigma", "radius", "severity", "angle", "alias_sigma", "zoom"]),
                       values, max_size=4))
def test_arbitrary_blur_specs_parse_or_raise_blur_spec_error(spec):
    try:
        steps = blur.parse_variant(spec, "fuzz")
    except blur.BlurSpecError:
        return
    assert len(steps) == 1 and steps[0].kind in blur.KINDS
