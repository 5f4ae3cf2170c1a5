import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from blurfocus import focus, stats


def test_rank_distances_hand_worked():
    # (0,0)-(3,4) = 5; (1,1)-(1,1) = 0; (2,5)-(0,0) = sqrt(29)
    d = focus.rank_distances([0, 1, 2], [0, 1, 5], [3, 1, 0], [4, 1, 0])
    np.testing.assert_allclose(d, [5.0, 0.0, np.sqrt(29)])


def maps_frame():
    rows = []
    for model, variant, coords in [
        ("naive-s0", "clear", {"a": ([0, 1], [0, 0]), "b": ([5, 5], [5, 6])}),
        ("naive-s0", "blur", {"a": ([3, 1], [4, 0]), "b": ([5, 5], [5, 6])}),
        ("expert-s0", "clear", {"a": ([0, 0], [0, 0]), "b": ([0, 0], [0, 0])}),
        ("expert-s0", "blur", {"a": ([0, 7], [0, 8]), "b": ([8, 5], [5, 6])}),
    ]:
        for image_id, (r, c) in coords.items():
            rows.append({"model": model, "variant": variant, "draw": 0, "image_id": image_id, "topk_rows": r, "topk_cols": c})
    return pd.DataFrame(rows)


def test_distance_table_on_hand_worked_coordinates():
    table = focus.distance_table(maps_frame(), focus.study_comparisons(["blur"], 0))
    assert set(table["comparison"]) == {
        "naive:clear-vs-blur", "expert:clear-vs-blur", "blur:naive-vs-expert", "clear:naive-vs-expert",
    }
    got = table.set_index(["comparison", "image_id", "rank"])["distance"]
    assert got[("naive:clear-vs-blur", "a", 1)] == 5.0
    assert got[("naive:clear-vs-blur", "a", 2)] == 0.0
    assert got[("naive:clear-vs-blur", "b", 2)] == 0.0
    assert got[("blur:naive-vs-expert", "a", 1)] == 5.0  # (3,4) vs (0,0)
    assert got[("blur:naive-vs-expert", "a", 2)] == 10.0  # (1,0) vs (7,8): (-6, -8)
    assert got[("expert:clear-vs-blur", "b", 1)] == pytest.approx(np.hypot(8, 5))


def test_distance_table_missing_condition_is_clear():
    frame = maps_frame()
    frame = frame[frame["variant"] != "blur"]
    with pytest.raises(KeyError, match="variant=blur"):
        focus.distance_table(frame, focus.study_comparisons(["blur"], 0))


def test_adjust_pvalues_hand_worked():
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    np.testing.assert_allclose(stats.adjust_pvalues(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(stats.adjust_pvalues(p, "bonferroni"), [0.04, 0.16, 0.12, 0.02])
    # BH: sorted 0.005*4/1=.02, .01*4/2=.02, .03*4/3=.04, .04*4/4=.04
    np.testing.assert_allclose(stats.adjust_pvalues(p, "fdr_bh"), [0.02, 0.04, 0.04, 0.02])


def test_bh_matches_scipy_false_discovery_control():
    p = np.random.default_rng(0).uniform(0, 0.2, size=30)
    np.testing.assert_allclose(stats.adjust_pvalues(p, "fdr_bh"), sps.false_discovery_control(p, method="bh"))


def test_adjust_keeps_nan_and_caps_at_one():
    out = stats.adjust_pvalues([0.5, np.nan, 0.9], "bonferroni")
    assert out[0] == 1.0 and np.isnan(out[1]) and out[2] == 1.0


def synthetic_distances(seed=0, n=30, k=5):
    rng = np.random.default_rng(seed)
    rows = []
    for comp, scale in [("naive:clear-vs-blur", 3), ("expert:clear-vs-blur", 2), ("blur:naive-vs-expert", 6), ("clear:naive-vs-expert", 5)]:
        for i in range(n):
            for r in range(1, k + 1):
                rows.append((comp, f"img{i:02d}", r, float(rng.gamma(2, scale))))
    return pd.DataFrame(rows, columns=["comparison", "image_id", "rank", "distance"])


def test_study_ttests_against_scipy():
    d = synthetic_distances()
    table = stats.study_ttests(d, ["blur"], "holm")
    assert list(table.columns) == stats.TTEST_COLUMNS
    one = table[(table["test"] == "one_sample_t") & (table["comparison"] == "naive:clear-vs-blur")]
    assert len(one) == 5
    x = d[(d["comparison"] == "naive:clear-vs-blur") & (d["rank"] == 3)]["distance"].to_numpy()
    ref = sps.ttest_1samp(x, 0)
    row = one[one["rank"] == 3].iloc[0]
    assert row["statistic"] == pytest.approx(ref.statistic)
    assert row["p"] == pytest.approx(ref.pvalue)
    assert row["mean"] == pytest.approx(x.mean()) and row["sd"] == pytest.approx(x.std(ddof=1))
    np.testing.assert_allclose(one["p_adj"], stats.adjust_pvalues(one["p"], "holm"))
    # (c): model distance > blur distance for the naive model, paired, one-sided
    c = table[table["comparison"] == "blur:naive-vs-expert>naive:clear-vs-blur"]
    assert set(c["alternative"]) == {"greater"} and set(c["test"]) == {"paired_t"}
    a = d[(d["comparison"] == "blur:naive-vs-expert") & (d["rank"] == 2)].sort_values("image_id")["distance"].to_numpy()
    b = d[(d["comparison"] == "naive:clear-vs-blur") & (d["rank"] == 2)].sort_values("image_id")["distance"].to_numpy()
    ref = sps.ttest_rel(a, b, alternative="greater")
    row = c[c["rank"] == 2].iloc[0]
    assert row["statistic"] == pytest.approx(ref.statistic) and row["p"] == pytest.approx(ref.pvalue)
    assert "blur:naive-vs-expert>expert:clear-vs-blur" in set(table["comparison"])


def test_identical_maps_give_undefined_not_zero_p():
    d = pd.DataFrame({"comparison": "x", "image_id": ["a", "b", "c"], "rank": 1, "distance": [0.0, 0.0, 0.0]})
    t, p = stats.one_sample_t(d["distance"].to_numpy())
    assert np.isnan(t) and np.isnan(p)
