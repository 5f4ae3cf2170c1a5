"""Sanity checks of the saliency method (Adebayo et al., "Sanity Checks for Saliency Maps",
NeurIPS 2018): cascading model-parameter randomization and data randomization.

*Model-parameter randomization*: starting from a trained model, the layers with parameters are
re-initialized one after the other from the top (the logits) down to the input; after each step
the saliency maps of the same images are recomputed (same noise) and compared with the trained
model's maps. *Data randomization*: a model of the same architecture and recipe trained on the
same images with permuted labels (``blurfocus.train.permute_labels``) is compared, map by map,
with the model trained on the true labels. Both comparisons use the Spearman rank correlation of
the absolute maps and SSIM of the maps scaled to [0, 1]. Maps that barely change when the
model's weights or labels are destroyed do not explain the model.

The verdict of a test is a pure function of its mean similarities and the configured thresholds
(``sanity.red_flag_spearman``, ``sanity.red_flag_ssim``), see :func:`judge`.

torch is imported only inside :func:`cascading_randomization` (the one function that runs a
model), so the metrics and verdicts load without it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .metrics import ssim

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

PASSED, RED_FLAG, INCONCLUSIVE = "passed", "red flag", "inconclusive"
MODEL_TEST, DATA_TEST, OVERALL = "model_randomization", "data_randomization", "overall"


def unit_scale(m: np.ndarray) -> np.ndarray:
    """|map| divided by its maximum (all-zero maps stay zero)."""
    m = np.abs(np.asarray(m, dtype=np.float64))
    hi = m.max()
    return m / hi if hi > 0 else m


def spearman_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of the absolute maps (NaN if either is constant)."""
    a, b = np.abs(np.ravel(a)), np.abs(np.ravel(b))
    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def compare_maps(reference: np.ndarray, maps: np.ndarray) -> pd.DataFrame:
    """Map-by-map similarity of two stacks of maps of the same images, each (N, H, W).

    Returns ``image`` (row index 0..N-1), ``spearman`` (of the absolute maps, NaN when a map is
    constant) and ``ssim`` (of the maps scaled by :func:`unit_scale` to [0, 1]).
    """
    reference, maps = np.asarray(reference), np.asarray(maps)
    if reference.shape != maps.shape or reference.ndim != 3:
        raise ValueError(f"compare_maps: expected two (N, H, W) stacks of equal shape, got {reference.shape} "
                         f"and {maps.shape}")
    rows = [(i, spearman_abs(reference[i], maps[i]), ssim(unit_scale(reference[i]), unit_scale(maps[i])))
            for i in range(len(reference))]
    return pd.DataFrame(rows, columns=["image", "spearman", "ssim"])


def cascade_layers(net: nn.Module, max_steps: int = 12) -> list[list[str]]:
    """Cascade steps from the output back to the input: each step is a list of modules that own
    parameters (names inside ``net``), re-initialized together.

    Small networks (AlexNet: 8 layers) get one module per step; deeper ones are grouped by name
    prefix (e.g. timm's ``blocks.3``) into at most about ``max_steps`` blocks, as Adebayo et
    al. did for Inception.
    """
    names = [n for n, m in net.named_modules() if n and any(True for _ in m.parameters(recurse=False))]

    def group_by(level: int) -> list[list[str]]:
        groups: dict[str, list[str]] = {}
        for n in names:
            groups.setdefault(".".join(n.split(".")[:level]), []).append(n)
        return list(groups.values())

    depth = max((n.count(".") + 1 for n in names), default=1)
    steps = group_by(1)
    for level in range(2, depth + 1):  # the finest grouping with at most max_steps steps
        finer = group_by(level)
        if len(finer) > max_steps:
            break
        steps = finer
    return steps[::-1]


def step_name(group: Sequence[str]) -> str:
    """A step's label: the module name, or the common prefix of a block of modules."""
    if len(group) == 1:
        return group[0]
    parts = [g.split(".") for g in group]
    common = []
    for level in zip(*parts):
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return ".".join(common) or "+".join(group[:2])


