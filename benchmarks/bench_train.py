"""Training-step throughput: colorgan's compiled step against the TF pix2pix tutorial's way,
and the whole training loop against its own step.

    python benchmarks/bench_train.py [--sizes 64 128] [--steps 10] [--loop-epochs 6]

For the default model (params.yaml defaults) at each size: images/s of the compiled
train step (ColorGAN.train_on_batch, one tf.function) in float32 and in mixed bfloat16; the
same architecture trained the way the tutorial writes it (eager GradientTape loop); the
achieved FLOP/s against this machine's measured matrix-multiply peak.

The step anatomy (``--anatomy-size``, default 96, bench_quality's size): the compiled step of
each training phase (L1 or adversarial, the pretrained backbone frozen or learning) in
float32 and bfloat16, and from them D's share of the adversarial step and what freezing the
backbone in the adversarial phase (train.freeze_encoder_adversarial) saves; and the frozen
adversarial step with D at half and twice its default width (model.discriminator.base_filters).

The loop (``--loop-epochs``, at params.yaml's image size and batch, float32): the train
stage's own code (`train()`: fit with its callbacks, the real input pipeline on the bundled
sample, MLflow tracking into a SQLite store, validation, checkpoints) run twice in fresh
processes, once with 1 + 1 epochs and once with 1 + 1 + N; the difference is the cost of N
epochs without start-up, tracing and the final model logging. Printed: its images/s against
the bare compiled step, the kernel's share of its CPU time and its page faults per step,
with glibc's malloc tuned as the train stage tunes it (colorgan.training.allocator) and untuned.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf
import yaml
from keras import layers

from colorgan.config import parse_params
from colorgan.model.gan import build_gan
from colorgan.training.precision import training_numerics

BATCH = 16
ROOT = Path(__file__).resolve().parents[1]
# The train stage, with or without the allocator tuning, in a child process of its own.
TRAIN_CHILD = """
import sys
from colorgan.training.allocator import keep_freed_memory
from colorgan.config import load_params
if sys.argv[1] == "tuned":
    keep_freed_memory()
from colorgan.training.train import TrainPaths, train
train(load_params(), TrainPaths.default())
"""


def conv_flops(model: keras.Model) -> float:
    """Multiply-adds x 2 of every convolution in a forward pass of one image."""
    total = 0.0
    for layer in _leaves(model):
        conv = getattr(layer, "layer", layer)  # SpectralNormalization wraps a Conv2D
        if isinstance(conv, layers.Conv2DTranspose):
            _, height, width, channels_in = conv.input.shape
            total += 2 * height * width * np.prod(conv.kernel_size) * channels_in * conv.filters
        elif isinstance(conv, layers.Conv2D):
            _, height, width, channels_out = conv.output.shape
            channels_in = conv.input.shape[-1]
            total += 2 * height * width * np.prod(conv.kernel_size) * channels_in * channels_out
    return total


def _leaves(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaves(layer)
        else:
            yield layer


def step_flops(gan) -> float:
    """Per image: G forward, D forward twice; backward costs about twice the forward."""
    return 3.0 * (conv_flops(gan.generator) + 2 * conv_flops(gan.discriminator))


def matmul_peak(dtype: tf.DType, n: int = 4096, repeats: int = 8) -> float:
    a = tf.random.normal((n, n), dtype=tf.float32)
    a = tf.cast(a, dtype)
    tf.matmul(a, a).numpy()
    started = time.perf_counter()
    for _ in range(repeats):
        result = tf.matmul(a, a)
    result.numpy()
    return 2 * n**3 * repeats / (time.perf_counter() - started)


def tutorial_step_rate(gan, lightness, real_ab, steps: int) -> float:
    """The pix2pix tutorial's loop: eager tapes and plain Keras losses, no tf.function."""
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    generator, discriminator = gan.generator, gan.discriminator
    g_opt = keras.optimizers.Adam(2e-4, beta_1=0.5)
    d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5)

    def step():
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            fake = generator(lightness, training=True)
            disc_real = discriminator([lightness, real_ab], training=True)
            disc_fake = discriminator([lightness, fake], training=True)
            gan_loss = bce(tf.ones_like(disc_fake), disc_fake)
            l1_loss = tf.reduce_mean(tf.abs(real_ab - fake))
            gen_loss = gan_loss + 100 * l1_loss
            disc_loss = bce(tf.ones_like(disc_real), disc_real) + bce(
                tf.zeros_like(disc_fake), disc_fake
            )
        g_grads = gen_tape.gradient(gen_loss, generator.trainable_variables)
        d_grads = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        g_opt.apply_gradients(zip(g_grads, generator.trainable_variables, strict=True))
        d_opt.apply_gradients(zip(d_grads, discriminator.trainable_variables, strict=True))

    step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return BATCH * steps / (time.perf_counter() - started)


