"""The colour levers, epoch selection and the chroma gain: each does what it says."""

import json
import sqlite3

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorgan.config import parse_params
from colorgan.model.augment import cutout, diff_augment, translate
from colorgan.model.colour_classes import (
    bin_centres,
    empirical_prior,
    rebalancing_weights,
    soft_encode,
)
from colorgan.model.gan import build_gan
from colorgan.model.losses import discriminator_loss
from colorgan.model.networks import build_pixel_discriminator, with_chroma_gain
from colorgan.training.selection import (
    ValidationSet,
    fit_chroma_gain,
    ranking_key,
    reason,
    score,
)
from tests.conftest import TINY_PARAMS, deep_update, run
from tests.test_gan import _batch

# Every lever off: each test switches on the one it is about.
LEVERS_OFF = {
    "model": {"discriminator": {"pixel_gan": False}},
    "train": {"color_enhance_factor": 1.0, "diff_augment": []},
}


def _gan(**overrides):
    keras.utils.set_random_seed(0)
    return build_gan(parse_params(deep_update(deep_update(TINY_PARAMS, LEVERS_OFF), overrides)))


def test_enhanced_reals_are_what_the_discriminator_judges_and_l1_still_sees_the_truth():
    gan = _gan(train={"color_enhance_factor": 1.5})
    gan.set_phase(pretraining=False)  # D's losses are computed before its update
    head = gan.discriminator.get_layer("patch_logits")
    head.kernel.assign(head.kernel * 300)  # a fresh D says ~0 to everything: make it opinionated
    lightness, real_ab = _batch()
    enhanced = np.clip(1.5 * real_ab, -1, 1)
    expected, _ = discriminator_loss(
        gan.discriminator([lightness, enhanced], training=True),
        gan.discriminator([lightness, enhanced], training=True),
        "bce",
    )
    plain, _ = discriminator_loss(
        gan.discriminator([lightness, real_ab], training=True),
        gan.discriminator([lightness, real_ab], training=True),
        "bce",
    )
    fake_ab = np.asarray(gan.generator(lightness, training=True))
    losses = gan.train_on_batch(lightness, real_ab, return_dict=True)
    assert losses["d_real"] == pytest.approx(float(expected), rel=1e-5)
    assert losses["d_real"] != pytest.approx(float(plain), rel=1e-3)
    # L1 is against the true ab (dropout makes G's output vary: compare loosely).
    assert losses["g_l1"] == pytest.approx(np.abs(real_ab - fake_ab).mean(), rel=0.2)


def test_pixel_discriminator_scores_every_pixel_and_trains_beside_the_patchgan():
    params = parse_params(TINY_PARAMS)
    pixel = build_pixel_discriminator(32, params.model.discriminator)
    lightness, real_ab = _batch()
    assert pixel([lightness, real_ab]).shape == (4, 32, 32, 1)
    assert {layer.kernel_size for layer in pixel.layers if hasattr(layer, "kernel_size")} == {
        (1, 1)
    }

    gan = _gan(model={"discriminator": {"pixel_gan": True}})
    assert gan.pixel_discriminator is not None and _gan().pixel_discriminator is None
    before = [w.numpy().copy() for w in gan.pixel_discriminator.trainable_weights]
    gan.set_phase(pretraining=False)
    gan.train_on_batch(lightness, real_ab)
    after = gan.pixel_discriminator.trainable_weights
    assert any(not np.array_equal(b, a.numpy()) for b, a in zip(before, after, strict=True))


def test_translation_shifts_whole_pairs_and_fills_with_gray():
    image = np.arange(8 * 8, dtype=np.float32).reshape(1, 8, 8, 1) + 1
    shifted = translate(tf.constant(image), tf.constant([3, 4])).numpy()
    assert not np.array_equal(shifted, image)
    (rows, cols) = np.nonzero(shifted[0, ..., 0])
    # Content moves as a block by at most 1/8 of the side; what comes in is 0 (gray).
    dy = rows.min() if rows.min() > 0 else -(7 - rows.max())
    dx = cols.min() if cols.min() > 0 else -(7 - cols.max())
    assert max(abs(dy), abs(dx)) <= 1
    assert np.array_equal(
        np.roll(image, (dy, dx), axis=(1, 2))[0, rows.min() : rows.max() + 1, cols.min() :],
        shifted[0, rows.min() : rows.max() + 1, cols.min() :],
    )


