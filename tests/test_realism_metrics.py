"""colorgan.realism's measures on feature arrays: KID, density and coverage, Fréchet distance,
the two-sample test, semantic agreement, and set_comparison gathering them.

Seeded synthetic features: fast, and far from any margin. The measures on real photos, through
Lite0, are in test_realism_photos.py.
"""

import numpy as np
import pytest
from scipy.linalg import sqrtm

from colorgan.realism.density_coverage import density_coverage, neighbour_radii
from colorgan.realism.frechet import frechet_distance
from colorgan.realism.kid import kernel_inception_distance, polynomial_kernel
from colorgan.realism.semantic import semantic_agreement
from colorgan.realism.sets import set_comparison
from colorgan.realism.two_sample import classifier_two_sample_test


def _gaussian(count: int, dims: int = 16, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, 1.0, (count, dims))


# --- KID ------------------------------------------------------------------------------------


def test_kid_is_zero_for_a_set_against_itself_and_near_zero_for_two_samples_of_one_gaussian():
    real = _gaussian(300, seed=1)
    kid, std = kernel_inception_distance(real, real)
    assert abs(kid) < 1e-9 and std == 0.0  # scored whole: no subsets, no spread
    same, _ = kernel_inception_distance(real, _gaussian(300, seed=2))
    shifted, _ = kernel_inception_distance(real, _gaussian(300, shift=1.0, seed=2))
    wider, _ = kernel_inception_distance(real, 1.5 * _gaussian(300, seed=2))
    assert abs(same) < 0.01  # seeded: 0.0002
    assert shifted > 0.5 and wider > 0.1  # seeded: 1.6 and 0.9


def test_kid_matches_the_unbiased_formula_and_leaves_out_aligned_pairs_of_equal_sets():
    x, y = _gaussian(40, 8, seed=3), _gaussian(50, 8, 0.2, seed=4)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (kxx.sum() - np.trace(kxx)) / (40 * 39) + (kyy.sum() - np.trace(kyy)) / (50 * 49)
    # Unequal sizes: clean-fid's and torch-fidelity's form, every cross pair.
    assert kernel_inception_distance(x, y)[0] == pytest.approx(within - 2 * kxy.mean())
    # Equal sizes: the U-statistic, without the pairs (x_i, y_i).
    y = y[:40]
    kyy, kxy = polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (40 * 39)
    cross = (kxy.sum() - np.trace(kxy)) / (40 * 39)
    assert kernel_inception_distance(x, y)[0] == pytest.approx(within - 2 * cross)


def test_kid_on_subsets_reports_the_spread_and_is_the_same_for_the_same_seed():
    real, fake = _gaussian(400, seed=5), _gaussian(300, shift=0.5, seed=6)
    kid, std = kernel_inception_distance(real, fake, subsets=20, subset_size=100)
    assert std > 0 and kid > 3 * std  # a real difference stands well above the spread
    assert kernel_inception_distance(real, fake, 20, 100) == (kid, std)
    assert kernel_inception_distance(real, fake, 20, 100, seed=1) != (kid, std)
    whole, _ = kernel_inception_distance(real, fake)
    assert kid == pytest.approx(whole, abs=4 * std)


@pytest.mark.parametrize(
    "real, fake, message",
    [
        (np.zeros(10), np.zeros((10, 4)), "samples, features"),
        (np.zeros((1, 4)), np.zeros((10, 4)), "at least 2 samples"),
        (np.zeros((10, 4)), np.zeros((10, 5)), "differ in width"),
    ],
)
def test_kid_refuses_what_is_not_two_feature_sets_of_one_network(real, fake, message):
    with pytest.raises(ValueError, match=message):
        kernel_inception_distance(real, fake)


def test_kid_refuses_subsets_it_cannot_draw():
    with pytest.raises(ValueError, match="subset_size=1"):
        kernel_inception_distance(_gaussian(10), _gaussian(10), subset_size=1)


# --- density and coverage -------------------------------------------------------------------


def test_density_and_coverage_are_one_for_a_set_against_itself_and_fall_off_its_manifold():
    real = _gaussian(200)
    paired = np.arange(200)  # each fake is the copy of one real sample, not counted in its ball
    assert density_coverage(real, real, real_groups=paired, fake_groups=paired) == {
        "density": 1.0,
        "coverage": 1.0,
        "nearest_neighbours": 5,
    }
    same = density_coverage(real, _gaussian(200, seed=9))
    assert same["density"] == pytest.approx(1.0, abs=0.2)  # seeded: 0.95
    assert same["coverage"] > 0.9  # about 1 - 2^-5
    far = density_coverage(real, real + 20.0)
    assert far["density"] == far["coverage"] == 0.0
    # Half the fakes far away: density halves; coverage barely moves (the near half still
    # reaches most balls).
    near = _gaussian(100, seed=9)
    half = density_coverage(real, np.concatenate([near, near + 20.0]))
    assert half["density"] == pytest.approx(density_coverage(real, near)["density"] / 2)
    assert half["coverage"] > 0.8  # seeded: 0.89


def test_coverage_falls_when_the_fakes_collapse_to_one_corner_and_density_does_not():
    """Mode collapse: every fake near a few true samples is realistic (density high) but most
    of the true variety is missed (coverage low): what precision alone would not show."""
    real = _gaussian(200, 2, seed=10)
    corner = real[np.argsort(real[:, 0])[:20]]  # the 20 samples furthest left
    collapsed = density_coverage(real, np.repeat(corner, 10, axis=0))
    assert collapsed["density"] > 0.5 and collapsed["coverage"] < 0.2


