import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from blurfocus import focus, robust, stats


def lattice_distances(rng, scale, shift=0.0):
    """Distances between integer pixel positions (discrete: ties and zeros, like real ones)."""
    dr, dc = np.rint(rng.normal(0, scale)), np.rint(rng.normal(0, scale))
    return np.hypot(dr, dc) + shift


def null_pair(rng, n, scale=2.0, shift=0.0):
    """x, y exchangeable per image (same image-specific spread) unless ``shift`` > 0."""
    s = rng.gamma(2.0, scale, n)
    return lattice_distances(rng, s, shift), lattice_distances(rng, s)


# --------------------------------------------------------------------------- wilcoxon


@pytest.mark.parametrize("alternative", robust.ALTERNATIVES)
@pytest.mark.parametrize("n, scipy_method", [(10, None), (20, "exact"), (40, "asymptotic"), (70, "asymptotic")])
def test_wilcoxon_identical_to_scipy(alternative, n, scipy_method):
    rng = np.random.default_rng(n)
    if scipy_method == "exact":  # continuous: no ties, no zeros
        x, y = rng.gamma(2, 3, n) + 0.5, rng.gamma(2, 3, n)
    else:
        x, y = null_pair(rng, n, scale=1.0, shift=0.5)
        y[:3] = x[:3]  # zeros
    res = robust.paired_tests(x, y, alternative=alternative, n_resamples=99, n_boot=0)
    ref = sps.wilcoxon(x, y, zero_method="pratt", correction=False, alternative=alternative)
    assert res["wilcoxon_statistic"] == ref.statistic
    assert res["wilcoxon_p"] == ref.pvalue
    assert res["n"] == n
    if scipy_method is not None:  # the path the method string names is the one scipy took
        explicit = sps.wilcoxon(x, y, zero_method="pratt", correction=False, alternative=alternative, method=scipy_method)
        assert res["wilcoxon_p"] == pytest.approx(explicit.pvalue, rel=1e-12)
        assert ("normal approximation" in res["wilcoxon_method"]) == (scipy_method == "asymptotic")
    else:
        assert "exact sign-flip permutation" in res["wilcoxon_method"]
    assert "zero_method=pratt" in res["wilcoxon_method"]


# --------------------------------------------------------------------------- sign flip


def test_sign_flip_exact_hand_worked_n5():
    # d = 1, 2, 3, -4, 5: observed sum 7 = 15 - 2*4. A sign pattern has sum 15 - 2*N, N the sum
    # of the negated |d|; sum >= 7 iff N <= 4: {}, {1}, {2}, {3}, {4}, {1,2}, {1,3} -> 7 of 32.
    y = np.array([4.0, 1.0, 2.5, 6.0, 0.0])
    x = y + np.array([1.0, 2.0, 3.0, -4.0, 5.0])
    got = {alt: robust.paired_tests(x, y, alternative=alt, n_boot=0) for alt in robust.ALTERNATIVES}
    assert got["greater"]["sign_flip_p"] == pytest.approx(7 / 32)
    assert got["two-sided"]["sign_flip_p"] == pytest.approx(14 / 32)
    # sum <= 7 iff N >= 4: all but {}, {1}, {2}, {3}, {1,2} -> 27 of 32
    assert got["less"]["sign_flip_p"] == pytest.approx(27 / 32)
    assert got["greater"]["sign_flip_statistic"] == pytest.approx(7 / 5)
    assert "exact enumeration of all 32" in got["greater"]["sign_flip_method"]
    # independent brute force
    d = x - y
    null = [np.mean(np.array(s) * d) for s in itertools.product([1, -1], repeat=5)]
    assert got["greater"]["sign_flip_p"] == pytest.approx(np.mean(np.array(null) >= d.mean() - 1e-12))


