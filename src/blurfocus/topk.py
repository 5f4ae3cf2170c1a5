"""The focus of a map: its top-k pixels, ranked (numpy only, no torch)."""

from __future__ import annotations

import numpy as np


def topk_pixels(saliency_map: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k highest pixels of an HxW map, ranked; ties broken by row-major pixel index.

    Returns (rows, cols, values), each of length k (int32, int32, float32).
    """
    h, w = saliency_map.shape
    if not 1 <= k <= h * w:
        raise ValueError(f"topk: k={k} must be between 1 and the number of pixels ({h * w})")
    flat = np.asarray(saliency_map, dtype=np.float64).ravel()
    flat = np.where(np.isnan(flat), -np.inf, flat)
    if k < flat.size:
        kth = np.partition(flat, flat.size - k)[flat.size - k]
        cand = np.flatnonzero(flat >= kth)  # all ties at the boundary, in index order
    else:
        cand = np.arange(flat.size)
    order = cand[np.argsort(-flat[cand], kind="stable")][:k]
    rows, cols = np.divmod(order, w)
    return rows.astype(np.int32), cols.astype(np.int32), flat[order].astype(np.float32)
