"""End-to-end runs of the workflow on a tiny synthetic config and on real photos (pets-mini)."""

import json

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pytest
from scipy import stats as sps

from blurfocus import focus, mapstore
from helpers import preset, snakemake

pytestmark = pytest.mark.e2e

SALIENCY_COLUMNS = ["image_id", "label", "model", "variant", "pred", "prob", "map", "topk_rows", "topk_cols", "topk_values"]


def check_saliency_dataset(results, models, variants, topk, size):
    dataset = pads.dataset(str(results / "saliency"), format="parquet")
    table = dataset.to_table()
    for col in SALIENCY_COLUMNS:
        assert col in table.column_names
    assert str(table.schema.field("map").type) == "list<element: halffloat>"
    df = table.select(["image_id", "model", "variant", "draw", "topk_rows", "topk_cols", "map_height"]).to_pandas()
    assert set(df["model"]) == set(models) and set(df["variant"]) == set(variants)
    assert (df["map_height"] == size).all()
    assert df.groupby(["model", "variant", "draw"]).size().nunique() == 1  # same images everywhere
    assert df["topk_rows"].map(len).eq(topk).all()
    meta = json.loads(dataset.schema.metadata[b"blurfocus.smoothgrad"])
    assert "before mean/std normalization" in meta["noise_space"] and meta["topk"] == topk
    # the stored top-k is the top-k of the stored map (up to float16 rounding of ties)
    maps = mapstore.read_maps(table.slice(0, 3))
    for i in range(3):
        r, c = table.column("topk_rows")[i].as_py(), table.column("topk_cols")[i].as_py()
        assert maps[i][r[0], c[0]] == pytest.approx(maps[i].max(), rel=2e-3)
    return df


def check_distances_and_ttests(results, df, seeds=(0,), draws=3):
    d = pd.read_parquet(results / "stats" / "distances.parquet")
    assert list(d.columns) == ["comparison", "image_id", "rank", "distance"]
    # recompute the distances from the saliency top-k columns
    comparisons = focus.study_comparisons(["blur"], seeds[0]) + focus.null_comparisons(["clear", "blur"], list(seeds), draws)
    recomputed = focus.distance_table(df, comparisons)
    pd.testing.assert_frame_equal(d.reset_index(drop=True), recomputed.reset_index(drop=True))
    # recompute the t-tests with scipy from distances.parquet
    t = pd.read_csv(results / "stats" / "ttests.tsv", sep="\t")
    assert list(t.columns) == ["test", "comparison", "rank", "n", "mean", "sd", "statistic", "p", "p_adj", "adjust_method", "alternative"]
    one = t[t["test"] == "one_sample_t"]
    assert set(one["comparison"]) == {c.name for c in comparisons}
    for _, row in one.iterrows():
        x = d[(d["comparison"] == row["comparison"]) & (d["rank"] == row["rank"])]["distance"].to_numpy()
        ref = sps.ttest_1samp(x, 0.0)
        if np.isnan(row["p"]):
            assert np.all(x == x[0])
        else:
            assert row["statistic"] == pytest.approx(ref.statistic, rel=1e-5)
            assert row["p"] == pytest.approx(ref.pvalue, rel=1e-5)
    paired = t[t["test"] == "paired_t"]
    assert set(paired["comparison"]) == {"blur:naive-vs-expert>naive:clear-vs-blur", "blur:naive-vs-expert>expert:clear-vs-blur"}
    row = paired[(paired["comparison"] == "blur:naive-vs-expert>expert:clear-vs-blur") & (paired["rank"] == 1)].iloc[0]
    a = d[(d["comparison"] == "blur:naive-vs-expert") & (d["rank"] == 1)].sort_values("image_id")["distance"].to_numpy()
    b = d[(d["comparison"] == "expert:clear-vs-blur") & (d["rank"] == 1)].sort_values("image_id")["distance"].to_numpy()
    ref = sps.ttest_rel(a, b, alternative="greater")
    if not np.isnan(row["p"]):
        assert row["p"] == pytest.approx(ref.pvalue, rel=1e-5)
    return d, t


