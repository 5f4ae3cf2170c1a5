"""The original study's tests on focus distances, and multiple-testing adjustment.

- Per comparison and rank: one-sample t-test of the distances against 0 (two-sided); the k
  p-values of a comparison are adjusted together.
- Tests (c) and (d): per rank, a one-sided paired t-test that the distance due to the model
  exceeds the distance due to blur, for the naive model
  (d[b:naive-vs-expert] - d[naive:clear-vs-b] > 0) and the expert
  (d[b:naive-vs-expert] - d[expert:clear-vs-b] > 0).

Note: distances are non-negative, so the one-sample test against 0 is significant for any two
maps that are not pixel-identical; it is reproduced for comparison, not as evidence.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .ids import between_name, shift_name

ADJUST_METHODS = ("holm", "bonferroni", "fdr_bh")
TTEST_COLUMNS = [
    "test", "comparison", "rank", "n", "mean", "sd", "statistic", "p", "p_adj", "adjust_method", "alternative",
]


def adjust_pvalues(p: Sequence[float], method: str = "holm") -> np.ndarray:
    """Adjusted p-values (family = the given values; NaNs are left out and stay NaN).

    ``holm``: step-down Holm-Bonferroni; ``bonferroni``: p*m; ``fdr_bh``: Benjamini-Hochberg.
    All capped at 1 and monotone as in statsmodels' ``multipletests``.
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    if method == "bonferroni":
        adj = np.minimum(q * m, 1.0)
    elif method == "holm":
        order = np.argsort(q, kind="stable")
        stepped = np.maximum.accumulate((m - np.arange(m)) * q[order])
        adj = np.empty(m)
        adj[order] = np.minimum(stepped, 1.0)
    elif method == "fdr_bh":
        order = np.argsort(q, kind="stable")
        ranked = q[order] * m / np.arange(1, m + 1)
        stepped = np.minimum.accumulate(ranked[::-1])[::-1]
        adj = np.empty(m)
        adj[order] = np.minimum(stepped, 1.0)
    else:
        raise ValueError(f"stats.adjust: unknown method {method!r}; allowed: {', '.join(ADJUST_METHODS)}")
    out[ok] = adj
    return out


def smallest_adjusted_p(p_floor: float, n_tests: int, method: str = "holm") -> float:
    """The smallest adjusted p that a test whose p cannot fall below ``p_floor`` can get in a family
    of ``n_tests`` adjusted by ``method``: every test of the family at its floor (Holm and
    Bonferroni: n_tests x p_floor; Benjamini-Hochberg: p_floor). NaN when p_floor is NaN."""
    if np.isnan(p_floor) or n_tests < 1:
        return np.nan
    return float(adjust_pvalues(np.full(int(n_tests), float(p_floor)), method).min())


def _describe(x: np.ndarray) -> tuple[int, float, float]:
    n = int(x.size)
    return n, float(np.mean(x)) if n else np.nan, float(np.std(x, ddof=1)) if n > 1 else np.nan


def one_sample_t(x: np.ndarray, alternative: str = "two-sided") -> tuple[float, float]:
    """(t, p) of a one-sample t-test against 0 (scipy); NaN when undefined (n < 2 or sd 0)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < 2 or np.all(x == x[0]):
        return np.nan, np.nan
    from scipy import stats as sps  # here, not at import: the workflow imports this module while it parses

    res = sps.ttest_1samp(x, 0.0, alternative=alternative)
    return float(res.statistic), float(res.pvalue)


def matrix(distances: pd.DataFrame, comparison: str) -> pd.DataFrame:
    """Distances of one comparison as an image x rank matrix."""
    sel = distances[distances["comparison"] == comparison]
    if sel.empty:
        raise KeyError(f"no distances for comparison {comparison!r}")
    return sel.pivot(index="image_id", columns="rank", values="distance").sort_index()


def study_ttests(
    distances: pd.DataFrame,
    test_variants: Sequence[str],
    adjust: str = "holm",
) -> pd.DataFrame:
    """The original study's t-tests; columns :data:`TTEST_COLUMNS`.

    ``distances``: ``comparison, image_id, rank, distance`` (see ``focus.distance_table``).
    """
    rows = []

    def add(test: str, comparison: str, mat: pd.DataFrame, alternative: str) -> None:
        block = []
        for rank in mat.columns:
            x = mat[rank].dropna().to_numpy()
            n, mean, sd = _describe(x)
            t, p = one_sample_t(x, alternative)
            block.append([test, comparison, int(rank), n, mean, sd, t, p])
        padj = adjust_pvalues([b[-1] for b in block], adjust)
        for b, pa in zip(block, padj):
            rows.append(b + [pa, adjust, alternative])

    for comparison in dict.fromkeys(distances["comparison"]):  # the order of the distances table
        add("one_sample_t", comparison, matrix(distances, comparison), "two-sided")
    for b in test_variants:
        model = matrix(distances, between_name(b))
        for role in ("naive", "expert"):
            blur = matrix(distances, shift_name(role, b))
            ids = model.index.intersection(blur.index)
            diff = model.loc[ids] - blur.loc[ids]
            # paired t-test of model vs blur distance == one-sample test of the differences
            add("paired_t", f"{between_name(b)}>{shift_name(role, b)}", diff, "greater")
    return pd.DataFrame(rows, columns=TTEST_COLUMNS)
