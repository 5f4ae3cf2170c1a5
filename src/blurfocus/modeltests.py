"""Tests whose unit is the trained model: claims about training regimes, tested across models.

Each arm (``naive``, ``expert``) has K replicate models. For every model and image the pipeline
has focus distances (pixels, mean over the top-k ranks) and map metrics; a claim reduces each
model to one number (an image mean) or each pair of models to one number, and the test asks
whether those numbers differ between arms (or from a null) beyond model-to-model variation.

Tests (all exact, by enumeration where feasible):

- **sign flip over models** (one arm): per model y_m, H0: y_m symmetric about 0. Statistic
  mean(y); all 2^K sign patterns; p floor 1/2^K (one-sided).
- **arm relabeling** (two arms): H0: the arm label does not matter, so the 2K models are
  exchangeable (independent design) or the two models of each replicate pair are (paired
  design). Statistic: mean difference of per-model values, or, for "the arms look at different
  places", mean between-arm minus mean within-arm model-pair distance (a PERMANOVA-style
  statistic on the model-by-model distance matrix). All relabelings are enumerated:
  C(2K, K) (independent) or 2^K (paired). The p floor is printed: 1/C(2K, K) for a mean
  difference, 2/C(2K, K) for the between-within statistic, which is unchanged when the two arms
  swap names (2/2^K paired).

Confidence intervals are percentile Multi-Bootstrap intervals (Sellam et al., "The MultiBERTs",
ICLR 2022): each resample draws K models per arm with replacement *and* the images with
replacement (the same images for every model), and recomputes the statistic; in pixels and
standardized (the estimate divided by the model-to-model standard deviation of the
statistic's per-model values, or of the within-arm pair distances).

Subsets: ``all`` images; ``both_correct`` (only images that every model entering a value
classifies correctly on every variant entering it, so a shift is not a misclassification);
``class=<name>`` per class.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from . import ids, stats
from .focus import rank_distances

ALTERNATIVES = ("greater", "less")
MAX_ENUMERATION = 2**17
MODEL_COLUMNS = [
    "claim_id", "claim", "subset", "test", "comparison", "null", "n", "n_images", "mean", "mean_null",
    "estimate", "ci_low", "ci_high", "estimate_std", "std_ci_low", "std_ci_high", "statistic", "p", "p_floor",
    "alternative", "method", "ci_method",
]


# ---------------------------------------------------------------------------- exact tests


def has_noise_floors(n_replicates: int, draws: int, replicate_draws: int) -> bool:
    """Whether the model-level tests can run: >= 2 replicate models per arm, and >= 2 SmoothGrad
    draws on perturbed images for the first replicate (``saliency.draws``) and the others
    (``saliency.replicate_draws``), the second draw being each model's noise floor."""
    return n_replicates >= 2 and draws >= 2 and replicate_draws >= 2


def sign_flip_test(y: Sequence[float], alternative: str = "greater",
                   n_resamples: int = 9999, seed: int = 0) -> tuple[float, float, float]:
    """(mean(y), p, p floor) of the sign-flip test of H0 "y is symmetric about 0".

    ``y``: (K,) per-model values. Exact over all 2^K sign patterns when 2^K <= 2^17, else
    ``n_resamples`` random patterns with p = (1 + count) / (1 + n_resamples).
    """
    y = np.asarray(y, dtype=np.float64)
    y = y[~np.isnan(y)]
    k = y.size
    if k == 0:
        return np.nan, np.nan, np.nan
    stat = float(y.mean())
    if 2**k <= MAX_ENUMERATION:
        signs = 1 - 2 * ((np.arange(2**k)[:, None] >> np.arange(k)) & 1)
        null = signs @ y / k
        p = float(np.mean(_tail(null, stat, alternative)))
        return stat, p, 1.0 / 2**k
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(n_resamples, k))
    null = signs @ y / k
    return stat, float((1 + _tail(null, stat, alternative).sum()) / (1 + n_resamples)), 1.0 / (1 + n_resamples)


def _tail(null: np.ndarray, stat: float, alternative: str) -> np.ndarray:
    tol = 1e-12 * max(1.0, abs(stat))
    if alternative == "greater":
        return null >= stat - tol
    if alternative == "less":
        return null <= stat + tol
    raise ValueError(f"alternative: {alternative!r} not one of {', '.join(ALTERNATIVES)}")