def compiled_step_rate(gan, lightness, real_ab, steps: int) -> float:
    gan.train_on_batch(lightness, real_ab)  # trace and warm up
    started = time.perf_counter()
    for _ in range(steps):
        gan.train_on_batch(lightness, real_ab)
    return BATCH * steps / (time.perf_counter() - started)


# The training phases, as (name, L1 pre-training?, encoder frozen?): what ColorGAN.set_phase
# switches between, cheapest first. "D's share" is the adversarial step less the L1 step.
PHASES = (
    ("L1, encoder frozen", True, True),
    ("L1, encoder learning", True, False),
    ("adversarial, encoder frozen", False, True),
    ("adversarial, encoder learning", False, False),
)


def step_anatomy(size: int, steps: int) -> None:
    """Where the adversarial step's time goes at ``size`` (the recipe's 96 px): each phase's
    compiled step in float32 and bfloat16, so D's share (adversarial less L1) and the
    backbone's share (learning less frozen) read off the table."""
    params = parse_params({"preprocess": {"image_size": size}, "tracking": {"enabled": False}})
    rng = np.random.default_rng(0)
    lightness = tf.constant(rng.uniform(-1, 1, (BATCH, size, size, 1)), tf.float32)
    real_ab = tf.constant(rng.uniform(-0.3, 0.3, (BATCH, size, size, 2)), tf.float32)
    print(f"\nstep anatomy at {size} px, batch {BATCH} (Lite0 encoder, PatchGAN, DiffAugment)")
    print(f"  {'phase':32s} {'float32':>14s} {'bfloat16':>14s}")
    rates: dict[str, dict[str, float]] = {}
    for name, pretraining, frozen in PHASES:
        for policy in ("float32", "mixed_bfloat16"):
            with training_numerics(policy, deterministic=False, image_size=size):
                keras.utils.set_random_seed(0)
                gan = build_gan(params)
                gan.set_phase(pretraining, frozen)
                rates.setdefault(name, {})[policy] = compiled_step_rate(
                    gan, lightness, real_ab, steps
                )
        print(
            f"  {name:32s} {rates[name]['float32']:8.1f} img/s "
            f"{rates[name]['mixed_bfloat16']:8.1f} img/s"
        )
    ms = {name: 1000 * BATCH / r["float32"] for name, r in rates.items()}
    learning, frozen = ms["adversarial, encoder learning"], ms["adversarial, encoder frozen"]
    d_learning = 1 - ms["L1, encoder learning"] / learning
    d_frozen = 1 - ms["L1, encoder frozen"] / frozen
    print(
        f"  float32: D's share of the adversarial step {d_learning:.0%} (encoder learning), "
        f"{d_frozen:.0%} (frozen); "
        f"freezing the backbone in the adversarial phase: {learning / frozen:.2f}x images/s"
    )
    # D's width: its last 4x4 convolution (base_filters * 2**depth out, at 1/8 of the side)
    # holds most of its FLOPs, which grow with the square of base_filters.
    base = params.model.discriminator.base_filters
    for filters in (base // 2, base * 2):
        raw = params.model_dump()
        raw["model"]["discriminator"]["base_filters"] = filters
        wider = parse_params(raw)
        with training_numerics("float32", deterministic=False, image_size=size):
            keras.utils.set_random_seed(0)
            gan = build_gan(wider)
            gan.set_phase(False, True)
            rate = compiled_step_rate(gan, lightness, real_ab, steps)
        print(
            f"  adversarial, encoder frozen, D base_filters {filters:3d} (default {base}): "
            f"{rate:6.1f} img/s, {frozen / (1000 * BATCH / rate):.2f}x the default's images/s"
        )


def _stage_env(project: Path) -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src")])
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def prepare_sample(project: Path, epochs: int) -> dict:
    """A scratch project with params.yaml's defaults (float32, 1 pre-training epoch) and the
    bundled sample ingested and preprocessed by the stages themselves."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"].update(precision="float32", pretrain_epochs=1, epochs=epochs)
    params["tracking"]["uri"] = f"sqlite:///{project}/mlflow.db"
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    for stage in ("sample", "ingest", "preprocess"):
        subprocess.run(
            [sys.executable, "-m", f"stages.{stage}"],
            cwd=project,
            env=_stage_env(project),
            check=True,
            capture_output=True,
        )
    return params


def timed_training(project: Path, params: dict, epochs: int, tuned: bool) -> dict[str, float]:
    """Wall time and CPU use of one fresh training process of ``epochs`` epochs."""
    params["train"]["epochs"] = epochs
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    for output in ("models", "metrics", "plots"):
        subprocess.run(["rm", "-rf", str(project / output)], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", TRAIN_CHILD, "tuned" if tuned else "untuned"],
        cwd=project,
        env=_stage_env(project),
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # fit()'s own line per epoch: "20/20 - 7s - 350ms/step - ...": the steps alone.
    per_step = [int(ms) for ms in re.findall(r"- (\d+)ms/step", child.stdout)]
    return {
        "wall": wall,
        "user": after.ru_utime - before.ru_utime,
        "sys": after.ru_stime - before.ru_stime,
        "faults": after.ru_minflt - before.ru_minflt,
        "last_step_ms": float(np.mean(per_step[-4:])) if per_step else float("nan"),
    }


def loop_benchmark(extra_epochs: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch)
        params = prepare_sample(project, 2)
        size, batch = params["preprocess"]["image_size"], params["train"]["batch_size"]
        steps = params["train"]["steps_per_epoch"]
        rng = np.random.default_rng(0)
        with training_numerics("float32", deterministic=False, image_size=size):
            gan = build_gan(parse_params(params | {"tracking": {"enabled": False}}))
            lightness = tf.constant(rng.uniform(-1, 1, (batch, size, size, 1)), tf.float32)
            real_ab = tf.constant(rng.uniform(-0.3, 0.3, (batch, size, size, 2)), tf.float32)
            gan.set_phase(pretraining=False)
            bare = compiled_step_rate(gan, lightness, real_ab, 10) * batch / BATCH
        print(
            f"\ntraining loop at {size} px, batch {batch}, {steps} steps per epoch, float32; "
            f"bare compiled adversarial step {bare:.1f} img/s"
        )
        for tuned in (True, False):
            short = timed_training(project, params, 2, tuned)
            long = timed_training(project, params, 2 + extra_epochs, tuned)
            delta = {key: long[key] - short[key] for key in long}
            images = extra_epochs * steps * batch
            rate = images / delta["wall"]  # steps and everything between them
            in_fit = batch * 1000 / long["last_step_ms"]  # the steps alone, as fit() times them
            overhead = 1 - rate / in_fit  # noise can make it slightly negative
            kernel = delta["sys"] / (delta["sys"] + delta["user"])
            print(
                f"  loop, malloc {'tuned  ' if tuned else 'untuned'} {rate:7.1f} img/s over "
                f"{extra_epochs} epochs ({rate / bare:.0%} of the bare step); steps alone "
                f"{in_fit:.1f} img/s ({in_fit / bare:.0%}); between-step work "
                f"{overhead:.0%} of an epoch; kernel {kernel:.0%} of CPU time; "
                f"{delta['faults'] / (extra_epochs * steps):,.0f} page faults per step"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--loop-epochs", type=int, default=6, help="0: skip the loop")
    parser.add_argument("--loop-only", action="store_true")
    parser.add_argument(
        "--anatomy-size", type=int, default=96, help="step anatomy at this size; 0: skip"
    )
    args = parser.parse_args()
    if args.loop_epochs:
        loop_benchmark(args.loop_epochs)
    if args.loop_only:
        return
    if args.anatomy_size:
        step_anatomy(args.anatomy_size, args.steps)
    peaks = {"float32": matmul_peak(tf.float32), "mixed_bfloat16": matmul_peak(tf.bfloat16)}
    print(
        f"matmul peak: float32 {peaks['float32'] / 1e9:.0f} GFLOP/s, "
        f"bfloat16 {peaks['mixed_bfloat16'] / 1e9:.0f} GFLOP/s ({os.cpu_count()} cores)"
    )
    rng = np.random.default_rng(0)
    for size in args.sizes:
        params = parse_params({"preprocess": {"image_size": size}})
        lightness = tf.constant(rng.uniform(-1, 1, (BATCH, size, size, 1)), tf.float32)
        real_ab = tf.constant(rng.uniform(-0.3, 0.3, (BATCH, size, size, 2)), tf.float32)
        rates = {}
        for policy in ("float32", "mixed_bfloat16"):
            with training_numerics(policy, deterministic=False, image_size=size):
                keras.utils.set_random_seed(0)
                gan = build_gan(params)
                rates[policy] = compiled_step_rate(gan, lightness, real_ab, args.steps)
                flops = step_flops(gan)
        with training_numerics("float32", deterministic=False, image_size=size):
            reference = tutorial_step_rate(build_gan(params), lightness, real_ab, args.steps)
        print(f"\n{size} px, batch {BATCH}, {flops / 1e9:.2f} GFLOP per image per step")
        print(f"  tutorial eager loop (float32)   {reference:7.1f} img/s")
        for policy, rate in rates.items():
            achieved = rate * flops
            print(
                f"  compiled step ({policy:14s}) {rate:7.1f} img/s  "
                f"{rate / reference:4.2f}x tutorial  {achieved / 1e9:6.0f} GFLOP/s = "
                f"{achieved / peaks[policy]:.0%} of matmul peak"
            )


if __name__ == "__main__":
    main()
