"""The report's map explorer: a compact, self-contained payload of maps, images and focus pixels.

The explorer (``assets/explorer.js``) runs in the browser from ``file://`` without a server. This
module builds its data:

- **images**: every mapped test image, clear and each test variant, as base64 PNG (uint8 RGB,
  S x S pixels of the model input);
- **maps**: per included condition (model, variant, draw) and image, the SmoothGrad map quantized
  to 8 bits, ``round(255 * |map| / max |map|)``, as a base64 grayscale PNG (S x S), with the
  map's maximum (``scale``), its center of mass (row, col in pixels, from the float map), the
  top-k focus pixels (rank order, row and col in pixels), the prediction and the label;
- **masks** (synthetic data): the known-answer cues per image as one grayscale PNG (0 = none,
  1 = texture cue, 2 = shape cue);
- **precomputed**: the study's four comparisons (first replicate) as per-image mean focus
  distance over ranks (pixels), from ``results/stats/distances.parquet``.

Distances, IoU and center-of-mass shift between any two panes are computed in the browser from
the top-k pixels and centers of mass, so any pair of included conditions can be compared.

Which conditions are included (:func:`plan_conditions`): the first replicate of each arm, draw 0,
on every variant (always); then the other replicates' draw 0, one replicate of both arms at a
time, in seed order; then the first replicate's other SmoothGrad draws; then the other
replicates' other draws (``draws: all``); each tier only while the page stays under ``max_mb``,
and once one tier does not fit, none after it. The page says what was left
out and which ``report.explorer`` setting brings it in.
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from . import ids

MODEL_RE = re.compile(rf"^(?P<role>{ids.ARM_PATTERN})-s(?P<seed>\d+)$")
DRAW_OPTIONS = ("first_replicate", "all", "none")


@dataclass(frozen=True)
class ConditionKey:
    model: str  # <role>-s<seed>, e.g. naive-s0
    variant: str  # clear or a blur variant
    draw: int


@dataclass
class Plan:
    """Conditions to embed (in order) and a sentence per group that was left out."""

    include: list[ConditionKey]
    left_out: list[str] = field(default_factory=list)


def b64_png(array: np.ndarray) -> str:
    """Base64 of a lossless PNG of a uint8 (H, W) or (H, W, 3) array."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def quantize_map(saliency_map: np.ndarray) -> tuple[np.ndarray, float]:
    """(H, W) float map -> (uint8 (H, W) = round(255 * |map| / max|map|), max|map|).

    An all-zero map stays zero (scale 0)."""
    a = np.abs(np.asarray(saliency_map, dtype=np.float64))
    top = float(a.max()) if a.size else 0.0
    if top <= 0 or not np.isfinite(top):
        return np.zeros(a.shape, np.uint8), 0.0
    return np.rint(a / top * 255.0).astype(np.uint8), top


def split_model(model: str) -> tuple[str, int]:
    """``naive-s3`` -> ("naive", 3); other names -> (name, -1)."""
    m = MODEL_RE.match(model)
    return (m["role"], int(m["seed"])) if m else (model, -1)


