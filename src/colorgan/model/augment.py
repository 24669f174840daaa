"""DiffAugment (Zhao et al. 2020) for the discriminator's inputs: differentiable translation
and cutout, applied the same way to real and generated pairs, so that a D trained on a few
hundred photos cannot memorise them. Never colour changes: colour is what D must judge.
"""

from __future__ import annotations

import tensorflow as tf

TRANSLATION = 0.125  # shift by up to 1/8 of the side (DiffAugment's default)
CUTOUT = 0.5  # a square of half the side set to zero


def translate(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Shift each image by its own random offset, filling with zeros (gray in scaled Lab)."""
    batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    pad_h = tf.cast(tf.cast(height, tf.float32) * TRANSLATION, tf.int32)
    pad_w = tf.cast(tf.cast(width, tf.float32) * TRANSLATION, tf.int32)
    shift_h = tf.random.stateless_uniform([batch], seed, -pad_h, pad_h + 1, dtype=tf.int32)
    shift_w = tf.random.stateless_uniform([batch], seed + 1, -pad_w, pad_w + 1, dtype=tf.int32)
    rows = tf.range(height)[None, :] - shift_h[:, None]  # (b, h): source row of each row
    cols = tf.range(width)[None, :] - shift_w[:, None]
    valid = (
        tf.cast((rows >= 0) & (rows < height), images.dtype)[:, :, None, None]
        * tf.cast((cols >= 0) & (cols < width), images.dtype)[:, None, :, None]
    )
    shifted = tf.gather(images, tf.clip_by_value(rows, 0, height - 1), axis=1, batch_dims=1)
    shifted = tf.gather(shifted, tf.clip_by_value(cols, 0, width - 1), axis=2, batch_dims=1)
    return shifted * valid


def cutout(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Zero a random square of half the side in each image."""
    batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    half_h = tf.cast(tf.cast(height, tf.float32) * CUTOUT / 2, tf.int32)
    half_w = tf.cast(tf.cast(width, tf.float32) * CUTOUT / 2, tf.int32)
    centre_h = tf.random.stateless_uniform([batch], seed, 0, height, dtype=tf.int32)
    centre_w = tf.random.stateless_uniform([batch], seed + 1, 0, width, dtype=tf.int32)
    inside_h = tf.abs(tf.range(height)[None, :] - centre_h[:, None]) < half_h
    inside_w = tf.abs(tf.range(width)[None, :] - centre_w[:, None]) < half_w
    hole = inside_h[:, :, None] & inside_w[:, None, :]  # (b, h, w)
    return images * tf.cast(~hole, images.dtype)[..., None]


AUGMENTATIONS = {"translation": translate, "cutout": cutout}


def diff_augment(
    lightness: tf.Tensor, ab: tf.Tensor, policy: tuple[str, ...], seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Augment L and ab together (one geometry per pair), each op with its own seed."""
    if not policy:
        return lightness, ab
    pair = tf.concat([lightness, tf.cast(ab, lightness.dtype)], axis=-1)
    for index, name in enumerate(policy):
        pair = AUGMENTATIONS[name](pair, seed + 2 * index)
    return pair[..., :1], tf.cast(pair[..., 1:], ab.dtype)
