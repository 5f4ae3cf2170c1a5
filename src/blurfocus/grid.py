"""The grid of training arms x test variants, at the model level.

Every arm (K replicate models fine-tuned on one variant, :mod:`blurfocus.arms`) is evaluated and
mapped on clear images and on every test variant. This module reduces that grid to tables, each
with Multi-Bootstrap intervals (models resampled within each arm, images jointly, as in
:mod:`blurfocus.modeltests`):

- **accuracy** arm x test variant, on the whole test split;
- **focus shift** arm x blurred variant: d(clear, variant) minus the equal-sigma SmoothGrad noise
  floor d(variant draw 0, draw 1), pixels, mean over the mapped images, mean over the arm's models;
- **between arms** on each variant: mean focus distance between the models of two arms minus the
  mean distance between models of the same arm (pixels), with its exact relabeling test;

and three families of model-level tests (rows of ``tests.tsv``, verdicts in ``claims.tsv``):

- **dose-response** (``trend:<arm>:<sweep>``, ``trend_accuracy:<arm>:<sweep>``): the
  least-squares slope of each model's focus shift (accuracy) over a strength sweep's tested
  values; sign flip over the arm's models, H1 slope > 0 (accuracy: -slope > 0);
- **specificity** (``specificity:<arm>``): with c_m = shift on the arm's own kind minus the mean
  shift on the other kinds (the training variants of the perturbed arms that are tested), H1:
  mean c over naive models - mean c over the arm's models > 0, i.e. the arm's focus is more stable
  on its own kind, relative to the other kinds, than a model trained on clear images (the naive
  arm removes how hard each kind is for any model); exact arm relabeling;
- **control** (``control:<arm>:<control arm>``): on the blur expert's own variant, H1: the shift
  of the control expert (trained on a non-blur perturbation, :data:`blurfocus.blur.CONTROL_KINDS`)
  minus the blur expert's > 0; when this is not supported, "the expert learned blur structure"
  is not shown: a non-blur perturbation of matched strength trains the same stability.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import blur, ids, stats
from .modeltests import MODEL_COLUMNS, Claim, ModelData, model_level_tests, sign_flip_test, slopes

FAMILIES = ("dose-response", "specificity", "control")
ACCURACY_GRID_COLUMNS = ["arm", "train_variant", "test_variant", "strength", "n_models", "n_images", "accuracy",
                         "sd_models", "ci_low", "ci_high", "ci_method"]
SHIFT_GRID_COLUMNS = ["arm", "train_variant", "test_variant", "strength", "n_models", "n_images", "shift",
                      "noise_floor", "shift_beyond_noise", "sd_models", "ci_low", "ci_high", "p", "p_adj",
                      "adjust_method", "test", "ci_method"]
GRID_TEST_COLUMNS = [*MODEL_COLUMNS, "family", "p_adj", "adjust_method", "adjust_family"]
BETWEEN_GRID_COLUMNS = ["test_variant", "arm_a", "arm_b", "n_models", "n_images", "between", "within",
                        "between_minus_within", "ci_low", "ci_high", "p", "p_floor", "p_adj", "adjust_method", "test",
                        "ci_method"]


@dataclass(frozen=True)
class Sweep:
    """A strength sweep's tested variants, in increasing strength."""

    name: str
    kind: str
    param: str
    variants: tuple[str, ...]
    strengths: tuple[float, ...]


