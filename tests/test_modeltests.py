"""Model-level inference: exact tests against independent computations, Multi-Bootstrap CIs, and a
calibration simulation in which every model carries a trait shared by all its images."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from blurfocus import analysis, ids, modeltests, stats


def test_sign_flip_exact_matches_brute_force_and_scipy():
    y = np.array([1.5, -0.3, 2.2, 0.7, 1.1])
    stat, p, floor = modeltests.sign_flip_test(y, "greater")
    null = [np.mean(np.array(s) * y) for s in itertools.product([-1, 1], repeat=y.size)]
    assert stat == pytest.approx(y.mean())
    assert p == pytest.approx(np.mean(np.array(null) >= y.mean() - 1e-12))
    assert floor == 1 / 32
    ref = sps.permutation_test((y,), np.mean, permutation_type="samples", alternative="greater", n_resamples=10**6)
    assert p == pytest.approx(ref.pvalue)
    # all positive: the floor is reached
    assert modeltests.sign_flip_test(np.arange(1, 9.0))[1] == pytest.approx(2**-8)


def test_relabelings_enumerate_the_design():
    ind = modeltests.relabelings(4, 4)
    assert ind.shape == (math.comb(8, 4), 8) and (ind.sum(1) == 4).all()
    assert ind[0].tolist() == [True] * 4 + [False] * 4
    assert len({tuple(r) for r in ind}) == len(ind)
    paired = modeltests.relabelings(3, 3, paired=True)
    assert paired.shape == (8, 6)
    assert paired[0].tolist() == [True] * 3 + [False] * 3
    assert (paired[:, :3] != paired[:, 3:]).all()  # each pair keeps one model per arm


def test_mean_difference_test_matches_scipy_exact():
    rng = np.random.default_rng(3)
    a, b = rng.normal(1, 1, 5), rng.normal(0, 1, 5)
    stat, p, floor = modeltests.mean_difference_test(a, b, "greater")
    ref = sps.permutation_test((a, b), lambda x, y: np.mean(x) - np.mean(y), permutation_type="independent",
                               alternative="greater", n_resamples=10**6)
    assert stat == pytest.approx(a.mean() - b.mean())
    assert p == pytest.approx(ref.pvalue)
    assert floor == pytest.approx(1 / math.comb(10, 5))


def test_between_within_by_hand():
    # models 0,1 in arm a, 2,3 in arm b
    d = np.array([[0, 1, 4, 5], [1, 0, 6, 7], [4, 6, 0, 2], [5, 7, 2, 0]], float)
    stat = modeltests.between_within(d, np.array([[True, True, False, False]]))[0]
    assert stat == pytest.approx((4 + 5 + 6 + 7) / 4 - (1 + 2) / 2)
    s, p, floor = modeltests.arm_distance_test(d, 2)
    # 6 labelings, the observed one and its mirror have the largest statistic
    assert p == pytest.approx(2 / 6) and floor == pytest.approx(2 / 6)


def _fake_data(k: int, n_img: int, rng, arm_shift: float = 0.0, trait: float = 2.0, move: float = 0.0,
               noise: float = 1.0) -> modeltests.ModelData:
    """Synthetic per-model, per-image quantities. Each model has a trait shared by all its images
    (a focus offset t_m ~ N(0, trait^2) in 2D, and a blur sensitivity u_m ~ N(0, trait^2)) plus
    per-image noise; ``arm_shift`` moves the expert arm's focus, ``move`` the naive arm's blur shift."""
    arms = {a: [ids.model_id(a, i) for i in range(k)] for a in (ids.NAIVE, ids.EXPERT)}
    models = arms[ids.NAIVE] + arms[ids.EXPERT]
    m = len(models)
    data = modeltests.ModelData(models, arms, [f"i{j}" for j in range(n_img)], np.arange(n_img) % 2,
                                {0: "cat", 1: "dog"})
    centre = rng.normal(0, 5, (n_img, 2))
    for v in ("clear", "blur"):
        t = rng.normal(0, trait, (m, 2))
        t[k:, 0] += arm_shift
        focus = centre[None] + t[:, None, :] + rng.normal(0, noise, (m, n_img, 2))
        data.pair[v] = np.linalg.norm(focus[:, None] - focus[None, :], axis=-1)
        for i in range(m):
            data.pair[v][i, i] = np.nan
        data.entropy[v] = 0.5 + rng.normal(0, 0.01, (m, n_img))
        data.correct[v] = np.ones((m, n_img), bool)
    u = rng.normal(0, trait, m)
    u[:k] += move
    floor = np.abs(rng.normal(3, 1, (m, n_img)))
    data.floor["blur"] = floor
    data.shift["blur"] = np.abs(rng.normal(3, 1, (m, n_img))) + u[:, None]
    return data


CLAIMS = [c for c in modeltests.study_claims(["blur"]) if c.claim_id in ("differ:clear", "shift:naive:blur")]


def _model_level_p(data):
    t = modeltests.model_level_tests(data, CLAIMS, n_boot=99, subsets=["all"])
    return t.set_index("claim_id")["p"]


def _per_image_p(data):
    """The per-image analogue on the first replicates (images as units): Wilcoxon of the naive
    model's d(clear, blur) against its noise floor, and of the naive-vs-expert distance against the
    two first naive replicates' distance (the old design)."""
    shift = sps.wilcoxon(data.shift["blur"][0], data.floor["blur"][0], alternative="greater").pvalue
    k = len(data.arms[ids.NAIVE])
    between = sps.wilcoxon(data.pair["clear"][0, k], data.pair["clear"][0, 1], alternative="greater").pvalue
    return {"shift:naive:blur": shift, "differ:clear": between}