def test_tiny_synthetic_end_to_end(tiny_run):
    results = tiny_run / "results"
    acc = pd.read_csv(results / "eval" / "accuracy.tsv", sep="\t")
    assert list(acc.columns[:6]) == ["model", "role", "seed", "train_variant", "test_variant", "n"]
    assert {"accuracy", "loss"} <= set(acc.columns)
    assert set(zip(acc["model"], acc["test_variant"])) == {
        (f"{arm}-s{s}", v) for arm in ("naive", "expert") for s in (0, 1) for v in ("clear", "blur")
    }
    assert set(acc[acc["model"] == "expert-s0"]["train_variant"]) == {"blur"}
    manifest = pd.read_parquet(results / "data" / "manifest.parquet")
    assert {"image_id", "path", "label", "split", "sha256", "width", "height"} <= set(manifest.columns)
    assert (results / "data" / "rejected.tsv").exists()
    # every replicate is mapped (the model-level tests need them), the first one with all draws
    models = [f"{arm}-s{s}" for arm in ("naive", "expert") for s in (0, 1)]
    df = check_saliency_dataset(results, models, ["clear", "blur"], topk=5, size=64)
    check_distances_and_ttests(results, df, seeds=(0, 1))
    tests = pd.read_csv(results / "stats" / "tests.tsv", sep="\t", dtype={"rank": str})
    assert set(tests["family"]) == {"original", "per-image", "model-level"}
    assert {"wilcoxon", "sign_flip", "one_sample_t", "paired_t", "sign_flip_models", "arm_permutation"} <= set(
        tests["test"])
    # model-level rows: n = models, the exact p-value floor printed, Multi-Bootstrap CIs
    model = tests[tests["unit"] == "model"]
    assert set(model["subset"]) >= {"all", "both_correct"}
    two_arm = model[model["test"] == "arm_permutation"]
    assert (two_arm["n"] == 4).all() and (model[model["test"] == "sign_flip_models"]["n"] == 2).all()
    assert (model[model["claim_id"].str.startswith("shift:")]["p_floor"] == 0.25).all()
    # a subset can be empty in the barely trained tiny models (no image classified right by all): said, not computed
    untestable = model["p"].isna()
    assert model.loc[untestable, "method"].str.startswith("not testable").all()
    assert (model.loc[~untestable & model["subset"].eq("all"), "p"].notna()).all()
    model = model[~untestable]
    assert (model["ci_low"] <= model["mean_diff"] + 1e-9).all() and (model["mean_diff"] <= model["ci_high"] + 1e-9).all()
    assert set(tests["unit"]) == {"model", "image"}
    cal = tests[tests["family"] == "per-image"]
    assert ("naive:clear-vs-blur", "naive:blur:draw0-vs-draw1") in set(zip(cal["comparison"], cal["null"]))
    assert cal["known_null"].any() and set(cal["rank"]) >= {"1", "5", "mean"}
    claims = pd.read_csv(results / "stats" / "claims.tsv", sep="\t")
    assert set(claims["verdict"]) <= {"supported", "not supported", "inconclusive"}
    assert (claims["unit"] == "model").all() and (claims["n_models"] > 0).all()
    # with K = 2 per arm the exact floors (1/4, 2/6) cannot reach alpha: nothing is supported
    assert not (claims["verdict"] == "supported").any()
    known = pd.read_csv(results / "stats" / "known_answer.tsv", sep="\t")
    assert set(known["measure"]) == {"shape_topk", "texture_topk", "shape_mass", "texture_mass"}
    maps = pd.read_parquet(results / "stats" / "map_metrics.parquet")
    assert maps[["shape_topk", "texture_topk"]].stack().between(0, 1).all()
    pairs = pd.read_parquet(results / "stats" / "pair_metrics.parquet")
    assert pairs["topk_iou"].between(0, 1).all()
    sanity = pd.read_csv(results / "sanity" / "randomization.tsv", sep="\t")
    assert sanity["layer"].iloc[-1] == "features.0" and (sanity[sanity["step"] == 0]["spearman"] == 1).all()
    prov = json.loads((results / "provenance.json").read_text())
    assert prov["seeds"]["training"] == [0, 1] and "torch" in prov["versions"]
    for fig in ["accuracy.png", "training_curves.png", "contact_sheet.png", "focus/blur.png", "activations.png",
                "pvalues.png", "distances.png", "nulls.png", "known_answer.png", "spread.png", "sanity.png"]:
        assert (results / "figures" / fig).stat().st_size > 1000, fig
    html = (results / "report.html").read_text()
    for heading in ["Configuration", "Data", "Accuracy", "Where the models look", "original study",
                    "tested at the level they are made", "Map explorer", "Known answer", "Focus metrics", "Sanity check"]:
        assert heading in html
    assert html.count("data:image/png;base64,") >= 11
    assert "<img" in html and "src=\"http" not in html  # self-contained
    ckpt = results / "models" / "naive-s0"
    assert not (ckpt / "resume.pt").exists()  # resume state removed after a finished run
    metrics = json.loads((ckpt / "metrics.json").read_text())
    assert len(metrics["history"]) == 2 and metrics["kept"] == "best"


def test_pets_mini_efficientnet_end_to_end(tmp_path, pets_mini):
    cfg = preset("pets-mini", tmp_path / "pets.yaml", dataset={"path": str(pets_mini)})
    snakemake(tmp_path, "--cores", "2", configfile=cfg)
    results = tmp_path / "results"
    acc = pd.read_csv(results / "eval" / "accuracy.tsv", sep="\t").set_index(["model", "test_variant"])
    naive_clear = acc.loc[("naive-s0", "clear"), "accuracy"]
    assert naive_clear >= 0.85, acc
    df = check_saliency_dataset(results, ["naive-s0", "expert-s0"], ["clear", "blur"], topk=20, size=160)
    assert df.groupby(["model", "variant"]).size().eq(12).all()  # limit_per_class 6, two classes
    check_distances_and_ttests(results, df, draws=1)
    manifest = pd.read_parquet(results / "data" / "manifest.parquet")
    assert set(manifest["class_name"]) == {"Cat", "Dog"} and len(manifest) == 240
    assert (results / "report.html").exists()
