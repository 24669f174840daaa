"""Numeric precision and determinism of training: process-wide TensorFlow settings, so they
are applied in one place, around one training, and undone after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keras
import tensorflow as tf

# CPU flags of bfloat16 matrix units (AVX512-BF16, AMX): there bf16 compute is faster.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    try:
        flags = cpuinfo.read_text()
    except OSError:
        return False
    return any(flag in flags for flag in BF16_CPU_FLAGS)


# Below this image size the casts cost more than bf16 saves (measured on an AVX512-BF16 CPU:
# float32 1.1x faster at 64 px, bfloat16 2.4x faster at 128 px; benchmarks/bench_train.py).
BF16_MIN_IMAGE_SIZE = 128


def has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def resolve_policy(precision: str, image_size: int) -> str:
    if precision != "auto":
        return precision
    if has_gpu():
        # float16 runs on the tensor cores of every GPU generation since Volta; the
        # training loop scales its losses so that small gradients do not underflow.
        return "mixed_float16"
    if cpu_has_bf16() and image_size >= BF16_MIN_IMAGE_SIZE:
        return "mixed_bfloat16"
    return "float32"


@contextmanager
def training_numerics(precision: str, deterministic: bool, image_size: int) -> Iterator[str]:
    """Set Keras' dtype policy (models keep float32 outputs) and op determinism."""
    previous = keras.mixed_precision.global_policy()
    policy = resolve_policy(precision, image_size)
    keras.mixed_precision.set_global_policy(policy)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    try:
        yield policy
    finally:
        keras.mixed_precision.set_global_policy(previous)


def needs_loss_scaling(policy: str) -> bool:
    """float16 has 5 exponent bits: gradients below 6e-8 vanish unless the loss is scaled up.
    bfloat16 keeps float32's exponent range and needs no scaling."""
    return policy == "mixed_float16"
