"""Dataset-level analysis on the saliency Parquet dataset: per-map and per-comparison focus
metrics, known-answer scores, the combined tests table and the verdicts on the study's claims.

Maps are read one condition (model, variant, draw) at a time, so memory holds at most two
conditions' maps, whatever the number of conditions.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow.dataset as pads

from . import metrics, robust, stats
from .focus import Comparison, Condition, NullPair
from .mapstore import read_maps

MAP_METRIC_COLUMNS = ["model", "variant", "draw", "image_id", "label", "pred", "entropy", "normalized_entropy", "gini",
                      "com_row", "com_col"]
PAIR_METRIC_COLUMNS = ["comparison", "kind", "image_id", "topk_iou", "matched_distance", "spearman", "com_shift"]


def load_condition(dataset: pads.Dataset, cond: Condition) -> tuple[pd.DataFrame, np.ndarray]:
    """(rows sorted by image_id, maps (N, H, W) float32) of one condition."""
    flt = (pads.field("model") == cond.model) & (pads.field("variant") == cond.variant) & (pads.field("draw") == cond.draw)
    table = dataset.to_table(filter=flt)
    if table.num_rows == 0:
        raise KeyError(f"no saliency maps for model={cond.model} variant={cond.variant} draw={cond.draw}")
    order = np.argsort(np.asarray(table.column("image_id").to_pylist()), kind="stable")
    table = table.take(order)
    rows = table.select(["image_id", "label", "pred", "topk_rows", "topk_cols"]).to_pandas()
    return rows, read_maps(table)


def map_metrics(dataset: pads.Dataset, conditions: Iterable[Condition],
                masks: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> pd.DataFrame:
    """Per map: entropy, normalized entropy, Gini, center of mass; with ``masks`` ({image_id:
    (texture, shape)} bool HxW) also the fraction of top-k pixels and of mass in each cue."""
    frames = []
    for cond in conditions:
        rows, maps = load_condition(dataset, cond)
        com = np.asarray(metrics.center_of_mass(maps)).reshape(-1, 2)
        df = pd.DataFrame({
            "model": cond.model, "variant": cond.variant, "draw": cond.draw,
            "image_id": rows["image_id"], "label": rows["label"], "pred": rows["pred"],
            "entropy": np.atleast_1d(metrics.entropy(maps)),
            "normalized_entropy": np.atleast_1d(metrics.normalized_entropy(maps)),
            "gini": np.atleast_1d(metrics.gini(maps)),
            "com_row": com[:, 0], "com_col": com[:, 1],
        })
        if masks is not None:
            r = np.stack(rows["topk_rows"].to_numpy())
            c = np.stack(rows["topk_cols"].to_numpy())
            tex = np.stack([masks[i][0] for i in rows["image_id"]])
            shp = np.stack([masks[i][1] for i in rows["image_id"]])
            ft = metrics.mask_fractions(maps, r, c, tex)
            fs = metrics.mask_fractions(maps, r, c, shp)
            df["texture_topk"], df["texture_mass"] = np.atleast_1d(ft.topk), np.atleast_1d(ft.mass)
            df["shape_topk"], df["shape_mass"] = np.atleast_1d(fs.topk), np.atleast_1d(fs.mass)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def pair_metrics(dataset: pads.Dataset, comparisons: Iterable[Comparison]) -> pd.DataFrame:
    """Per comparison and image: top-k IoU, optimally matched distance (px), Spearman
    correlation of the full maps and the shift of the center of mass (px)."""
    frames = []
    cache: dict[Condition, tuple[pd.DataFrame, np.ndarray]] = {}
    for comp in comparisons:
        parts = []
        for cond in (comp.a, comp.b):
            if cond not in cache:
                if len(cache) >= 2:  # keep at most two conditions in memory
                    cache.pop(next(iter(cache)))
                cache[cond] = load_condition(dataset, cond)
            parts.append(cache[cond])
        (ra, ma), (rb, mb) = parts
        ids = sorted(set(ra["image_id"]) & set(rb["image_id"]))
        ia = ra.reset_index(drop=True).reset_index().set_index("image_id").loc[ids, "index"].to_numpy()
        ib = rb.reset_index(drop=True).reset_index().set_index("image_id").loc[ids, "index"].to_numpy()
        a_r, a_c = np.stack(ra["topk_rows"].to_numpy()[ia]), np.stack(ra["topk_cols"].to_numpy()[ia])
        b_r, b_c = np.stack(rb["topk_rows"].to_numpy()[ib]), np.stack(rb["topk_cols"].to_numpy()[ib])
        frames.append(pd.DataFrame({
            "comparison": comp.name, "kind": comp.kind, "image_id": ids,
            "topk_iou": np.atleast_1d(metrics.topk_iou(a_r, a_c, b_r, b_c)),
            "matched_distance": np.atleast_1d(metrics.matched_distance(a_r, a_c, b_r, b_c)),
            "spearman": np.atleast_1d(metrics.spearman_maps(ma[ia], mb[ib])),
            "com_shift": np.atleast_1d(metrics.com_shift(ma[ia], mb[ib])),
        }))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------ tests table

TESTS_COLUMNS = [
    "family", "test", "comparison", "null", "known_null", "rank", "n", "mean", "sd", "mean_null", "mean_diff",
    "median_diff", "ci_low", "ci_high", "median_ci_low", "median_ci_high", "rank_biserial", "cohens_dz", "statistic", "p", "p_holm", "p_bh",
    "adjust_method", "alternative", "method",
]


def tests_table(ttests: pd.DataFrame, robust_table: pd.DataFrame, pairs: Sequence[NullPair]) -> pd.DataFrame:
    """The original study's t-tests next to the null-calibrated tests, one schema.

    ``family`` is ``original`` (one-sample t against 0, paired t (c)/(d)) or ``null-calibrated``
    (Wilcoxon signed-rank and sign-flip permutation against the matching null). Every row
    has both Holm and BH adjusted p-values (within its family of ranks); ``adjust_method``
    names them, and for original rows also the study's configured method behind ``p_adj``
    (kept in ttests.tsv).
    """
    known = {(p.comparison, p.null): p.known_null for p in pairs}
    o = ttests.copy()
    o["family"] = "original"
    o["null"] = np.where(o["test"] == "one_sample_t", "0", o["comparison"].str.split(">").str[1])
    o["comparison"] = o["comparison"].str.split(">").str[0]
    o["known_null"] = [any(k and c == comp for (c, _), k in known.items()) for comp in o["comparison"]]
    o["rank"] = o["rank"].astype(str)
    o["p_holm"] = o.groupby(["test", "comparison", "null"])["p"].transform(lambda p: stats.adjust_pvalues(p, "holm"))
    o["p_bh"] = o.groupby(["test", "comparison", "null"])["p"].transform(lambda p: stats.adjust_pvalues(p, "fdr_bh"))
    o["adjust_method"] = "holm and fdr_bh over the ranks of (test, comparison)"
    o["method"] = np.where(o["test"] == "one_sample_t", "scipy.stats.ttest_1samp against 0",
                           "scipy.stats.ttest_rel (model distance vs blur distance)")
    r = robust_table.copy()
    r["family"] = "null-calibrated"
    r["known_null"] = [known.get((c, n), False) for c, n in zip(r["comparison"], r["null"])]
    r = r.rename(columns={"mean_distance": "mean", "mean_null_distance": "mean_null"})
    r["adjust_method"] = "holm and fdr_bh over the ranks and the mean of (test, comparison, null)"
    out = pd.concat([o, r], ignore_index=True)
    for col in TESTS_COLUMNS:
        if col not in out.columns:
            out[col] = np.nan
    return out[TESTS_COLUMNS]


# ------------------------------------------------------------------ claims


def _per_image_mean(distances: pd.DataFrame, comparison: str) -> pd.Series:
    sel = distances[distances["comparison"] == comparison]
    return sel.groupby("image_id")["distance"].mean()


def _paired(x: pd.Series, y: pd.Series, alternative: str, n_resamples: int, seed: int) -> dict:
    ids = x.index.intersection(y.index)
    return robust.paired_tests(x.loc[ids].to_numpy(), y.loc[ids].to_numpy(), alternative=alternative,
                               n_resamples=n_resamples, seed=seed)


def effect_label(rank_biserial: float) -> str:
    """Size of a matched-pairs rank-biserial correlation: |r| < 0.1 negligible, < 0.3 small,
    < 0.5 medium, else large (the usual thresholds for a correlation)."""
    r = abs(rank_biserial)
    if np.isnan(r):
        return "no effect size"
    return "negligible" if r < 0.1 else "small" if r < 0.3 else "medium" if r < 0.5 else "large"


def _verdict(p_original: float, p_calibrated: float, alpha: float, rank_biserial: float = np.nan,
             original_tested: bool = True) -> str:
    """'supported, large effect (original test: significant)' and the like."""
    o = ("significant" if p_original < alpha else "not significant") if original_tested else None
    c = f"supported, {effect_label(rank_biserial)} effect" if p_calibrated < alpha else "not supported"
    return f"{c} (original test: {o})" if o else f"{c} (original: not tested)"


CLAIM_COLUMNS = ["claim", "measure", "contrast", "n", "estimate", "ci_low", "ci_high", "rank_biserial", "cohens_dz",
                 "p_original", "original_test", "p_calibrated", "calibrated_test", "verdict"]


def claims_table(distances: pd.DataFrame, tests: pd.DataFrame, maps: pd.DataFrame, test_blurs: Sequence[str],
                 primary_seed: int, alpha: float, n_resamples: int, seed: int) -> pd.DataFrame:
    """One row per claim of the original study: effect size (median paired difference) with
    its bootstrap CI, and p under the original test (median Holm-adjusted p over the ranks)
    and under the null-calibrated one (Wilcoxon on the per-image mean over ranks, Holm within
    its family of ranks + mean)."""
    rows = []
    naive, expert = f"naive-s{primary_seed}", f"expert-s{primary_seed}"

    def orig(comparison: str, null: str = "0") -> tuple[float, str]:
        sel = tests[(tests["family"] == "original") & (tests["comparison"] == comparison) & (tests["null"] == null)]
        if sel.empty:
            return np.nan, "n/a"
        k = len(sel)
        sig = int((sel["p_holm"] < alpha).sum())
        return float(sel["p_holm"].median()), f"{sel['test'].iloc[0]} per rank: {sig}/{k} ranks significant (Holm); p = median over ranks"

    def calib(comparison: str, null: str) -> dict | None:
        sel = tests[(tests["family"] == "null-calibrated") & (tests["test"] == "wilcoxon")
                    & (tests["comparison"] == comparison) & (tests["null"] == null) & (tests["rank"] == "mean")]
        return None if sel.empty else sel.iloc[0].to_dict()

    for b in test_blurs:
        for role in ("naive", "expert"):
            comp = f"{role}:clear-vs-{b}"
            null = f"{role}:{b}:draw0-vs-draw1"
            po, otest = orig(comp)
            c = calib(comp, null)
            if c is not None:
                rows.append([f"blur ({b}) moves the {role} model's focus", "focus distance, mean over ranks (px)",
                             f"{comp} vs {null}", c["n"], c["median_diff"], c["median_ci_low"],
                             c["median_ci_high"], c["rank_biserial"], c["cohens_dz"], po, otest,
                             c["p_holm"], "Wilcoxon signed-rank vs SmoothGrad noise floor, per-image mean over ranks, Holm",
                             _verdict(po, c["p_holm"], alpha, c["rank_biserial"])])
        comp = f"{b}:naive-vs-expert"
        po, otest = orig(comp)
        nulls = [n for n in tests[(tests["family"] == "null-calibrated") & (tests["comparison"] == comp)]["null"].unique()]
        for null in nulls:
            c = calib(comp, null)
            rows.append([f"naive and expert look at different places on {b} images", "focus distance, mean over ranks (px)",
                         f"{comp} vs {null}", c["n"], c["median_diff"], c["median_ci_low"],
                         c["median_ci_high"], c["rank_biserial"], c["cohens_dz"], po, otest, c["p_holm"],
                         "Wilcoxon signed-rank vs training-seed replicates, per-image mean over ranks, Holm",
                         _verdict(po, c["p_holm"], alpha, c["rank_biserial"])])
        for role, letter in (("naive", "c"), ("expert", "d")):
            blur_comp = f"{role}:clear-vs-{b}"
            po, otest = orig(comp, blur_comp)
            x, y = _per_image_mean(distances, comp), _per_image_mean(distances, blur_comp)
            r = _paired(x, y, "greater", n_resamples, seed)
            rows.append([f"({letter}) for the {role} model, the distance due to the model exceeds the distance due to blur",
                         "focus distance, mean over ranks (px)", f"{comp} > {blur_comp}", r["n"], r["median_diff"],
                         r["median_ci_low"], r["median_ci_high"], r["rank_biserial"], r["cohens_dz"], po, otest,
                         r["wilcoxon_p"], "Wilcoxon signed-rank (one-sided), per-image mean over ranks",
                         _verdict(po, r["wilcoxon_p"], alpha, r["rank_biserial"])])
        # qualitative claims about spread, as paired tests of map entropy
        m = maps[maps["draw"] == 0].set_index(["model", "variant", "image_id"])["normalized_entropy"].sort_index()
        pairs = [
            ("the naive model's focus is more spread out on blurred images", (naive, b), (naive, "clear"), "greater"),
            ("the expert's focus is more condensed than the naive model's on blurred images", (naive, b), (expert, b), "greater"),
        ]
        for claim, (ma, va), (mb, vb), alt in pairs:
            x, y = m.loc[(ma, va)], m.loc[(mb, vb)]
            r = _paired(x, y, alt, n_resamples, seed)
            rows.append([claim + f" ({b})", "normalized entropy of the map (0 = one pixel, 1 = uniform)",
                         f"{ma}/{va} > {mb}/{vb}", r["n"], r["median_diff"], r["median_ci_low"], r["median_ci_high"],
                         r["rank_biserial"], r["cohens_dz"], np.nan, "qualitative in the study (no test)", r["wilcoxon_p"],
                         "Wilcoxon signed-rank (one-sided), paired by image",
                         _verdict(np.nan, r["wilcoxon_p"], alpha, r["rank_biserial"], original_tested=False)])
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def known_answer_table(maps: pd.DataFrame, primary_seed: int, alpha: float, n_resamples: int, seed: int) -> pd.DataFrame:
    """Known-answer scores on the synthetic data: per model (primary seed) and variant, the mean
    fraction of top-k pixels and of saliency mass in the texture and the shape cue, and paired
    tests (expert vs naive, two-sided) of each fraction."""
    naive, expert = f"naive-s{primary_seed}", f"expert-s{primary_seed}"
    m = maps[(maps["draw"] == 0) & maps["model"].isin([naive, expert])]
    rows = []
    for variant in m["variant"].unique():
        for measure in ("shape_topk", "texture_topk", "shape_mass", "texture_mass"):
            x = m[(m["model"] == expert) & (m["variant"] == variant)].set_index("image_id")[measure]
            y = m[(m["model"] == naive) & (m["variant"] == variant)].set_index("image_id")[measure]
            r = _paired(x, y, "two-sided", n_resamples, seed)
            rows.append([variant, measure, float(y.mean()), float(x.mean()), r["n"], r["mean_diff"], r["ci_low"],
                         r["ci_high"], r["rank_biserial"], r["wilcoxon_p"], r["sign_flip_p"]])
    out = pd.DataFrame(rows, columns=["variant", "measure", "naive_mean", "expert_mean", "n", "mean_diff_expert_minus_naive",
                                      "ci_low", "ci_high", "rank_biserial", "p_wilcoxon", "p_sign_flip"])
    out["p_holm"] = stats.adjust_pvalues(out["p_wilcoxon"], "holm")
    return out
