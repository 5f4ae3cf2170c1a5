"""Config validation: JSON schema (with defaults) plus the checks a schema cannot express.

``validate_config(raw)`` returns a new dict with every default filled in, or raises
:class:`ConfigError` whose message names the key (dotted path), the bad value and what is
allowed. The Snakefile calls it before any job is scheduled.
"""

from __future__ import annotations

import copy
import difflib
import math
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Mapping

import jsonschema
import yaml

from . import archs, blur

SOURCES_WITH_PATH = ("folder", "kaggle_petimages", "kaggle_competition")


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which key and what is allowed."""


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The JSON schema shipped with the package (``schemas/config.schema.yaml``)."""
    text = resources.files("blurfocus").joinpath("schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


def schema_path() -> Path:
    return Path(str(resources.files("blurfocus").joinpath("schemas/config.schema.yaml")))


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft7Validator)


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _allowed(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    bits = []
    t = schema.get("type")
    if t:
        bits.append(" or ".join(t) if isinstance(t, list) else t)
    for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in schema:
            bits.append(f"{op} {schema[key]}")
    if "oneOf" in schema:
        bits.append(" | ".join(_allowed(s) for s in schema["oneOf"]))
    return ", ".join(bits) if bits else "see config.schema.yaml"


def _message(error: jsonschema.ValidationError) -> str:
    where = _path(error)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        lines = []
        for key in extra:
            full = f"{where}.{key}" if where != "<top level>" else key
            hint = difflib.get_close_matches(key, allowed, n=1)
            lines.append(
                f"unknown key '{full}'"
                + (f" (did you mean '{hint[0]}'?)" if hint else "")
                + f"; allowed keys here: {', '.join(allowed)}"
            )
        return "; ".join(lines)
    if error.validator == "oneOf" and error.context:
        # report the most specific sub-error (deepest path)
        best = max(error.context, key=lambda e: len(list(e.absolute_path)))
        return f"{where}: {error.instance!r} is not valid: {best.message}; allowed: {_allowed(error.schema)}"
    if error.validator == "propertyNames":
        return f"{where}: name {error.instance!r} is not allowed: use letters, digits and _ (starting with a letter)"
    return f"{where}: {error.message}; allowed: {_allowed(error.schema)}"


def _schema_errors(config: dict[str, Any]) -> Iterator[str]:
    validator = _Validator(load_schema())
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        yield _message(error)


def validate_config(raw: Mapping[str, Any] | None, *, check_paths: bool = True) -> dict[str, Any]:
    """Validate ``raw`` and return a copy with defaults filled in.

    Raises :class:`ConfigError` listing every problem found (one per line).
    ``check_paths`` also checks that files named in the config (dataset path, weights) exist.
    """
    config = copy.deepcopy(dict(raw or {}))
    errors = list(_schema_errors(config))
    if errors:
        raise ConfigError(_format(errors))
    errors = list(_semantic_errors(config, check_paths))
    if errors:
        raise ConfigError(_format(errors))
    return config


def _format(errors: list[str]) -> str:
    return "invalid configuration:\n" + "\n".join(f"  - {e}" for e in errors)


def _semantic_errors(config: dict[str, Any], check_paths: bool) -> Iterator[str]:
    ds = config["dataset"]
    split = ds["split"]
    total = split["train"] + split["val"] + split["test"]
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        yield (
            f"dataset.split: train + val + test = {total:g}, must sum to 1 "
            f"(got train={split['train']}, val={split['val']}, test={split['test']})"
        )
    if ds["source"] in SOURCES_WITH_PATH and not ds["path"]:
        yield f"dataset.path: source {ds['source']!r} needs the folder of the images"
    if check_paths and ds["source"] in SOURCES_WITH_PATH and ds["path"] and not ds["url"]:
        if not Path(ds["path"]).exists():
            yield (
                f"dataset.path: {ds['path']!r} does not exist; point it at the folder of the "
                f"{ds['source']} data (or set dataset.url to download it)"
            )
    if ds["min_size"] > ds["image_size"] * 8:
        yield f"dataset.min_size: {ds['min_size']} is larger than 8x dataset.image_size"
    syn = ds["synthetic"]
    if ds["source"] == "synthetic" and ds["classes"] is not None and len(ds["classes"]) != 2:
        yield "dataset.classes: the synthetic source has exactly two classes (e.g. [cat, dog])"
    if syn["size"] is not None and syn["size"] < 32:
        yield "dataset.synthetic.size: must be >= 32"

    yield from blur.add_sweep_variants(config["blur"])  # blur.sweeps -> blur.variants
    variants = config["blur"]["variants"]
    if "clear" in variants:
        yield "blur.variants: 'clear' is reserved for the unblurred images; pick another name"
    for name, spec in variants.items():
        try:
            blur.parse_variant(spec, name)
        except blur.BlurSpecError as exc:
            yield str(exc)
    names = list(variants)
    train = config["blur"]["train"]
    if train is None:
        config["blur"]["train"] = names[0]
    elif train not in variants:
        yield f"blur.train: {train!r} is not a defined blur variant; defined: {', '.join(names)}"
    test = config["blur"]["test"]
    if test is None:
        config["blur"]["test"] = names
    else:
        for t in test:
            if t not in variants:
                yield f"blur.test: {t!r} is not a defined blur variant; defined: {', '.join(names)}"

    model = config["model"]
    if not archs.is_known(model["arch"]):
        hint = difflib.get_close_matches(model["arch"], archs.suggestions(), n=3)
        yield (
            f"model.arch: {model['arch']!r} is not a known architecture"
            + (f" (did you mean {', '.join(hint)}?)" if hint else "")
            + "; allowed: any torchvision classification model name or efficientnet_lite0"
        )
    weights = model["weights"]
    if weights not in ("imagenet", "none") and check_paths:
        if not Path(weights).is_file():
            yield (
                f"model.weights: {weights!r} is neither 'imagenet', 'none' nor an existing file; "
                "give the path of a state dict saved with torch.save"
            )
        else:
            from .models import weights_file_problem  # imports torch: only for a weights path

            problem = weights_file_problem(weights)
            if problem:
                yield f"model.weights: {problem}"

    sal = config["saliency"]
    size = ds["image_size"]
    if sal["topk"] > size * size:
        yield f"saliency.topk: {sal['topk']} is larger than the map ({size}x{size} = {size * size} pixels)"
    if sal["mode"] == "vargrad" and sal["n_samples"] < 2:
        yield "saliency.n_samples: vargrad needs at least 2 samples"
