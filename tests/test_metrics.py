import itertools

import numpy as np
import pytest
from scipy import stats as sps

from blurfocus import metrics


# --------------------------------------------------------------------------- top-k sets


def test_topk_iou_identical_disjoint_half():
    r, c = [0, 1, 2, 3], [0, 0, 0, 0]
    assert metrics.topk_iou(r, c, r, c) == 1.0
    assert metrics.topk_iou(r, c, r[::-1], c) == 1.0  # order (rank) does not matter
    assert metrics.topk_iou(r, c, r, [1, 1, 1, 1]) == 0.0
    # 2 shared of 4 each: 2 / (4 + 4 - 2)
    assert metrics.topk_iou(r, c, [0, 1, 5, 6], [0, 0, 0, 0]) == pytest.approx(2 / 6)
    # different sizes: {0,1} vs {0,1,2,3} -> 2 / 4
    assert metrics.topk_iou([0, 1], [0, 0], r, c) == pytest.approx(0.5)
    # row/col pairs, not rows and cols separately: (0,1),(1,0) vs (1,1),(0,0) share nothing
    assert metrics.topk_iou([0, 1], [1, 0], [1, 0], [1, 0]) == 0.0


def test_topk_iou_batched_and_repeated_pixels():
    a_r = np.array([[0, 1], [0, 1]])
    a_c = np.array([[0, 0], [0, 0]])
    b_r = np.array([[0, 1], [0, 5]])
    got = metrics.topk_iou(a_r, a_c, b_r, a_c)
    np.testing.assert_allclose(got, [1.0, 1 / 3])
    with pytest.raises(ValueError, match="repeats"):
        metrics.topk_iou([0, 0], [1, 1], [0, 1], [0, 0])


def greedy_matching(a, b):
    """Repeatedly match the closest remaining pair (the heuristic the optimum improves on)."""
    a, b = list(map(tuple, a)), list(map(tuple, b))
    total = 0.0
    while a:
        i, j = min(itertools.product(range(len(a)), range(len(b))), key=lambda ij: np.hypot(a[ij[0]][0] - b[ij[1]][0], a[ij[0]][1] - b[ij[1]][1]))
        total += np.hypot(a[i][0] - b[j][0], a[i][1] - b[j][1])
        a.pop(i), b.pop(j)
    return total


def test_matched_distance_hand_worked_optimal_beats_greedy():
    # one row, columns a = 0, 4, 10 and b = 3, 7, 11. Greedy takes 4-3 (1), 10-11 (1), then is
    # left with 0-7 (7): total 9. Optimal: 0-3, 4-7, 10-11 = 3 + 3 + 1 = 7 -> mean 7/3.
    a_r, a_c = [0, 0, 0], [0, 4, 10]
    b_r, b_c = [0, 0, 0], [3, 7, 11]
    assert greedy_matching(zip(a_r, a_c), zip(b_r, b_c)) == 9.0
    assert metrics.matched_distance(a_r, a_c, b_r, b_c) == pytest.approx(7 / 3)
    # order-free and symmetric; 0 for the same set in another order
    assert metrics.matched_distance(b_r, b_c, a_r, a_c) == pytest.approx(7 / 3)
    assert metrics.matched_distance(a_r, a_c, a_r[::-1], a_c[::-1]) == 0.0


def test_matched_distance_brute_force_and_batched():
    rng = np.random.default_rng(0)
    ar, ac, br, bc = (rng.integers(0, 20, (6, 5)) for _ in range(4))
    got = metrics.matched_distance(ar, ac, br, bc)
    assert got.shape == (6,)
    for i in range(6):
        best = min(
            np.mean(np.hypot(ar[i] - br[i][list(p)], ac[i] - bc[i][list(p)])) for p in itertools.permutations(range(5))
        )
        assert got[i] == pytest.approx(best)
        # never above the study's rank-by-rank distance
        assert got[i] <= np.mean(np.hypot(ar[i] - br[i], ac[i] - bc[i])) + 1e-12
    with pytest.raises(ValueError, match="differ"):
        metrics.matched_distance([0, 1], [0, 1], [0], [0])


# --------------------------------------------------------------------------- whole maps


def test_spearman_against_scipy_and_constant_maps():
    rng = np.random.default_rng(1)
    a = rng.random((6, 7))
    b = a + rng.normal(0, 0.3, a.shape)
    b[0, :3] = b[0, 3]  # ties
    ref = sps.spearmanr(a.ravel(), b.ravel()).statistic
    assert metrics.spearman_maps(a, b) == pytest.approx(ref, abs=1e-12)
    batch_a, batch_b = rng.random((4, 5, 5)), rng.random((4, 5, 5))
    got = metrics.spearman_maps(batch_a, batch_b)
    np.testing.assert_allclose(got, [sps.spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(batch_a, batch_b)], atol=1e-12)
    assert metrics.spearman_maps(a, a) == pytest.approx(1.0)
    assert metrics.spearman_maps(a, -a) == pytest.approx(-1.0)
    assert np.isnan(metrics.spearman_maps(a, np.ones_like(a)))
    assert np.isnan(metrics.spearman_maps(a, np.where(a > 0.5, np.nan, a)))