@dataclass(frozen=True)
class GridDesign:
    """What the grid compares, resolved from the config once (one JSON param for the jobs).

    ``arms``: {arm: training variant}; ``test_variants``: the perturbed test variants (clear is
    always tested too); ``sweeps``: the strength sweeps with >= 2 tested values;
    ``controls``: the variants whose steps are all non-blur perturbations.
    """

    arms: dict[str, str]
    test_variants: list[str]
    sweeps: list[Sweep] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], arms: Mapping[str, str]) -> "GridDesign":
        """From a validated config (``blur`` section) and its arms (:func:`blurfocus.arms.training_arms`)."""
        section = config["blur"]
        tests = list(section["test"])
        expansion = blur.expand_sweeps(section.get("sweeps"))
        sweeps = []
        for name, entry in (section.get("sweeps") or {}).items():
            tested = sorted((s.value, v) for v, s in expansion.strengths.items() if s.sweep == name and v in tests)
            if len(tested) >= 2:
                sweeps.append(Sweep(name, entry["kind"], entry["param"], tuple(v for _, v in tested),
                                    tuple(float(x) for x, _ in tested)))
        used = set(tests) | {v for v in arms.values() if v != ids.CLEAR}
        controls = [v for v in section["variants"] if v in used and blur.is_control(section["variants"][v])]
        return cls(dict(arms), tests, sweeps, controls)

    def to_json(self) -> str:
        """Canonical JSON (a stable params string); arms as [arm, variant] pairs, keeping their order."""
        d = asdict(self)
        d["arms"] = [[a, v] for a, v in self.arms.items()]
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "GridDesign":
        d = json.loads(text)
        sweeps = [Sweep(s["name"], s["kind"], s["param"], tuple(s["variants"]), tuple(s["strengths"]))
                  for s in d["sweeps"]]
        return cls({a: v for a, v in d["arms"]}, d["test_variants"], sweeps, d["controls"])

    @property
    def kinds(self) -> list[str]:
        """The perturbed arms' training variants that are tested (the specificity matrix's columns)."""
        return list(dict.fromkeys(v for a, v in self.arms.items() if v != ids.CLEAR and v in self.test_variants))

    def strength(self, variant: str) -> float:
        """A sweep variant's strength; 0 for clear; NaN otherwise."""
        if variant == ids.CLEAR:
            return 0.0
        for s in self.sweeps:
            if variant in s.variants:
                return s.strengths[s.variants.index(variant)]
        return float("nan")


# ---------------------------------------------------------------------------- claims


def grid_claims(design: GridDesign) -> list[Claim]:
    """The focus claims of the dose-response, specificity and control families (model level)."""
    out: list[Claim] = []
    for sweep in design.sweeps:
        for arm in design.arms:
            out.append(Claim(
                f"trend:{arm}:{sweep.name}", f"the {arm} model's focus shift grows with {sweep.name} strength "
                f"({sweep.param} {', '.join(f'{x:g}' for x in sweep.strengths)})", "trend", sweep.variants[0], arm,
                comparison=f"{arm}: slope of the shift beyond noise over {', '.join(sweep.variants)}", null="slope 0",
                measure=f"slope of the focus shift beyond the noise floor (px per unit of {sweep.param})",
                variants=sweep.variants, strengths=sweep.strengths))
    kinds = design.kinds
    if len(kinds) >= 2:
        for arm, own in design.arms.items():
            if own == ids.CLEAR or own not in kinds:
                continue
            others = tuple(k for k in kinds if k != own)
            out.append(Claim(
                f"specificity:{arm}", f"the {arm} model's focus is most stable under its own kind ({own}): its shift "
                f"there minus its mean shift on {', '.join(others)} is smaller than the naive model's", "specificity",
                own, ids.NAIVE, comparison=f"{ids.NAIVE}: shift on {own} - mean shift on the other kinds",
                null=f"{arm}: the same", other=arm, variants=(own, *others),
                measure="focus shift beyond the noise floor, own kind minus other kinds (px)"))
    control_arms = [a for a, v in design.arms.items() if v in design.controls]
    for arm, own in design.arms.items():
        if own == ids.CLEAR or own in design.controls or own not in design.test_variants:
            continue
        for c in control_arms:
            out.append(Claim(
                f"control:{arm}:{c}", f"the {arm} model's focus is more stable under {own} than that of {c}, trained on "
                f"a non-blur perturbation ({design.arms[c]}); if not, blur structure is not shown", "control", own, c,
                comparison=f"{c}: shift on {own} beyond noise", null=f"{arm}: shift on {own} beyond noise", other=arm))
    return out


def claim_family(claim_id: str) -> str:
    """The adjustment family of a grid claim id."""
    head = claim_id.split(":", 1)[0]
    return {"trend": "dose-response", "trend_accuracy": "dose-response", "specificity": "specificity",
            "control": "control"}[head]


# ---------------------------------------------------------------------------- accuracy


def _boot_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    return np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)]).astype(float)


def _correct_array(predictions: pd.DataFrame, models: Sequence[str], variants: Sequence[str]) -> tuple[np.ndarray, int]:
    """(M, V, N) correctness (0/1) over the images every model has on every variant, and N."""
    keyed = predictions.set_index(["model", "variant"]).sort_index()
    sets = [set(keyed.loc[(m, v), "image_id"]) for m in models for v in variants]
    images = sorted(set.intersection(*sets)) if sets else []
    if not images:
        raise ValueError("no test image has a prediction from every model on every variant")
    out = np.empty((len(models), len(variants), len(images)))
    for i, m in enumerate(models):
        for j, v in enumerate(variants):
            out[i, j] = keyed.loc[(m, v)].set_index("image_id").loc[images, "correct"].to_numpy(float)
    return out, len(images)


