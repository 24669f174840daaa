"""How the discriminator is scored: batch statistics, and D left exactly as it was saved."""

import numpy as np
import pytest

from colorgan.color import rgb_to_scaled_lab
from colorgan.config import DiscriminatorParams
from colorgan.evaluation.evaluate import patch_probabilities
from colorgan.model.losses import real_probability
from colorgan.model.networks import build_discriminator
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


# --- D scored as trained: views, enhanced real colours, kept epoch, threshold from val ------


def _params(**evaluate):
    from colorgan.config import Params

    return Params.model_validate(
        {"train": {"batch_size": 4, "color_enhance_factor": 1.2}, "evaluate": evaluate}
    )


def _constant_ab_generator(value: float):
    """L -> ab = value everywhere (a zero 1x1 convolution with that bias)."""
    import keras

    lightness = keras.Input((SIZE, SIZE, 1))
    ab = keras.layers.Conv2D(2, 1, kernel_initializer="zeros", bias_initializer="zeros")(lightness)
    model = keras.Model(lightness, ab)
    model.layers[-1].bias.assign(np.full(2, value, np.float32))
    return model


def _a_channel_judge():
    """A 'D' whose patch logit is 10 x a: it calls saturated colours real, the rest fake."""
    import keras

    lightness, ab = keras.Input((SIZE, SIZE, 1)), keras.Input((SIZE, SIZE, 2))
    pair = keras.layers.Concatenate()([lightness, ab])
    conv = keras.layers.Conv2D(1, 1, kernel_initializer="zeros", bias_initializer="zeros")
    model = keras.Model([lightness, ab], conv(pair))
    conv.kernel.assign(np.array([0.0, 10.0, 0.0], np.float32).reshape(1, 1, 3, 1))
    return model


def _lab_views(count: int, ab: float, seed: int) -> np.ndarray:
    lab = np.zeros((count, SIZE, SIZE, 3), np.float32)
    lab[..., 0] = np.random.default_rng(seed).uniform(-1, 1, (count, SIZE, SIZE))
    lab[..., 1:] = ab
    return lab


def test_a_discriminator_that_separates_trivially_different_inputs_scores_near_one():
    from colorgan.evaluation.evaluate import head_results, judge_views

    params = _params()
    judge, generator = {"discriminator": _a_channel_judge()}, _constant_ab_generator(-0.5)
    judged = {
        split: judge_views(_lab_views(6, 0.5, seed), generator, judge, params)
        for split, seed in (("val", 1), ("test", 2))
    }
    heads, plots = head_results(judged["val"], judged["test"], "youden")
    metrics = heads["discriminator"].metrics
    assert metrics["precision"] > 0.99 and metrics["recall"] > 0.99
    assert metrics["roc_auc"] == pytest.approx(1.0)
    assert metrics["fooling_rate"] == 0.0
    assert metrics["true_positive"] == 6 * SIZE * SIZE  # every view scored once, per pixel
    assert {"confusion.csv", "pr_curve.csv", "roc_curve.csv"} <= set(plots)


def test_true_colours_are_shown_enhanced_as_in_training():
    from colorgan.evaluation.evaluate import judge_views, shown_real_ab

    np.testing.assert_allclose(shown_real_ab(np.array([0.5, -0.9]), 1.2), [0.6, -1.0])
    # The judge's P(real) of a true pair with a = 0.5 is sigmoid(10 x 0.6), not sigmoid(5).
    judged = judge_views(
        _lab_views(4, 0.5, 0),
        _constant_ab_generator(0.0),
        {"discriminator": _a_channel_judge()},
        _params(),
    )
    real, fake = judged["discriminator"]
    np.testing.assert_allclose(real, 1 / (1 + np.exp(-6.0)), rtol=1e-5)
    np.testing.assert_allclose(fake, 0.5, rtol=1e-5)


def test_identical_inputs_give_an_auc_of_one_half_even_with_batch_statistics():
    """Gray photos and a generator that predicts gray: D (BatchNorm and all) sees the same
    pairs twice and cannot rank either kind above the other."""
    from colorgan.evaluation.evaluate import discriminator_report, judge_views

    discriminator = build_discriminator(SIZE, DiscriminatorParams(depth=2, base_filters=8))
    lab = _lab_views(10, 0.0, 3)
    real, fake = judge_views(
        lab, _constant_ab_generator(0.0), {"discriminator": discriminator}, _params()
    )["discriminator"]
    metrics, _, _ = discriminator_report(real, fake, 0.5)
    assert metrics["roc_auc"] == pytest.approx(0.5, abs=1e-6)


def test_same_score_distributions_give_an_auc_near_one_half():
    from colorgan.evaluation.evaluate import discriminator_report

    rng = np.random.default_rng(0)
    metrics, _, _ = discriminator_report(rng.uniform(size=20_000), rng.uniform(size=20_000), 0.5)
    assert metrics["roc_auc"] == pytest.approx(0.5, abs=0.02)
    assert metrics["balanced_accuracy"] == pytest.approx(0.5, abs=0.02)


