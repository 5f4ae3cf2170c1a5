"""Dataset-level analysis on the saliency Parquet dataset: per-map and per-comparison focus
metrics, known-answer scores, the combined tests table and the verdicts on the study's claims.

Maps are read one condition (model, variant, draw) at a time, so memory holds at most two
conditions' maps, whatever the number of conditions.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow.dataset as pads

from . import ids, metrics, robust, stats
from .focus import Comparison, Condition, NullPair
from .mapstore import read_maps
from .modeltests import claim_arms

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
    "unit", "family", "test", "claim_id", "comparison", "null", "known_null", "subset", "rank", "n", "n_images",
    "mean", "sd", "mean_null", "mean_diff", "median_diff", "ci_low", "ci_high", "median_ci_low", "median_ci_high",
    "estimate_std", "std_ci_low", "std_ci_high", "rank_biserial", "cohens_dz", "statistic", "p", "p_floor", "p_adj",
    "adjust_method", "adjust_family", "alternative", "method", "ci_method",
]
FAMILIES = {
    "original": "the original study's t-tests (per rank, on one naive and one expert model)",
    "per-image": "per-image tests against a matching null, conditional on the first replicate's trained weights",
    "model-level": "tests across replicate models: the unit is the trained model",
}


def tests_table(ttests: pd.DataFrame, robust_table: pd.DataFrame, pairs: Sequence[NullPair],
                model_table: pd.DataFrame | None = None, adjust: str = "holm",
                grid_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every test in one schema (:data:`TESTS_COLUMNS`), with one multiple-testing path.

    ``unit`` is ``image`` (the original study's t-tests, family ``original``; the per-image
    Wilcoxon and sign-flip tests against a matching null, family ``per-image``, both conditional
    on the trained weights of the first replicate) or ``model`` (family ``model-level``,
    :func:`blurfocus.modeltests.model_level_tests`). ``p_adj`` is ``p`` adjusted by ``adjust``
    within ``adjust_family``: per (test, comparison[, null]) over the ranks for image rows; over
    all model-level claims of one subset for model rows. ``grid_table``: the dose-response,
    specificity and control tests (:func:`blurfocus.grid.grid_tests`), adjusted there within
    their own families, so they leave the study's families unchanged.
    """
    known = {(p.comparison, p.null): p.known_null for p in pairs}
    o = ttests.copy()
    o["unit"], o["family"], o["subset"] = "image", "original", "all"
    o["null"] = np.where(o["test"] == "one_sample_t", "0", o["comparison"].str.split(">").str[1])
    o["comparison"] = o["comparison"].str.split(">").str[0]
    o["known_null"] = [any(k and c == comp for (c, _), k in known.items()) for comp in o["comparison"]]
    o["rank"] = o["rank"].astype(str)
    o["p_adj"] = o.groupby(["test", "comparison", "null"])["p"].transform(lambda p: stats.adjust_pvalues(p, adjust))
    o["adjust_method"] = adjust
    o["adjust_family"] = "original " + o["test"] + ": " + o["comparison"] + " vs " + o["null"] + ", ranks"
    o["method"] = np.where(o["test"] == "one_sample_t", "scipy.stats.ttest_1samp against 0",
                           "scipy.stats.ttest_rel (model distance vs blur distance)")
    r = robust_table.copy()
    r["unit"], r["family"], r["subset"] = "image", "per-image", "all"
    r["known_null"] = [known.get((c, n), False) for c, n in zip(r["comparison"], r["null"])]
    r = r.rename(columns={"mean_distance": "mean", "mean_null_distance": "mean_null"})
    parts = [o, r]
    if model_table is not None and len(model_table):
        m = model_table.rename(columns={"estimate": "mean_diff"}).copy()
        m["unit"], m["family"], m["rank"], m["known_null"] = "model", "model-level", "mean", False
        m["adjust_method"] = adjust
        m["adjust_family"] = "model-level claims, subset " + m["subset"]
        m["p_adj"] = m.groupby("subset")["p"].transform(lambda p: stats.adjust_pvalues(p, adjust))
        parts.append(m)
    if grid_table is not None and len(grid_table):
        g = grid_table.rename(columns={"estimate": "mean_diff"}).drop(columns=["family"]).copy()
        g["unit"], g["family"], g["rank"], g["known_null"] = "model", "model-level", "mean", False
        parts.append(g)
    out = pd.concat(parts, ignore_index=True)
    for col in TESTS_COLUMNS:
        if col not in out.columns:
            out[col] = np.nan
    return out[TESTS_COLUMNS]


# ------------------------------------------------------------------ claims