def relabelings(n_a: int, n_b: int, paired: bool = False) -> np.ndarray:
    """Every assignment of the arm labels that the design allows, as a bool matrix (R, n_a + n_b)
    (True = arm a); row 0 is the observed labeling (the first n_a models are arm a).

    Independent design: all C(n_a + n_b, n_a) subsets; paired (n_a == n_b, model i of arm a
    paired with model i of arm b): the 2^n_a within-pair swaps.
    """
    n = n_a + n_b
    if paired:
        if n_a != n_b:
            raise ValueError("a paired design needs as many models in each arm")
        swaps = ((np.arange(2**n_a)[:, None] >> np.arange(n_a)) & 1).astype(bool)
        return np.concatenate([~swaps, swaps], axis=1)
    count = math.comb(n, n_a)
    if count > MAX_ENUMERATION:
        raise ValueError(f"{count} relabelings are too many to enumerate (K too large)")
    out = np.zeros((count, n), dtype=bool)
    for r, subset in enumerate(itertools.combinations(range(n), n_a)):
        out[r, list(subset)] = True
    return out


def mean_difference_test(values_a: Sequence[float], values_b: Sequence[float], alternative: str = "greater",
                         paired: bool = False) -> tuple[float, float, float]:
    """(mean(a) - mean(b), p, p floor) by enumerating arm relabelings of the per-model values."""
    a, b = np.asarray(values_a, np.float64), np.asarray(values_b, np.float64)
    v = np.concatenate([a, b])
    if np.isnan(v).any() or a.size == 0 or b.size == 0:
        return np.nan, np.nan, np.nan
    lab = relabelings(a.size, b.size, paired)
    n_a = lab.sum(1)
    null = (lab @ v) / n_a - ((~lab) @ v) / (v.size - n_a)
    stat = float(null[0])
    return stat, float(np.mean(_tail(null, stat, alternative))), 1.0 / len(lab)


def between_within(dist: np.ndarray, is_a: np.ndarray) -> np.ndarray:
    """Mean between-arm minus mean within-arm distance, for labelings ``is_a`` (R, n) bool over a
    symmetric (n, n) model distance matrix (pixels; the diagonal is ignored). Returns (R,)."""
    d = np.array(dist, dtype=np.float64)
    np.fill_diagonal(d, 0.0)
    s = np.where(is_a, 1.0, -1.0)
    total = d[np.triu_indices_from(d, 1)].sum()
    quad = np.einsum("ri,ij,rj->r", s, d, s) / 2  # sum_{i<j} d_ij s_i s_j
    between = (total - quad) / 2
    n_a = is_a.sum(1)
    n_b = is_a.shape[1] - n_a
    n_between = n_a * n_b
    n_within = n_a * (n_a - 1) / 2 + n_b * (n_b - 1) / 2
    return between / n_between - (total - between) / n_within


def arm_distance_test(dist: np.ndarray, n_a: int, paired: bool = False) -> tuple[float, float, float]:
    """(between - within, p, p floor) of the one-sided test "the arms' models are further apart than
    models within an arm"; ``dist``: (2K, 2K), the first ``n_a`` models are arm a."""
    if np.isnan(dist[np.triu_indices_from(dist, 1)]).any():
        return np.nan, np.nan, np.nan
    lab = relabelings(n_a, dist.shape[0] - n_a, paired)
    null = between_within(dist, lab)
    stat = float(null[0])
    return stat, float(np.mean(_tail(null, stat, "greater"))), 2.0 / len(lab)


# ---------------------------------------------------------------------------- data


