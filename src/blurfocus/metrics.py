"""Set-level focus metrics of saliency maps.

Conventions
-----------
- A map is a float array (H, W); functions also take batches (..., H, W) and return one
  value per map (shape ``...``). A focus is the top-k pixels of a map as ``rows, cols`` int
  arrays (..., k) in rank order (``topk.topk_pixels``); pixels of one focus are distinct.
- Coordinates and distances are in pixels of the map, a pixel at (row, col) = its index.
- Mass: metrics that treat a map as a distribution (center of mass, entropy, Gini, mass
  fraction) use |map| (maps of the ``sum`` reduction can be negative; the default
  ``abs_sum`` maps already are non-negative), normalized to sum 1 per map. A map with no
  mass (all zero) gives NaN.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage
from scipy import special as spspecial
from scipy import stats as sps
from scipy.optimize import linear_sum_assignment


def _maps(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim < 2:
        raise ValueError(f"maps must be (..., H, W); got shape {a.shape}")
    return a


def _scalar(v: np.ndarray):
    """0-d arrays as numpy scalars, batches unchanged."""
    v = np.asarray(v)
    return v[()] if v.ndim == 0 else v


def _focus(rows, cols) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.asarray(rows), np.asarray(cols)
    if rows.shape != cols.shape or rows.ndim < 1:
        raise ValueError(f"rows and cols must have the same shape (..., k); got {rows.shape} and {cols.shape}")
    return rows.astype(np.int64), cols.astype(np.int64)


def _mass(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(|a|, total mass per map (...)); maps with zero total mass get NaN totals."""
    m = np.abs(_maps(a))
    total = m.sum(axis=(-2, -1))
    return m, np.where(total > 0, total, np.nan)


# --------------------------------------------------------------------------- focus sets


def topk_iou(a_rows, a_cols, b_rows, b_cols):
    """Intersection over union of two top-k pixel sets; inputs (..., k), result (...), in [0, 1].

    The two sets may differ in size; NaN when both are empty.
    """
    ar, ac = _focus(a_rows, a_cols)
    br, bc = _focus(b_rows, b_cols)
    for r, c, name in ((ar, ac, "a"), (br, bc, "b")):
        same = (r[..., :, None] == r[..., None, :]) & (c[..., :, None] == c[..., None, :])
        if np.any(same.sum(-1) > 1):
            raise ValueError(f"topk_iou: focus {name} repeats a pixel")
    hit = (ar[..., :, None] == br[..., None, :]) & (ac[..., :, None] == bc[..., None, :])
    inter = hit.any(-1).sum(-1)
    union = ar.shape[-1] + br.shape[-1] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return _scalar(np.where(union > 0, inter / np.maximum(union, 1), np.nan))


def matched_distance(a_rows, a_cols, b_rows, b_cols):
    """Mean Euclidean distance (pixels) between two top-k sets under the optimal one-to-one
    matching (minimum total distance, ``scipy.optimize.linear_sum_assignment``); ranks are
    ignored. Inputs (..., k), same k; result (...). 0 iff the sets are equal.
    """
    ar, ac = _focus(a_rows, a_cols)
    br, bc = _focus(b_rows, b_cols)
    if ar.shape != br.shape:
        raise ValueError(f"matched_distance: focus shapes differ ({ar.shape} vs {br.shape})")
    lead, k = ar.shape[:-1], ar.shape[-1]
    cost = np.hypot(
        (ar[..., :, None] - br[..., None, :]).astype(np.float64),
        (ac[..., :, None] - bc[..., None, :]).astype(np.float64),
    ).reshape(-1, k, k)
    out = np.empty(cost.shape[0])
    for i, c in enumerate(cost):
        ri, ci = linear_sum_assignment(c)
        out[i] = c[ri, ci].mean() if k else np.nan
    return _scalar(out.reshape(lead))


# --------------------------------------------------------------------------- whole maps


