"""Focus comparisons: which maps are compared, and the per-rank focus distances.

The focus of a map is its top-k pixels, ranked (``saliency.topk_pixels``). For two maps of the
same image, the distance at rank r is the Euclidean distance, in pixels of the model input,
between their r-th focus pixels.

A *condition* is (model, variant, draw): e.g. ``("naive-s0", "clear", 0)``. Model ids and
comparison names are built in :mod:`blurfocus.ids`; the study's comparisons name arms only, for
the primary (first) replicate (``naive:clear-vs-blur``).

These per-image comparisons are conditional on the first replicate's trained weights; the
model-level tests (:mod:`blurfocus.modeltests`) use every replicate.

Null comparisons (issue "statistics that can say no") measure how far the focus moves when
nothing of interest changes:

- SmoothGrad noise floor ``<role>:<variant>:draw0-vs-draw1``: the same model and image, two
  independent noise draws.
- Training-seed replicates ``<variant>:<role>-s<a>-vs-<role>-s<b>``: two models trained in the
  same condition with different seeds. With two seeds and draws, also the same pair with the
  first model's map from draw 1 (``<variant>:<role>-s<a>@draw1-vs-<role>-s<b>``): tested
  against the draw-0 pair it is a known null (redrawing SmoothGrad noise cannot move the
  replicates apart), which shows the calibrated tests say "no" on replicate-vs-replicate
  distances where the one-sample t-test says "yes".

:func:`null_pairs` says which null each comparison is tested against. Every pairing shares
one map between the comparison and its null (e.g. ``naive:clear-vs-blur`` = d(clear₀, blur₀)
vs ``naive:blur:draw0-vs-draw1`` = d(blur₀, blur₁)), so that under the null hypothesis the
two distances of an image are exchangeable and a paired sign-flip test is exact. This needs
every map to carry its own SmoothGrad noise, which the saliency rule ensures by seeding the
noise with (model, variant, draw, image).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .ids import model_id as model_name
from .ids import between_name, noise_name, seed_draw_name, seed_name, shift_name


@dataclass(frozen=True)
class Condition:
    model: str  # e.g. naive-s0
    variant: str  # clear or a blur variant name
    draw: int = 0


@dataclass(frozen=True)
class Comparison:
    name: str
    a: Condition
    b: Condition
    kind: str = "study"  # study | noise_floor | seed_replicate


@dataclass(frozen=True)
class NullPair:
    """``comparison`` is tested against ``null``; ``known_null`` marks pairs where the
    comparison itself has no effect by construction (calibration checks)."""

    comparison: str
    null: str
    question: str
    known_null: bool = False


def study_comparisons(test_variants: Sequence[str], seed: int) -> list[Comparison]:
    """The original study's comparisons (per blur variant) plus clear:naive-vs-expert."""
    naive, expert = model_name("naive", seed), model_name("expert", seed)
    out = []
    for b in test_variants:
        out += [
            Comparison(shift_name("naive", b), Condition(naive, "clear"), Condition(naive, b)),
            Comparison(shift_name("expert", b), Condition(expert, "clear"), Condition(expert, b)),
            Comparison(between_name(b), Condition(naive, b), Condition(expert, b)),
        ]
    out.append(Comparison(between_name("clear"), Condition(naive, "clear"), Condition(expert, "clear")))
    return out


def null_comparisons(variants: Sequence[str], seeds: Sequence[int], draws: int) -> list[Comparison]:
    """Noise-floor comparisons of the primary models (draw i vs i+1, for ``draws`` draws) and
    seed-replicate comparisons (consecutive seeds), on every variant."""
    out = []
    primary = seeds[0]
    for v in variants:
        for role in ("naive", "expert"):
            m = model_name(role, primary)
            for d in range(draws - 1):
                out.append(Comparison(noise_name(role, v, d, d + 1), Condition(m, v, d), Condition(m, v, d + 1), "noise_floor"))
            for s1, s2 in zip(seeds[:-1], seeds[1:]):
                out.append(Comparison(seed_name(v, role, s1, s2), Condition(model_name(role, s1), v), Condition(model_name(role, s2), v), "seed_replicate"))
            if len(seeds) == 2 and draws >= 2:
                s1, s2 = seeds
                out.append(Comparison(seed_draw_name(v, role, s1, s2, 1), Condition(model_name(role, s1), v, 1),
                                      Condition(model_name(role, s2), v), "seed_replicate"))
    return out


