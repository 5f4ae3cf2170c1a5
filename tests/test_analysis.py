import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.dataset as pads
import pytest

from blurfocus import analysis, focus, mapstore, robust, stats, topk


def comparisons_by_name(blurs, seeds, draws):
    comps = focus.study_comparisons(blurs, seeds[0]) + focus.null_comparisons(["clear", *blurs], seeds, draws)
    return {c.name: c for c in comps}


@pytest.mark.parametrize("seeds, draws", [([0, 1], 3), ([0, 1, 2], 2), ([5], 3), ([0, 1], 1)])
def test_every_null_pair_shares_exactly_one_map(seeds, draws):
    """Exchangeability under H0 needs the comparison and its null to share one map."""
    comps = comparisons_by_name(["blur", "motion"], seeds, draws)
    pairs = focus.null_pairs(["blur", "motion"], seeds, draws)
    assert pairs or (len(seeds) == 1 and draws == 1)
    for p in pairs:
        a, b = comps[p.comparison], comps[p.null]
        shared = {a.a, a.b} & {b.a, b.b}
        assert len(shared) == 1, (p, shared)


def test_null_pairs_default_design():
    pairs = focus.null_pairs(["blur"], [0, 1], 3)
    as_tuples = {(p.comparison, p.null, p.known_null) for p in pairs}
    assert ("naive:clear-vs-blur", "naive:blur:draw0-vs-draw1", False) in as_tuples
    assert ("blur:naive-vs-expert", "blur:expert-s0-vs-expert-s1", False) in as_tuples
    assert ("blur:naive-vs-expert", "blur:naive-s0-vs-naive-s1", False) in as_tuples
    assert ("naive:clear:draw0-vs-draw1", "naive:clear:draw1-vs-draw2", True) in as_tuples
    assert ("blur:naive-s0-vs-naive-s1", "naive:blur:draw0-vs-draw1", False) in as_tuples
    # with two seeds the replicate comparison's known null redraws the first replicate's map
    assert ("clear:expert-s0-vs-expert-s1", "clear:expert-s0@draw1-vs-expert-s1", True) in as_tuples
    # with three seeds the replicate comparison gets a known-null partner
    three = {(p.comparison, p.null, p.known_null) for p in focus.null_pairs(["blur"], [0, 1, 2], 3)}
    assert ("blur:naive-s0-vs-naive-s1", "blur:naive-s1-vs-naive-s2", True) in three


def write_fake_saliency(path, sets, n_images=30, size=16, k=5, shift=None):
    """Maps: a blob at a random spot per image; ``shift[(model, variant)]`` moves it."""
    rng = np.random.default_rng(0)
    centres = rng.integers(3, size - 3, size=(n_images, 2))
    rows = []
    for model, variant, draw in sets:
        dr, dc = (shift or {}).get((model, variant), (0, 0))
        for i in range(n_images):
            yy, xx = np.mgrid[0:size, 0:size]
            cy, cx = np.clip(centres[i] + [dr, dc], 0, size - 1)
            m = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4.0) + rng.random((size, size)) * 0.3
            r, c, v = topk.topk_pixels(m, k)
            rows.append({"image_id": f"im{i:02d}", "label": i % 2, "class_name": "x", "model": model, "variant": variant,
                         "draw": draw, "pred": 0, "prob": 1.0, "prob_label": 1.0, "sigma_abs": 0.1, "map_height": size,
                         "map_width": size, "map": m.astype(np.float16).ravel().tolist(), "topk_rows": r.tolist(),
                         "topk_cols": c.tolist(), "topk_values": v.tolist()})
    table = pa.Table.from_pylist(rows, schema=mapstore.SCHEMA)
    pq.write_table(table, path)
    return pads.dataset([str(path)], format="parquet")


