"""Paired tests of a comparison's focus distances against a matching null ("statistics that can
say no").

Per image, ``x`` is the distance (pixels) in the comparison and ``y`` the distance in its null
(``focus.null_pairs``), e.g. d(clear₀, blur₀) vs d(blur₀, blur₁); ``d = x - y``. Under the
null hypothesis x and y are exchangeable, so d is symmetric about 0 and flipping the sign of
any d_i gives an equally likely data set. Unlike the study's one-sample t-test of x against
0 (``stats.one_sample_t``), these tests are not significant merely because distances are
non-negative.

Choices (see :func:`paired_tests`):

- Wilcoxon signed-rank, ``scipy.stats.wilcoxon(x, y, zero_method="pratt", correction=False,
  method="auto")``. Pratt: zero differences (equal distances, common because distances on
  the pixel lattice are discrete) stay in the ranking of |d| and their ranks are dropped from
  the statistic; the normal approximation is adjusted for them (Cureton 1967) and for ties.
  Discarding zeros (``"wilcox"``) instead ranks the rest as if the zeros did not exist, which
  can make a sample that moves towards the alternative less significant (Pratt 1959).
  ``method="auto"``: exact distribution for n <= 50 without ties or zeros, exhaustive
  sign-flip permutation of the rank statistic for n <= 13 with ties/zeros, otherwise the
  tie- and zero-corrected normal approximation.
- Sign-flip permutation test of mean(d): ``scipy.stats.permutation_test((d,), mean,
  permutation_type="samples")`` -- exact enumeration of all 2**n sign patterns when
  2**n <= n_resamples, otherwise n_resamples seeded random sign patterns with
  p = (1 + #{T* >= T}) / (1 + n_resamples) (the observed arrangement counted once), so the
  Monte Carlo p-value is itself a valid p-value. Null values within a relative 1e-13 of the
  observed one count as ties (scipy's tolerance).
- Effect sizes: median and mean of d (pixels); matched-pairs rank-biserial correlation by
  Kerby's simple difference formula r = (R+ - R-) / S, with R+/R- the signed-rank sums of
  the Wilcoxon test above and S = n(n+1)/2 the sum of all ranks, zeros included (zeros count
  as neither favourable nor unfavourable; without zeros this is 4 R+/(n(n+1)) - 1); Cohen's
  d_z = mean(d) / sd(d) (ddof=1).
- Confidence intervals: percentile bootstrap over images (resampling the n differences with
  replacement, seeded), two-sided at ``confidence``, for the mean and the median of d. The
  percentile interval is used rather than BCa because the median of discrete, tied distances
  has a lumpy bootstrap distribution for which BCa's bias correction (the share of resamples
  below the estimate) and jackknife acceleration are unstable.

Multiple testing (:func:`paired_test_table`): the configured method (``stats.adjust``, one
path for every table: ``stats.adjust_pvalues``) within a family = one (test, comparison, null)
over the ranks 1..k and the per-image mean over ranks (``rank="mean"``).

These tests treat the test images of *one* trained model (or pair of models) as the units, so
their verdicts are conditional on those trained weights; claims about training regimes are
tested across replicate models in :mod:`blurfocus.modeltests`.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from .seeding import stable_seed
from .stats import adjust_pvalues

ALTERNATIVES = ("greater", "less", "two-sided")
ZERO_METHOD = "pratt"
CI_METHOD = "percentile bootstrap over images"
PAIRED_COLUMNS = ["comparison", "null", "image_id", "rank", "distance", "null_distance"]
ROBUST_COLUMNS = [
    "test", "comparison", "null", "rank", "n", "mean_distance", "mean_null_distance",
    "median_diff", "mean_diff", "ci_low", "ci_high", "median_ci_low", "median_ci_high",
    "rank_biserial", "cohens_dz", "statistic", "p", "p_floor", "p_adj", "adjust_method", "adjust_family",
    "alternative", "method", "ci_method",
]


def _mean_stat(d: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(d, axis=axis)


def rank_biserial(d: Sequence[float]) -> float:
    """Matched-pairs rank-biserial correlation of differences ``d`` (Kerby's simple difference).

    r = (R+ - R-) / (n(n+1)/2), ranks of |d| with zeros ranked (Pratt) but counted on neither
    side; in [-1, 1], +1 when every nonzero difference is positive and all |d| exceed the zeros.
    NaN for n = 0.
    """
    d = np.asarray(d, dtype=np.float64)
    n = d.size
    if n == 0:
        return np.nan
    r = sps.rankdata(np.abs(d))
    r_plus, r_minus = float(r[d > 0].sum()), float(r[d < 0].sum())
    return (r_plus - r_minus) / (n * (n + 1) / 2)


def cohens_dz(d: Sequence[float]) -> float:
    """Cohen's d_z = mean(d) / sd(d) (ddof=1); NaN for n < 2 or sd = 0."""
    d = np.asarray(d, dtype=np.float64)
    if d.size < 2:
        return np.nan
    sd = float(np.std(d, ddof=1))
    return float(np.mean(d)) / sd if sd > 0 else np.nan


def bootstrap_ci(
    d: Sequence[float],
    *,
    n_resamples: int = 9999,
    seed: int | np.random.Generator | None = 0,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Percentile bootstrap CIs (resampling images) for the mean and the median of ``d``.

    Returns ``mean_low, mean_high, median_low, median_high`` in the units of d (pixels);
    NaN for n < 2 or ``n_resamples`` 0.
    """
    d = np.asarray(d, dtype=np.float64)
    n = d.size
    keys = ("mean_low", "mean_high", "median_low", "median_high")
    if n < 2 or n_resamples < 1:
        return dict.fromkeys(keys, np.nan)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: {confidence} must be in (0, 1)")
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // n)
    means, medians = [], []
    for start in range(0, n_resamples, chunk):
        sample = d[rng.integers(0, n, size=(min(chunk, n_resamples - start), n))]
        means.append(sample.mean(axis=1))
        medians.append(np.median(sample, axis=1))
    q = [(1 - confidence) / 2, (1 + confidence) / 2]
    m_lo, m_hi = np.quantile(np.concatenate(means), q)
    md_lo, md_hi = np.quantile(np.concatenate(medians), q)
    return {"mean_low": float(m_lo), "mean_high": float(m_hi), "median_low": float(md_lo), "median_high": float(md_hi)}


def wilcoxon_method(d: np.ndarray) -> str:
    """How ``scipy.stats.wilcoxon(method="auto")`` computes the p-value for differences d."""
    n = d.size
    ties = np.unique(np.abs(d)).size < n
    zeros = bool(np.any(d == 0))
    if n > 50 or ((ties or zeros) and n > 13):
        how = "normal approximation (tie- and zero-corrected, no continuity correction)"
    elif ties or zeros:
        how = "exact sign-flip permutation of the rank statistic (ties/zeros)"
    else:
        how = "exact null distribution"
    return f"wilcoxon signed-rank, zero_method={ZERO_METHOD}, p: {how}"


def paired_tests(
    x: Sequence[float],
    y: Sequence[float],
    *,
    alternative: str = "greater",
    n_resamples: int = 9999,
    seed: int | None = 0,
    confidence: float = 0.95,
    n_boot: int | None = None,
) -> dict[str, Any]:
    """Wilcoxon signed-rank and sign-flip permutation tests of paired samples, with effect sizes.

    ``x``, ``y``: (n,) paired values, e.g. per image the distance (pixels) in a comparison and
    in its null; d = x - y. Pairs with a NaN are dropped. ``alternative="greater"``: x tends
    to exceed y. ``n_resamples``: sign patterns of the permutation test (exact enumeration
    when 2**n <= n_resamples); ``n_boot``: bootstrap resamples (default ``n_resamples``; 0
    skips the CIs). ``seed`` makes the result deterministic.

    Returns a dict: ``n, mean_x, mean_y, median_diff, mean_diff, ci_low, ci_high`` (mean),
    ``median_ci_low, median_ci_high, rank_biserial, cohens_dz, wilcoxon_statistic`` (R+ for
    one-sided alternatives, min(R+, R-) for two-sided, as scipy), ``wilcoxon_p,
    wilcoxon_method, sign_flip_statistic`` (mean d), ``sign_flip_p, sign_flip_method,
    alternative, ci_method``. p-values are NaN when n < 2 or every difference is zero.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative: {alternative!r} not one of {', '.join(ALTERNATIVES)}")
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must be paired (same length); got {x.size} and {y.size}")
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    d = x - y
    n = int(d.size)
    n_boot = n_resamples if n_boot is None else n_boot
    perm_seed, boot_seed = np.random.SeedSequence(seed).spawn(2)

    out: dict[str, Any] = {
        "n": n,
        "mean_x": float(np.mean(x)) if n else np.nan,
        "mean_y": float(np.mean(y)) if n else np.nan,
        "median_diff": float(np.median(d)) if n else np.nan,
        "mean_diff": float(np.mean(d)) if n else np.nan,
        "rank_biserial": rank_biserial(d),
        "cohens_dz": cohens_dz(d),
        "alternative": alternative,
        "ci_method": f"{CI_METHOD}, {confidence:.0%} two-sided, {n_boot} resamples" if n_boot else "not computed",
    }
    ci = bootstrap_ci(d, n_resamples=n_boot, seed=np.random.default_rng(boot_seed), confidence=confidence)
    out.update(ci_low=ci["mean_low"], ci_high=ci["mean_high"], median_ci_low=ci["median_low"], median_ci_high=ci["median_high"])

    if n < 2 or not np.any(d != 0):
        why = "n < 2" if n < 2 else "all differences are zero"
        out.update(
            wilcoxon_statistic=np.nan, wilcoxon_p=np.nan, wilcoxon_method=f"not tested: {why}",
            sign_flip_statistic=out["mean_diff"], sign_flip_p=np.nan, sign_flip_method=f"not tested: {why}",
        )
        return out

    w = sps.wilcoxon(x, y, zero_method=ZERO_METHOD, correction=False, alternative=alternative, method="auto")
    perm = sps.permutation_test(
        (d,), _mean_stat, permutation_type="samples", vectorized=True, n_resamples=n_resamples,
        alternative=alternative, rng=np.random.default_rng(perm_seed),
    )
    if 2.0**n <= n_resamples:
        how = f"exact enumeration of all {2**n} sign patterns"
    else:
        how = f"Monte Carlo, {n_resamples} random sign patterns, p = (1 + count) / (1 + {n_resamples})"
    out.update(
        wilcoxon_statistic=float(w.statistic), wilcoxon_p=float(w.pvalue), wilcoxon_method=wilcoxon_method(d),
        sign_flip_statistic=float(perm.statistic), sign_flip_p=float(perm.pvalue),
        sign_flip_method=f"sign-flip permutation of mean(d), {how}",
    )
    return out


def pair_distances(distances: pd.DataFrame, pairs: Iterable[Any]) -> pd.DataFrame:
    """Paired distances for (comparison, null) pairs; columns :data:`PAIRED_COLUMNS`.

    ``distances``: ``comparison, image_id, rank, distance`` (``focus.distance_table``).
    ``pairs``: ``focus.NullPair`` objects or ``(comparison, null)`` tuples. Rows are matched on
    (image_id, rank); images missing from either side are left out.
    """
    frames = []
    for pair in pairs:
        comparison, null = (pair.comparison, pair.null) if hasattr(pair, "null") else tuple(pair)
        a = distances.loc[distances["comparison"] == comparison, ["image_id", "rank", "distance"]]
        b = distances.loc[distances["comparison"] == null, ["image_id", "rank", "distance"]]
        if a.empty or b.empty:
            missing = comparison if a.empty else null
            raise KeyError(f"no distances for comparison {missing!r}")
        m = a.merge(b.rename(columns={"distance": "null_distance"}), on=["image_id", "rank"], how="inner")
        m.insert(0, "null", null)
        m.insert(0, "comparison", comparison)
        frames.append(m)
    if not frames:
        return pd.DataFrame(columns=PAIRED_COLUMNS)
    out = pd.concat(frames, ignore_index=True)[PAIRED_COLUMNS]
    return out.sort_values(["comparison", "null", "rank", "image_id"], kind="stable", ignore_index=True)


def paired_test_table(
    paired: pd.DataFrame,
    *,
    alternative: str = "greater",
    n_resamples: int = 9999,
    seed: int = 0,
    confidence: float = 0.95,
    n_boot: int | None = None,
    adjust: str = "holm",
) -> pd.DataFrame:
    """Long table of :func:`paired_tests` for every (comparison, null) and rank; columns
    :data:`ROBUST_COLUMNS`.

    ``paired``: :data:`PAIRED_COLUMNS` (see :func:`pair_distances`). For each (comparison,
    null), each rank r gives one row per test (``wilcoxon``, ``sign_flip``), and so does the
    per-image mean over ranks (``rank="mean"``; images with a rank missing on either side are
    left out of it). ``rank`` is a string column ("1", ..., "mean"). ``p_adj`` adjusts ``p``
    by ``adjust`` within each (test, comparison, null) over its ranks and "mean" (named in
    ``adjust_family``); ``p_floor`` is the smallest p the test can give (exact sign flips:
    2^-n; Monte Carlo: 1/(1 + n_resamples); Wilcoxon's normal approximation: none, NaN). Each family
    draws its random numbers from a seed derived from (seed, comparison, null, rank), so the
    table does not depend on row order. Effect sizes and CIs are the same on both test rows.
    """
    missing = [c for c in PAIRED_COLUMNS if c not in paired.columns]
    if missing:
        raise KeyError(f"paired distances lack columns {missing}")
    rows = []
    for (comparison, null), block in paired.groupby(["comparison", "null"], sort=True):
        per_rank = [(str(int(r)), g["distance"].to_numpy(), g["null_distance"].to_numpy())
                    for r, g in block.sort_values("image_id", kind="stable").groupby("rank", sort=True)]
        k = block["rank"].nunique()
        x = block.pivot(index="image_id", columns="rank", values="distance")
        y = block.pivot(index="image_id", columns="rank", values="null_distance")
        complete = x.notna().sum(axis=1).eq(k) & y.notna().sum(axis=1).eq(k)
        per_rank.append(("mean", x[complete].mean(axis=1).to_numpy(), y[complete].mean(axis=1).to_numpy()))
        for rank, xs, ys in per_rank:
            res = paired_tests(
                xs, ys, alternative=alternative, n_resamples=n_resamples, confidence=confidence,
                n_boot=n_boot, seed=stable_seed("robust", seed, comparison, null, rank),
            )
            common = {
                "comparison": comparison, "null": null, "rank": rank, "n": res["n"],
                "mean_distance": res["mean_x"], "mean_null_distance": res["mean_y"],
                "median_diff": res["median_diff"], "mean_diff": res["mean_diff"],
                "ci_low": res["ci_low"], "ci_high": res["ci_high"],
                "median_ci_low": res["median_ci_low"], "median_ci_high": res["median_ci_high"],
                "rank_biserial": res["rank_biserial"], "cohens_dz": res["cohens_dz"],
                "alternative": alternative, "ci_method": res["ci_method"],
            }
            n = res["n"]
            floors = {"wilcoxon": np.nan,
                      "sign_flip": 2.0**-n if 2.0**n <= n_resamples else 1.0 / (1 + n_resamples)}
            for test in ("wilcoxon", "sign_flip"):
                rows.append({
                    **common, "test": test, "statistic": res[f"{test}_statistic"], "p": res[f"{test}_p"],
                    "p_floor": floors[test], "method": res[f"{test}_method"],
                })
    table = pd.DataFrame(rows, columns=[c for c in ROBUST_COLUMNS if c not in ("p_adj", "adjust_method",
                                                                               "adjust_family")])
    table["p_adj"] = np.nan
    table["adjust_method"] = adjust
    table["adjust_family"] = ""
    for (test, comparison, null), idx in table.groupby(["test", "comparison", "null"], sort=False).groups.items():
        table.loc[idx, "p_adj"] = adjust_pvalues(table.loc[idx, "p"].to_numpy(), adjust)
        table.loc[idx, "adjust_family"] = f"per-image {test}: {comparison} vs {null}, ranks and mean"
    table = table[ROBUST_COLUMNS]
    order = {"wilcoxon": 0, "sign_flip": 1}
    return table.sort_values(
        ["test", "comparison", "null", "rank"],
        key=lambda s: s.map(order) if s.name == "test" else (s.map(_rank_key) if s.name == "rank" else s),
        kind="stable", ignore_index=True,
    ).astype({"n": "int64", "rank": "str"})


def _rank_key(rank: str) -> int:
    return 10**9 if rank == "mean" else int(rank)
