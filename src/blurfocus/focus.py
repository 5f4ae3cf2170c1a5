"""Focus comparisons: which maps are compared, and the per-rank focus distances.

The focus of a map is its top-k pixels, ranked (``saliency.topk_pixels``). For two maps of the
same image, the distance at rank r is the Euclidean distance, in pixels of the model input,
between their r-th focus pixels.

A *condition* is (model, variant, draw): e.g. ``("naive", "clear", 0)``. Model names in the
saliency tables are ``<role>-s<seed>`` (``naive-s0``); comparisons name roles only for the
primary seed (``naive:clear-vs-blur``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd


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
    kind: str = "study"  # study | noise_floor | seed_null


def model_name(role: str, seed: int) -> str:
    return f"{role}-s{seed}"


def study_comparisons(test_variants: Sequence[str], seed: int) -> list[Comparison]:
    """The original study's comparisons (per blur variant) plus clear:naive-vs-expert."""
    naive, expert = model_name("naive", seed), model_name("expert", seed)
    out = []
    for b in test_variants:
        out += [
            Comparison(f"naive:clear-vs-{b}", Condition(naive, "clear"), Condition(naive, b)),
            Comparison(f"expert:clear-vs-{b}", Condition(expert, "clear"), Condition(expert, b)),
            Comparison(f"{b}:naive-vs-expert", Condition(naive, b), Condition(expert, b)),
        ]
    out.append(Comparison("clear:naive-vs-expert", Condition(naive, "clear"), Condition(expert, "clear")))
    return out


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
