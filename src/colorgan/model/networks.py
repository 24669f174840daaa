"""The two networks, pix2pix style: a U-Net generator (L -> ab) and a conditional PatchGAN.

The generator's encoder is its own or a pretrained backbone (encoders.py); the decoder is this one.

Shape comments assume image_size=64 and the default depths; every size follows from the params.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from colorgan.config import DiscriminatorParams, GeneratorParams
from colorgan.model.colour_classes import bin_centres
from colorgan.model.encoders import backbone_features


def init() -> keras.initializers.Initializer:
    """pix2pix / DCGAN weights. A fresh initializer per layer: one made at import time would
    take its seed before keras.utils.set_random_seed runs, and runs would not repeat."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


# Batch norm's running statistics move a tenth of the way to each batch's (PyTorch's default,
# which pix2pix trains with; Keras' 0.99 moves a hundredth). In the adversarial phase G's
# weights drift within a few steps, and statistics averaged over the last hundred steps made
# the saved generator colour unlike the G that trained (validation PSNR 0.15 dB lower on
# average over the adversarial epochs of the default run, 0.3 dB on the worst).
BATCH_NORM_MOMENTUM = 0.9


def normalization(kind: str) -> layers.Layer | None:
    if kind == "batch":
        return layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)
    if kind == "instance":
        return layers.GroupNormalization(groups=-1)  # one group per channel = instance norm
    return None


def conv(filters: int, strides: int, spectral_norm: bool = False, **kwargs) -> layers.Layer:
    """4x4 convolution; spectral normalization bounds its Lipschitz constant (a D stabilizer)."""
    layer = layers.Conv2D(
        filters, 4, strides=strides, padding="same", kernel_initializer=init(), **kwargs
    )
    return layers.SpectralNormalization(layer) if spectral_norm else layer


def downsample(filters: int, norm: str, spectral_norm: bool = False) -> keras.Sequential:
    """Conv (stride 2) -> norm -> LeakyReLU: halves the side."""
    block = keras.Sequential()
    block.add(conv(filters, 2, spectral_norm, use_bias=norm == "none"))
    if (layer := normalization(norm)) is not None:
        block.add(layer)
    block.add(layers.LeakyReLU(0.2))
    return block


def upsample(filters: int, norm: str, dropout: float) -> keras.Sequential:
    """Transposed conv (stride 2) -> norm -> dropout -> ReLU: doubles the side."""
    block = keras.Sequential()
    block.add(
        layers.Conv2DTranspose(
            filters,
            4,
            strides=2,
            padding="same",
            kernel_initializer=init(),
            use_bias=norm == "none",
        )
    )
    if (layer := normalization(norm)) is not None:
        block.add(layer)
    if dropout:
        block.add(layers.Dropout(dropout))
    block.add(layers.ReLU())
    return block


def unet_encoder(lightness: keras.KerasTensor, params: GeneratorParams) -> list:
    """The U-Net's own strided convolutions: one feature map per level, shallowest first."""
    x = lightness
    skips = []
    for level, width in enumerate(widths(params)):  # (b, 32, 32, 32) ... (b, 4, 4, 256)
        x = downsample(width, "none" if level == 0 else params.norm)(x)
        skips.append(x)
    return skips


def widths(params: GeneratorParams) -> list[int]:
    """Filters per level, doubling from base_filters up to max_filters."""
    return [min(params.base_filters * 2**i, params.max_filters) for i in range(params.levels)]


def build_generator(image_size: int, params: GeneratorParams) -> keras.Model:
    """U-Net: L (size, size, 1) in [-1, 1] -> ab (size, size, 2) in [-1, 1].

    The encoder is the U-Net's own, or an ImageNet backbone (colorgan.model.encoders); either gives
    one feature map per stride-2 level, and the same decoder climbs back through them.
    """
    lightness = keras.Input((image_size, image_size, 1), name="L")
    if params.encoder == "unet":
        skips = unet_encoder(lightness, params)
    else:
        skips = backbone_features(lightness, params)
    x = skips[-1]
    for level, (width, skip) in enumerate(zip(widths(params)[-2::-1], skips[-2::-1], strict=True)):
        # Dropout on the innermost up blocks is pix2pix's noise source (it keeps it at test time).
        x = upsample(width, params.norm, params.dropout if level < 3 else 0.0)(x)
        x = layers.Concatenate()([x, skip])  # (b, 8, 8, 256) ... (b, 32, 32, 64)
    if params.color_classes:
        ab = annealed_mean_head(x, params.class_temperature)  # (b, 64, 64, 2)
    else:
        # Zero weights: training starts from the gray baseline (ab = 0), not from random
        # colours. With DCGAN's init the first epochs' photos sat at twice the truth's
        # colourfulness, 8 dB below gray, and L1 spent hundreds of steps undoing that.
        ab = layers.Conv2DTranspose(
            2,
            4,
            strides=2,
            padding="same",
            kernel_initializer="zeros",
            activation="tanh",
            dtype="float32",
            name="ab",
        )(x)  # (b, 64, 64, 2)
    return keras.Model(lightness, ab, name="generator")