def test_cutout_zeros_a_half_side_square_per_image_and_gradients_flow():
    images = tf.ones((5, 16, 16, 3))
    holes = (cutout(images, tf.constant([1, 2])).numpy() == 0).all(axis=-1)
    for hole in holes:
        rows, cols = np.nonzero(hole)
        assert 0 < hole.sum() <= 8 * 8
        assert rows.max() - rows.min() < 8 and cols.max() - cols.min() < 8
    lightness, ab = tf.Variable(tf.ones((2, 16, 16, 1))), tf.Variable(tf.ones((2, 16, 16, 2)))
    with tf.GradientTape() as tape:
        out_l, out_ab = diff_augment(lightness, ab, ("translation", "cutout"), tf.constant([5, 6]))
        total = tf.reduce_sum(out_l) + tf.reduce_sum(out_ab)
    grad_l, grad_ab = tape.gradient(total, [lightness, ab])
    assert 0 < float(tf.reduce_sum(grad_ab)) < 2 * 16 * 16 * 2
    # One geometry for the pair: the pixels L loses are exactly the ones ab loses.
    assert np.array_equal(out_l.numpy()[..., 0] == 0, (out_ab.numpy() == 0).all(axis=-1))
    assert float(tf.reduce_sum(grad_l)) > 0


def _scores(psnr, gray, colour, ciede=10.0):
    return {
        "val_psnr": psnr,
        "val_gray_psnr": gray,
        "val_colorfulness_ratio": colour,
        "val_ciede2000": ciede,
    }


def test_selection_criteria_rank_epochs_as_named():
    epochs = [
        _scores(22.0, 21.0, 0.5, ciede=9.0),  # accurate, dull
        _scores(21.5, 21.0, 0.8, ciede=9.5),  # colourful, still above gray
        _scores(20.0, 21.0, 1.0, ciede=12.0),  # most colourful, below gray
    ]

    def best(criterion, margin=0.0):
        return max(range(3), key=lambda i: ranking_key(criterion, margin)(epochs[i]))

    assert best("val_psnr") == 0
    assert best("val_ciede2000") == 0
    assert best("colourful_above_gray") == 1
    assert best("colourful_above_gray", margin=0.6) == 0  # epoch 1 beats gray by 0.5 only
    never = [_scores(20.0, 21.0, 0.9), _scores(20.5, 21.0, 0.2)]
    assert max(range(2), key=lambda i: ranking_key("colourful_above_gray", 0)(never[i])) == 1
    assert "no epoch beat gray" in reason("colourful_above_gray", 0.0, never[1])


def test_chroma_gain_takes_the_most_colour_that_keeps_psnr_above_gray():
    lightness, real_ab = _batch(n=6)
    validation = ValidationSet(lightness, real_ab)
    timid = 0.4 * real_ab  # right hues, too little of them
    gain = fit_chroma_gain(validation, timid, margin_db=0.0)
    assert 1.8 <= gain <= 2.6  # about 1/0.4, capped where colour would pass the truth's
    with_gain = score(validation, np.clip(gain * timid, -1, 1))
    assert with_gain["val_psnr"] > score(validation, timid)["val_psnr"]
    assert with_gain["val_colorfulness_ratio"] <= 1.0
    wrong = -real_ab  # opposite hues: the most accurate gain is the smallest
    assert fit_chroma_gain(validation, wrong, margin_db=0.0) == pytest.approx(0.5)


def test_a_chroma_gain_layer_scales_clips_and_survives_save_and_load(tmp_path):
    generator = _gan().generator
    lightness, _ = _batch()
    boosted = with_chroma_gain(generator, 2.5)
    expected = np.clip(2.5 * np.asarray(generator(lightness)), -1, 1)
    np.testing.assert_allclose(np.asarray(boosted(lightness)), expected, atol=1e-6)
    boosted.save(tmp_path / "generator.keras")
    loaded = keras.models.load_model(tmp_path / "generator.keras")
    np.testing.assert_allclose(np.asarray(loaded(lightness)), expected, atol=1e-6)
    assert loaded.input_shape == generator.input_shape


