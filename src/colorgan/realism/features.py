"""What the realism measures look at: EfficientNet-Lite0's ImageNet view of photos.

:func:`lite0_features` gives each photo's pooled 1280-channel head (what KID, the Fréchet
distance, density and coverage and the two-sample test compare); :func:`lite0_class_logits`
gives its 1000 ImageNet class logits (what semantic agreement compares). The weights come
from the pinned package that model/lite0.py reads offline; each network is built once per
process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import keras
import numpy as np
import tensorflow as tf

from colorgan.errors import ColorganError

FEATURE_SIZE = 128  # photos are resized to this square before Lite0: cheap on a CPU
CLASSIFICATION_SIZE = 224  # what Lite0 was trained to classify at (ImageNet, 224 x 224)
FEATURE_BATCH = 32

Photos = Sequence[np.ndarray] | np.ndarray


class FeatureError(ColorganError):
    """The feature network cannot be built (its weights are missing)."""


def _pretrained(include_top: bool) -> keras.Model:
    """Lite0 with the package's ImageNet weights, any input size; a missing package becomes
    a FeatureError that says how to install it."""
    from colorgan.model.lite0 import Lite0WeightsError, pretrained_lite0

    try:
        return pretrained_lite0((None, None, 3), include_top=include_top, weights=None)
    except Lite0WeightsError as error:
        raise FeatureError(str(error)) from None


@lru_cache(maxsize=1)
def _lite0_classifier() -> keras.Model:
    """Lite0 with its ImageNet classifier (1000 logits): built once per process."""
    return _pretrained(include_top=True)


@lru_cache(maxsize=1)
def _lite0_encoder() -> keras.Model:
    """Lite0's head features, global-average-pooled: the classifier's own pooling layer, so
    one set of weights is loaded per process whichever measures run."""
    classifier = _lite0_classifier()
    return keras.Model(classifier.input, classifier.get_layer("pool").output, name="lite0_features")


def _as_float_square(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 or [0, 1] float RGB of any size -> (size, size, 3) float32 in [0, 1].

    The whole photo is resized (aspect ratio not kept, as clean-fid does) rather than
    cropped, so every pixel of a full-size photo counts."""
    rgb = np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an RGB photo (height, width, 3), got shape {rgb.shape}")
    rgb = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float32)
    resized = tf.image.resize(rgb, (size, size), method="bilinear", antialias=True)
    return np.clip(resized.numpy(), 0.0, 1.0)


@lru_cache(maxsize=4)
def _compiled(network: Callable[[], keras.Model], size: int) -> Callable[[tf.Tensor], tf.Tensor]:
    """The network as a graph function of any batch of ``size`` squares: traced once per
    network and size. Keras' predict_on_batch traced a second time at the second batch size
    it met (a set's last, smaller batch) before relaxing the shape: about 1.3 s of CPU more
    per network and process."""
    model = network()
    signature = [tf.TensorSpec((None, size, size, 3), tf.float32)]
    return tf.function(lambda batch: model(batch, training=False), input_signature=signature)


def _run_batched(network: Callable[[], keras.Model], images: Photos, size: int) -> np.ndarray:
    """The network's outputs for every photo, FEATURE_BATCH photos at a time (memory stays
    flat however many photos there are)."""
    from colorgan.model.lite0 import imagenet_normalize

    if len(images) == 0:
        raise ValueError("no photos to compute features of")
    compiled = _compiled(network, size)
    outputs = []
    for start in range(0, len(images), FEATURE_BATCH):
        batch = np.stack([_as_float_square(i, size) for i in images[start : start + FEATURE_BATCH]])
        outputs.append(compiled(tf.constant(imagenet_normalize(batch), tf.float32)).numpy())
    return np.concatenate(outputs).astype(np.float64)


def lite0_features(images: Photos, size: int = FEATURE_SIZE) -> np.ndarray:
    """(n, 1280) ImageNet features of RGB photos (uint8, or float in [0, 1]; any sizes)."""
    return _run_batched(_lite0_encoder, images, size)


def lite0_class_logits(images: Photos, size: int = CLASSIFICATION_SIZE) -> np.ndarray:
    """(n, 1000) ImageNet class logits of RGB photos (uint8, or float in [0, 1]; any sizes),
    each photo resized whole to ``size`` (Lite0 classifies at 224)."""
    return _run_batched(_lite0_classifier, images, size)
