import numpy as np
from skimage import color as skcolor

from colorgan.color import (
    colorfulness,
    gray_baseline,
    rgb_to_lab,
    rgb_to_scaled_lab,
    scale_lab,
    scaled_lab_to_rgb,
    unscale_lab,
)
from tests.conftest import real_photo


def test_lab_agrees_with_scikit_image_on_a_real_photo():
    rgb = real_photo()
    expected = skcolor.rgb2lab(rgb.astype(np.float64) / 255.0)
    np.testing.assert_allclose(rgb_to_lab(rgb), expected, atol=1e-3)


def test_scaled_lab_is_in_unit_range_and_round_trips_to_the_photo():
    rgb = real_photo()
    scaled = rgb_to_scaled_lab(rgb)
    assert scaled.shape == rgb.shape
    assert scaled.min() >= -1.0
    assert scaled.max() <= 1.0
    back = scaled_lab_to_rgb(scaled)
    assert np.abs(back * 255 - rgb).max() < 1.0


def test_scale_and_unscale_are_inverse_on_the_lab_gamut():
    rng = np.random.default_rng(0)
    lab = np.stack(
        [rng.uniform(0, 100, 500), rng.uniform(-100, 100, 500), rng.uniform(-110, 110, 500)],
        axis=-1,
    ).astype(np.float32)
    np.testing.assert_allclose(unscale_lab(scale_lab(lab)), lab, atol=1e-4)


def test_gray_baseline_keeps_lightness_and_has_no_colour():
    scaled = rgb_to_scaled_lab(real_photo())
    gray = gray_baseline(scaled)
    np.testing.assert_array_equal(gray[..., 0], scaled[..., 0])
    assert not gray[..., 1:].any()
    rgb = scaled_lab_to_rgb(gray)
    assert colorfulness(rgb) < 1.0
    assert colorfulness(real_photo()) > 20.0