def annealed_mean_head(features: keras.KerasTensor, temperature: float) -> keras.KerasTensor:
    """Logits over the colour cells, then the annealed mean: softmax(logits / T) @ centres.

    Stock layers only (the centres are the frozen kernel of a bias-free Dense), so the saved
    generator loads anywhere and still maps L to ab in [-1, 1]. The logits layer is named
    ``ab_logits``: training reads it for the class loss.
    """
    centres = bin_centres()
    logits = layers.Conv2DTranspose(
        len(centres),
        4,
        strides=2,
        padding="same",
        kernel_initializer=init(),
        dtype="float32",
        name="ab_logits",
    )(features)  # (b, 64, 64, Q)
    sharpened = layers.Rescaling(1.0 / temperature, dtype="float32")(logits)
    probabilities = layers.Softmax(dtype="float32")(sharpened)
    decode = layers.Dense(2, use_bias=False, trainable=False, dtype="float32", name="ab")
    ab = decode(probabilities)  # (b, 64, 64, 2): expected ab under the sharpened distribution
    decode.kernel.assign(centres)
    return ab


def build_discriminator(image_size: int, params: DiscriminatorParams) -> keras.Model:
    """Conditional PatchGAN: (L, ab) -> one logit per patch, (size / 2**depth)^2 of them."""
    norm = "none" if params.spectral_norm else "batch"
    lightness = keras.Input((image_size, image_size, 1), name="L")
    ab = keras.Input((image_size, image_size, 2), name="ab")
    x = layers.Concatenate()([lightness, ab])  # (b, 64, 64, 3)
    for level in range(params.depth):  # (b, 32, 32, 32) ... (b, 8, 8, 128)
        level_norm = "none" if level == 0 else norm
        x = downsample(params.base_filters * 2**level, level_norm, params.spectral_norm)(x)
    x = conv(params.base_filters * 2**params.depth, 1, params.spectral_norm)(x)
    x = layers.LeakyReLU(0.2)(x)  # (b, 8, 8, 256)
    logits = conv(1, 1, dtype="float32", name="patch_logits")(x)  # (b, 8, 8, 1)
    return keras.Model([lightness, ab], logits, name="discriminator")


def build_pixel_discriminator(image_size: int, params: DiscriminatorParams) -> keras.Model:
    """PixelGAN (pix2pix, section 4.4): 1x1 convolutions judge each pixel's (L, ab) alone.

    It sees no shapes, only whether a colour is plausible for a lightness, so it pushes
    against the grayish average that L1 favours without touching spatial detail.
    """
    lightness = keras.Input((image_size, image_size, 1), name="L")
    ab = keras.Input((image_size, image_size, 2), name="ab")
    x = layers.Concatenate()([lightness, ab])  # (b, 64, 64, 3)
    x = layers.Conv2D(params.base_filters * 2, 1, kernel_initializer=init())(x)
    x = layers.LeakyReLU(0.2)(x)  # (b, 64, 64, 64)
    x = layers.Conv2D(params.base_filters * 4, 1, kernel_initializer=init(), use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x)
    x = layers.LeakyReLU(0.2)(x)  # (b, 64, 64, 128)
    logits = layers.Conv2D(1, 1, kernel_initializer=init(), dtype="float32", name="pixel_logits")(
        x
    )  # (b, 64, 64, 1)
    return keras.Model([lightness, ab], logits, name="pixel_discriminator")


def with_chroma_gain(generator: keras.Model, gain: float) -> keras.Model:
    """The generator with its ab multiplied by ``gain`` and clipped to [-1, 1].

    Built from stock layers (clip(x, -1, 1) = ReLU(max 2)(x + 1) - 1), so the saved .keras
    file loads anywhere without custom code, and every user of the model (evaluate, colorize,
    the MLflow model) gets the gain.
    """
    x = layers.Rescaling(gain, offset=1.0, dtype="float32", name="chroma_gain")(generator.output)
    x = layers.ReLU(max_value=2.0, dtype="float32")(x)
    ab = layers.Rescaling(1.0, offset=-1.0, dtype="float32", name="ab_clipped")(x)
    return keras.Model(generator.input, ab, name="generator")


def predict_ab(generator: keras.Model, lightness: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """The generator's ab for many photos, in inference mode, a batch at a time.

    ``predict_on_batch`` runs Keras' compiled predict function, made once per model: twice
    as fast as an eager call, which dispatches op by op (each epoch's validation). A model
    made under a multi-replica strategy would split each batch across the replicas and hand
    back this worker's share: there every worker predicts the whole batch eagerly."""
    replicated = generator.distribute_strategy.num_replicas_in_sync > 1
    outputs = []
    for start in range(0, len(lightness), batch_size):
        batch = lightness[start : start + batch_size]
        if replicated:
            outputs.append(np.asarray(generator(batch, training=False)))
        else:
            outputs.append(generator.predict_on_batch(batch))
    return np.concatenate(outputs)