def plan_conditions(
    available: Iterable[ConditionKey],
    cost: Callable[[ConditionKey], int],
    max_bytes: float,
    seeds: Sequence[int] | None = None,
    replicates: int | None = None,
    draws: str = "first_replicate",
    fixed_bytes: int = 0,
) -> Plan:
    """Choose the conditions the page embeds, in tiers, within ``max_bytes`` (see the module doc).

    ``cost(key)`` is the embedded size (bytes) of one condition's maps; ``fixed_bytes`` what the
    page holds anyway (images, tables). ``seeds`` orders the replicates (default: ascending);
    ``replicates`` caps the replicates per arm (None = all).
    """
    if draws not in DRAW_OPTIONS:
        raise ValueError(f"report.explorer.draws: {draws!r} not one of {', '.join(DRAW_OPTIONS)}")
    avail = sorted(set(available), key=lambda k: (split_model(k.model)[1], k.model, k.variant, k.draw))
    found = sorted({split_model(k.model)[1] for k in avail})
    order = [s for s in (seeds or []) if s in found] + [s for s in found if s not in (seeds or [])]
    if replicates is not None:
        cut = order[replicates:]
        order = order[:replicates]
        if cut:
            n = len({k.model for k in avail if split_model(k.model)[1] in cut})
            noun = "model" if n == 1 else "models"
            seed_list = ", ".join(f"s{s}" for s in cut)
            left_cap = (f"{n} replicate {noun} (seeds {seed_list}): "
                        f"report.explorer.replicates is {replicates}")
        else:
            left_cap = ""
    else:
        left_cap = ""
    by_seed = {s: [k for k in avail if split_model(k.model)[1] == s] for s in order}
    tiers: list[tuple[str, list[ConditionKey]]] = []
    if order:
        first = by_seed[order[0]]
        tiers.append((f"first replicate (s{order[0]}), draw 0", [k for k in first if k.draw == 0]))
        for s in order[1:]:
            tiers.append((f"replicate s{s}, draw 0", [k for k in by_seed[s] if k.draw == 0]))
        if draws in ("first_replicate", "all"):
            tiers.append((f"first replicate (s{order[0]}), draws 1+", [k for k in first if k.draw > 0]))
        if draws == "all":
            for s in order[1:]:
                tiers.append((f"replicate s{s}, draws 1+", [k for k in by_seed[s] if k.draw > 0]))
    plan = Plan(include=[])
    if left_cap:
        plan.left_out.append(left_cap)
    if draws != "all":
        extra = [k for s in order[1:] for k in by_seed[s] if k.draw > 0]
        if draws == "none":
            extra += [k for k in by_seed[order[0]] if k.draw > 0] if order else []
        if extra:
            plan.left_out.append(f"{len(extra)} map sets of SmoothGrad draws 1+: report.explorer.draws is {draws!r}")
    used = fixed_bytes
    full = False
    over: list[tuple[str, int, int]] = []  # (tier, map sets, bytes) that did not fit
    for i, (name, keys) in enumerate(tiers):
        if not keys:
            continue
        size = sum(cost(k) for k in keys)
        if i == 0 or (not full and used + size <= max_bytes):
            plan.include += keys
            used += size
        else:
            full = True
            over.append((name, len(keys), size))
    reps = [o for o in over if o[0].startswith("replicate s") and o[0].endswith("draw 0")]
    if reps:
        seeds_out = ", ".join(o[0].split()[1].rstrip(",") for o in reps)
        plan.left_out.append(f"replicates {seeds_out}, draw 0 ({sum(o[1] for o in reps)} map sets, "
                             f"{sum(o[2] for o in reps) / 1e6:.1f} MB): over report.explorer.max_mb")
    plan.left_out += [f"{name} ({n} map sets, {size / 1e6:.1f} MB): over report.explorer.max_mb"
                      for name, n, size in over if (name, n, size) not in reps]
    return plan


def cue_masks_png(texture: np.ndarray, shape: np.ndarray) -> str:
    """One grayscale PNG per image: 0 = no cue, 1 = texture cue, 2 = shape cue (texture wins)."""
    m = np.where(texture, 1, np.where(shape, 2, 0)).astype(np.uint8)
    return b64_png(m)


def inferno_lut() -> list[int]:
    """matplotlib's inferno colormap as 256 x RGB bytes (flat list)."""
    from matplotlib import colormaps

    rgb = colormaps["inferno"](np.linspace(0, 1, 256))[:, :3]
    return np.rint(rgb * 255).astype(int).ravel().tolist()


def condition_payload(table: pd.DataFrame, maps: np.ndarray, image_ids: Sequence[str]) -> dict[str, Any]:
    """One condition's entries, aligned with ``image_ids`` (None where the image has no map).

    ``table`` has columns image_id, label, pred, topk_rows, topk_cols; ``maps`` is float (N, H, W)
    in the table's row order.
    """
    from .metrics import center_of_mass

    pos = {i: j for j, i in enumerate(table["image_id"])}
    com = center_of_mass(maps) if len(maps) else np.zeros((0, 2))
    out: dict[str, list] = {"png": [], "scale": [], "com": [], "topk": [], "pred": []}
    for image_id in image_ids:
        j = pos.get(image_id)
        if j is None:
            for v in out.values():
                v.append(None)
            continue
        q, top = quantize_map(maps[j])
        out["png"].append(b64_png(q))
        out["scale"].append(float(f"{top:.4g}"))
        c = com[j]
        out["com"].append([round(float(c[0]), 3), round(float(c[1]), 3)] if np.all(np.isfinite(c)) else None)
        rows, cols = np.asarray(table["topk_rows"].iloc[j]), np.asarray(table["topk_cols"].iloc[j])
        out["topk"].append(np.stack([rows, cols], 1).ravel().astype(int).tolist())
        out["pred"].append(int(table["pred"].iloc[j]))
    return out


