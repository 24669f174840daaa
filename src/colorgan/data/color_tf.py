"""RGB to the network's scaled Lab in TensorFlow ops, for the tf.data input pipeline.

The same formulas and constants as scikit-image's rgb2lab (sRGB, D65, 2-degree observer),
which colorgan.color uses everywhere else; tests hold the two within 1e-3 of each other.
"""

from __future__ import annotations

import tensorflow as tf

from colorgan.color import AB_RANGE, L_HALF_RANGE

# skimage.color.colorconv.xyz_from_rgb, transposed for rgb @ matrix.
_RGB_TO_XYZ = (
    (0.412453, 0.212671, 0.019334),
    (0.357580, 0.715160, 0.119193),
    (0.180423, 0.072169, 0.950227),
)
_D65_WHITE = (0.95047, 1.0, 1.08883)


def rgb_to_scaled_lab(rgb: tf.Tensor) -> tf.Tensor:
    """uint8 (or [0, 1] float) RGB (..., 3) to float32 (L/50 - 1, a/128, b/128), ab clipped."""
    if rgb.dtype == tf.uint8:
        rgb = tf.cast(rgb, tf.float32) / 255.0
    rgb = tf.cast(rgb, tf.float32)
    linear = tf.where(rgb > 0.04045, tf.pow((rgb + 0.055) / 1.055, 2.4), rgb / 12.92)
    xyz = tf.tensordot(linear, tf.constant(_RGB_TO_XYZ), axes=1) / tf.constant(_D65_WHITE)
    f = tf.where(
        xyz > 0.008856, tf.pow(tf.maximum(xyz, 0.008856), 1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0
    )
    fx, fy, fz = tf.unstack(f, axis=-1)
    lightness = (116.0 * fy - 16.0) / L_HALF_RANGE - 1.0
    a = tf.clip_by_value(500.0 * (fx - fy) / AB_RANGE, -1.0, 1.0)
    b = tf.clip_by_value(200.0 * (fy - fz) / AB_RANGE, -1.0, 1.0)
    return tf.stack([lightness, a, b], axis=-1)
