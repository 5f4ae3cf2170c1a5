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


# ---------------------------------------------------------------- strings from `snakemake --config`

from blurfocus.config import coerce_strings, load_schema  # noqa: E402


def test_command_line_strings_become_the_types_the_schema_expects():
    # what Snakemake hands over for --config 'figures={dpi: 80}' 'sanity={enabled: false}' ...
    raw = {
        "figures": {"dpi": "80", "layers": ["features.6"]},
        "sanity": {"enabled": "false"},
        "training": {"seeds": ["0", "1"], "lr": "1e-3", "init_seed": "null", "hflip": "true"},
        "saliency": {"sigma": "0.2", "limit_per_class": "~"},
        "blur": {"variants": {"b": [{"kind": "gaussian_blur", "sigma": "3"}],
                              "c": {"kind": "defocus_blur", "severity": "2"}}, "test": "null"},
        "dataset": {"path": "null", "classes": ["1", "2"]},
        "model": {"trainable": ["features"]},
        "device": "cpu",
    }
    out = coerce_strings(raw, load_schema())
    assert out["figures"] == {"dpi": 80, "layers": ["features.6"]} and type(out["figures"]["dpi"]) is int
    assert out["sanity"]["enabled"] is False
    assert out["training"] == {"seeds": [0, 1], "lr": 0.001, "init_seed": None, "hflip": True}
    assert out["saliency"] == {"sigma": 0.2, "limit_per_class": None}
    assert out["blur"]["variants"] == {"b": [{"kind": "gaussian_blur", "sigma": 3}],
                                       "c": {"kind": "defocus_blur", "severity": 2}}
    assert out["blur"]["test"] is None
    # strings stay strings where the schema wants strings (class names "1", "2", enums)
    assert out["dataset"] == {"path": None, "classes": ["1", "2"]}
    assert out["model"] == {"trainable": ["features"]} and out["device"] == "cpu"
    cfg = validate_config(raw)
    assert cfg["figures"]["dpi"] == 80 and cfg["training"]["seeds"] == [0, 1]


def test_a_whole_list_given_as_one_string_is_read():
    out = coerce_strings({"training": {"seeds": "[0, 1]"}, "figures": {"layers": "null"}}, load_schema())
    assert out == {"training": {"seeds": [0, 1]}, "figures": {"layers": None}}


@pytest.mark.parametrize(
    "section, key, text, fragment",
    [
        ("figures", "dpi", "eighty", "figures.dpi: 'eighty' is not of type 'integer'"),
        ("figures", "dpi", "80.5", "figures.dpi: '80.5' is not of type 'integer'"),
        ("figures", "dpi", "10", "figures.dpi: 10 is less than the minimum of 30"),
        ("sanity", "enabled", "maybe", "sanity.enabled: 'maybe' is not of type 'boolean'"),
        ("saliency", "sigma", "nan", "saliency.sigma: 'nan' is not of type 'number'"),
        ("saliency", "sigma", "1e400", "saliency.sigma: '1e400' is not of type 'number'"),
        ("training", "epochs", "true", "training.epochs: 'true' is not of type 'integer'"),
    ],
)
def test_strings_that_do_not_fit_keep_a_clear_error(section, key, text, fragment):
    bad(lambda c: c.setdefault(section, {}).update({key: text}), fragment)


def test_coercion_does_not_mutate_its_input():
    raw = {"figures": {"dpi": "80"}, "training": {"seeds": ["0"]}}
    before = copy.deepcopy(raw)
    coerce_strings(raw, load_schema())
    assert raw == before


def test_derived_defaults_are_filled_by_validation_not_by_rules():
    cfg = validate_config({"dataset": {"image_size": 64}})
    assert cfg["dataset"]["synthetic"]["size"] == 64  # null: the model input size
    assert validate_config({"dataset": {"image_size": 64, "synthetic": {"size": 48}}})["dataset"]["synthetic"]["size"] == 48
    cfg = validate_config({"dataset": {"source": "oxford_pets"}}, check_paths=False)
    assert cfg["dataset"]["path"] == "resources/oxford_pets"
    cfg = validate_config({"blur": {"variants": {"b1": {"kind": "gaussian_blur", "sigma": 1}},
                                    "train": None, "test": None}})
    assert cfg["blur"]["train"] == "b1" and cfg["blur"]["test"] == ["b1"]
    assert cfg["dataset"]["limit_per_class"] is None and cfg["saliency"]["limit_per_class"] is None
    assert validate_config({"training": {"epochs": 5}})["sanity"]["shuffled_epochs"] == 5


def test_rules_fill_no_defaults_themselves():
    text = "".join(p.read_text() for p in (REPO / "rules").glob("*.smk"))
    for pattern in ('["size"] or', '["limit_per_class"] or', '["url"] or', '["path"] or', '] or '):
        assert pattern not in text, pattern


def test_train_settings_from_config_json_roundtrip_and_errors():
    """One model's fine-tuning settings: from the validated training section, its stream seed and
    overrides (the data-randomization model's epochs and keep), through canonical JSON and back."""
    from blurfocus.config import validate_config
    from blurfocus.train_settings import TrainSettings

    section = validate_config({"training": {"epochs": 3, "lr": 0.001, "optimizer": "sgd", "seeds": [0, 1]}})["training"]
    s = TrainSettings.from_config(section, 1234)
    assert (s.epochs, s.lr, s.optimizer, s.seed, s.keep, s.hflip) == (3, 0.001, "sgd", 1234, "best", False)
    assert TrainSettings.from_json(s.to_json()) == s
    assert s.to_json() == TrainSettings.from_config(dict(reversed(list(section.items()))), 1234).to_json()  # canonical
    shuffled = TrainSettings.from_config(section, 1234, epochs=1, keep="last")
    assert (shuffled.epochs, shuffled.keep, shuffled.lr) == (1, "last", 0.001)
    assert s.key() != shuffled.key() and s.key() == TrainSettings.from_json(s.to_json()).key()
    with pytest.raises(ValueError, match="unknown overrides"):
        TrainSettings.from_config(section, 1, epoch=2)
    with pytest.raises(ValueError, match="expected the keys"):
        TrainSettings.from_json('{"epochs": 1}')
    with pytest.raises(ValueError, match="not JSON"):
        TrainSettings.from_json("epochs=1")
