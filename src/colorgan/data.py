"""Stream the preprocess shards into tf.data: one shard in memory at a time, never a split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf


def shard_paths(split_dir: Path) -> list[Path]:
    paths = sorted(split_dir.glob("shard-*.npy"))
    if not paths:
        raise FileNotFoundError(f"no shards in {split_dir}; run the preprocess stage first")
    return paths


def count_examples(split_dir: Path) -> int:
    """Reads only the .npy headers."""
    return sum(np.load(path, mmap_mode="r").shape[0] for path in shard_paths(split_dir))


def _examples(path: bytes):
    shard = np.load(path.decode(), mmap_mode="r")
    for index in range(shard.shape[0]):
        yield np.asarray(shard[index])


def split_lab(lab: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Scaled Lab (..., 3) -> (L (..., 1), ab (..., 2)), the model's input and target."""
    lab = tf.cast(lab, tf.float32)
    return lab[..., :1], lab[..., 1:]


def make_dataset(
    split_dir: Path,
    batch_size: int,
    *,
    training: bool,
    seed: int,
    shuffle_buffer: int = 1024,
) -> tf.data.Dataset:
    """Batches of (L, ab). Training order is shuffled per epoch and flipped at random."""
    paths = [str(path) for path in shard_paths(split_dir)]
    example = np.load(paths[0], mmap_mode="r")
    spec = tf.TensorSpec(example.shape[1:], tf.as_dtype(example.dtype))
    files = tf.data.Dataset.from_tensor_slices(paths)
    if training:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    dataset = files.interleave(
        lambda path: tf.data.Dataset.from_generator(_examples, args=(path,), output_signature=spec),
        cycle_length=min(4, len(paths)),
    )
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        # Left-right flips keep colours right; up-down would put sky under grass.
        dataset = dataset.map(
            lambda lab: tf.image.random_flip_left_right(lab, seed=seed),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.batch(batch_size).map(split_lab).prefetch(tf.data.AUTOTUNE)