def spearman_maps(a, b):
    """Spearman rank correlation of two maps over their pixels (Pearson correlation of the
    average-tie ranks of the flattened maps, as ``scipy.stats.spearmanr``).

    ``a``, ``b``: (..., H, W) of the same shape; result (...). NaN when a map is constant or
    holds a NaN.
    """
    a, b = _maps(a), _maps(b)
    if a.shape != b.shape:
        raise ValueError(f"spearman_maps: shapes differ ({a.shape} vs {b.shape})")
    flat_shape = (*a.shape[:-2], a.shape[-2] * a.shape[-1])
    ra = sps.rankdata(a.reshape(flat_shape), axis=-1)
    rb = sps.rankdata(b.reshape(flat_shape), axis=-1)
    ra = ra - ra.mean(-1, keepdims=True)
    rb = rb - rb.mean(-1, keepdims=True)
    den = np.sqrt((ra * ra).sum(-1) * (rb * rb).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(den > 0, (ra * rb).sum(-1) / np.where(den > 0, den, 1.0), np.nan)
    return _scalar(np.clip(rho, -1.0, 1.0))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, sigma: float = 1.5) -> float:
    """Mean structural similarity of two HxW arrays, maps or one colour channel of two images
    (Wang et al., 2004); ``data_range``: max - min of the values (1 for [0, 1] images).

    Gaussian window (std ``sigma``, truncated at 3.5 std), K1 = 0.01, K2 = 0.03, population
    covariances; the border of half a window is left out. Matches
    ``skimage.metrics.structural_similarity(a, b, data_range=..., gaussian_weights=True,
    use_sample_covariance=False)``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ {a.shape} vs {b.shape}")

    def filt(x: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(x, sigma=sigma, mode="nearest", truncate=3.5)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ua, ub = filt(a), filt(b)
    va = filt(a * a) - ua * ua
    vb = filt(b * b) - ub * ub
    vab = filt(a * b) - ua * ub
    s = ((2 * ua * ub + c1) * (2 * vab + c2)) / ((ua**2 + ub**2 + c1) * (va + vb + c2))
    pad = (int(2 * int(3.5 * sigma + 0.5) + 1) - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean()) if min(a.shape) > 2 * pad else float(s.mean())


def center_of_mass(a) -> np.ndarray:
    """Center of mass (row, col) in pixels of |map| normalized to sum 1.

    ``a``: (..., H, W); returns float64 (..., 2); NaN for a map without mass.
    """
    m, total = _mass(a)
    h, w = m.shape[-2:]
    row = (m.sum(-1) * np.arange(h)).sum(-1) / total
    col = (m.sum(-2) * np.arange(w)).sum(-1) / total
    return np.stack([row, col], axis=-1)


def com_shift(a, b):
    """Euclidean distance (pixels) between the centers of mass of maps a and b, (..., H, W) -> (...)."""
    d = center_of_mass(a) - center_of_mass(b)
    return _scalar(np.hypot(d[..., 0], d[..., 1]))


def entropy(a):
    """Shannon entropy (nats) of |map| normalized to a distribution over its H*W pixels.

    ``a``: (..., H, W) -> (...); 0 for a one-hot map, log(H*W) for a uniform one, NaN
    without mass.
    """
    m, total = _mass(a)
    p = m / total[..., None, None]
    return _scalar(spspecial.entr(p).sum(axis=(-2, -1)))


def normalized_entropy(a):
    """:func:`entropy` / log(H*W), in [0, 1] (1 = uniform); NaN for a 1-pixel map."""
    a = _maps(a)
    n = a.shape[-2] * a.shape[-1]
    return _scalar(np.asarray(entropy(a)) / np.log(n) if n > 1 else np.full(a.shape[:-2], np.nan))


def gini(a):
    """Gini coefficient of the pixel values |map| (population form).

    G = sum_ij |x_i - x_j| / (2 n^2 mean(x)) = 2 sum_i i x_(i) / (n sum x) - (n+1)/n, x sorted
    ascending, i = 1..n, n = H*W. 0 for a uniform map; 1 - 1/n for a one-hot map (the maximum,
    -> 1 as n grows). ``a``: (..., H, W) -> (...); NaN without mass.
    """
    m, total = _mass(a)
    x = np.sort(m.reshape(*m.shape[:-2], -1), axis=-1)
    n = x.shape[-1]
    i = np.arange(1, n + 1)
    return _scalar(2.0 * (x * i).sum(-1) / (n * total) - (n + 1) / n)


class MaskFractions(NamedTuple):
    topk: object  # fraction of the k focus pixels inside the mask
    mass: object  # fraction of |map| mass inside the mask


def mask_fractions(a, rows, cols, mask) -> MaskFractions:
    """Fractions of a map's focus inside a boolean mask (e.g. the object's segmentation).

    ``a``: (..., H, W) map; ``rows, cols``: (..., k) its focus; ``mask``: bool (H, W) or
    (..., H, W). Returns ``MaskFractions(topk, mass)``, each (...): the share of the k focus
    pixels inside the mask, and the share of the |map| mass inside it (NaN without mass).
    """
    m, total = _mass(a)
    rows, cols = _focus(rows, cols)
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise ValueError(f"mask must be boolean; got {mask.dtype}")
    h, w = m.shape[-2:]
    if mask.shape[-2:] != (h, w):
        raise ValueError(f"mask shape {mask.shape} does not match the map's {(h, w)}")
    if np.any((rows < 0) | (rows >= h) | (cols < 0) | (cols >= w)):
        raise ValueError(f"focus pixels outside the {h}x{w} map")
    lead = np.broadcast_shapes(m.shape[:-2], mask.shape[:-2], rows.shape[:-1])
    flat_mask = np.broadcast_to(mask, (*lead, h, w)).reshape(*lead, h * w)
    idx = np.broadcast_to(rows * w + cols, (*lead, rows.shape[-1]))
    inside = np.take_along_axis(flat_mask, idx, axis=-1)
    topk = inside.mean(-1) if rows.shape[-1] else np.full(lead, np.nan)
    mass = (m * mask).sum(axis=(-2, -1)) / total
    return MaskFractions(_scalar(topk), _scalar(mass))