def arms_at_chance(accuracy: pd.DataFrame, chance: float = 0.5) -> dict[str, tuple[str, float, float, float]]:
    """Arms that did not learn their training images: those whose accuracy on their own training
    variant (a row of :func:`accuracy_grid`) has a CI reaching ``chance`` (1 / number of
    classes). {arm: (variant, accuracy, ci_low, ci_high)}; focus claims about such an arm say
    nothing about what training on its perturbation does."""
    out = {}
    for r in accuracy.itertuples():
        if r.test_variant == r.train_variant and r.ci_low <= chance:
            out[r.arm] = (r.train_variant, float(r.accuracy), float(r.ci_low), float(r.ci_high))
    return out


def accuracy_grid(predictions: pd.DataFrame, arm_models: Mapping[str, Sequence[str]], design: GridDesign,
                  n_boot: int = 2000, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Accuracy of every arm on every test variant (:data:`ACCURACY_GRID_COLUMNS`): the mean over
    the arm's models of each model's accuracy on the test split, Multi-Bootstrap percentile CI.
    ``predictions``: :data:`blurfocus.evaluate.PREDICTION_COLUMNS` rows of every model."""
    variants = [ids.CLEAR, *design.test_variants]
    models = [m for ms in arm_models.values() for m in ms]
    correct, n = _correct_array(predictions, models, variants)
    rng = np.random.default_rng(seed)
    w = _boot_weights(n, n_boot, rng)
    per_model = np.einsum("rn,mvn->rmv", w, correct) / w.sum(1)[:, None, None]  # (R, M, V)
    obs = correct.mean(-1)  # (M, V)
    q = [(1 - confidence) / 2, (1 + confidence) / 2]
    rows, start = [], 0
    for arm, ms in arm_models.items():
        idx = np.arange(start, start + len(ms))
        start += len(ms)
        pick = idx[rng.integers(0, len(idx), (n_boot, len(idx)))]
        boot = per_model[np.arange(n_boot)[:, None], pick].mean(1)  # (R, V)
        for j, v in enumerate(variants):
            rows.append({
                "arm": arm, "train_variant": design.arms[arm], "test_variant": v, "strength": design.strength(v),
                "n_models": len(idx), "n_images": n, "accuracy": float(obs[idx, j].mean()),
                "sd_models": float(obs[idx, j].std(ddof=1)) if len(idx) > 1 else np.nan,
                "ci_low": float(np.quantile(boot[:, j], q[0])), "ci_high": float(np.quantile(boot[:, j], q[1])),
                "ci_method": f"Multi-Bootstrap percentile, {confidence:.0%}, {n_boot} resamples of models and images",
            })
    return pd.DataFrame(rows, columns=ACCURACY_GRID_COLUMNS)


def accuracy_trend_tests(predictions: pd.DataFrame, arm_models: Mapping[str, Sequence[str]], design: GridDesign,
                         n_boot: int = 2000, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """``trend_accuracy:<arm>:<sweep>`` rows (:data:`blurfocus.modeltests.MODEL_COLUMNS`): minus
    the least-squares slope of each model's accuracy over the sweep's tested strengths, sign flip
    over the arm's models (H1 > 0: accuracy falls), Multi-Bootstrap CI."""
    rows = []
    rng = np.random.default_rng(seed)
    q = [(1 - confidence) / 2, (1 + confidence) / 2]
    for sweep in design.sweeps:
        models = [m for ms in arm_models.values() for m in ms]
        correct, n = _correct_array(predictions, models, list(sweep.variants))
        w = _boot_weights(n, n_boot, rng)
        acc = np.einsum("rn,mvn->rvm", np.vstack([np.ones((1, n)), w]), correct) / np.r_[n, w.sum(1)][:, None, None]
        neg = -slopes(acc, sweep.strengths)  # (1 + R, M)
        start = 0
        for arm, ms in arm_models.items():
            idx = np.arange(start, start + len(ms))
            start += len(ms)
            y = neg[0, idx]
            stat, p, floor = sign_flip_test(y, "greater", seed=seed)
            pick = idx[rng.integers(0, len(idx), (n_boot, len(idx)))]
            boot = neg[1:][np.arange(n_boot)[:, None], pick]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                sd = np.std(y, ddof=1) if len(y) > 1 else np.nan
                bsd = boot.std(1, ddof=1)
                ci = np.quantile(boot.mean(1), q)
                ci_std = np.nanquantile(boot.mean(1) / bsd, q) if len(y) > 1 else [np.nan, np.nan]
            claim = _accuracy_claim(arm, sweep)
            rows.append({
                "claim_id": claim.claim_id, "claim": claim.text,
                "subset": "all", "test": "sign_flip_models",
                "comparison": f"{arm}: minus the slope of accuracy over {', '.join(sweep.variants)}", "null": "slope 0",
                "n": len(idx), "n_images": float(n), "mean": float(np.mean(acc[0][:, idx][0])),
                "mean_null": float(np.mean(acc[0][:, idx][-1])), "estimate": stat, "ci_low": float(ci[0]),
                "ci_high": float(ci[1]), "estimate_std": float(stat / sd) if sd and np.isfinite(sd) else np.nan,
                "std_ci_low": float(ci_std[0]), "std_ci_high": float(ci_std[1]), "statistic": stat, "p": p,
                "p_floor": floor, "alternative": "greater",
                "method": f"sign flip of the {len(idx)} per-model slopes, exact (2^{len(idx)}); mean = accuracy at the "
                          "weakest strength, mean_null = at the strongest",
                "ci_method": f"Multi-Bootstrap percentile, {confidence:.0%}, {n_boot} resamples of models and images",
            })
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


# ---------------------------------------------------------------------------- focus


def arm_model_ids(arms: Sequence[str], seeds: Sequence[int]) -> dict[str, list[str]]:
    """{arm: [model ids in replicate order]}."""
    return {a: [ids.model_id(a, s) for s in seeds] for a in arms}


def shift_grid(data: ModelData, design: GridDesign, n_boot: int = 2000, seed: int = 0,
               adjust: str = "holm") -> pd.DataFrame:
    """Focus shift beyond the noise floor of every arm on every perturbed variant
    (:data:`SHIFT_GRID_COLUMNS`), with the sign-flip test over the arm's models (H1 > 0), its
    p adjusted over the table."""
    claims = [Claim(f"shift:{a}:{v}", "", "shift", v, a) for a in design.arms for v in design.test_variants]
    table = model_level_tests(data, claims, n_boot=n_boot, seed=seed, subsets=["all"])
    rows = []
    for claim, r in zip(claims, table.itertuples()):
        idx = data.index(claim.arm)
        per_model = (data.shift[claim.variant][idx] - data.floor[claim.variant][idx]).mean(-1)
        rows.append({
            "arm": claim.arm, "train_variant": design.arms[claim.arm], "test_variant": claim.variant,
            "strength": design.strength(claim.variant), "n_models": r.n, "n_images": r.n_images,
            "shift": float(data.shift[claim.variant][idx].mean()),
            "noise_floor": float(data.floor[claim.variant][idx].mean()), "shift_beyond_noise": r.estimate,
            "sd_models": float(per_model.std(ddof=1)) if len(idx) > 1 else np.nan, "ci_low": r.ci_low,
            "ci_high": r.ci_high, "p": r.p, "test": r.method, "ci_method": r.ci_method,
        })
    out = pd.DataFrame(rows)
    out["p_adj"] = stats.adjust_pvalues(out["p"], adjust)
    out["adjust_method"] = f"{adjust} over this table"
    return out[SHIFT_GRID_COLUMNS]


def between_grid(data: ModelData, design: GridDesign, n_boot: int = 2000, seed: int = 0,
                 adjust: str = "holm") -> pd.DataFrame:
    """Between-arm against within-arm focus distance for every pair of arms on every variant
    (:data:`BETWEEN_GRID_COLUMNS`), exact relabeling test, p adjusted over the table."""
    arms = list(design.arms)
    claims = [Claim(f"between:{v}:{a}:{b}", "", "between", v, a, other=b)
              for v in [ids.CLEAR, *design.test_variants] for i, a in enumerate(arms) for b in arms[i + 1:]]
    table = model_level_tests(data, claims, n_boot=n_boot, seed=seed, subsets=["all"])
    out = pd.DataFrame({
        "test_variant": [c.variant for c in claims], "arm_a": [c.arm for c in claims],
        "arm_b": [c.other for c in claims], "n_models": table["n"], "n_images": table["n_images"],
        "between": table["mean"], "within": table["mean_null"], "between_minus_within": table["estimate"],
        "ci_low": table["ci_low"], "ci_high": table["ci_high"], "p": table["p"], "p_floor": table["p_floor"],
        "test": table["method"], "ci_method": table["ci_method"],
    })
    out["p_adj"] = stats.adjust_pvalues(out["p"], adjust)
    out["adjust_method"] = f"{adjust} over this table"
    return out[BETWEEN_GRID_COLUMNS]


def grid_tests(data: ModelData | None, predictions: pd.DataFrame, arm_models: Mapping[str, Sequence[str]],
               design: GridDesign, *, paired: bool = False, n_boot: int = 2000, seed: int = 0,
               adjust: str = "holm") -> pd.DataFrame:
    """The dose-response, specificity and control tests (:data:`GRID_TEST_COLUMNS`): p adjusted
    by ``adjust`` within each family.
    ``data`` None (no maps with noise floors): only the accuracy trends."""
    parts = [accuracy_trend_tests(predictions, arm_models, design, n_boot, seed)]
    claims = grid_claims(design)
    if data is not None and claims:
        parts.append(model_level_tests(data, claims, paired=paired, n_boot=n_boot, seed=seed, subsets=["all"]))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=GRID_TEST_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["family"] = out["claim_id"].map(claim_family)
    out["adjust_method"] = adjust
    out["adjust_family"] = "model-level " + out["family"] + ", subset " + out["subset"]
    out["p_adj"] = out.groupby("adjust_family")["p"].transform(lambda p: stats.adjust_pvalues(p, adjust))
    order = {f: i for i, f in enumerate(FAMILIES)}
    out = out.sort_values("family", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    return out[GRID_TEST_COLUMNS]


def _accuracy_claim(arm: str, s: Sweep) -> Claim:
    """The claim that ``arm``'s accuracy falls over sweep ``s`` (its rows: :func:`accuracy_trend_tests`)."""
    return Claim(f"trend_accuracy:{arm}:{s.name}", f"the {arm} model's accuracy falls with {s.name} strength",
                 "trend_accuracy", s.variants[0], arm, comparison=f"{arm}: minus the slope of accuracy",
                 null="slope 0",
                 measure=f"minus the slope of accuracy (fraction per unit of {s.param})", variants=s.variants,
                 strengths=s.strengths)


def accuracy_claims(design: GridDesign) -> list[Claim]:
    """The accuracy trend claims (their rows come from :func:`accuracy_trend_tests`)."""
    return [_accuracy_claim(arm, s) for s in design.sweeps for arm in design.arms]


def all_claims(design: GridDesign) -> list[Claim]:
    """Every grid claim in table order: dose-response (accuracy, then focus), specificity, control."""
    focus = grid_claims(design)
    return ([*accuracy_claims(design), *[c for c in focus if c.kind == "trend"]]
            + [c for c in focus if c.kind != "trend"])


def family_floors(design: GridDesign, k: int, paired: bool = False, adjust: str = "holm") -> dict[str, float]:
    """The smallest adjusted p each grid family can give with K models per arm: trends are sign
    flips (floor 2^-K), specificity and control mean differences under arm relabeling (floor
    1/C(2K, K), or 2^-K paired); ``adjust`` over the family's claims. {} without grid claims."""
    relabel = 0.5 ** k if paired else 1.0 / math.comb(2 * k, k)
    counts: dict[str, int] = {}
    for c in all_claims(design):
        counts[claim_family(c.claim_id)] = counts.get(claim_family(c.claim_id), 0) + 1
    floor = {"dose-response": 0.5 ** k, "specificity": relabel, "control": relabel}
    return {f: stats.smallest_adjusted_p(floor[f], n, adjust) for f, n in counts.items()}


def design_note(design: GridDesign, k: int, paired: bool, adjust: str, alpha: float) -> str | None:
    """A sentence for the user when K models per arm are too few for a grid family to reach alpha."""
    blocked = {f: p for f, p in family_floors(design, k, paired, adjust).items() if p >= alpha}
    if not blocked or k < 2:
        return None
    what = "; ".join(f"{f} {p:.2g}" for f, p in blocked.items())
    return (f"training.seeds: with K = {k} models per arm the smallest adjusted p-values of the grid's tests are {what} "
            f"({adjust} within each family), not below stats.alpha = {alpha:g}: those claims cannot be supported; "
            "train more replicates per arm.")