def effect_label(standardized: float) -> str:
    """Size of a standardized effect (estimate / model-to-model SD): |d| < 0.2 negligible,
    < 0.5 small, < 0.8 medium, else large (Cohen's conventions)."""
    d = abs(standardized)
    if np.isnan(d):
        return "no effect size"
    return "negligible" if d < 0.2 else "small" if d < 0.5 else "medium" if d < 0.8 else "large"


def verdict(p_adj: float, ci_low: float, ci_high: float, alpha: float, p_floor: float = np.nan,
            p_adj_floor: float = np.nan) -> tuple[str, str]:
    """(verdict, reason) for a one-sided claim that the estimate is > 0.

    ``supported`` only when the adjusted p < alpha *and* the CI excludes 0 on the claimed side;
    ``not supported`` when p >= alpha and the CI covers 0, or the CI lies on the other side;
    ``inconclusive`` when p and CI disagree or the test could not run. ``p_floor``: the smallest
    p the test can give; ``p_adj_floor``: the smallest adjusted p its family allows
    (:func:`blurfocus.stats.smallest_adjusted_p`); both only explain the reason.
    """
    if np.isnan(p_adj):
        return "inconclusive", "not tested at the model level"
    floor = f" (the smallest p this test can give is {p_floor:.2g} before adjustment)" if not np.isnan(p_floor) else ""
    if not np.isnan(p_adj_floor) and p_adj_floor >= alpha:
        floor = (f" (the smallest p this test can give is {p_floor:.2g}, and {p_adj_floor:.2g} after the adjustment "
                 f"over the claims: with this number of models it cannot reach {alpha:g}; more replicates per arm "
                 "are needed)")
    if ci_high < 0:
        return "not supported", "the estimate is on the other side: the whole CI is below 0"
    if p_adj < alpha and ci_low > 0:
        return "supported", f"adjusted p < {alpha:g} and the CI excludes 0"
    if p_adj < alpha:
        return "inconclusive", f"adjusted p < {alpha:g} but the CI covers 0"
    if ci_low > 0:
        return "inconclusive", f"the CI excludes 0 but the adjusted p >= {alpha:g}{floor}"
    return "not supported", f"adjusted p >= {alpha:g} and the CI covers 0{floor}"


CLAIM_COLUMNS = [
    "claim_id", "claim", "unit", "measure", "contrast", "null", "n_models", "n_images", "estimate", "ci_low",
    "ci_high", "estimate_std", "std_ci_low", "std_ci_high", "effect", "test", "p", "p_floor", "p_adj", "verdict",
    "reason", "arms_at_chance", "both_correct_estimate", "both_correct_p_adj", "p_per_image", "per_image_test",
    "p_original", "original_test",
]


def _original(tests: pd.DataFrame, comparison: str, null: str, alpha: float) -> tuple[float, str]:
    sel = tests[(tests["family"] == "original") & (tests["comparison"] == comparison) & (tests["null"] == null)]
    if sel.empty:
        return np.nan, "not in the original study"
    sig = int((sel["p_adj"] < alpha).sum())
    return (float(sel["p_adj"].median()),
            f"{sel['test'].iloc[0]} per rank: {sig}/{len(sel)} ranks significant; p = median adjusted p over ranks")


def _per_image(tests: pd.DataFrame, comparison: str, null_prefix: str) -> tuple[float, str]:
    sel = tests[(tests["family"] == "per-image") & (tests["test"] == "wilcoxon") & (tests["rank"] == "mean")
                & (tests["comparison"] == comparison) & tests["null"].astype(str).str.startswith(null_prefix)]
    if sel.empty:
        return np.nan, "none"
    r = sel.iloc[0]
    return float(r["p_adj"]), f"Wilcoxon vs {r['null']} over {int(r['n'])} images (conditional on these weights)"


def _adjusted_floor(row: dict, model: pd.DataFrame) -> float:
    """The smallest adjusted p the row's test allows within its adjustment family (model rows)."""
    if "adjust_family" not in row or pd.isna(row.get("p_floor", np.nan)):
        return np.nan
    family = model[(model["adjust_family"] == row["adjust_family"]) & model["p"].notna()]
    return stats.smallest_adjusted_p(row["p_floor"], len(family), row["adjust_method"])