@dataclass
class ModelData:
    """Per-model, per-image quantities of one run (images common to every model).

    ``arms``: {arm: [model ids, replicate order]}. Arrays are indexed by the model order of
    ``models`` and the image order of ``images``:

    - ``pair[v]``: (M, M, N) focus distance between the draw-0 maps of two models on variant v
      (px, mean over ranks; NaN on the diagonal);
    - ``shift[b]``: (M, N) d(clear draw 0, b draw 0) of each model; ``floor[b]``: (M, N)
      d(b draw 0, b draw 1), its SmoothGrad noise floor;
    - ``entropy[v]``: (M, N) normalized entropy of each draw-0 map; ``correct[v]``: (M, N) bool.
    """

    models: list[str]
    arms: dict[str, list[str]]
    images: list[str]
    labels: np.ndarray
    class_names: dict[int, str]
    pair: dict[str, np.ndarray] = field(default_factory=dict)
    shift: dict[str, np.ndarray] = field(default_factory=dict)
    floor: dict[str, np.ndarray] = field(default_factory=dict)
    entropy: dict[str, np.ndarray] = field(default_factory=dict)
    correct: dict[str, np.ndarray] = field(default_factory=dict)

    def index(self, arm: str) -> np.ndarray:
        pos = {m: i for i, m in enumerate(self.models)}
        return np.array([pos[m] for m in self.arms[arm]])


def _mean_over_ranks(ra, ca, rb, cb) -> np.ndarray:
    """Focus distance of each image (px), the mean over ranks of :func:`blurfocus.focus.rank_distances`."""
    return rank_distances(ra, ca, rb, cb).mean(-1)


def build_model_data(maps: pd.DataFrame, metrics: pd.DataFrame, arms: dict[str, list[str]],
                     test_blurs: Sequence[str], class_names: dict[int, str] | None = None) -> ModelData:
    """:class:`ModelData` from the saliency rows (``model, variant, draw, image_id, label,
    topk_rows, topk_cols``) and the map metrics (``model, variant, draw, image_id, pred,
    normalized_entropy``). Images mapped by every model on every variant are used."""
    models = [m for ms in arms.values() for m in ms]
    variants = [ids.CLEAR, *test_blurs]
    maps = maps[maps["model"].isin(models)]
    keyed = maps.set_index(["model", "variant", "draw"]).sort_index()
    image_sets = [set(g["image_id"]) for _, g in maps[maps["draw"] == 0].groupby(["model", "variant"])]
    images = sorted(set.intersection(*image_sets)) if image_sets else []
    if not images:
        raise ValueError("no image was mapped by every model on every variant")
    first = maps[(maps["draw"] == 0)].drop_duplicates("image_id").set_index("image_id")
    labels = first.loc[images, "label"].to_numpy().astype(int)
    names = class_names or {int(lab): str(lab) for lab in np.unique(labels)}

    def coords(model, variant, draw):
        sel = keyed.loc[(model, variant, draw)].set_index("image_id").loc[images]
        return np.stack(sel["topk_rows"].to_numpy()), np.stack(sel["topk_cols"].to_numpy())

    data = ModelData(models, arms, images, labels, names)
    m = len(models)
    for v in variants:
        c = [coords(mod, v, 0) for mod in models]
        pair = np.full((m, m, len(images)), np.nan)
        for i, j in itertools.combinations(range(m), 2):
            pair[i, j] = pair[j, i] = _mean_over_ranks(*c[i], *c[j])
        data.pair[v] = pair
        met = metrics[(metrics["draw"] == 0) & (metrics["variant"] == v)].set_index(["model", "image_id"])
        data.entropy[v] = np.stack([met.loc[mod].loc[images, "normalized_entropy"].to_numpy(float) for mod in models])
        data.correct[v] = np.stack([met.loc[mod].loc[images, "pred"].to_numpy() == labels for mod in models])
        if v == ids.CLEAR:
            clear = c
            continue
        data.shift[v] = np.stack([_mean_over_ranks(*clear[i], *c[i]) for i in range(m)])
        data.floor[v] = np.stack([_mean_over_ranks(*c[i], *coords(mod, v, 1)) for i, mod in enumerate(models)])
    return data


# ---------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claim:
    """One model-level claim: ``kind`` picks the statistic (see :func:`model_level_tests`)."""

    claim_id: str
    text: str
    # shift | between | model_vs_blur | interaction | spread | condensed | trend | specificity | control
    # | trend_accuracy (rows from grid.accuracy_trend_tests)
    kind: str
    variant: str
    arm: str | None = None
    comparison: str = ""
    null: str = ""
    measure: str = "focus distance, mean over the top-k ranks (px)"
    other: str | None = None  # the second arm (default: naive, or expert when arm is naive)
    variants: tuple[str, ...] = ()  # trend: the sweep's variants; specificity: every kind (own one first)
    strengths: tuple[float, ...] = ()  # trend: the strength of each of ``variants``