def test_pipeline_of_analysis_on_planted_shift(tmp_path):
    seeds, draws, blurs = [0, 1], 3, ["blur"]
    sets = [(m, v, d) for m in ("naive-s0", "expert-s0") for v in ("clear", "blur") for d in range(draws)]
    sets += [(m, v, 0) for m in ("naive-s1", "expert-s1") for v in ("clear", "blur")]
    # the expert looks elsewhere on every variant: a planted naive-vs-expert shift, no blur effect
    shift = {("expert-s0", "clear"): (6, 6), ("expert-s0", "blur"): (6, 6), ("expert-s1", "clear"): (6, 6), ("expert-s1", "blur"): (6, 6)}
    ds = write_fake_saliency(tmp_path / "maps.parquet", sets, shift=shift)
    maps = ds.to_table(columns=["image_id", "model", "variant", "draw", "topk_rows", "topk_cols"]).to_pandas()
    comps = focus.study_comparisons(blurs, 0) + focus.null_comparisons(["clear", "blur"], seeds, draws)
    distances = focus.distance_table(maps, comps)
    ttests = stats.study_ttests(distances, blurs, "holm")
    pairs = focus.null_pairs(blurs, seeds, draws)
    table = robust.paired_test_table(robust.pair_distances(distances, pairs), n_resamples=199, seed=0)
    tests = analysis.tests_table(ttests, table, pairs)
    assert list(tests.columns) == analysis.TESTS_COLUMNS
    assert set(tests["family"]) == {"original", "per-image"} and set(tests["unit"]) == {"image"}
    mean = tests[(tests["family"] == "per-image") & (tests["test"] == "wilcoxon") & (tests["rank"] == "mean")].set_index(["comparison", "null"])
    # planted shift: detected against the seed-replicate null
    assert mean.loc[("blur:naive-vs-expert", "blur:expert-s0-vs-expert-s1"), "p_adj"] < 0.01
    # no blur effect and known nulls: not significant, while the original t-test says p << 0.05
    assert mean.loc[("naive:clear-vs-blur", "naive:blur:draw0-vs-draw1"), "p_adj"] > 0.05
    assert mean.loc[("naive:clear:draw0-vs-draw1", "naive:clear:draw1-vs-draw2"), "p_adj"] > 0.05
    orig = tests[(tests["family"] == "original") & (tests["comparison"] == "naive:clear:draw0-vs-draw1")]
    assert (orig["p_adj"] < 0.05).all()
    assert orig["known_null"].all()
    # replicate vs replicate: the one-sample t-test calls it significant, the calibrated test does not
    rep = tests[(tests["family"] == "original") & (tests["comparison"] == "clear:naive-s0-vs-naive-s1")]
    assert (rep["p_adj"] < 0.05).all()
    assert mean.loc[("clear:naive-s0-vs-naive-s1", "clear:naive-s0@draw1-vs-naive-s1"), "p_adj"] > 0.05

    mm = analysis.map_metrics(ds, [focus.Condition(*s) for s in sets])
    assert len(mm) == len(sets) * 30 and mm["normalized_entropy"].between(0, 1).all()
    pm = analysis.pair_metrics(ds, comps)
    assert set(pm["comparison"]) == {c.name for c in comps}
    same = pm[pm["comparison"] == "naive:clear:draw0-vs-draw1"]
    moved = pm[pm["comparison"] == "blur:naive-vs-expert"]
    assert same["topk_iou"].mean() > moved["topk_iou"].mean()
    assert moved["com_shift"].mean() > same["com_shift"].mean()

    # with one replicate pair's worth of model-level data there is no model-level row: inconclusive
    from blurfocus import modeltests

    claims = analysis.claims_table(tests, modeltests.study_claims(blurs), 0.05)
    assert list(claims.columns) == analysis.CLAIM_COLUMNS
    c = claims.set_index("claim_id")
    assert (c["verdict"] == "inconclusive").all() and (c["unit"] == "model").all()
    # the per-image test (conditional on the first replicate) is reported beside it
    assert c.loc["differ:blur", "p_per_image"] < 0.01
    assert c.loc["shift:naive:blur", "p_per_image"] > 0.05


def test_known_answer_table_direction():
    rows = []
    for i in range(20):
        for model, shape, texture in (("naive-s0", 0.2, 0.6), ("expert-s0", 0.7, 0.05)):
            rows.append({"model": model, "variant": "clear", "draw": 0, "image_id": f"i{i}",
                         "shape_topk": shape + 0.01 * (i % 3), "texture_topk": texture, "shape_mass": shape, "texture_mass": texture})
    known = analysis.known_answer_table(pd.DataFrame(rows), 0, 0.05, 199, 0)
    shape = known[known["measure"] == "shape_topk"].iloc[0]
    assert shape["expert_mean"] > shape["naive_mean"] and shape["p_adj"] < 0.05
    assert shape["mean_diff_expert_minus_naive"] == pytest.approx(0.5)
