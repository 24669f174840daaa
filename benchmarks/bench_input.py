"""Input pipeline against the training step: is tf.data fast enough to keep training fed?

    python benchmarks/bench_input.py [--photos ../shared/datasets/bsds500/train] [--steps 20]

At 128 px and batch 16 (params.yaml defaults): examples/s of the input pipeline alone
(read TFRecords, decode the crop, resize, flip, Lab), of the compiled train step alone on
cached tensors (float32), and of Keras fit() fed by the real pipeline against fit() fed by
the same batches held in memory. Targets: pipeline >= 5x the step; fit within 5%.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import tensorflow as tf

from colorgan.config import parse_params
from colorgan.data.dataset import count_examples, make_dataset
from colorgan.data.ingest import ingest, iter_source
from colorgan.data.preprocess import preprocess
from colorgan.model.gan import build_gan
from colorgan.training.precision import training_numerics

BATCH = 16
DEFAULT_PHOTOS = Path(__file__).resolve().parents[2] / "shared/datasets/bsds500/train"


def prepare(photos: Path, work: Path) -> Path:
    """Ingest and preprocess at the default parameters; the train split's folder."""
    params = parse_params({})
    result = ingest(iter_source(str(photos)), params.data, work / "images", workers=0)
    report = preprocess(
        result.manifest, work / "images", work / "prepared", params.preprocess, 10**8
    )
    (work / "prepared/stats.json").write_text(report.to_json() + "\n")
    print(
        f"{count_examples(work / 'prepared/train')} train photos, "
        f"{report.bytes_per_train_photo / 1e3:.0f} KB each on disk"
    )
    return work / "prepared/train"


def pipeline_rate(train: Path, batches: int) -> float:
    iterator = iter(make_dataset(train, BATCH, training=True, seed=0).repeat())
    for _ in range(count_examples(train) // BATCH + 2):  # first epoch fills the cache
        next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return BATCH * batches / (time.perf_counter() - started)


def step_rate(gan, batches: list, steps: int) -> float:
    gan.train_on_batch(*batches[0])  # trace
    started = time.perf_counter()
    for step in range(steps):
        gan.train_on_batch(*batches[step % len(batches)])
    return BATCH * steps / (time.perf_counter() - started)


def fit_rate(gan, dataset: tf.data.Dataset, steps: int) -> float:
    gan.fit(dataset, epochs=1, steps_per_epoch=2, shuffle=False, verbose=0)  # trace, fill
    started = time.perf_counter()
    gan.fit(dataset, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
    return BATCH * steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--steps", type=int, default=20, help="train steps per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternating fit measurements")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; 128 px, batch {BATCH}, float32")
    with tempfile.TemporaryDirectory() as tmp:
        train = prepare(args.photos, Path(tmp))
        pipeline = pipeline_rate(train, 60)
        with training_numerics("float32", deterministic=False, image_size=128):
            keras.utils.set_random_seed(0)
            gan = build_gan(parse_params({}))
            real = make_dataset(train, BATCH, training=True, seed=0).repeat()
            batches = list(real.take(8))
            cached = tf.data.Dataset.from_tensor_slices(
                tuple(tf.stack(part) for part in zip(*batches, strict=True))
            )
            cached = cached.unbatch().batch(BATCH).cache().repeat()
            step = step_rate(gan, batches, args.steps)
            fed = {"cached tensors": [], "real pipeline": []}
            for _ in range(args.rounds):  # alternate: the machine's load drifts
                fed["cached tensors"].append(fit_rate(gan, cached, args.steps))
                fed["real pipeline"].append(fit_rate(gan, real, args.steps))
    best = {name: max(rates) for name, rates in fed.items()}
    rows = [
        ("input pipeline alone", pipeline, pipeline / step),
        ("train step alone (train_on_batch, cached)", step, 1.0),
        ("fit() on cached tensors", best["cached tensors"], best["cached tensors"] / step),
        ("fit() on the real pipeline", best["real pipeline"], best["real pipeline"] / step),
    ]
    print(f"\n{'':44s} {'examples/s':>10s} {'x train step':>13s}")
    for name, rate, ratio in rows:
        print(f"{name:44s} {rate:10.1f} {ratio:12.2f}x")
    gap = 1 - best["real pipeline"] / best["cached tensors"]
    print(f"\npipeline / train step: {pipeline / step:.1f}x (target >= 5x)")
    print(f"fit() real pipeline vs cached: {gap:+.1%} slower (target within 5%)")


if __name__ == "__main__":
    main()