def test_sign_flip_exact_matches_scipy_and_monte_carlo_is_close():
    rng = np.random.default_rng(3)
    x, y = null_pair(rng, 12, shift=1.0)
    exact = robust.paired_tests(x, y, n_resamples=9999, n_boot=0)
    ref = sps.permutation_test((x - y,), lambda d, axis: np.mean(d, axis=axis), permutation_type="samples",
                               vectorized=True, n_resamples=9999, alternative="greater")
    assert exact["sign_flip_p"] == pytest.approx(ref.pvalue, rel=1e-12)
    mc = robust.paired_tests(x, y, n_resamples=2000, n_boot=0)  # 2**12 = 4096 > 2000
    assert "Monte Carlo" in mc["sign_flip_method"]
    assert (mc["sign_flip_p"] * 2001) == pytest.approx(round(mc["sign_flip_p"] * 2001))  # (1 + count) / 2001
    assert mc["sign_flip_p"] == pytest.approx(exact["sign_flip_p"], abs=4 * np.sqrt(0.25 / 2000))


def test_sign_flip_monte_carlo_equals_scipy_with_same_generator():
    rng = np.random.default_rng(4)
    x, y = null_pair(rng, 40, shift=0.7)
    res = robust.paired_tests(x, y, n_resamples=999, seed=11, n_boot=0)
    perm_seed = np.random.SeedSequence(11).spawn(2)[0]  # paired_tests: first child for the permutations
    ref = sps.permutation_test((x - y,), lambda d, axis: np.mean(d, axis=axis), permutation_type="samples",
                               vectorized=True, n_resamples=999, alternative="greater",
                               rng=np.random.default_rng(perm_seed))
    assert res["sign_flip_p"] == ref.pvalue
    assert res["sign_flip_p"] >= 1 / 1000  # +1 correction: never 0


# --------------------------------------------------------------------------- effect sizes


def test_rank_biserial_hand_worked():
    # |d| = 3,1,2,0,5 -> ranks 4,2,3,1,5 (the zero is ranked, Pratt); R+ = 4+3+5 = 12, R- = 2,
    # all ranks sum to 15: r = (12 - 2) / 15
    d = np.array([3.0, -1.0, 2.0, 0.0, 5.0])
    assert robust.rank_biserial(d) == pytest.approx(10 / 15)
    res = robust.paired_tests(d, np.zeros(5), n_boot=0)
    assert res["wilcoxon_statistic"] == 12  # R+, consistent with the rank-biserial
    assert res["rank_biserial"] == pytest.approx(10 / 15)
    # without zeros: ranks 1,2,3,4, R+ = 7, R- = 3 -> 0.4 = 4 R+ / (n(n+1)) - 1
    d = np.array([1.0, 2.0, -3.0, 4.0])
    assert robust.rank_biserial(d) == pytest.approx(0.4)
    assert robust.rank_biserial(d) == pytest.approx(4 * sps.wilcoxon(d, alternative="greater").statistic / 20 - 1)
    assert robust.rank_biserial([2.0, 1.0]) == 1.0 and robust.rank_biserial([-2.0, -1.0]) == -1.0
    # ties: |d| = 1,1,2 -> ranks 1.5,1.5,3; R+ = 1.5 + 3, R- = 1.5 -> 3/6
    assert robust.rank_biserial([1.0, -1.0, 2.0]) == pytest.approx(0.5)


def test_cohens_dz_and_medians_hand_worked():
    y = np.array([1.0, 1.0, 1.0, 1.0])
    x = y + np.array([1.0, 2.0, 3.0, 4.0])
    res = robust.paired_tests(x, y, n_boot=0)
    assert res["cohens_dz"] == pytest.approx(2.5 / np.sqrt(5 / 3))
    assert res["mean_diff"] == 2.5 and res["median_diff"] == 2.5
    assert res["mean_x"] == 3.5 and res["mean_y"] == 1.0
    assert robust.cohens_dz([1.0]) != robust.cohens_dz([1.0])  # NaN


