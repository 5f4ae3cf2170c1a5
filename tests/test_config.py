import copy
from pathlib import Path

import pytest
import yaml

from blurfocus.config import ConfigError, validate_config

REPO = Path(__file__).resolve().parents[1]


def default():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_default_config_validates_and_fills_defaults():
    cfg = validate_config(default())
    assert cfg["dataset"]["source"] == "synthetic"
    assert cfg["saliency"]["topk"] == 20
    assert cfg["saliency"]["sigma_range"] == "image"  # filled from the schema
    assert cfg["blur"]["train"] == "blur" and cfg["blur"]["test"] == ["blur"]
    assert cfg["dataset"]["synthetic"]["shape_aspect"] == 2.0


def test_empty_config_gets_every_default():
    cfg = validate_config({})
    assert cfg["model"]["arch"] == "alexnet"
    assert cfg["blur"]["variants"] == {"blur": [{"kind": "gaussian_blur", "sigma": 2.0}]}
    assert cfg["training"]["seeds"] == list(range(8)) and cfg["training"]["design"] == "independent"


def test_validation_does_not_mutate_input():
    raw = default()
    before = copy.deepcopy(raw)
    validate_config(raw)
    assert raw == before


def bad(mutator, *fragments):
    cfg = default()
    mutator(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    text = str(err.value)
    for f in fragments:
        assert f in text, text
    return text


def test_unknown_key_is_named_with_suggestion():
    bad(lambda c: c["saliency"].update(n_sample=10), "unknown key 'saliency.n_sample'", "did you mean 'n_samples'")


def test_unknown_top_level_key():
    bad(lambda c: c.update(trainig={}), "unknown key 'trainig'", "did you mean 'training'")


def test_wrong_type_names_key_and_type():
    bad(lambda c: c["training"].update(epochs="three"), "training.epochs", "integer")


def test_negative_sigma_rejected():
    bad(lambda c: c["blur"]["variants"]["blur"][0].update(sigma=-1.0), "blur.variants.blur[0].sigma", "> 0")


def test_zero_samples_rejected():
    bad(lambda c: c["saliency"].update(n_samples=0), "saliency.n_samples", ">= 1")


def test_negative_smoothgrad_sigma_rejected():
    bad(lambda c: c["saliency"].update(sigma=-0.1), "saliency.sigma")


def test_split_must_sum_to_one():
    bad(lambda c: c["dataset"].update(split={"train": 0.7, "val": 0.2, "test": 0.2}), "dataset.split", "sum to 1")


def test_undefined_blur_name():
    bad(lambda c: c["blur"].update(train="gauss"), "blur.train", "'gauss' is not a defined blur variant", "defined: blur")
    bad(lambda c: c["blur"].update(test=["blur", "motion"]), "blur.test", "'motion'")


def test_unknown_blur_kind_lists_allowed():
    text = bad(lambda c: c["blur"]["variants"]["blur"][0].update(kind="box_blur"), "box_blur")
    assert "gaussian_blur" in text


def test_unknown_architecture_suggests():
    bad(lambda c: c["model"].update(arch="alexnt"), "model.arch", "'alexnt'", "alexnet")


def test_topk_larger_than_map():
    bad(lambda c: (c["dataset"].update(image_size=32), c["saliency"].update(topk=32 * 32 + 1)), "saliency.topk", "32x32")


def test_missing_dataset_path():
    bad(lambda c: c["dataset"].update(source="folder", path="/no/such/folder"), "dataset.path", "does not exist")
    bad(lambda c: c["dataset"].update(source="folder", path=None), "dataset.path", "needs the folder")


def test_missing_weights_file():
    bad(lambda c: c["model"].update(weights="/no/such/weights.pt"), "model.weights", "/no/such/weights.pt")


def test_enum_lists_allowed_values():
    bad(lambda c: c["saliency"].update(mode="gradcam"), "saliency.mode", "'smoothgrad'", "'vargrad'")


def test_reserved_variant_name_clear():
    bad(lambda c: c["blur"]["variants"].update(clear={"kind": "gaussian_blur", "sigma": 1}), "'clear' is reserved")


def test_severity_variant_and_chain_accepted():
    cfg = default()
    cfg["blur"]["variants"] = {
        "defocus3": {"kind": "defocus_blur", "severity": 3},
        "blurnoise": [{"kind": "gaussian_blur", "sigma": 2}, {"kind": "gaussian_noise", "sigma": 0.02}],
    }
    cfg["blur"]["train"] = "blurnoise"
    cfg["blur"]["test"] = None
    out = validate_config(cfg)
    assert out["blur"]["test"] == ["defocus3", "blurnoise"]


def test_all_errors_reported_at_once():
    cfg = default()
    cfg["saliency"]["n_samples"] = 0
    cfg["training"]["lr"] = -1
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert "saliency.n_samples" in str(err.value) and "training.lr" in str(err.value)
