"""Every realism measure of two feature sets at once, and the one-call version on photos.

:func:`set_comparison` gathers the classifier two-sample test (fitted on one set of photos,
scored on another), KID, density and coverage and the Fréchet distance (on the test
features); :func:`compare_sets` computes the Lite0 features of photos first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from colorgan.realism.density_coverage import NEAREST_NEIGHBOURS, density_coverage
from colorgan.realism.features import FEATURE_SIZE, lite0_features
from colorgan.realism.frechet import frechet_distance
from colorgan.realism.kid import kernel_inception_distance
from colorgan.realism.two_sample import classifier_two_sample_test


def set_comparison(
    real_train: np.ndarray,
    fake_train: np.ndarray,
    real_test: np.ndarray,
    fake_test: np.ndarray,
    k: int = NEAREST_NEIGHBOURS,
    seed: int = 0,
    test_groups: np.ndarray | None = None,
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """The two-sample test (fitted on train, scored on test); KID, density and coverage and
    the Fréchet distance (on the test features); and the two-sample test's (actual,
    predicted) test labels, 1 = real. ``test_groups``: the photo of each test sample, the
    same for both test sets (density_coverage)."""
    c2st, actual, predicted = classifier_two_sample_test(
        real_train, fake_train, real_test, fake_test, seed
    )
    kid, kid_std = kernel_inception_distance(real_test, fake_test, seed=seed)
    scores = {
        **c2st,
        "kid": kid,
        "kid_std": kid_std,
        **density_coverage(real_test, fake_test, k, test_groups, test_groups),
        "frechet_distance": frechet_distance(real_test, fake_test),
        "real_samples": len(real_test),
        "fake_samples": len(fake_test),
    }
    return scores, actual, predicted


def compare_sets(
    real_rgb_train: Sequence[np.ndarray],
    fake_rgb_train: Sequence[np.ndarray],
    real_rgb_test: Sequence[np.ndarray],
    fake_rgb_test: Sequence[np.ndarray],
    k: int = NEAREST_NEIGHBOURS,
    seed: int = 0,
    size: int = FEATURE_SIZE,
) -> dict[str, float]:
    """True photos against colorized ones, as sets, in Lite0 feature space.

    Photos are RGB arrays (uint8, or float in [0, 1]) of any sizes. The classifier
    two-sample test learns on the train photos and is scored on the test photos (use
    different photos for the two: otherwise it measures memorisation); KID, density and
    coverage (k nearest neighbours) and the Fréchet distance compare the test sets.
    Returns set_comparison's scores: c2st_accuracy (0.5 = indistinguishable), c2st_precision,
    c2st_recall, c2st_p_value, the c2st confusion counts, kid, kid_std, density, coverage,
    nearest_neighbours, frechet_distance, real_samples and fake_samples.
    """
    features = [
        lite0_features(photos, size)
        for photos in (real_rgb_train, fake_rgb_train, real_rgb_test, fake_rgb_test)
    ]
    return set_comparison(*features, k=k, seed=seed)[0]