def test_bootstrap_ci_contains_truth_and_matches_scipy_percentile():
    rng = np.random.default_rng(5)
    d = rng.normal(2.0, 1.0, 200)
    ci = robust.bootstrap_ci(d, n_resamples=4999, seed=1)
    assert ci["mean_low"] < 2.0 < ci["mean_high"] and ci["mean_high"] - ci["mean_low"] < 0.4
    assert ci["median_low"] < 2.0 < ci["median_high"]
    ref = sps.bootstrap((d,), np.mean, method="percentile", n_resamples=4999, rng=np.random.default_rng(2))
    assert ci["mean_low"] == pytest.approx(ref.confidence_interval.low, abs=0.02)
    assert ci["mean_high"] == pytest.approx(ref.confidence_interval.high, abs=0.02)
    # coverage on easy data: 95% intervals of the mean of N(1, 1), n = 40
    hits = 0
    for i in range(100):
        c = robust.bootstrap_ci(rng.normal(1.0, 1.0, 40), n_resamples=999, seed=i)
        hits += c["mean_low"] <= 1.0 <= c["mean_high"]
    assert hits >= 87
    assert robust.bootstrap_ci(d, n_resamples=999, seed=3) == robust.bootstrap_ci(d, n_resamples=999, seed=3)
    wide = robust.bootstrap_ci(d, n_resamples=999, seed=3, confidence=0.99)
    assert wide["mean_low"] < ci["mean_low"] and wide["mean_high"] > ci["mean_high"]


# --------------------------------------------------------------------------- degenerate inputs


@pytest.mark.parametrize("x, y", [([], []), ([1.0], [0.0]), ([2.0, 3.0, 1.0], [2.0, 3.0, 1.0])])
def test_degenerate_inputs_give_nan_p(x, y):
    res = robust.paired_tests(x, y, n_resamples=99)
    assert np.isnan(res["wilcoxon_p"]) and np.isnan(res["sign_flip_p"])
    assert res["n"] == len(x)
    assert "not tested" in res["wilcoxon_method"] and "not tested" in res["sign_flip_method"]
    assert np.isnan(res["cohens_dz"])
    if len(x) == 3:  # all differences zero: no effect, but no test
        assert res["mean_diff"] == 0 and res["median_diff"] == 0 and res["rank_biserial"] == 0
        assert res["ci_low"] == 0 and res["ci_high"] == 0


def test_constant_nonzero_difference_and_nan_pairs():
    y = np.arange(8.0)
    res = robust.paired_tests(y + 1, y, n_resamples=9999, n_boot=99)
    assert np.isnan(res["cohens_dz"])  # sd 0
    assert res["sign_flip_p"] == pytest.approx(1 / 256) and res["rank_biserial"] == 1.0
    assert res["wilcoxon_p"] < 0.01
    x = np.array([3.0, np.nan, 5.0, 1.0, 4.0])
    y = np.array([1.0, 2.0, np.nan, 0.0, 1.0])
    res = robust.paired_tests(x, y, n_boot=0)
    assert res["n"] == 3 and res["mean_diff"] == pytest.approx(2.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="paired"):
        robust.paired_tests([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="alternative"):
        robust.paired_tests([1.0, 2.0], [1.0, 0.0], alternative="bigger")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=2, max_size=25), st.integers(0, 2**32 - 1))
def test_swapping_x_and_y_mirrors_everything(pairs, seed):
    x = np.array([p[0] for p in pairs], float)
    y = np.array([p[1] for p in pairs], float)
    a = robust.paired_tests(x, y, alternative="greater", n_resamples=199, seed=seed, n_boot=0)
    b = robust.paired_tests(y, x, alternative="less", n_resamples=199, seed=seed, n_boot=0)
    assert a["rank_biserial"] == pytest.approx(-b["rank_biserial"])
    assert -1 <= a["rank_biserial"] <= 1
    assert a["mean_diff"] == pytest.approx(-b["mean_diff"])
    np.testing.assert_allclose(a["cohens_dz"], -b["cohens_dz"])
    np.testing.assert_allclose([a["wilcoxon_p"], a["sign_flip_p"]], [b["wilcoxon_p"], b["sign_flip_p"]], rtol=1e-9)
    if not np.isnan(a["sign_flip_p"]):
        assert 0 < a["sign_flip_p"] <= 1 and 0 <= a["wilcoxon_p"] <= 1


# --------------------------------------------------------------------------- calibration