def claim_arms(claim: Claim) -> tuple[str, ...]:
    """The arms whose trained models a focus claim is about; () for an accuracy claim.

    A claim about an arm that did not learn its training images says nothing about training
    (see :func:`blurfocus.analysis.claims_table`)."""
    if claim.kind == "trend_accuracy":
        return ()
    if claim.kind in ("between", "model_vs_blur", "interaction", "condensed"):
        return (ids.NAIVE, ids.EXPERT)
    return tuple(a for a in (claim.arm, claim.other) if a)


def study_claims(test_blurs: Sequence[str]) -> list[Claim]:
    """The original study's claims, each stated at the model level (arms naive and expert)."""
    n, e = ids.NAIVE, ids.EXPERT
    out = [Claim(f"differ:{ids.CLEAR}", "naive and expert look at different places on clear images (known answer on "
                 "synthetic data)", "between", ids.CLEAR, comparison=ids.between_name(ids.CLEAR),
                 null="within-arm model pairs")]
    for b in test_blurs:
        for arm in (n, e):
            out.append(Claim(f"shift:{arm}:{b}", f"blur ({b}) moves the {arm} model's focus", "shift", b, arm,
                             ids.shift_name(arm, b), f"{arm}:{b}:draw0-vs-draw1 (each model's noise floor)"))
        out.append(Claim(f"differ:{b}", f"naive and expert look at different places on {b} images", "between", b,
                         comparison=ids.between_name(b), null="within-arm model pairs"))
        for arm, letter in ((n, "c"), (e, "d")):
            out.append(Claim(f"model_vs_blur:{arm}:{b}", f"({letter}) for the {arm} model, the distance due to the "
                             f"model exceeds the distance due to blur ({b})", "model_vs_blur", b, arm,
                             ids.between_name(b), ids.shift_name(arm, b)))
        out.append(Claim(f"interaction:{b}", f"blur ({b}) moves the naive model's focus more than the expert's",
                         "interaction", b, comparison=f"{ids.shift_name(n, b)} beyond noise",
                         null=f"{ids.shift_name(e, b)} beyond noise"))
        out.append(Claim(f"spread:{b}", f"the naive model's focus is more spread out on {b} images", "spread", b, n,
                         f"{n}/{b}", f"{n}/{ids.CLEAR}", "normalized entropy of the map (0 = one pixel, 1 = uniform)"))
        out.append(Claim(f"condensed:{b}", f"the expert's focus is more condensed than the naive model's on {b} images",
                         "condensed", b, e, f"{n}/{b}", f"{e}/{b}",
                         "normalized entropy of the map (0 = one pixel, 1 = uniform)"))
    return out


def _subsets(data: ModelData) -> list[tuple[str, np.ndarray | None]]:
    out: list[tuple[str, np.ndarray | None]] = [("all", None), ("both_correct", None)]
    for lab in np.unique(data.labels):
        out.append((f"class={data.class_names.get(int(lab), lab)}", data.labels == lab))
    return out