def claims_table(tests: pd.DataFrame, claims: Sequence, alpha: float,
                 at_chance: Mapping[str, tuple[str, float, float, float]] | None = None,
                 chance: float = 0.5) -> pd.DataFrame:
    """One row per claim (:data:`CLAIM_COLUMNS`), its verdict read from the model-level row of
    subset ``all`` in ``tests`` (:func:`verdict`), beside the same claim on the images every
    model classifies correctly, the per-image test on the first replicate (conditional on its
    weights) and the original study's test. ``claims``: :class:`blurfocus.modeltests.Claim`.

    ``at_chance``: arms that did not learn their training images (:func:`blurfocus.grid.arms_at_chance`
    at ``chance``); a focus claim about one of them (:func:`blurfocus.modeltests.claim_arms`) is
    ``inconclusive`` whatever its test says (the reason keeps the test's own verdict), and
    ``arms_at_chance`` names them."""
    at_chance = at_chance or {}
    model = tests[tests["unit"] == "model"]
    rows = []
    for c in claims:
        sel = model[(model["claim_id"] == c.claim_id) & (model["subset"] == "all")]
        bc = model[(model["claim_id"] == c.claim_id) & (model["subset"] == "both_correct")]
        if c.kind in ("shift", "between"):
            p_img, img_test = _per_image(tests, c.comparison, c.comparison.split(":")[0] if c.kind == "shift" else
                                         f"{c.variant}:")
        else:
            p_img, img_test = np.nan, "none"
        if c.kind == "model_vs_blur":
            p_orig, orig_test = _original(tests, c.comparison, c.null, alpha)
        elif c.kind in ("shift", "between"):
            p_orig, orig_test = _original(tests, c.comparison, "0", alpha)
        elif c.kind in ("trend", "trend_accuracy", "specificity", "control"):
            p_orig, orig_test = np.nan, "not in the original study"
        else:
            p_orig, orig_test = np.nan, "qualitative in the study (no test)"
        if sel.empty:
            r = dict.fromkeys(["n", "n_images", "mean_diff", "ci_low", "ci_high", "estimate_std", "std_ci_low",
                               "std_ci_high", "p", "p_floor", "p_adj"], np.nan)
            r["test"] = "not tested (model-level tests need >= 2 replicates per arm and 2 draws)"
        else:
            r = sel.iloc[0].to_dict()
        v, why = verdict(r["p_adj"], r["ci_low"], r["ci_high"], alpha, r["p_floor"], _adjusted_floor(r, model))
        untrained = [a for a in claim_arms(c) if a in at_chance]
        if untrained:
            said = "; ".join(f"{a} on {at_chance[a][0]}: accuracy {at_chance[a][1]:.3g}, CI {at_chance[a][2]:.3g} to "
                             f"{at_chance[a][3]:.3g}" for a in untrained)
            v, why = "inconclusive", (f"{', '.join(untrained)} did not learn its training images ({said}; chance "
                                      f"{chance:.3g}), so the claim says nothing about training; the test alone: "
                                      f"{v} ({why})")
        rows.append({
            "claim_id": c.claim_id, "claim": c.text, "unit": "model", "measure": c.measure, "contrast": c.comparison,
            "null": c.null, "n_models": r["n"], "n_images": r["n_images"], "estimate": r["mean_diff"],
            "ci_low": r["ci_low"], "ci_high": r["ci_high"], "estimate_std": r["estimate_std"],
            "std_ci_low": r["std_ci_low"], "std_ci_high": r["std_ci_high"], "effect": effect_label(r["estimate_std"]),
            "test": r["test"], "p": r["p"], "p_floor": r["p_floor"], "p_adj": r["p_adj"], "verdict": v, "reason": why,
            "arms_at_chance": ",".join(untrained),
            "both_correct_estimate": float(bc["mean_diff"].iloc[0]) if len(bc) else np.nan,
            "both_correct_p_adj": float(bc["p_adj"].iloc[0]) if len(bc) else np.nan,
            "p_per_image": p_img, "per_image_test": img_test, "p_original": p_orig, "original_test": orig_test,
        })
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def _paired(x: pd.Series, y: pd.Series, alternative: str, n_resamples: int, seed: int) -> dict:
    ids_ = x.index.intersection(y.index)
    return robust.paired_tests(x.loc[ids_].to_numpy(), y.loc[ids_].to_numpy(), alternative=alternative,
                               n_resamples=n_resamples, seed=seed)


def known_answer_table(maps: pd.DataFrame, primary_seed: int, alpha: float, n_resamples: int, seed: int,
                       adjust: str = "holm") -> pd.DataFrame:
    """Known-answer scores on the synthetic data: per model (first replicate) and variant, the
    mean fraction of top-k pixels and of saliency mass in the texture and the shape cue, and
    paired per-image tests (expert vs naive, two-sided; conditional on these weights), adjusted
    by ``adjust`` over the table."""
    naive, expert = ids.model_id(ids.NAIVE, primary_seed), ids.model_id(ids.EXPERT, primary_seed)
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
    out["p_adj"] = stats.adjust_pvalues(out["p_wilcoxon"], adjust)
    out["adjust_method"] = adjust
    return out