def test_calibration_null_false_positives_and_power():
    """Under exchangeability the tests reject at about alpha; a planted shift is found; the
    study's one-sample t-test of x against 0 rejects almost always on the same null data."""
    rng = np.random.default_rng(2024)
    n_sets, alpha = 400, 0.05
    bound = alpha + 2.6 * np.sqrt(alpha * (1 - alpha) / n_sets)
    null_rej = {"wilcoxon": 0, "sign_flip": 0, "one_sample_t": 0}
    power = {"wilcoxon": 0, "sign_flip": 0}
    for i in range(n_sets):
        n = int(rng.integers(30, 61))
        scale = 0.5 if i % 2 else 2.0  # half the sets with many zero differences (~35%)
        x, y = null_pair(rng, n, scale=scale)
        res = robust.paired_tests(x, y, n_resamples=199, n_boot=0, seed=i)
        null_rej["wilcoxon"] += res["wilcoxon_p"] <= alpha
        null_rej["sign_flip"] += res["sign_flip_p"] <= alpha
        null_rej["one_sample_t"] += stats.one_sample_t(x)[1] <= alpha
        x, y = null_pair(rng, n, scale=2.0, shift=3.0)
        res = robust.paired_tests(x, y, n_resamples=199, n_boot=0, seed=i)
        power["wilcoxon"] += res["wilcoxon_p"] <= alpha
        power["sign_flip"] += res["sign_flip_p"] <= alpha
    rates = {k: v / n_sets for k, v in null_rej.items()}
    powers = {k: v / n_sets for k, v in power.items()}
    print(f"false-positive rates {rates} (bound {bound:.4f}), power {powers}")
    assert rates["wilcoxon"] <= bound and rates["sign_flip"] <= bound
    assert powers["wilcoxon"] >= 0.9 and powers["sign_flip"] >= 0.9
    assert rates["one_sample_t"] >= 0.99  # the original test says "different" on null data


# --------------------------------------------------------------------------- the table


def distance_frame(n=24, k=4, seed=0):
    """Distances of a comparison with a real effect, one without, and their nulls."""
    rng = np.random.default_rng(seed)
    rows = []
    for comp, shift in (("naive:clear-vs-b", 3.0), ("expert:clear-vs-b", 0.0)):
        null = comp.split(":")[0] + ":b:draw0-vs-draw1"
        for i in range(n):
            s = rng.gamma(2.0, 2.0)
            x = lattice_distances(rng, np.full(k, s), shift)
            y = lattice_distances(rng, np.full(k, s))
            for r in range(k):
                rows.append((comp, f"img{i:02d}", r + 1, x[r]))
                rows.append((null, f"img{i:02d}", r + 1, y[r]))
    return pd.DataFrame(rows, columns=["comparison", "image_id", "rank", "distance"])


PAIRS = [("naive:clear-vs-b", "naive:b:draw0-vs-draw1"), ("expert:clear-vs-b", "expert:b:draw0-vs-draw1")]


def test_pair_distances_joins_on_image_and_rank():
    d = distance_frame(n=5, k=3)
    d = d[~((d["comparison"] == "naive:b:draw0-vs-draw1") & (d["image_id"] == "img02"))]
    nps = [focus.NullPair(c, n, "q") for c, n in PAIRS]
    paired = robust.pair_distances(d, nps)
    assert list(paired.columns) == robust.PAIRED_COLUMNS
    naive = paired[paired["comparison"] == "naive:clear-vs-b"]
    assert len(naive) == 4 * 3 and "img02" not in set(naive["image_id"])
    row = naive[(naive["image_id"] == "img01") & (naive["rank"] == 2)].iloc[0]
    src = d.set_index(["comparison", "image_id", "rank"])["distance"]
    assert row["distance"] == src[("naive:clear-vs-b", "img01", 2)]
    assert row["null_distance"] == src[("naive:b:draw0-vs-draw1", "img01", 2)]
    assert paired.equals(robust.pair_distances(d, PAIRS))
    with pytest.raises(KeyError, match="nope"):
        robust.pair_distances(d, [("naive:clear-vs-b", "nope")])