def _rates(reps: int, seed: int, **kw):
    rng = np.random.default_rng(seed)
    model_rej = {c.claim_id: 0 for c in CLAIMS}
    image_rej = dict(model_rej)
    for _ in range(reps):
        data = _fake_data(8, 40, rng, **kw)
        p_model, p_image = _model_level_p(data), _per_image_p(data)
        for c in model_rej:
            model_rej[c] += p_model[c] < 0.05
            image_rej[c] += p_image[c] < 0.05
    return {c: v / reps for c, v in model_rej.items()}, {c: v / reps for c, v in image_rej.items()}


def test_calibration_with_model_effects():
    """Under the null, with a trait per model shared by all its images, the model-level tests
    reject at <= 5% within binomial error; the per-image tests (images of one model as units)
    reject far more often: that is why they are labelled conditional on the trained weights.
    With a planted arm effect the model-level tests detect it."""
    reps = 200
    bound = 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / reps)
    model_null, image_null = _rates(reps, 0)
    assert all(r <= bound for r in model_null.values()), model_null
    assert all(r > 0.2 for r in image_null.values()), image_null  # the per-image test fails here
    model_alt, _ = _rates(60, 1, arm_shift=8.0, move=6.0)
    assert all(r >= 0.8 for r in model_alt.values()), model_alt


def test_model_level_table_ci_and_floor():
    rng = np.random.default_rng(5)
    data = _fake_data(5, 30, rng, arm_shift=10.0, move=8.0)
    t = modeltests.model_level_tests(data, modeltests.study_claims(["blur"]), n_boot=300)
    assert list(t.columns) == modeltests.MODEL_COLUMNS
    assert set(t["subset"]) == {"all", "both_correct", "class=cat", "class=dog"}
    row = t[(t["claim_id"] == "differ:clear") & (t["subset"] == "all")].iloc[0]
    assert row["n"] == 10 and row["p_floor"] == pytest.approx(2 / math.comb(10, 5))
    assert row["p"] == pytest.approx(row["p_floor"]) and row["ci_low"] > 0
    assert row["ci_low"] <= row["estimate"] <= row["ci_high"]
    shift = t[(t["claim_id"] == "shift:naive:blur") & (t["subset"] == "all")].iloc[0]
    assert shift["n"] == 5 and shift["p_floor"] == pytest.approx(1 / 32)
    assert shift["estimate"] == pytest.approx(np.mean((data.shift["blur"] - data.floor["blur"])[:5].mean(1)))


def test_verdict_needs_p_and_ci():
    assert analysis.verdict(0.01, 0.5, 2.0, 0.05)[0] == "supported"
    assert analysis.verdict(0.01, -0.5, 2.0, 0.05)[0] == "inconclusive"
    assert analysis.verdict(0.2, 0.5, 2.0, 0.05)[0] == "inconclusive"
    assert analysis.verdict(0.2, -0.5, 2.0, 0.05)[0] == "not supported"
    assert analysis.verdict(0.01, -3.0, -0.5, 0.05)[0] == "not supported"
    assert analysis.verdict(np.nan, np.nan, np.nan, 0.05)[0] == "inconclusive"


def test_ids_round_trip():
    assert ids.parse_model_id(ids.model_id("expert", 3)) == ("expert", 3)
    with pytest.raises(ValueError):
        ids.parse_model_id("expert3")
    for name, kind in [(ids.shift_name("naive", "blur"), "shift"), (ids.between_name("clear"), "between"),
                       (ids.noise_name("naive", "blur", 0, 1), "noise_floor"),
                       (ids.seed_name("blur", "expert", 0, 1), "seed_replicate"),
                       (ids.seed_draw_name("blur", "expert", 0, 1, 1), "seed_replicate")]:
        assert ids.parse_comparison(name).kind == kind
    assert ids.parse_comparison("naive:clear-vs-blur").variant == "blur"
    assert ids.parse_comparison("clear:naive-s0@draw1-vs-naive-s1").draw_a == 1