def test_center_of_mass_single_pixel_and_symmetric_map():
    m = np.zeros((5, 8))
    m[3, 6] = 2.5
    np.testing.assert_allclose(metrics.center_of_mass(m), [3.0, 6.0])
    sym = np.zeros((5, 5))
    sym[1, 1] = sym[1, 3] = sym[3, 1] = sym[3, 3] = 1.0
    sym[2, 2] = 4.0
    np.testing.assert_allclose(metrics.center_of_mass(sym), [2.0, 2.0])
    # mass is |map|: a negative pixel pulls like a positive one
    m2 = np.zeros((1, 4))
    m2[0, 0], m2[0, 3] = 1.0, -3.0
    np.testing.assert_allclose(metrics.center_of_mass(m2), [0.0, 9 / 4])
    assert metrics.com_shift(m, sym) == pytest.approx(np.hypot(1, 4))
    np.testing.assert_allclose(metrics.com_shift(np.stack([m, m]), np.stack([m, m])), [0.0, 0.0])
    assert np.isnan(metrics.center_of_mass(np.zeros((3, 3)))).all()


def test_entropy_uniform_one_hot_and_batch():
    h, w = 4, 6
    uniform, one_hot = np.full((h, w), 0.3), np.zeros((h, w))
    one_hot[1, 2] = 7.0
    assert metrics.entropy(uniform) == pytest.approx(np.log(h * w))
    assert metrics.entropy(one_hot) == 0.0
    assert metrics.normalized_entropy(uniform) == pytest.approx(1.0)
    assert metrics.normalized_entropy(one_hot) == 0.0
    two = np.zeros((h, w))
    two[0, 0], two[3, 5] = 1.0, -1.0  # |map|: two equal pixels -> log 2
    assert metrics.entropy(two) == pytest.approx(np.log(2))
    got = metrics.entropy(np.stack([uniform, one_hot, two]))
    np.testing.assert_allclose(got, [np.log(h * w), 0.0, np.log(2)])
    rng = np.random.default_rng(2)
    m = rng.random((h, w))
    assert metrics.entropy(m) == pytest.approx(sps.entropy(m.ravel()))
    assert np.isnan(metrics.entropy(np.zeros((h, w))))
    assert np.isnan(metrics.normalized_entropy(np.ones((1, 1))))


def test_gini_conventions():
    n = 20
    uniform, one_hot = np.full((4, 5), 2.0), np.zeros((4, 5))
    one_hot[2, 3] = 1.0
    assert metrics.gini(uniform) == pytest.approx(0.0, abs=1e-12)
    assert metrics.gini(one_hot) == pytest.approx(1 - 1 / n)
    # mean absolute difference / (2 mean) on a hand-made map: values 0, 1, 2, 3
    m = np.array([[0.0, 1.0], [2.0, -3.0]])
    x = np.abs(m.ravel())
    mad = np.abs(x[:, None] - x[None, :]).sum() / x.size**2
    assert metrics.gini(m) == pytest.approx(mad / (2 * x.mean()))
    assert metrics.gini(m) == pytest.approx(0.5 * 20 / 16 / 1.5)  # sum |xi-xj| = 20
    np.testing.assert_allclose(metrics.gini(np.stack([uniform, one_hot])), [0.0, 1 - 1 / n], atol=1e-12)
    assert metrics.gini(3 * m) == pytest.approx(metrics.gini(m))  # scale-free
    assert np.isnan(metrics.gini(np.zeros((2, 2))))


def test_mask_fractions_hand_worked():
    m = np.array([[4.0, 0.0, 1.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    mask = np.zeros((3, 3), bool)
    mask[:2, :2] = True  # holds 4 and 2: mass 6 of 10
    rows, cols = np.array([0, 2, 1]), np.array([0, 2, 1])  # its top-3: (0,0)=4, (2,2)=3, (1,1)=2
    fr = metrics.mask_fractions(m, rows, cols, mask)
    assert fr.topk == pytest.approx(2 / 3) and fr.mass == pytest.approx(0.6)
    # batch of two maps, one shared mask
    m2 = np.stack([m, m.T[::-1]])
    r2 = np.stack([rows, [0, 1, 2]])
    c2 = np.stack([cols, [0, 0, 0]])
    got = metrics.mask_fractions(m2, r2, c2, mask)
    np.testing.assert_allclose(got.topk, [2 / 3, 2 / 3])
    np.testing.assert_allclose(got.mass, [0.6, (m2[1] * mask).sum() / m2[1].sum()])
    # per-map masks
    masks = np.stack([mask, ~mask])
    got = metrics.mask_fractions(m2, r2, c2, masks)
    np.testing.assert_allclose(got.topk, [2 / 3, 1 / 3])
    with pytest.raises(ValueError, match="boolean"):
        metrics.mask_fractions(m, rows, cols, mask.astype(int))
    with pytest.raises(ValueError, match="outside"):
        metrics.mask_fractions(m, [3], [0], mask)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ssim_matches_skimage(seed):
    skm = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(seed)
    a = rng.random((40, 33))
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    ref = skm.structural_similarity(a, b, data_range=1.0, gaussian_weights=True, use_sample_covariance=False, sigma=1.5)
    assert metrics.ssim(a, b) == pytest.approx(ref, abs=1e-6)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
