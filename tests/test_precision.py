"""Numeric precision: what `auto` picks, and float16's loss scaling taking the right step."""

import keras
import numpy as np
import pytest

from colorgan.config import parse_params
from colorgan.model.gan import build_gan
from colorgan.training import precision
from colorgan.training.checkpoints import CheckpointStore
from tests.conftest import TINY_PARAMS, as_if_trained, deep_update
from tests.test_gan import _batch


def test_auto_precision_follows_the_hardware(tmp_path):
    flags = tmp_path / "cpuinfo"
    flags.write_text("flags : fpu avx2 avx512f avx512_bf16 amx_tile\n")
    assert precision.cpu_has_bf16(flags)
    flags.write_text("flags : fpu avx2\n")
    assert not precision.cpu_has_bf16(flags)


def test_auto_precision_uses_bfloat16_only_where_it_pays(monkeypatch):
    monkeypatch.setattr(precision, "has_gpu", lambda: False)
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert precision.resolve_policy("auto", 128) == "mixed_bfloat16"
    assert precision.resolve_policy("auto", 64) == "float32"
    assert precision.resolve_policy("float32", 256) == "float32"
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    assert precision.resolve_policy("auto", 256) == "float32"


def test_auto_precision_on_a_gpu_is_float16_with_loss_scaling(monkeypatch):
    monkeypatch.setattr(precision, "has_gpu", lambda: True)
    policy = precision.resolve_policy("auto", 64)
    assert policy == "mixed_float16"
    assert precision.needs_loss_scaling(policy)
    assert not precision.needs_loss_scaling("mixed_bfloat16")
    assert not precision.needs_loss_scaling("float32")


def _one_sgd_step(policy: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Generator weights before and after one step; plain SGD, whose step is linear in the
    gradient (Adam's would hide a gradient left 32768 times too large). No dropout: its
    masks are drawn in the compute dtype, so they differ between float16 and float32."""
    params = parse_params(deep_update(TINY_PARAMS, {"model": {"generator": {"dropout": 0.0}}}))
    with precision.training_numerics(policy, deterministic=False, image_size=32):
        keras.utils.set_random_seed(0)
        gan = build_gan(params)
        as_if_trained(gan.generator)

        def sgd():
            plain = keras.optimizers.SGD(0.5)
            if policy != "mixed_float16":
                return plain
            # A scale under float16's overflow: the default 2**15 skips the first steps
            # (inf gradients) and halves itself until they are finite.
            return keras.optimizers.LossScaleOptimizer(plain, initial_scale=2.0**8)

        gan.compile(g_optimizer=sgd(), d_optimizer=sgd())
        before = [w.numpy().astype("float32") for w in gan.generator.trainable_weights]
        gan.train_on_batch(*_batch())
        after = [w.numpy().astype("float32") for w in gan.generator.trainable_weights]
    return before, after


def test_float16_with_loss_scaling_takes_the_float32_step():
    before32, after32 = _one_sgd_step("float32")
    before16, after16 = _one_sgd_step("mixed_float16")
    for start32, end32, start16, end16 in zip(before32, after32, before16, after16, strict=True):
        np.testing.assert_array_equal(start32, start16)  # same start (float32 master weights)
        step32, step16 = end32 - start32, end16 - start16
        assert np.linalg.norm(step32) > 0
        relative = np.linalg.norm(step16 - step32) / np.linalg.norm(step32)
        assert relative < 0.05  # float16's rounding (measured up to 0.025), not the scale


def test_float16_training_builds_loss_scaled_optimizers_that_checkpoint_and_restore(tmp_path):
    params = parse_params(TINY_PARAMS)
    store = CheckpointStore(tmp_path / "checkpoints")
    with precision.training_numerics("mixed_float16", deterministic=False, image_size=32):
        gan = build_gan(params, loss_scaling=True)
        assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
        gan.build_optimizers()
        for _ in range(2):
            losses = gan.train_on_batch(*_batch(), return_dict=True)
        assert all(np.isfinite(value) for value in losses.values())
        gan.g_optimizer.dynamic_scale.assign(1024.0)  # as after overflows halved it
        saved = store.save(gan, {"epoch": 1, "step": 2})
        fresh = build_gan(params, loss_scaling=True)
        CheckpointStore.restore(fresh, saved)
    assert float(fresh.g_optimizer.dynamic_scale) == pytest.approx(1024.0)
    for restored, original in zip(
        fresh.g_optimizer.variables, gan.g_optimizer.variables, strict=True
    ):
        np.testing.assert_array_equal(restored.numpy(), original.numpy())
