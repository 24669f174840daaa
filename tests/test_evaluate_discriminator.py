"""How the discriminator is scored: batch statistics, and D left exactly as it was saved."""

import numpy as np
import pytest

from colorgan.color import rgb_to_scaled_lab
from colorgan.config import DiscriminatorParams
from colorgan.evaluate import patch_probabilities
from colorgan.losses import real_probability
from colorgan.models import build_discriminator
from tests.conftest import real_photo

SIZE = 32


@pytest.fixture(scope="module")
def pairs():
    """(L, ab) of four real photos, 32 x 32."""
    names = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg"]
    lab = np.stack([rgb_to_scaled_lab(real_photo(n, 2 * SIZE)[:SIZE, :SIZE]) for n in names])
    return lab[..., :1], lab[..., 1:]


def _variables(model):
    return [variable.numpy().copy() for variable in model.variables]


def test_scores_ignore_the_moving_averages_and_leave_them_untouched(pairs):
    discriminator = build_discriminator(SIZE, DiscriminatorParams(depth=2, base_filters=8))
    lightness, ab = pairs
    before = patch_probabilities(discriminator, lightness, ab, "bce")
    inference_before = np.asarray(
        real_probability(discriminator([lightness, ab], training=False), "bce")
    )[..., 0]

    # Given moving averages far from any batch's statistics (as after a GAN's training) ...
    for variable in discriminator.non_trainable_variables:
        variable.assign(variable.numpy() + 5.0)
    saved = _variables(discriminator)
    after = patch_probabilities(discriminator, lightness, ab, "bce")
    inference_after = np.asarray(
        real_probability(discriminator([lightness, ab], training=False), "bce")
    )[..., 0]

    # ... batch-statistics scores do not move, inference-mode scores do, and D is unchanged.
    assert before.shape == (4, SIZE // 4, SIZE // 4)
    np.testing.assert_allclose(after, before, atol=1e-6)
    assert np.abs(inference_after - inference_before).max() > 1e-3
    for kept, now in zip(saved, _variables(discriminator), strict=True):
        np.testing.assert_array_equal(kept, now)