def test_the_threshold_is_chosen_on_validation_and_applied_to_test_unchanged():
    from colorgan.evaluation.evaluate import head_results, youden_threshold

    rng = np.random.default_rng(0)
    val = (rng.uniform(0.30, 0.50, 500), rng.uniform(0.10, 0.29, 500))
    test = (rng.uniform(0.60, 0.90, 500), rng.uniform(0.40, 0.55, 500))
    assert 0.29 <= youden_threshold(*val) <= 0.31  # the lowest true score of val
    heads, _ = head_results({"discriminator": val}, {"discriminator": test}, "youden")
    metrics = heads["discriminator"].metrics
    # Tuned on test it would be 0.6 and perfect; from val every test patch is called real.
    assert metrics["threshold"] == pytest.approx(youden_threshold(*val))
    assert metrics["recall"] == 1.0 and metrics["precision"] == pytest.approx(0.5)
    assert metrics["val_balanced_accuracy"] == pytest.approx(1.0)
    fixed, _ = head_results({"discriminator": val}, {"discriminator": test}, 0.58)
    assert fixed["discriminator"].metrics["precision"] == 1.0


def test_the_report_reads_the_figures_and_explains_a_one_class_prediction():
    from colorgan.evaluation.evaluate import head_results
    from colorgan.evaluation.report import reading

    rng = np.random.default_rng(0)
    val = (rng.uniform(0.30, 0.50, 500), rng.uniform(0.10, 0.29, 500))
    test = (rng.uniform(0.60, 0.90, 500), rng.uniform(0.40, 0.55, 500))
    heads, _ = head_results({"discriminator": val}, {"discriminator": test}, "youden")
    one_class = reading(heads["discriminator"].metrics)
    assert "D sees through G" in one_class and "called every test patch real" in one_class
    heads, _ = head_results({"discriminator": val}, {"discriminator": val}, "youden")
    both = reading(heads["discriminator"].metrics)
    assert "called every" not in both
    same = rng.uniform(size=2000)
    heads, _ = head_results({"discriminator": (same, same)}, {"discriminator": (same, same)}, 0.5)
    assert "G fools D" in reading(heads["discriminator"].metrics)


def test_views_are_the_photo_its_mirror_and_sub_windows_in_full_batches():
    from colorgan.evaluation.evaluate import batch_indices, photo_views

    photos = np.stack([real_photo(n, 2 * SIZE)[:SIZE, :SIZE] for n in ("coffee.png", "rocket.jpg")])
    views = photo_views(photos, 5, seed=0)
    assert views.shape == (10, SIZE, SIZE, 3)
    np.testing.assert_allclose(views[0], photos[0] / 255.0, atol=1e-6)
    np.testing.assert_allclose(views[6], photos[1][:, ::-1] / 255.0, atol=1e-6)
    assert not np.allclose(views[2], views[0], atol=0.02)  # a zoomed-in window
    np.testing.assert_array_equal(photo_views(photos, 5, seed=0), views)  # seeded
    # One view (params.yaml allows it): the photo alone.
    np.testing.assert_allclose(photo_views(photos, 1, seed=0), photos / 255.0, atol=1e-6)
    batches = batch_indices(10, 4, seed=0)
    assert [len(b) for b in batches] == [4, 4, 4]
    assert set(np.concatenate(batches)) == set(range(10))


def test_the_generator_d_judges_is_the_shipped_one_without_its_chroma_gain():
    from colorgan.evaluation.evaluate import trained_generator
    from colorgan.model.networks import with_chroma_gain

    generator = _constant_ab_generator(0.3)
    shipped = with_chroma_gain(generator, 2.0)
    lightness = np.zeros((1, SIZE, SIZE, 1), np.float32)
    np.testing.assert_allclose(np.asarray(shipped(lightness)), 0.6, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(trained_generator(shipped)(lightness)), 0.3, rtol=1e-5)
    assert trained_generator(generator) is generator


def test_the_kept_epoch_saves_and_restores_its_discriminators_with_its_generator(tmp_path):
    from colorgan.config import Params
    from colorgan.model.gan import build_gan
    from colorgan.training.checkpoints import CheckpointStore
    from colorgan.training.selection import ValidationSet, keep_best

    params = Params.model_validate(
        {
            "preprocess": {"image_size": SIZE},
            "model": {
                "generator": {"encoder": "unet", "depth": 3, "base_filters": 8, "max_filters": 16},
                "discriminator": {"depth": 2, "base_filters": 8, "pixel_gan": True},
            },
            "train": {"select_epoch": "val_psnr", "chroma_gain": "off"},
        }
    )
    gan = build_gan(params)
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save_best(gan)  # "epoch 1" is the best
    kept = {name: _variables(model) for name, model in _heads(gan).items()}
    for model in _heads(gan).values():  # "epoch 2": every network moves on
        for variable in model.trainable_variables:
            variable.assign(variable.numpy() + 1.0)
    validation = ValidationSet(
        np.zeros((2, SIZE, SIZE, 1), np.float32), np.zeros((2, SIZE, SIZE, 2))
    )
    state = {"epoch": 2, "best": {"epoch": 1, "scores": {"val_psnr": 20.0}}}
    keep_best(gan, store, state, params.train, validation)
    for name, model in _heads(gan).items():
        for saved, now in zip(kept[name], _variables(model), strict=True):
            np.testing.assert_array_equal(saved, now)


def _heads(gan):
    return {
        "generator": gan.generator,
        "discriminator": gan.discriminator,
        "pixel_discriminator": gan.pixel_discriminator,
    }
