import keras
import numpy as np

from colorgan.color import rgb_to_scaled_lab
from colorgan.config import parse_params
from colorgan.model.gan import build_gan
from colorgan.model.networks import build_discriminator, build_generator
from tests.conftest import TINY_PARAMS, real_photo


def _batch(size=32, n=4):
    photo = real_photo(side=size * 2)
    crops = [photo[i : i + size, i : i + size] for i in range(0, 4 * n, 4)][:n]
    lab = rgb_to_scaled_lab(np.stack(crops))
    return lab[..., :1], lab[..., 1:]


def test_generator_maps_l_to_ab_in_range_and_discriminator_scores_patches():
    params = parse_params(TINY_PARAMS)
    generator = build_generator(32, params.model.generator)
    discriminator = build_discriminator(32, params.model.discriminator)
    lightness, real_ab = _batch()
    fake_ab = generator(lightness).numpy()
    assert fake_ab.shape == (4, 32, 32, 2)
    assert np.abs(fake_ab).max() <= 1.0
    patches = 32 // 2**params.model.discriminator.depth
    assert discriminator([lightness, real_ab]).shape == (4, patches, patches, 1)


def test_train_steps_lower_the_l1_loss_on_a_fixed_batch():
    keras.utils.set_random_seed(0)
    params = parse_params(
        {
            **TINY_PARAMS,
            "model": {
                **TINY_PARAMS["model"],
                "generator": {"encoder": "unet", "depth": 3, "dropout": 0.0},
            },
        }
    )
    gan = build_gan(params)
    lightness, real_ab = _batch()
    first = gan.train_on_batch(lightness, real_ab, return_dict=True)
    for _ in range(15):
        last = gan.train_on_batch(lightness, real_ab, return_dict=True)
    assert set(first) >= {"g_adv", "g_l1", "d_real", "d_fake", "d_accuracy"}
    assert all(np.isfinite(v) for v in last.values())
    assert last["g_l1"] < first["g_l1"]


def test_the_generator_in_inference_mode_colours_as_training_left_it():
    # Batch norm's running statistics must keep up with G (networks.BATCH_NORM_MOMENTUM):
    # what validation scores and what is shipped runs in inference mode. After 60 steps on
    # one batch the two modes differ by about a quarter of the output at momentum 0.9, by
    # nearly all of it at Keras' default 0.99. Dropout off: it alone also tells them apart.
    keras.utils.set_random_seed(0)
    model = {**TINY_PARAMS["model"], "generator": {"encoder": "unet", "depth": 3, "dropout": 0.0}}
    gan = build_gan(parse_params({**TINY_PARAMS, "model": model}))
    lightness, real_ab = _batch()
    for _ in range(60):
        gan.train_on_batch(lightness, real_ab)
    trained = gan.generator(lightness, training=True).numpy()
    inferred = gan.generator.predict_on_batch(lightness)
    assert np.abs(trained - inferred).mean() < 0.5 * np.abs(trained).mean()