def precomputed_distances(distances: pd.DataFrame, comparisons: Sequence[tuple[str, ConditionKey, ConditionKey]],
                          image_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Per study comparison present in ``distances``: per-image mean distance over ranks (pixels)."""
    out = []
    for name, a, b in comparisons:
        g = distances[distances["comparison"] == name]
        if g.empty:
            continue
        mean = g.groupby("image_id")["distance"].mean()
        out.append({
            "name": name,
            "a": [a.model, a.variant, a.draw],
            "b": [b.model, b.variant, b.draw],
            "mean": [None if i not in mean.index else round(float(mean[i]), 4) for i in image_ids],
        })
    return out


def build_payload(
    rows: pd.DataFrame,
    classes: Sequence[str],
    variants: Sequence[str],
    pictures: Mapping[str, np.ndarray],
    conditions: Mapping[ConditionKey, tuple[pd.DataFrame, np.ndarray]],
    plan: Plan,
    topk: int,
    precomputed: list[dict[str, Any]] | None = None,
    masks: tuple[np.ndarray, np.ndarray] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The explorer's data (JSON-able).

    ``rows``: the mapped test images (image_id, label, class_name, split_index), in page order;
    ``pictures[variant]``: uint8 (N, S, S, 3) aligned with ``rows``; ``conditions[key]``: the
    condition's saliency rows and float maps (N, S, S); ``masks``: texture and shape (bool,
    N x S x S) aligned with ``rows``.
    """
    ids = rows["image_id"].tolist()
    size = int(next(iter(pictures.values())).shape[1])
    payload: dict[str, Any] = {
        "version": 1,
        "size": size,
        "topk": int(topk),
        "classes": list(classes),
        "variants": list(variants),
        "images": [{"id": r.image_id, "label": int(r.label), "cls": str(r.class_name)} for r in rows.itertuples()],
        "pictures": {v: [b64_png(x) for x in pictures[v]] for v in variants},
        "conditions": [],
        "precomputed": precomputed or [],
        "left_out": list(plan.left_out),
        "settings": dict(settings or {}),
        "lut": inferno_lut(),
    }
    for key in plan.include:
        table, maps = conditions[key]
        role, seed = split_model(key.model)
        entry = {"model": key.model, "role": role, "seed": seed, "variant": key.variant, "draw": key.draw}
        entry.update(condition_payload(table, maps, ids))
        payload["conditions"].append(entry)
    if masks is not None:
        payload["masks"] = [cue_masks_png(t, s) for t, s in zip(*masks)]
        for entry in payload["conditions"]:
            entry["cue"] = {name: [None if t is None else cue_fraction(m[i], t) for i, t in enumerate(entry["topk"])]
                            for name, m in (("texture", masks[0]), ("shape", masks[1]))}
    return payload


def cue_fraction(mask: np.ndarray, topk_flat: Sequence[int]) -> float:
    """Fraction of the top-k pixels (flat [r0, c0, r1, c1, ...]) inside a bool (H, W) mask."""
    rc = np.asarray(topk_flat, dtype=int).reshape(-1, 2)
    return round(float(mask[rc[:, 0], rc[:, 1]].mean()), 4) if len(rc) else float("nan")


def estimate_condition_bytes(maps: np.ndarray, sample: int = 8) -> int:
    """Embedded size (bytes of base64 text) of one condition's maps, from a few encoded maps."""
    n = len(maps)
    if n == 0:
        return 0
    idx = np.linspace(0, n - 1, min(sample, n)).round().astype(int)
    per = np.mean([len(b64_png(quantize_map(maps[i])[0])) for i in idx])
    return int(n * (per * 1.05 + 600))  # + top-k, center of mass, cues, JSON syntax per map


def to_json(payload: Mapping[str, Any]) -> str:
    """Compact JSON, safe inside ``<script type="application/json">``."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