def test_grouped_views_of_one_photo_do_not_shrink_the_balls_to_the_photo():
    """Six near-identical 'views' of each of 30 'photos'; the fakes move each view a little.
    Ungrouped, every ball is the size of a photo's views and no fake is inside one; grouped
    by photo, the fakes are judged against the other photos, as the measures mean."""
    rng = np.random.default_rng(8)
    groups = np.repeat(np.arange(30), 6)
    real = (3.0 * rng.normal(size=(30, 8)))[groups] + rng.normal(0, 0.01, (180, 8))
    fake = real + rng.normal(0, 0.1, real.shape)
    ungrouped = density_coverage(real, fake)
    grouped = density_coverage(real, fake, 5, groups, groups)
    itself = density_coverage(real, real, 5, groups, groups)
    assert ungrouped["density"] < 0.05
    assert itself["density"] == itself["coverage"] == 1.0
    # Each fake sits near a ball's edge (views of a photo are bunched): seeded 0.63 and 1.0.
    assert grouped["density"] > 0.4 and grouped["coverage"] > 0.9
    with pytest.raises(ValueError, match="two groups"):
        density_coverage(real[:4], fake[:4], 5, groups[:4], groups[:4])
    with pytest.raises(ValueError, match="both sets"):
        density_coverage(real, fake, 5, groups, None)


def test_radii_reach_the_kth_neighbour_and_k_shrinks_for_tiny_sets():
    points = np.array([[0.0], [1.0], [3.0], [6.0]])
    np.testing.assert_allclose(neighbour_radii(points, k=1), [1.0, 1.0, 2.0, 3.0])
    assert density_coverage(points, points, k=10)["nearest_neighbours"] == 3


# --- Fréchet distance -----------------------------------------------------------------------


def test_frechet_distance_is_zero_for_a_set_and_itself_and_the_mean_shift_squared():
    real = _gaussian(300)
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-8)
    shift = np.full(16, 0.5)
    # Same covariance, means apart by the shift: the distance is its squared length.
    assert frechet_distance(real, real + shift) == pytest.approx(np.sum(shift**2), rel=1e-6)
    assert frechet_distance(real, 2.0 * real) > 1.0


def _reference_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """pytorch-fid's formula, with scipy's sqrtm."""
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = sqrtm(cov_a @ cov_b).real
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a + cov_b - 2 * root))


@pytest.mark.parametrize("count, dims", [(300, 8), (30, 64)])
def test_frechet_distance_matches_the_reference_formula(count, dims):
    """Both ways of taking tr((S_r S_f)^(1/2)): in feature space (more samples than
    features) and in sample space (fewer, as with 1280 Lite0 features)."""
    a, b = _gaussian(count, dims, seed=1), 1.5 * _gaussian(count + 5, dims, 0.3, seed=2)
    if count > dims:
        assert frechet_distance(a, b) == pytest.approx(_reference_frechet(a, b), rel=1e-6)
    else:  # sqrtm of a singular product is unreliable: compare against the eigenvalue form
        cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        values, vectors = np.linalg.eigh(cov_a)
        root = (vectors * np.sqrt(values.clip(0))) @ vectors.T
        cross = np.sqrt(np.linalg.eigvalsh(root @ cov_b @ root).clip(0)).sum()
        expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a + cov_b) - 2 * cross
        assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


# --- the classifier two-sample test ---------------------------------------------------------


def test_two_sample_test_cannot_tell_two_halves_of_one_set_apart():
    pool = _gaussian(800, seed=3)
    scores, actual, predicted = classifier_two_sample_test(
        pool[:200], pool[200:400], pool[400:600], pool[600:]
    )
    # 400 test samples: chance accuracy has a std of 0.025, so 0.15 is six of them.
    assert abs(scores["c2st_accuracy"] - 0.5) < 0.15
    assert scores["c2st_p_value"] > 0.001
    assert len(actual) == len(predicted) == 400
    assert sum(scores[f"c2st_{k}"] for k in ("true_positive", "false_negative")) == 200


def test_two_sample_test_tells_shifted_sets_apart():
    real = _gaussian(400, seed=4)
    fake = _gaussian(400, shift=1.0, seed=5)
    scores, _, _ = classifier_two_sample_test(real[:200], fake[:200], real[200:], fake[200:])
    assert scores["c2st_accuracy"] > 0.95
    assert scores["c2st_precision"] > 0.95 and scores["c2st_recall"] > 0.95
    assert scores["c2st_p_value"] < 1e-6


# --- semantic agreement ---------------------------------------------------------------------


def test_semantic_agreement_counts_top1_matches_and_the_true_class_within_the_top5():
    rng = np.random.default_rng(11)
    reference = rng.normal(size=(4, 10))
    assert semantic_agreement(reference, reference) == {
        "top1_agreement": 1.0,
        "top5_agreement": 1.0,
    }
    candidate = reference.copy()
    truth = reference.argmax(axis=1)
    candidate[0, truth[0]] = reference[0].min() - 1.0  # photo 0: its class last of all
    candidate[1, (truth[1] + 1) % 10] = reference[1].max() + 1.0  # photo 1: second best
    scores = semantic_agreement(reference, candidate)
    assert scores == {"top1_agreement": 0.5, "top5_agreement": 0.75}
    with pytest.raises(ValueError, match="pair photo by photo"):
        semantic_agreement(reference, candidate[:3])


# --- all of it ------------------------------------------------------------------------------


def test_set_comparison_gathers_every_figure():
    real, fake = _gaussian(60, seed=6), _gaussian(60, shift=0.2, seed=7)
    scores, _, _ = set_comparison(real[:30], fake[:30], real[30:], fake[30:])
    assert {"c2st_accuracy", "kid", "kid_std", "density", "coverage", "frechet_distance"} <= set(
        scores
    )
    assert scores["real_samples"] == scores["fake_samples"] == 30
    assert scores["nearest_neighbours"] == 5