def test_between_arms_untestable_subset_names_the_empty_pairs():
    """Two naive models at chance on blurred images, one calling every image "cat" and the other
    "dog", share no correctly classified blurred image: the both_correct between-arm test cannot
    be computed, and the table says which pair emptied it instead of printing a bare NaN."""
    rng = np.random.default_rng(3)
    data = _fake_data(4, 20, rng)
    cat = data.labels == 0
    data.correct["blur"][0] = cat
    data.correct["blur"][1] = ~cat
    claims = [c for c in modeltests.study_claims(["blur"]) if c.claim_id == "differ:blur"]
    t = modeltests.model_level_tests(data, claims, n_boot=50, subsets=["all", "both_correct"]).set_index("subset")
    assert np.isfinite(t.loc["all", "p"]) and t.loc["all", "method"].startswith("arm relabeling")
    assert np.isnan(t.loc["both_correct", "p"])
    assert t.loc["both_correct", "method"] == (
        "not testable: 1 model pair(s) share no image in this subset (naive-s0 & naive-s1)")


def test_sign_flip_leaves_out_models_without_images_and_says_so():
    """A model that classifies no blurred image correctly has no both_correct value: the sign flip
    runs over the other models (floor 2^-3 for 3 of 4) and the method names the one left out."""
    rng = np.random.default_rng(4)
    data = _fake_data(4, 20, rng, move=6.0)
    data.correct["blur"][2] = False
    claims = [c for c in modeltests.study_claims(["blur"]) if c.claim_id == "shift:naive:blur"]
    t = modeltests.model_level_tests(data, claims, n_boot=50, subsets=["all", "both_correct"]).set_index("subset")
    assert t.loc["all", "p_floor"] == pytest.approx(1 / 16)
    assert t.loc["both_correct", "p_floor"] == pytest.approx(1 / 8)
    assert t.loc["both_correct", "method"] == (
        "sign flip of the 3 per-model values, exact (2^3); left out, no image in this subset: naive-s2")


def test_smallest_adjusted_p_and_design_note():
    """Holm and Bonferroni multiply a floor by the family size, BH keeps it; with 9 claims
    (one blur variant) a sign flip over 5 models (floor 1/32) can reach no better than 9/32, and
    an arm relabeling of 5 + 5 models (2/252) no better than 18/252: K = 5 cannot support any claim
    at alpha 0.05, K = 8 (1/256, 2/12870) can. The warning says so, naming the K that suffices."""
    assert stats.smallest_adjusted_p(1 / 32, 9, "holm") == pytest.approx(9 / 32)
    assert stats.smallest_adjusted_p(1 / 32, 9, "bonferroni") == pytest.approx(9 / 32)
    assert stats.smallest_adjusted_p(1 / 32, 9, "fdr_bh") == pytest.approx(1 / 32)
    assert np.isnan(stats.smallest_adjusted_p(np.nan, 9, "holm"))
    assert modeltests.p_floors(5) == {"sign_flip_models": pytest.approx(1 / 32),
                                        "arm_permutation": pytest.approx(2 / 252)}
    assert modeltests.p_floors(5, paired=True)["arm_permutation"] == pytest.approx(2 / 32)
    assert len(modeltests.study_claims(["blur"])) == 9
    note = modeltests.design_note(5, ["blur"], False, "holm", 0.05)
    assert "K = 5" in note and "sign_flip_models 0.28" in note and "arm_permutation 0.071" in note
    assert note.endswith("K >= 8 per arm lets every claim reach alpha.") and "the study's claims" in note
    assert modeltests.design_note(8, ["blur"], False, "holm", 0.05) is None
    assert modeltests.design_note(5, ["blur"], False, "fdr_bh", 0.05) is None  # BH: 1/32 < 0.05
    assert modeltests.design_note(1, ["blur"], False, "holm", 0.05) is None  # no model-level tests at all


def test_verdict_reason_names_an_unreachable_alpha():
    v, why = analysis.verdict(0.071, 2.1, 9.9, 0.05, p_floor=2 / 252, p_adj_floor=18 / 252)
    assert v == "inconclusive" and "0.071 after the adjustment" in why and "more replicates" in why
    v, why = analysis.verdict(0.2, 0.5, 2.0, 0.05, p_floor=1 / 256, p_adj_floor=9 / 256)
    assert "more replicates" not in why


def test_model_level_tests_need_two_replicates_and_two_draws():
    assert modeltests.has_noise_floors(2, 2, 2)
    assert modeltests.has_noise_floors(8, 3, 2)
    for args in ((1, 3, 2), (8, 1, 2), (8, 3, 1)):
        assert not modeltests.has_noise_floors(*args), args
