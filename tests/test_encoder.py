"""Pretrained encoders: weights from a file or Keras' cache, the decoder fed, clear errors."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import get_args

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorgan.config import Encoder, GeneratorParams, ParamsError, parse_params
from colorgan.model.encoders import (
    BACKBONES,
    EncoderWeightsError,
    build_backbone,
    keras_cache,
    lightness_as_rgb,
)
from colorgan.model.gan import build_gan
from colorgan.model.networks import build_generator
from tests.conftest import TINY_PARAMS, as_if_trained, deep_update
from tests.test_gan import _batch

SIZE = 32  # the smallest side every backbone takes: its deepest feature map is 1 x 1


def _params(**overrides) -> GeneratorParams:
    """A small decoder on MobileNetV2, the lightest backbone; random weights unless told."""
    fields = {"encoder": "mobilenetv2", "encoder_weights": None, "base_filters": 8}
    return GeneratorParams(**{**fields, **overrides, "max_filters": 32})


def _lightness(batch: int = 2) -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, (batch, SIZE, SIZE, 1)).astype("float32")


def _values(model: keras.Model) -> list[np.ndarray]:
    return [np.asarray(weight) for weight in model.weights]


def _same(left: list[np.ndarray], right: list[np.ndarray]) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(left, right, strict=True))


def _no_network(*args, **kwargs):
    raise socket.gaierror("no network in this test")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No network and an empty Keras cache (KERAS_HOME): what this machine and a cluster
    node without internet look like. Returns the cache folder."""
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras" / "models"


def test_every_encoder_of_the_schema_is_a_known_backbone():
    assert set(get_args(Encoder)) == {"unet", *BACKBONES}


@pytest.mark.parametrize("encoder", sorted(BACKBONES))
def test_each_backbone_gives_feature_maps_at_strides_2_to_32(encoder):
    backbone = build_backbone(encoder, SIZE, None)
    sides = [backbone.get_layer(name).output.shape[1] for name in BACKBONES[encoder].feature_layers]
    assert sides == [16, 8, 4, 2, 1]


@pytest.mark.parametrize("encoder", ["resnet50", "efficientnetb0", "mobilenetv2"])
def test_lightness_reaches_the_backbone_as_its_family_preprocesses_a_gray_photo(encoder):
    lightness = _lightness()
    scale, offset = lightness_as_rgb(encoder)
    gray_photo = np.repeat((lightness + 1) * 127.5, 3, axis=-1)  # 0-255, as ImageNet photos
    expected = BACKBONES[encoder].preprocess(gray_photo.copy())
    np.testing.assert_allclose(lightness * scale + offset, expected, rtol=1e-5, atol=1e-4)


def test_the_generator_feeds_the_backbone_its_preprocessed_lightness():
    generator = build_generator(SIZE, _params())
    preprocessing = keras.Model(generator.input, generator.get_layer("imagenet_preprocess").output)
    lightness = _lightness()
    expected = keras.applications.mobilenet_v2.preprocess_input((lightness + 1) * 127.5)
    fed = np.asarray(preprocessing(lightness))
    np.testing.assert_allclose(fed, np.repeat(expected, 3, axis=-1), atol=1e-5)


def test_the_encoder_loads_a_weights_file(tmp_path):
    keras.utils.set_random_seed(1)
    saved = build_backbone("mobilenetv2", SIZE, None)
    path = tmp_path / "mobilenetv2.weights.h5"
    saved.save_weights(path)
    keras.utils.set_random_seed(2)
    fresh = build_backbone("mobilenetv2", SIZE, None)

    keras.utils.set_random_seed(2)
    encoder = build_generator(SIZE, _params(encoder_weights=str(path))).get_layer("encoder")

    assert _same(_values(encoder), _values(saved))
    assert not _same(_values(encoder), _values(fresh))


def test_imagenet_weights_come_from_keras_cache_without_network(offline):
    """A file put where the error message says (the Keras cache) is used, no download."""
    keras.utils.set_random_seed(1)
    saved = build_backbone("mobilenetv2", SIZE, None)
    offline.mkdir(parents=True)
    # Legacy .h5, the format of Keras' ImageNet files.
    saved.save(offline / BACKBONES["mobilenetv2"].weights_file(SIZE))

    encoder = build_generator(SIZE, _params(encoder_weights="imagenet")).get_layer("encoder")

    assert _same(_values(encoder), _values(saved))


def test_imagenet_without_internet_says_which_file_to_put_where(offline):
    file_name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"

    with pytest.raises(EncoderWeightsError) as raised:
        build_generator(SIZE, _params(encoder_weights="imagenet"))

    message = str(raised.value)
    assert str(offline / file_name) in message
    assert "model.generator.encoder_weights" in message