def cascading_randomization(
    model: nn.Module,
    maps_fn: Callable[[nn.Module], np.ndarray],
    layers: Sequence[Sequence[str]],
    seed: int = 0,
    log_fn: Callable[[str], None] = print,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Re-initialize the steps in ``layers`` cumulatively (each a list of module names inside
    ``model.net``) on a copy of ``model`` and compare maps with the trained model's.

    ``maps_fn(model)`` returns the (N, H, W) maps of the fixed images. Returns a table
    ``step, layer, image, spearman, ssim`` (step 0 = the trained model compared with itself)
    and the maps of every step keyed by the step's name (its common prefix; "trained" for step 0).
    The re-initialization draws from ``torch.manual_seed(seed)``.
    """
    import torch

    work = copy.deepcopy(model)
    reference = maps_fn(work)
    all_maps = {"trained": reference}
    tables = [compare_maps(reference, reference).assign(step=0, layer="trained")]
    torch.manual_seed(seed)
    for step, group in enumerate(layers, start=1):
        name = step_name(group)
        for module_name in group:
            module = work.net.get_submodule(module_name)
            if not hasattr(module, "reset_parameters"):
                raise ValueError(f"layer {module_name!r} cannot be re-initialized (no reset_parameters)")
            module.reset_parameters()
        maps = maps_fn(work)
        all_maps[name] = maps
        table = compare_maps(reference, maps).assign(step=step, layer=name)
        tables.append(table)
        log_fn(f"step {step}: randomized down to {name}: mean Spearman {table['spearman'].mean():.3f}, "
               f"mean SSIM {table['ssim'].mean():.3f}")
    table = pd.concat(tables, ignore_index=True)
    return table[["step", "layer", "image", "spearman", "ssim"]], all_maps


GROUP_KEYS = ("model", "reference", "variant", "step", "layer")


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of the similarities per group: per (model, variant, step,
    layer) for the cascade table, per (model, reference, variant) for the data-randomization
    table (the key columns present are used, in that order).

    ``n`` counts images; ``n_spearman`` the images with a defined Spearman correlation (the
    mean leaves out constant maps).
    """
    keys = [k for k in GROUP_KEYS if k in table.columns]
    if not keys:
        raise ValueError(f"summarize: none of the key columns {GROUP_KEYS} in the table")
    g = table.groupby(keys, sort=False)
    return g.agg(
        spearman_mean=("spearman", "mean"), spearman_sd=("spearman", "std"),
        ssim_mean=("ssim", "mean"), ssim_sd=("ssim", "std"),
        n=("image", "count"), n_spearman=("spearman", "count"),
    ).reset_index()


# ----------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Thresholds:
    """Red-flag thresholds on the *mean* similarity of a test's maps to the reference maps
    (config keys ``sanity.red_flag_spearman`` and ``sanity.red_flag_ssim``, both in [0, 1];
    a threshold of 1 never flags, as a mean similarity cannot exceed 1)."""

    spearman: float
    ssim: float

    def __post_init__(self) -> None:
        for key, value in (("red_flag_spearman", self.spearman), ("red_flag_ssim", self.ssim)):
            if not 0 <= value <= 1:
                raise ValueError(f"sanity.{key}: {value} must be in [0, 1]")

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> Thresholds:
        """From the config section ``sanity``."""
        missing = [k for k in ("red_flag_spearman", "red_flag_ssim") if k not in section]
        if missing:
            raise KeyError(f"config key sanity.{missing[0]} is missing (see src/blurfocus/schemas/config.schema.yaml)")
        return cls(float(section["red_flag_spearman"]), float(section["red_flag_ssim"]))


def judge(spearman: float, ssim_value: float, thresholds: Thresholds) -> str:
    """The verdict of one test from its mean similarities to the reference maps.

    ``"red flag"`` when the mean Spearman correlation exceeds ``thresholds.spearman`` *or* the
    mean SSIM exceeds ``thresholds.ssim`` (either one: the maps did not change enough by that
    measure); otherwise ``"inconclusive"`` when a mean is NaN (no defined value, e.g. constant
    maps), else ``"passed"``. Nothing but these three numbers enters.
    """
    if spearman > thresholds.spearman or ssim_value > thresholds.ssim:  # NaN compares False
        return RED_FLAG
    if math.isnan(spearman) or math.isnan(ssim_value):
        return INCONCLUSIVE
    return PASSED


def overall(verdicts: Sequence[str]) -> str:
    """One verdict over several tests: a red flag if any test has one; inconclusive if none
    does but one is inconclusive (or there are no tests); passed otherwise."""
    if RED_FLAG in verdicts:
        return RED_FLAG
    if INCONCLUSIVE in verdicts or not verdicts:
        return INCONCLUSIVE
    return PASSED


def _explain(test: str, model: str, reference: str, variant: str, rho: float, s: float, verdict: str,
             t: Thresholds) -> str:
    what = (f"after randomizing every layer of {model}, its maps of {variant} images" if test == MODEL_TEST
            else f"the maps of {model} (trained on permuted labels) of {variant} images")
    against = f"{model}'s trained maps" if test == MODEL_TEST else f"{reference}'s maps"
    values = (f"mean Spearman {rho:.2f} (red flag above {t.spearman:g}), "
              f"mean SSIM {s:.2f} (red flag above {t.ssim:g})")
    if verdict == RED_FLAG:
        which = " and ".join(n for n, v, th in (("Spearman", rho, t.spearman), ("SSIM", s, t.ssim)) if v > th)
        return (f"RED FLAG: {what} are still similar to {against} by {which} ({values}); "
                "they reflect the input more than the model.")
    if verdict == INCONCLUSIVE:
        return f"Inconclusive: {what} vs {against}: {values}; a mean is undefined (constant maps)."
    return f"Passed: {what} differ from {against} ({values})."


def verdict_table(cascade: pd.DataFrame, data: pd.DataFrame | None, thresholds: Thresholds) -> pd.DataFrame:
    """One row per test and an overall row, from the summaries (:func:`summarize`).

    Model randomization: one row per (model, variant), judged on the last cascade step (every
    layer randomized). Data randomization: one row per (model, reference, variant). Columns
    ``test, model, reference, variant, layer, n, n_spearman, spearman_mean, ssim_mean,
    red_flag_spearman, red_flag_ssim, verdict, sentence`` plus any other column of ``data``
    (e.g. the permuted-label model's ``train_accuracy``).
    """
    rows: list[dict[str, Any]] = []
    final = cascade.loc[cascade.groupby(["model", "variant"], sort=False)["step"].idxmax()]
    for r in final.to_dict("records"):
        rows.append({**r, "test": MODEL_TEST, "reference": r["model"]})
    if data is not None:
        for r in data.to_dict("records"):
            rows.append({**r, "test": DATA_TEST, "layer": ""})
    for r in rows:
        r["verdict"] = judge(float(r["spearman_mean"]), float(r["ssim_mean"]), thresholds)
        r["sentence"] = _explain(r["test"], r["model"], r["reference"], r["variant"], float(r["spearman_mean"]),
                                 float(r["ssim_mean"]), r["verdict"], thresholds)
    verdicts = [r["verdict"] for r in rows]
    flagged = [f"{r['test'].replace('_', ' ')} of {r['model']} on {r['variant']}" for r in rows if r["verdict"] == RED_FLAG]
    word = overall(verdicts)
    sentence = {
        RED_FLAG: f"RED FLAG in {len(flagged)} of {len(rows)} tests ({'; '.join(flagged)}).",
        INCONCLUSIVE: f"Inconclusive: no red flag in {len(rows)} tests, but not every similarity is defined.",
        PASSED: f"Passed: all {len(rows)} tests change the maps beyond the thresholds.",
    }[word]
    rows.append({"test": OVERALL, "model": "", "reference": "", "variant": "", "layer": "", "verdict": word,
                 "sentence": sentence})
    out = pd.DataFrame(rows)
    out["red_flag_spearman"], out["red_flag_ssim"] = thresholds.spearman, thresholds.ssim
    first = ["test", "model", "reference", "variant", "layer", "n", "n_spearman", "spearman_mean", "ssim_mean",
             "red_flag_spearman", "red_flag_ssim", "verdict", "sentence"]
    drop = {"step", "spearman_sd", "ssim_sd"}
    return out[first + [c for c in out.columns if c not in first and c not in drop]]