def test_training_keeps_the_epoch_the_criterion_names_and_says_so(make_prepared):
    project = make_prepared(
        {
            "train": {
                "epochs": 4,
                "pretrain_epochs": 1,
                "steps_per_epoch": 2,
                "select_epoch": "val_psnr",
                "chroma_gain": "fit",
                "checkpoint_every_epochs": 2,
            }
        }
    )
    run(["dvc", "repro", "train"], project)

    metrics = json.loads((project / "metrics/train.json").read_text())
    run_id = json.loads((project / "models/run.json").read_text())["run_id"]
    with sqlite3.connect(project / "mlflow.db") as db:
        per_epoch = db.execute(
            "select step, value from metrics where run_uuid=? and key='val_psnr' order by step",
            (run_id,),
        ).fetchall()
        tags = dict(db.execute("select key, value from tags where run_uuid=?", (run_id,)))
        steps = db.execute(
            "select step from metrics where run_uuid=? and key='g_l1' order by step", (run_id,)
        ).fetchall()
        finals = dict(
            db.execute("select key, value from latest_metrics where run_uuid=?", (run_id,))
        )
    assert len(per_epoch) == 4  # one validation score per epoch, at the epoch's last step
    best_epoch = 1 + int(np.argmax([value for _, value in per_epoch]))
    assert metrics["selected_epoch"] == best_epoch
    assert tags["selected_epoch"] == str(best_epoch)
    assert "highest validation PSNR" in tags["selection"]
    # What the evaluation reads: was the kept epoch adversarial (D trained by then), and why.
    assert metrics["pretrain_epochs"] == 1
    assert metrics["selected_adversarial"] is metrics["d_trained"] is (best_epoch > 1)
    assert metrics["selection"] == tags["selection"]
    assert finals["final_selected_adversarial"] == float(best_epoch > 1)  # MLflow: numbers only
    assert [s for (s,) in steps] == list(range(1, 9))  # every step once
    # The saved generator is the kept epoch's, with the fitted gain on top.
    kept = keras.models.load_model(project / "models/generator.keras")
    assert kept.get_layer("chroma_gain").scale == pytest.approx(metrics["chroma_gain"])
    checkpoints = sorted(p.name for p in (project / "models/checkpoints").iterdir())
    assert checkpoints == ["best", "epoch-00002", "epoch-00004"]  # every 2nd epoch


def test_colour_classes_cover_the_gamut_and_rebalancing_favours_rare_colours():
    centres = bin_centres()
    assert 200 < len(centres) < 330  # Zhang et al. count 313 cells of side 10
    assert np.abs(centres).max() <= 1.0
    # Soft targets: 5 cells, nearest weighted most, summing to 1.
    ab = np.array([[0.3, -0.2]], dtype=np.float32)
    target = np.asarray(soft_encode(ab, centres))[0]
    assert np.count_nonzero(target) == 5 and target.sum() == pytest.approx(1.0)
    assert np.argmax(target) == np.argmin(((centres - ab) ** 2).sum(-1))
    # Mostly gray photos: gray cells are common, saturated ones rare and weighted up.
    rng = np.random.default_rng(0)
    pixels = np.concatenate([rng.normal(0, 0.02, (900, 2)), rng.normal(0.4, 0.02, (100, 2))])
    prior = empirical_prior(pixels.astype(np.float32), centres)
    weights = rebalancing_weights(prior)
    gray_cell = np.argmin((centres**2).sum(-1))
    vivid_cell = np.argmin(((centres - 0.4) ** 2).sum(-1))
    assert prior[gray_cell] > prior[vivid_cell]
    assert weights[vivid_cell] > weights[gray_cell]
    assert np.sum(prior * weights) == pytest.approx(1.0, rel=1e-4)


def test_a_class_predicting_generator_decodes_the_annealed_mean_and_learns_from_classes():
    gan = _gan(model={"generator": {"color_classes": True, "class_temperature": 0.38}})
    generator = gan.generator
    lightness, real_ab = _batch()
    logits = keras.Model(generator.input, generator.get_layer("ab_logits").output)(lightness)
    probabilities = np.asarray(keras.ops.softmax(np.asarray(logits) / 0.38, axis=-1))
    np.testing.assert_allclose(
        np.asarray(generator(lightness)), probabilities @ bin_centres(), atol=1e-5
    )
    gan.set_phase(pretraining=True)
    first = gan.train_on_batch(lightness, real_ab, return_dict=True)
    for _ in range(10):
        last = gan.train_on_batch(lightness, real_ab, return_dict=True)
    assert first["g_class"] > 0 and last["g_class"] < first["g_class"]
    assert _gan().train_on_batch(lightness, real_ab, return_dict=True)["g_class"] == 0