def null_pairs(test_blurs: Sequence[str], seeds: Sequence[int], draws: int) -> list[NullPair]:
    """Which null each comparison is tested against (see the module docstring)."""
    pairs: list[NullPair] = []
    s0 = seeds[0]
    variants = ["clear", *test_blurs]
    if draws >= 2:
        for b in test_blurs:
            for role in ("naive", "expert"):
                pairs.append(NullPair(
                    shift_name(role, b), noise_name(role, b, 0, 1),
                    f"does blur move the {role} model's focus more than SmoothGrad noise does?"))
    if len(seeds) >= 2:
        for v in variants:
            for role in ("naive", "expert"):
                pairs.append(NullPair(
                    between_name(v), seed_name(v, role, s0, seeds[1]),
                    f"do naive and expert look at different places on {v} images, more than two "
                    f"{role} models trained with different seeds do?"))
    if draws >= 3:
        for v in variants:
            for role in ("naive", "expert"):
                pairs.append(NullPair(
                    noise_name(role, v, 0, 1), noise_name(role, v, 1, 2),
                    f"known null: two SmoothGrad draws of the {role} model on {v} images", known_null=True))
    for v in variants:
        for role in ("naive", "expert"):
            if len(seeds) >= 3:
                pairs.append(NullPair(
                    seed_name(v, role, s0, seeds[1]), seed_name(v, role, seeds[1], seeds[2]),
                    f"known null: two {role} replicates on {v} images", known_null=True))
            elif len(seeds) == 2 and draws >= 2:
                pairs.append(NullPair(
                    seed_name(v, role, s0, seeds[1]), noise_name(role, v, 0, 1),
                    f"does the training seed move the {role} model's focus on {v} images more "
                    "than SmoothGrad noise does?"))
                pairs.append(NullPair(
                    seed_name(v, role, s0, seeds[1]), seed_draw_name(v, role, s0, seeds[1], 1),
                    f"known null: two {role} replicates on {v} images, against the same pair with "
                    "the first replicate's map redrawn", known_null=True))
    return pairs


def rank_distances(rows_a, cols_a, rows_b, cols_b) -> np.ndarray:
    """Euclidean distance (pixels) between the r-th focus pixels of two maps, per rank.

    Inputs are (..., k) integer arrays; returns float64 (..., k).
    """
    dr = np.asarray(rows_a, dtype=np.float64) - np.asarray(rows_b, dtype=np.float64)
    dc = np.asarray(cols_a, dtype=np.float64) - np.asarray(cols_b, dtype=np.float64)
    return np.hypot(dr, dc)


def _focus_frame(maps: pd.DataFrame, cond: Condition) -> pd.DataFrame:
    sel = maps[(maps["model"] == cond.model) & (maps["variant"] == cond.variant) & (maps["draw"] == cond.draw)]
    if sel.empty:
        raise KeyError(f"no saliency maps for model={cond.model} variant={cond.variant} draw={cond.draw}")
    return sel.set_index("image_id")[["topk_rows", "topk_cols"]]


def distance_table(maps: pd.DataFrame, comparisons: Iterable[Comparison]) -> pd.DataFrame:
    """Long table ``comparison, image_id, rank, distance`` (rank 1 = the top pixel).

    ``maps`` holds one row per (model, variant, draw, image_id) with list columns
    ``topk_rows, topk_cols``. Images present in both conditions are compared, sorted by id.
    """
    frames = []
    for comp in comparisons:
        a, b = _focus_frame(maps, comp.a), _focus_frame(maps, comp.b)
        ids = sorted(set(a.index) & set(b.index))
        if not ids:
            raise ValueError(f"{comp.name}: the two conditions share no image")
        ra, ca = np.stack(a.loc[ids, "topk_rows"].to_numpy()), np.stack(a.loc[ids, "topk_cols"].to_numpy())
        rb, cb = np.stack(b.loc[ids, "topk_rows"].to_numpy()), np.stack(b.loc[ids, "topk_cols"].to_numpy())
        if ra.shape != rb.shape:
            raise ValueError(f"{comp.name}: top-k sizes differ ({ra.shape[1]} vs {rb.shape[1]})")
        d = rank_distances(ra, ca, rb, cb)
        k = d.shape[1]
        frames.append(
            pd.DataFrame(
                {
                    "comparison": comp.name,
                    "image_id": np.repeat(ids, k),
                    "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), len(ids)),
                    "distance": d.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