# One backbone per family: the names of a family's members follow one pattern.
@pytest.mark.parametrize("encoder", ["resnet50", "efficientnetb0", "mobilenetv2"])
def test_the_file_named_is_the_one_keras_applications_downloads(encoder, monkeypatch):
    """Our names and URLs must stay Keras' own: its download fails with its URL in the message."""
    expected = BACKBONES[encoder].weights_url + BACKBONES[encoder].weights_file(64)
    if (keras_cache() / BACKBONES[encoder].weights_file(64)).exists():
        pytest.skip("Keras has these weights cached: it would not download them")
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)

    with pytest.raises(Exception, match="URL fetch failure") as raised:
        BACKBONES[encoder].build(include_top=False, weights="imagenet", input_shape=(64, 64, 3))

    assert expected in str(raised.value)


def test_a_missing_weights_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "nowhere" / "resnet50.weights.h5"
    with pytest.raises(EncoderWeightsError, match=f"no file at {missing}"):
        build_generator(SIZE, _params(encoder_weights=str(missing)))


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_weights_of_another_backbone_are_a_clear_error(tmp_path):
    path = tmp_path / "mobilenetv2.weights.h5"
    build_backbone("mobilenetv2", SIZE, None).save_weights(path)
    with pytest.raises(EncoderWeightsError, match=r"cannot load .* into efficientnetb0"):
        build_backbone("efficientnetb0", SIZE, str(path))


def test_backbone_features_feed_the_decoder_and_learn():
    generator = build_generator(SIZE, _params())
    as_if_trained(generator)
    encoder = generator.get_layer("encoder")
    with tf.GradientTape() as tape:
        ab = generator(_lightness(), training=True)
        loss = keras.ops.mean(keras.ops.abs(ab - 0.5))
    gradients = tape.gradient(loss, encoder.trainable_weights)

    assert ab.shape == (2, SIZE, SIZE, 2)
    assert float(keras.ops.min(ab)) >= -1 and float(keras.ops.max(ab)) <= 1
    assert encoder.trainable_weights and all(g is not None for g in gradients)
    assert any(float(keras.ops.max(keras.ops.abs(g))) > 0 for g in gradients)


def test_a_frozen_encoder_leaves_only_the_decoder_to_train():
    generator = build_generator(SIZE, _params(trainable_encoder=False))
    frozen = {id(weight) for weight in generator.get_layer("encoder").weights}
    assert generator.trainable_weights
    assert not frozen & {id(weight) for weight in generator.trainable_weights}


def test_a_gan_on_a_backbone_trains_with_the_usual_loop():
    backbone = {"model": {"generator": {"encoder": "mobilenetv2", "encoder_weights": None}}}
    keras.utils.set_random_seed(0)
    gan = build_gan(parse_params(deep_update(TINY_PARAMS, backbone)))
    # Eagerly: the same train_step, without tracing a graph of the backbone's ~150 layers
    # and their gradients (half a minute on two CPU cores).
    gan.run_eagerly = True
    as_if_trained(gan.generator)
    encoder = gan.generator.get_layer("encoder")
    before = _values(encoder)

    gan.train_on_batch(*map(keras.ops.convert_to_tensor, _batch(size=SIZE)))

    assert not _same(before, _values(encoder))


def test_the_saved_generator_loads_and_colours_the_same(tmp_path):
    generator = build_generator(SIZE, _params())
    path = tmp_path / "generator.keras"
    generator.save(path)

    loaded = keras.models.load_model(path)

    assert loaded.input_shape[1] == SIZE  # what inference reads the image size from
    lightness = _lightness()
    np.testing.assert_array_equal(
        np.asarray(loaded(lightness, training=False)),
        np.asarray(generator(lightness, training=False)),
    )


def test_mixed_bfloat16_keeps_the_colours_in_float32():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        generator = build_generator(SIZE, _params())
        ab = generator(_lightness(), training=True)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert ab.dtype == "float32"
    assert np.all(np.abs(np.asarray(ab)) <= 1)


def test_the_schema_rejects_a_size_the_backbone_cannot_take():
    generator = {"encoder": "resnet50"}
    with pytest.raises(ParamsError, match=r"not divisible by 32, which .*encoder=resnet50"):
        parse_params({"preprocess": {"image_size": 48}, "model": {"generator": generator}})
    # The U-Net at depth 4 takes 48 px; the backbone ignores depth.
    unet = {
        "preprocess": {"image_size": 48},
        "model": {"generator": {"encoder": "unet", "depth": 4}},
    }
    assert parse_params(unet).model.generator.encoder == "unet"


def test_the_schema_rejects_weights_that_are_no_h5_file_and_unknown_encoders():
    with pytest.raises(ParamsError, match="encoder_weights must be 'imagenet', null or"):
        parse_params({"model": {"generator": {"encoder_weights": "weights.npz"}}})
    with pytest.raises(ParamsError, match=r"model\.generator\.encoder"):
        parse_params({"model": {"generator": {"encoder": "vgg16"}}})
