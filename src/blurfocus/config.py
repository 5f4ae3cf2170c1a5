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

from . import archs, arms, blur

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


# ---------------------------------------------------------------- strings from the command line

_NULL_WORDS = ("null", "Null", "NULL", "~")


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local ``$ref`` (``#/definitions/...``)."""
    while isinstance(schema, Mapping) and "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _branches(schema: Mapping[str, Any], root: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The schema itself, or its ``oneOf``/``anyOf`` alternatives (resolved)."""
    alts = schema.get("oneOf") or schema.get("anyOf")
    return [_resolve(s, root) for s in alts] if alts else [schema]


def _accepts_type(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> bool:
    """Whether ``value``'s JSON type (or enum membership) fits ``schema``; limits not checked."""
    checker = jsonschema.Draft7Validator.TYPE_CHECKER
    for branch in _branches(schema, root):
        if "enum" in branch:
            if any(value == v and type(value) is type(v) for v in branch["enum"]):
                return True
            continue
        types = branch.get("type")
        if types is None:
            return True
        types = [types] if isinstance(types, str) else types
        if any(checker.is_type(value, t) for t in types):
            return True
    return False


def _parse_scalar(text: str) -> Any:
    """A number, boolean, null or list read from ``text`` (YAML), else ``text`` unchanged.

    Non-finite numbers are never produced; ``1e-3`` (no dot, a string to YAML 1.1) is a number.
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            value = float(text) if any(c.isdigit() for c in text) else text
        except ValueError:
            return text
    if isinstance(value, float) and not math.isfinite(value):
        return text
    return value


def coerce_strings(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> Any:
    """A copy of ``value`` where strings stand for the numbers, booleans, nulls or lists the
    schema expects at their place (``snakemake --config 'figures={dpi: 80}'`` hands over
    ``{'dpi': '80'}``).

    A string is converted only where the schema does not accept a string there and its YAML
    reading has an accepted type (``'80'`` -> 80, ``'true'`` -> True, ``'[0, 1]'`` -> [0, 1]);
    where the schema accepts both a string and null (``dataset.path``), ``null`` / ``~`` become
    None. Anything else is returned unchanged, so validation reports it as before.
    """
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            sub = None
            for branch in _branches(schema, root):
                props = branch.get("properties", {})
                extra = branch.get("additionalProperties")
                sub = props.get(key, extra if isinstance(extra, Mapping) else None)
                if sub is not None:
                    break
            out[key] = coerce_strings(item, sub, root) if sub is not None else copy.deepcopy(item)
        return out
    if isinstance(value, list):
        for branch in _branches(schema, root):
            if isinstance(branch.get("items"), Mapping):
                return [coerce_strings(v, branch["items"], root) for v in value]
        return copy.deepcopy(value)
    if isinstance(value, str):
        if _accepts_type(value, schema, root):
            if value in _NULL_WORDS and _accepts_type(None, schema, root):
                return None
            return value
        parsed = _parse_scalar(value)
        if parsed is value:
            return value
        if isinstance(parsed, (list, dict)):
            parsed = coerce_strings(parsed, schema, root)
        return parsed if _accepts_type(parsed, schema, root) else value
    return value


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

    Strings where the schema expects numbers, booleans, nulls or lists (nested ``--config``
    values) are converted first (:func:`coerce_strings`).

    Raises :class:`ConfigError` listing every problem found (one per line).
    ``check_paths`` also checks that files named in the config (dataset path, weights) exist.
    """
    config = coerce_strings(dict(raw or {}), load_schema())
    errors = list(_schema_errors(config))
    if errors:
        raise ConfigError(_format(errors))
    errors = list(blur.add_sweep_variants(config["blur"]))  # blur.sweeps -> blur.variants
    if errors:
        raise ConfigError(_format(errors))
    fill_derived_defaults(config)
    errors = list(_semantic_errors(config, check_paths))
    if errors:
        raise ConfigError(_format(errors))
    return config


def _format(errors: list[str]) -> str:
    return "invalid configuration:\n" + "\n".join(f"  - {e}" for e in errors)


def fill_derived_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """Fill (in place, returned) the defaults that depend on other keys, so that rules and
    scripts read every value as it is used:

    - ``blur.train`` null: the first blur variant (the arms: :func:`blurfocus.arms.training_arms`);
      ``blur.test`` null: every variant;
    - ``dataset.synthetic.size`` null: ``dataset.image_size`` (pixels);
    - ``dataset.path`` null for ``oxford_pets``: ``resources/oxford_pets`` (the download root);
    - ``sanity.shuffled_epochs`` null: ``training.epochs``.

    ``config`` must already satisfy the schema (with its plain defaults filled in).
    """
    names = list(config["blur"]["variants"])
    if config["blur"]["train"] is None:
        config["blur"]["train"] = names[0]
    if config["blur"]["test"] is None:
        config["blur"]["test"] = names
    ds = config["dataset"]
    if ds["synthetic"]["size"] is None:
        ds["synthetic"]["size"] = ds["image_size"]
    if ds["source"] == "oxford_pets" and ds["path"] is None:
        ds["path"] = "resources/oxford_pets"
    if config["sanity"].get("shuffled_epochs") is None:
        config["sanity"]["shuffled_epochs"] = config["training"]["epochs"]
    return config


def _semantic_errors(config: dict[str, Any], check_paths: bool) -> Iterator[str]:
    """The checks a JSON schema cannot express (run after :func:`fill_derived_defaults`);
    checks only, changes nothing."""
    yield from _dataset_errors(config["dataset"], check_paths)
    yield from _blur_errors(config["blur"])
    yield from _model_errors(config["model"], check_paths)
    yield from _saliency_errors(config["saliency"], config["dataset"]["image_size"])


def _dataset_errors(ds: dict[str, Any], check_paths: bool) -> Iterator[str]:
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
    if ds["source"] == "synthetic" and ds["classes"] is not None and len(ds["classes"]) != 2:
        yield "dataset.classes: the synthetic source has exactly two classes (e.g. [cat, dog])"


def _blur_errors(section: dict[str, Any]) -> Iterator[str]:
    variants = section["variants"]
    if "clear" in variants:
        yield "blur.variants: 'clear' is reserved for the unblurred images; pick another name"
    for name, spec in variants.items():
        try:
            blur.parse_variant(spec, name)
        except blur.BlurSpecError as exc:
            yield str(exc)
    names = list(variants)
    try:
        arms.training_arms(section["train"], names)
    except arms.ArmsError as exc:
        yield str(exc)
    for t in section["test"]:
        if t not in variants:
            yield f"blur.test: {t!r} is not a defined blur variant; defined: {', '.join(names)}"


def _model_errors(model: dict[str, Any], check_paths: bool) -> Iterator[str]:
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


def _saliency_errors(sal: dict[str, Any], size: int) -> Iterator[str]:
    if sal["topk"] > size * size:
        yield f"saliency.topk: {sal['topk']} is larger than the map ({size}x{size} = {size * size} pixels)"
    if sal["mode"] == "vargrad" and sal["n_samples"] < 2:
        yield "saliency.n_samples: vargrad needs at least 2 samples"