def _masked_means(x: np.ndarray, mask: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted image means of x (..., N) under bool mask (..., N), weights w (R, N) -> (R, ...)."""
    xm = np.where(mask, np.nan_to_num(x), 0.0)
    num = np.tensordot(w, xm, axes=([1], [-1]))
    den = np.tensordot(w, mask.astype(np.float64), axes=([1], [-1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def _subset_mask(data: ModelData, claim: Claim, subset: str, class_mask: np.ndarray | None) -> np.ndarray:
    """(M, N) bool: the images behind each model's value in ``subset``; for ``both_correct`` the
    model must classify the image correctly on every variant the claim reads (the claim's
    variant, and the clear image too when the claim compares it with clear)."""
    m, n = len(data.models), len(data.images)
    mask = np.ones((m, n), bool) if class_mask is None else np.broadcast_to(class_mask, (m, n)).copy()
    if subset == "both_correct":
        reads = (claim.variant,) if claim.kind in ("between", "condensed") else (ids.CLEAR, claim.variant, *claim.variants)
        for var in reads:
            mask &= data.correct[var]
    return mask


def _per_model_fn(data: ModelData, claim: Claim, subset: str, class_mask: np.ndarray | None):
    """A function of image weights (R, N) giving the per-model (R, M) or per-pair (R, M, M) values."""
    v = claim.variant
    mask = _subset_mask(data, claim, subset, class_mask)
    if claim.kind in ("shift", "interaction", "control"):
        x = data.shift[v] - data.floor[v]
        return lambda w: _masked_means(x, mask, w)
    if claim.kind in ("trend", "specificity"):
        xs = np.stack([data.shift[u] - data.floor[u] for u in claim.variants])  # (V, M, N)
        if claim.kind == "trend":
            return lambda w: slopes(_masked_means(xs, np.broadcast_to(mask, xs.shape), w), claim.strengths)
        return lambda w: own_minus_others(_masked_means(xs, np.broadcast_to(mask, xs.shape), w))
    if claim.kind == "spread":
        x = data.entropy[v] - data.entropy[ids.CLEAR]
        return lambda w: _masked_means(x, mask, w)
    if claim.kind == "condensed":
        x = data.entropy[v]
        return lambda w: _masked_means(x, mask, w)
    if claim.kind in ("between", "model_vs_blur"):
        pmask = mask[:, None, :] & mask[None, :, :]  # images both models of a pair keep
        pair = data.pair[v]
        if claim.kind == "between":
            return lambda w: _masked_means(pair, pmask, w)
        shift = data.shift[v]
        return lambda w: (_masked_means(pair, pmask, w), _masked_means(shift, mask, w))
    raise ValueError(f"unknown claim kind {claim.kind!r}")


def _n_images(data: ModelData, claim: Claim, subset: str, class_mask: np.ndarray | None) -> float:
    """Images behind a claim's values: the mean over models (or model pairs) of the images used."""
    mask = _subset_mask(data, claim, subset, class_mask)
    if claim.kind in ("between", "model_vs_blur"):
        m = len(data.models)
        return float(np.mean([(mask[i] & mask[j]).sum() for i, j in itertools.combinations(range(m), 2)]))
    return float(mask.sum(1).mean())


def slopes(x: np.ndarray, strengths: Sequence[float]) -> np.ndarray:
    """Least-squares slope over the last-but-one axis: ``x`` (R, V, M) values at V strengths ->
    (R, M) slopes (units of x per unit of strength)."""
    s = np.asarray(strengths, np.float64)
    c = (s - s.mean()) / np.sum((s - s.mean()) ** 2)
    return np.einsum("v,rvm->rm", c, x)


def own_minus_others(x: np.ndarray) -> np.ndarray:
    """``x`` (R, V, M) with the own kind first on axis 1 -> (R, M): own minus the mean of the others."""
    return x[:, 0] - x[:, 1:].mean(1)


def _stat(claim: Claim, values, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(statistic, standardized statistic) over resamples, from per-model values and model index
    arrays ``a`` (R, K_a) and ``b`` (R, K_b) of the two arms (the tested arm only: ``a``)."""
    r = np.arange(a.shape[0])[:, None]
    if claim.kind in ("shift", "spread", "trend"):
        y = values[r, a]
        return _mean_sd(y)
    if claim.kind in ("interaction", "condensed", "specificity", "control"):
        ya, yb = values[r, a], values[r, b]
        diff = np.nanmean(ya, 1) - np.nanmean(yb, 1)
        pooled = np.sqrt((np.nanvar(ya, 1, ddof=1) + np.nanvar(yb, 1, ddof=1)) / 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            return diff, diff / pooled
    if claim.kind == "model_vs_blur":
        pair, shift = values
        # replicate i of the tested arm against replicate i of the other arm (index pairing)
        y = pair[r, a, b] - shift[r, a]
        return _mean_sd(y)
    if claim.kind == "between":
        d = values
        within = [_pairs_of(d, r, x, x, upper=True) for x in (a, b)]
        between = _pairs_of(d, r, a, b, upper=False)
        w = np.concatenate(within, 1)
        stat = np.nanmean(between, 1) - np.nanmean(w, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return stat, stat / np.nanstd(w, 1, ddof=1)
    raise ValueError(claim.kind)


def _pairs_of(d: np.ndarray, r: np.ndarray, x: np.ndarray, y: np.ndarray, upper: bool) -> np.ndarray:
    """Distances d[r, x_i, y_j] as (R, pairs); NaN where x_i and y_j are the same original model
    (a model resampled twice is not a pair), upper: only i < j."""
    vals = d[r[:, :, None], x[:, :, None], y[:, None, :]]
    same = x[:, :, None] == y[:, None, :]
    vals = np.where(same, np.nan, vals)
    if upper:
        iu = np.triu_indices(x.shape[1], 1)
        return vals[:, iu[0], iu[1]]
    return vals.reshape(vals.shape[0], -1)


def _mean_sd(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.nanmean(y, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return mean, mean / np.nanstd(y, 1, ddof=1)


def _test(claim: Claim, values, ia: np.ndarray, ib: np.ndarray, paired: bool, seed: int,
          models: Sequence[str] = ()):
    """(statistic, p, p floor, test name, method) on the observed values; ``models``: ids by index."""
    names = [models[i] if len(models) else f"model {i}" for i in ia]
    if claim.kind in ("shift", "spread", "trend"):
        y = values[0][ia]
        stat, p, floor = sign_flip_test(y, "greater", seed=seed)
        what = "per-model slopes" if claim.kind == "trend" else "per-model values"
        return stat, p, floor, "sign_flip_models", _flip_method(y, names, what)
    if claim.kind == "model_vs_blur":
        pair, shift = values
        y = pair[0][ia, ib] - shift[0][ia]
        stat, p, floor = sign_flip_test(y, "greater", seed=seed)
        return (stat, p, floor, "sign_flip_models",
                _flip_method(y, names, "per-replicate differences (replicate i of both arms)"))
    if claim.kind in ("interaction", "condensed", "specificity", "control"):
        va, vb = values[0][ia], values[0][ib]
        stat, p, floor = mean_difference_test(va, vb, "greater", paired)
        how = f"within-pair swaps, 2^{len(va)}" if paired else f"all C({len(va) + len(vb)}, {len(va)})"
        return stat, p, floor, "arm_permutation", f"arm relabeling of the per-model values, exact ({how})"
    if claim.kind == "between":
        idx = np.concatenate([ia, ib])
        d = values[0][np.ix_(idx, idx)]
        stat, p, floor = arm_distance_test(d, len(ia), paired)
        how = f"within-pair swaps, 2^{len(ia)}" if paired else f"all C({len(idx)}, {len(ia)})"
        method = f"arm relabeling of the model-by-model distance matrix (between - within), exact ({how})"
        if np.isnan(p):
            method = "not testable: " + _empty_pairs(d, [models[i] if len(models) else f"model {i}" for i in idx])
        return stat, p, floor, "arm_permutation", method
    raise ValueError(claim.kind)


def model_level_tests(data: ModelData, claims: Sequence[Claim], *, paired: bool = False, n_boot: int = 2000,
                      seed: int = 0, confidence: float = 0.95, subsets: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (claim, subset), columns :data:`MODEL_COLUMNS`; ``p`` unadjusted.

    The claim's ``arm`` (default ``naive``) is arm a, its ``other`` arm b (default ``expert``,
    or ``naive`` when a is ``expert``); one-arm claims (shift, spread, model_vs_blur, trend) test
    arm a. Two-arm claims test mean(a) - mean(b) > 0: interaction and condensed (naive vs
    expert), specificity (a = naive, b = the expert whose own kind is ``variants[0]``), control
    (a = the control arm, b = the blur expert). Multi-Bootstrap CIs from ``n_boot`` resamples of
    models (within each arm) and images (jointly).
    """
    rows = []
    rng = np.random.default_rng(seed)
    n_img = len(data.images)
    boot_w = np.stack([np.bincount(rng.integers(0, n_img, n_img), minlength=n_img) for _ in range(n_boot)]).astype(float)
    obs_w = np.ones((1, n_img))
    q = [(1 - confidence) / 2, (1 + confidence) / 2]
    for claim in claims:
        tested = claim.arm or ids.NAIVE
        other = claim.other or (ids.EXPERT if tested == ids.NAIVE else ids.NAIVE)
        if claim.other is None and claim.kind in ("interaction", "condensed"):
            tested, other = ids.NAIVE, ids.EXPERT  # naive shift > expert shift; naive entropy > expert entropy
        ia, ib = data.index(tested), data.index(other)
        k_a, k_b = len(ia), len(ib)
        boot_a = ia[rng.integers(0, k_a, (n_boot, k_a))]
        boot_b = ib[rng.integers(0, k_b, (n_boot, k_b))]
        if claim.kind == "model_vs_blur":  # resample replicate indices, keeping the pairs
            pick = rng.integers(0, min(k_a, k_b), (n_boot, min(k_a, k_b)))
            boot_a, boot_b = ia[pick], ib[pick]
        for subset, class_mask in _subsets(data):
            if subsets is not None and subset not in subsets:
                continue
            fn = _per_model_fn(data, claim, subset, class_mask)
            obs = fn(obs_w)
            stat, p, floor, test, method = _test(claim, obs, ia, ib, paired, seed, data.models)
            est, est_std = _stat(claim, obs, ia[None, :], ib[None, :])
            with warnings.catch_warnings():  # resamples that hold no model with images give NaN, by design
                warnings.simplefilter("ignore", RuntimeWarning)
                bs, bs_std = _stat(claim, fn(boot_w), boot_a, boot_b)
                ci = np.nanquantile(bs, q) if np.isfinite(bs).sum() > 1 else [np.nan, np.nan]
                ci_std = np.nanquantile(bs_std, q) if np.isfinite(bs_std).sum() > 1 else [np.nan, np.nan]
            mean, mean_null = _means(claim, obs, ia, ib)
            rows.append({
                "claim_id": claim.claim_id, "claim": claim.text, "subset": subset, "test": test,
                "comparison": claim.comparison, "null": claim.null, "n": k_a + (k_b if claim.kind in (
                    "between", "interaction", "condensed", "specificity", "control") else 0),
                "n_images": _n_images(data, claim, subset, class_mask), "mean": mean, "mean_null": mean_null,
                "estimate": float(est[0]), "ci_low": float(ci[0]), "ci_high": float(ci[1]),
                "estimate_std": float(est_std[0]), "std_ci_low": float(ci_std[0]), "std_ci_high": float(ci_std[1]),
                "statistic": stat, "p": p, "p_floor": floor, "alternative": "greater", "method": method,
                "ci_method": f"Multi-Bootstrap percentile, {confidence:.0%}, {n_boot} resamples of models and images",
            })
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


def _flip_method(y: np.ndarray, names: Sequence[str], what: str) -> str:
    """The sign-flip test's description; models without a value (no image in the subset) named."""
    ok = np.isfinite(y)
    k = int(ok.sum())
    missing = [n for n, good in zip(names, ok) if not good]
    if k == 0:
        return f"not testable: no model has an image in this subset ({', '.join(missing)})"
    text = f"sign flip of the {k} {what}, exact (2^{k})"
    if missing:
        text += f"; left out, no image in this subset: {', '.join(missing)}"
    return text


def _empty_pairs(dist: np.ndarray, names: Sequence[str]) -> str:
    """Which model pairs of a distance matrix have no distance (no image left in the subset)."""
    i, j = np.triu_indices_from(dist, 1)
    bad = [f"{names[a]} & {names[b]}" for a, b in zip(i, j) if np.isnan(dist[a, b])]
    return f"{len(bad)} model pair(s) share no image in this subset ({', '.join(bad[:4])}{', ...' if len(bad) > 4 else ''})"


def _means(claim: Claim, obs, ia: np.ndarray, ib: np.ndarray) -> tuple[float, float]:
    """The two sides of the claim in its units: e.g. mean d(clear, blur) and its noise floor."""
    if claim.kind == "model_vs_blur":
        pair, shift = obs
        k = min(len(ia), len(ib))
        return float(np.nanmean(pair[0][ia[:k], ib[:k]])), float(np.nanmean(shift[0][ia]))
    v = obs[0]
    if claim.kind == "between":
        idx = np.concatenate([ia, ib])
        d = v[np.ix_(idx, idx)]
        lab = np.r_[np.ones(len(ia), bool), np.zeros(len(ib), bool)]
        cross = d[np.ix_(lab, ~lab)]
        within = np.concatenate([d[np.ix_(lab, lab)][np.triu_indices(len(ia), 1)],
                                 d[np.ix_(~lab, ~lab)][np.triu_indices(len(ib), 1)]])
        return float(np.nanmean(cross)), float(np.nanmean(within))
    if claim.kind in ("interaction", "condensed", "specificity", "control"):
        return float(np.nanmean(v[ia])), float(np.nanmean(v[ib]))
    return float(np.nanmean(v[ia])), 0.0


def per_model_values(data: ModelData, test_blurs: Sequence[str]) -> pd.DataFrame:
    """The per-model numbers behind the claims (all images): one row per (quantity, variant,
    model): ``shift`` d(clear, b), ``noise_floor`` d(b0, b1), ``shift_beyond_noise``, ``entropy``,
    ``accuracy`` (of the mapped images), and ``within_arm``/``between_arm`` mean pair distances."""
    rows = []
    w = np.ones((1, len(data.images)))
    full = np.ones(len(data.images), bool)
    for i, model in enumerate(data.models):
        arm, rep = ids.parse_model_id(model)
        for v in [ids.CLEAR, *test_blurs]:
            rows.append((model, arm, rep, v, "entropy", float(np.mean(data.entropy[v][i]))))
            rows.append((model, arm, rep, v, "accuracy", float(np.mean(data.correct[v][i]))))
            d = _masked_means(data.pair[v], np.broadcast_to(full, data.pair[v].shape), w)[0][i]
            same = np.array([ids.parse_model_id(m)[0] == arm for m in data.models])
            same[i] = False
            rows.append((model, arm, rep, v, "within_arm_distance", float(np.nanmean(d[same]))))
            other = np.array([ids.parse_model_id(m)[0] != arm for m in data.models])
            rows.append((model, arm, rep, v, "between_arm_distance", float(np.nanmean(d[other]))))
            if v in data.shift:
                s, f = data.shift[v][i].mean(), data.floor[v][i].mean()
                rows += [(model, arm, rep, v, "shift", float(s)), (model, arm, rep, v, "noise_floor", float(f)),
                         (model, arm, rep, v, "shift_beyond_noise", float(s - f))]
    return pd.DataFrame(rows, columns=["model", "arm", "replicate", "variant", "quantity", "value"])


# ---------------------------------------------------------------------------- design


def p_floors(k: int, paired: bool = False) -> dict[str, float]:
    """The smallest p of each model-level test with K models per arm, by test name:
    ``sign_flip_models`` 2^-K; ``arm_permutation`` (between-arm distance matrix, whose statistic
    does not change when the arms swap names) 2/C(2K, K), or 2/2^K for the paired design."""
    relabel = 2.0 ** k if paired else float(math.comb(2 * k, k))
    return {"sign_flip_models": 0.5 ** k, "arm_permutation": min(1.0, 2.0 / relabel)}


def design_note(k: int, test_blurs: Sequence[str], paired: bool, adjust: str, alpha: float) -> str | None:
    """A sentence for the user when K models per arm are too few for the model-level tests to
    support a claim after adjusting over the study's claims; None when K suffices (or K < 2)."""
    if k < 2:
        return None
    n = len(study_claims(list(test_blurs)))

    def worst(kk: int) -> dict[str, float]:
        return {t: stats.smallest_adjusted_p(f, n, adjust) for t, f in p_floors(kk, paired).items()}

    blocked = {t: p for t, p in worst(k).items() if p >= alpha}
    if not blocked:
        return None
    enough = next((kk for kk in range(k + 1, 64) if max(worst(kk).values()) < alpha), None)
    what = "; ".join(f"{t} {p:.2g}" for t, p in blocked.items())
    return (f"training.seeds: with K = {k} models per arm and {adjust} over {n} claims, the smallest adjusted "
            f"p-values the exact model-level tests can give are {what}, not below stats.alpha = {alpha:g}: "
            f"none of the study's claims tested that way can be supported (the grid's dose-response, specificity "
            f"and control tests are adjusted in their own families). K >= {enough} per arm lets every claim reach alpha.")
