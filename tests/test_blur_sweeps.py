"""Strength sweeps (blur.sweeps) expand to variants with their strengths, in config validation."""

import copy
import re
from pathlib import Path

import pytest
import yaml

from blurfocus import blur
from blurfocus.config import ConfigError, load_schema, validate_config

DEFAULT = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
NAME = re.compile(load_schema()["properties"]["blur"]["properties"]["variants"]["propertyNames"]["pattern"])


def gauss_sweep(values=(0.5, 1, 2, 3, 4)):
    return {"gauss": {"kind": "gaussian_blur", "param": "sigma", "values": list(values)}}


def test_expand_gaussian_sweep_names_specs_and_strengths():
    out = blur.expand_sweeps(gauss_sweep())
    assert list(out.variants) == ["gauss_0p5", "gauss_1", "gauss_2", "gauss_3", "gauss_4"]
    for name, value in zip(out.variants, (0.5, 1, 2, 3, 4)):
        assert NAME.match(name)
        assert out.variants[name] == {"kind": "gaussian_blur", "sigma": value}
        assert out.strengths[name] == blur.Strength("gauss", "sigma", float(value))
        assert blur.parse_variant(out.variants[name], name)[0].params["sigma"] == value


def test_sweep_value_names_are_valid_and_distinct():
    values = [0.25, 0.5, 1, 1.5, 10, 100, -2, -0.75, 1e-5, 2.5e6]
    names = [f"s_{blur.sweep_value_name(v)}" for v in values]
    assert len(set(names)) == len(values)
    assert all(NAME.match(n) for n in names)
    assert blur.sweep_value_name(0.5) == "0p5" and blur.sweep_value_name(-2) == "m2" and blur.sweep_value_name(3.0) == "3"


def test_sweeps_with_fixed_parameters_and_severities():
    out = blur.expand_sweeps({
        "motion": {"kind": "motion_blur", "param": "sigma", "values": [1, 2.5], "fixed": {"radius": 10, "angle": 30}},
        "shift": {"kind": "translate", "param": "dx", "values": [1, -2], "fixed": {"dy": 1}},
        "defoc": {"kind": "defocus_blur", "param": "severity", "values": [1, 3]},
    })
    assert out.variants["motion_2p5"] == {"kind": "motion_blur", "radius": 10, "angle": 30, "sigma": 2.5}
    assert out.variants["shift_m2"] == {"kind": "translate", "dy": 1, "dx": -2}
    assert out.variants["defoc_3"] == {"kind": "defocus_blur", "severity": 3}
    assert out.strengths["defoc_3"] == blur.Strength("defoc", "severity", 3.0)
    assert list(out.variants) == ["motion_1", "motion_2p5", "shift_1", "shift_m2", "defoc_1", "defoc_3"]


@pytest.mark.parametrize(
    "sweep, message",
    [
        ({"kind": "gaussian_blur", "param": "radius", "values": [1]}, r"blur.sweeps.s.param: 'radius' is not a parameter of gaussian_blur"),
        ({"kind": "gaussian_blur", "param": "sigma", "values": [1, -1]}, r"blur.sweeps.s \(value -1\).sigma: -1 must be > 0"),
        ({"kind": "translate", "param": "dx", "values": [0.5]}, "whole number of pixels"),
        ({"kind": "motion_blur", "param": "sigma", "values": [1]}, "needs 'radius'"),
        ({"kind": "gaussian_blur", "param": "sigma", "values": [1], "fixed": {"sigma": 2}}, "must not set 'sigma'"),
        ({"kind": "gaussian_blur", "param": "sigma", "values": [1.0, 1.0000001]}, "twice"),
        ({"kind": "gaussian_blur", "param": "severity", "values": [6]}, "integer 1-5"),
        ({"kind": "gaussian_blur", "param": "sigma", "values": []}, "non-empty"),
    ],
)
def test_bad_sweeps_name_the_sweep(sweep, message):
    with pytest.raises(blur.BlurSpecError, match=message):
        blur.expand_sweeps({"s": sweep})


def config_with(sweeps, test=None, **blur_keys):
    cfg = copy.deepcopy(DEFAULT)
    cfg["blur"].update(sweeps=sweeps, test=test, **blur_keys)
    return cfg


def test_config_validation_expands_sweeps_into_variants_and_test():
    out = validate_config(config_with(gauss_sweep()), check_paths=False)
    expanded = ["gauss_0p5", "gauss_1", "gauss_2", "gauss_3", "gauss_4"]
    assert list(out["blur"]["variants"]) == ["blur"] + expanded
    assert out["blur"]["test"] == ["blur"] + expanded  # test: null takes every variant
    assert out["blur"]["train"] == "blur" and out["blur"]["scale"] == "size"
    # an explicit test list is kept; a sweep variant can be the training variant
    out = validate_config(config_with(gauss_sweep(), test=["gauss_1", "gauss_4"], train="gauss_2"), check_paths=False)
    assert out["blur"]["test"] == ["gauss_1", "gauss_4"] and out["blur"]["train"] == "gauss_2"
    # validating the validated config again changes nothing
    assert validate_config(out, check_paths=False) == out


def test_default_config_is_unchanged_by_sweeps():
    out = validate_config(copy.deepcopy(DEFAULT), check_paths=False)
    assert out["blur"]["sweeps"] == {} and list(out["blur"]["variants"]) == ["blur"]
    assert out["blur"]["test"] == ["blur"]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["blur"]["variants"].update(gauss_1={"kind": "gaussian_blur", "sigma": 9}), "already defines differently"),
        (lambda c: c["blur"]["sweeps"]["gauss"].update(param="radius"), "blur.sweeps.gauss.param"),
        (lambda c: c["blur"]["sweeps"]["gauss"].update(values="1,2"), "blur.sweeps.gauss.values"),
        (lambda c: c["blur"]["sweeps"]["gauss"].update(kind="box_blur"), "blur.sweeps.gauss.kind"),
        (lambda c: c["blur"]["sweeps"].update({"2x": c["blur"]["sweeps"]["gauss"]}), "blur.sweeps: '2x' does not match"),
        (lambda c: c["blur"].update(train="gauss_9"), "'gauss_9' is not a defined blur variant"),
        (lambda c: c["blur"].update(scale="pixels"), "blur.scale"),
    ],
)
def test_bad_sweep_config_names_the_key(mutate, message):
    cfg = config_with(gauss_sweep())
    mutate(cfg)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg, check_paths=False)


def test_same_spec_under_a_sweep_name_is_accepted():
    cfg = config_with(gauss_sweep())
    cfg["blur"]["variants"]["gauss_2"] = [{"kind": "gaussian_blur", "sigma": 2.0}]
    out = validate_config(cfg, check_paths=False)
    assert out["blur"]["variants"]["gauss_2"] == [{"kind": "gaussian_blur", "sigma": 2.0}]


def test_schema_kinds_are_the_library_kinds():
    schema = load_schema()
    assert schema["definitions"]["blur_step"]["properties"]["kind"]["enum"] == list(blur.KINDS)
    params = {p for kind_params in blur._PARAMS.values() for p in kind_params} | {"kind", "severity", "angle"}
    assert set(schema["definitions"]["blur_step"]["properties"]) == params
