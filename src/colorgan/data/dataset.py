"""The preprocess TFRecord shards to batches of (L, ab), entirely in tf.data.

Training: shards read in parallel (their order reshuffled every epoch), records shuffled,
then for each photo a fresh square crop whose side is a uniform fraction (crop_scale) of
the shorter side, decoded on its own from the JPEG, resized to image_size and flipped
left-right at random; RGB becomes scaled Lab per batch. The randomness is stateless: one
draw per element from Dataset.random(seed), redrawn every epoch, so two runs with the same
seed see the same batches and every epoch sees new crops.
Val and test: the stored centre crops, in shard order, untouched.
"""

from __future__ import annotations

import json
from pathlib import Path

import tensorflow as tf

from colorgan.data import records
from colorgan.data.color_tf import rgb_to_scaled_lab

_FEATURES = {
    records.IMAGE: tf.io.FixedLenFeature([], tf.string),
    records.HEIGHT: tf.io.FixedLenFeature([], tf.int64),
    records.WIDTH: tf.io.FixedLenFeature([], tf.int64),
}
CACHE_BYTES = 1 << 30  # encoded train photos below this stay in memory after the first epoch


def shard_paths(split_dir: Path) -> list[Path]:
    paths = sorted(split_dir.glob(records.SHARD_GLOB))
    if not paths:
        raise FileNotFoundError(f"no shards in {split_dir}; run the preprocess stage first")
    return paths


def prepared_stats(split_dir: Path) -> dict:
    """preprocess's stats.json next to the split folders: counts, image_size, crop_scale."""
    path = split_dir.parent / "stats.json"
    if not path.exists():
        raise FileNotFoundError(f"no {path}; run the preprocess stage first")
    return json.loads(path.read_text())


def count_examples(split_dir: Path) -> int:
    """Photos in the split: one pass over them is one epoch."""
    return prepared_stats(split_dir)["splits"][split_dir.name]["photos"]


def split_lab(lab: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Scaled Lab (..., 3) -> (L (..., 1), ab (..., 2)), the model's input and target."""
    lab = tf.cast(lab, tf.float32)
    return lab[..., :1], lab[..., 1:]


def _to_l_ab(rgb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return split_lab(rgb_to_scaled_lab(rgb))


def crop_window(
    height: tf.Tensor, width: tf.Tensor, draw: tf.Tensor, scale: tuple[float, float]
) -> tf.Tensor:
    """[top, left, side, side] of a square whose side is a uniform fraction of the shorter
    side in ``scale``, anywhere in the photo; a pure function of ``draw``."""
    short = tf.minimum(height, width)
    seeds = [tf.stack([draw, tf.constant(k, tf.int64)]) for k in range(3)]
    fraction = tf.random.stateless_uniform([], seeds[0], scale[0], scale[1])
    side = tf.cast(tf.round(fraction * tf.cast(short, tf.float32)), tf.int32)
    side = tf.clip_by_value(side, 1, short)
    top = tf.random.stateless_uniform([], seeds[1], 0, height - side + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], seeds[2], 0, width - side + 1, dtype=tf.int32)
    return tf.stack([top, left, side, side])


def random_view(
    record: tf.Tensor, draw: tf.Tensor, size: int, scale: tuple[float, float]
) -> tf.Tensor:
    """A random square crop of one stored train photo, size x size float RGB in [0, 1]."""
    parsed = tf.io.parse_single_example(record, _FEATURES)
    height = tf.cast(parsed[records.HEIGHT], tf.int32)
    width = tf.cast(parsed[records.WIDTH], tf.int32)
    window = crop_window(height, width, draw, scale)
    # Only the crop's blocks are decoded: a fraction of the work of the whole photo.
    crop = tf.io.decode_and_crop_jpeg(parsed[records.IMAGE], window, channels=3)
    crop = tf.image.resize(crop, [size, size], antialias=True) / 255.0
    # Left-right flips keep colours right; up-down would put sky under grass.
    flip = tf.random.stateless_uniform([], tf.stack([draw, tf.constant(3, tf.int64)])) < 0.5
    crop = tf.cond(flip, lambda: tf.reverse(crop, axis=[1]), lambda: crop)
    return tf.clip_by_value(crop, 0.0, 1.0)


def fixed_view(record: tf.Tensor, size: int) -> tf.Tensor:
    """A stored val/test square as it is: uint8 RGB."""
    image = tf.io.decode_png(
        tf.io.parse_single_example(record, _FEATURES)[records.IMAGE], channels=3
    )
    return tf.ensure_shape(image, [size, size, 3])


def make_dataset(
    split_dir: Path,
    batch_size: int,
    *,
    training: bool,
    seed: int,
    shuffle_buffer: int = 1024,
    cache_bytes: int = CACHE_BYTES,
) -> tf.data.Dataset:
    """Batches of (L, ab): fresh random crops for training, the fixed squares otherwise."""
    paths = [str(path) for path in shard_paths(split_dir)]
    stats = prepared_stats(split_dir)
    size = stats["image_size"]
    autotune = tf.data.AUTOTUNE
    if not training:
        dataset = tf.data.TFRecordDataset(paths).map(
            lambda record: fixed_view(record, size), num_parallel_calls=autotune
        )
        return _batched(dataset, batch_size)
    scale = tuple(stats["train_crop_scale"])
    files = tf.data.Dataset.from_tensor_slices(paths).shuffle(
        len(paths), seed=seed, reshuffle_each_iteration=True
    )
    dataset = files.interleave(
        tf.data.TFRecordDataset, cycle_length=min(8, len(paths)), num_parallel_calls=autotune
    )
    if stats["splits"][split_dir.name]["bytes"] <= cache_bytes:
        dataset = dataset.cache()  # encoded: several times smaller than decoded photos
    dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    dataset = tf.data.Dataset.zip(dataset, draws).map(
        lambda record, draw: random_view(record, draw, size, scale), num_parallel_calls=autotune
    )
    return _batched(dataset, batch_size)


def _batched(dataset: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """Lab per batch: one vectorised conversion instead of one per photo."""
    autotune = tf.data.AUTOTUNE
    return dataset.batch(batch_size).map(_to_l_ab, num_parallel_calls=autotune).prefetch(autotune)