def test_paired_test_table_against_direct_calls():
    k, n = 4, 24
    paired = robust.pair_distances(distance_frame(n=n, k=k), PAIRS)
    table = robust.paired_test_table(paired, n_resamples=499, seed=7)
    assert list(table.columns) == robust.ROBUST_COLUMNS
    assert len(table) == 2 * 2 * (k + 1)
    assert set(table["rank"]) == {"1", "2", "3", "4", "mean"}
    assert set(table["test"]) == {"wilcoxon", "sign_flip"} and set(table["alternative"]) == {"greater"}
    assert (table["n"] == n).all()

    # one rank: identical to paired_tests / scipy on that slice
    sl = paired[(paired["comparison"] == "naive:clear-vs-b") & (paired["rank"] == 3)].sort_values("image_id")
    x, y = sl["distance"].to_numpy(), sl["null_distance"].to_numpy()
    row = table[(table["comparison"] == "naive:clear-vs-b") & (table["rank"] == "3") & (table["test"] == "wilcoxon")].iloc[0]
    ref = sps.wilcoxon(x, y, zero_method="pratt", alternative="greater")
    assert row["statistic"] == ref.statistic and row["p"] == ref.pvalue
    assert row["median_diff"] == np.median(x - y) and row["mean_diff"] == pytest.approx(np.mean(x - y))
    assert row["rank_biserial"] == pytest.approx(robust.rank_biserial(x - y))
    assert row["null"] == "naive:b:draw0-vs-draw1" and "pratt" in row["method"]
    assert row["ci_low"] <= row["mean_diff"] <= row["ci_high"]
    assert row["median_ci_low"] <= row["median_diff"] <= row["median_ci_high"]

    # the per-image mean over ranks
    wide = paired[paired["comparison"] == "naive:clear-vs-b"].groupby("image_id")[["distance", "null_distance"]].mean()
    mean_rows = table[(table["comparison"] == "naive:clear-vs-b") & (table["rank"] == "mean")].set_index("test")
    ref = sps.wilcoxon(wide["distance"], wide["null_distance"], zero_method="pratt", alternative="greater")
    assert mean_rows.loc["wilcoxon", "p"] == pytest.approx(ref.pvalue)
    assert mean_rows.loc["sign_flip", "statistic"] == pytest.approx((wide["distance"] - wide["null_distance"]).mean())

    # the configured adjustment within each (test, comparison, null) over ranks 1..k and "mean"
    for _, fam in table.groupby(["test", "comparison", "null"]):
        assert len(fam) == k + 1 and fam["adjust_family"].nunique() == 1
        np.testing.assert_allclose(fam["p_adj"], stats.adjust_pvalues(fam["p"], "holm"))
    bh = robust.paired_test_table(paired, n_resamples=199, seed=0, adjust="fdr_bh")
    for _, fam in bh.groupby(["test", "comparison", "null"]):
        np.testing.assert_allclose(fam["p_adj"], stats.adjust_pvalues(fam["p"], "fdr_bh"))
    assert (bh["adjust_method"] == "fdr_bh").all()

    # the planted effect is found, the null comparison is not
    eff = table[table["comparison"] == "naive:clear-vs-b"]
    assert (eff["p_adj"] < 0.05).all() and (eff["mean_diff"] > 1).all()
    none = table[table["comparison"] == "expert:clear-vs-b"]
    assert (none["p_adj"] > 0.05).all()


def test_paired_test_table_is_deterministic_and_order_free():
    paired = robust.pair_distances(distance_frame(n=15, k=3, seed=1), PAIRS)
    a = robust.paired_test_table(paired, n_resamples=99, seed=3)
    b = robust.paired_test_table(paired.sample(frac=1.0, random_state=0), n_resamples=99, seed=3)
    pd.testing.assert_frame_equal(a, b)
    c = robust.paired_test_table(paired, n_resamples=99, seed=4)
    assert not np.allclose(a["ci_low"], c["ci_low"])  # the seed is used
    assert robust.paired_test_table(paired.iloc[:0], n_resamples=99).columns.tolist() == robust.ROBUST_COLUMNS
    with pytest.raises(KeyError, match="null_distance"):
        robust.paired_test_table(paired.drop(columns="null_distance"))
