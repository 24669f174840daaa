"""Train: build both networks, stream the shards, fit, checkpoint every epoch, track in MLflow.

A run killed at any point resumes from its last complete epoch when started again with the
same parameters; with other parameters it starts over (the old checkpoints no longer fit).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from colorgan import distribution, tracking
from colorgan.checkpoints import CheckpointStore
from colorgan.color import join_l_ab, scaled_lab_to_rgb
from colorgan.config import Params, flatten
from colorgan.data import count_examples, make_dataset
from colorgan.errors import ColorganError
from colorgan.gan import LOSS_NAMES, ColorGAN
from colorgan.metrics import psnr
from colorgan.models import build_discriminator, build_generator
from colorgan.precision import needs_loss_scaling, training_numerics
from colorgan.pyfunc import log_colorizer
from colorgan.viz import comparison_grid

log = logging.getLogger(__name__)
SAMPLE_ROWS = 6  # validation photos in each epoch's sample grid


class NonFiniteLoss(ColorganError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class WorkerLost(ColorganError):
    """Another worker of a multi-worker training stopped; restarting them all resumes."""


@dataclass(frozen=True)
class TrainPaths:
    prepared: Path  # data/prepared: {train,val}/shard-*.tfrecord, stats.json
    models: Path  # generator.keras, discriminator.keras, run.json
    checkpoints: Path
    metrics: Path  # metrics/train.json
    losses: Path  # plots/train_losses.csv

    @classmethod
    def default(cls, root: Path = Path()) -> TrainPaths:
        return cls(
            root / "data/prepared",
            root / "models",
            root / "models/checkpoints",
            root / "metrics/train.json",
            root / "plots/train_losses.csv",
        )


def fingerprint(params: Params) -> str:
    """What a checkpoint must share with the current params to be resumed from. Not where it
    runs: a training started on one device may go on with more (the batch is global)."""
    relevant = {
        "seed": params.seed,
        "preprocess": params.preprocess.model_dump(),
        "model": params.model.model_dump(),
        "train": params.train.model_dump(exclude={"distribution"}),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def build_gan(params: Params, loss_scaling: bool = False) -> ColorGAN:
    """Both networks and their optimizers; ``loss_scaling`` wraps the optimizers for float16
    (ColorGAN._scaled_for_gradients scales the loss they unscale)."""
    size = params.preprocess.image_size
    gan = ColorGAN(
        build_generator(size, params.model.generator),
        build_discriminator(size, params.model.discriminator),
        adversarial_loss=params.train.adversarial_loss,
        l1_weight=params.train.l1_weight,
        label_smoothing=params.train.label_smoothing,
        seed=params.seed,
    )
    train = params.train
    clip = {"clipnorm": train.grad_clip_norm} if train.grad_clip_norm else {}

    def optimizer(learning_rate: float) -> keras.Optimizer:
        adam = keras.optimizers.Adam(learning_rate, beta_1=train.beta_1, **clip)
        return keras.optimizers.LossScaleOptimizer(adam) if loss_scaling else adam

    gan.compile(
        g_optimizer=optimizer(train.g_learning_rate),
        d_optimizer=optimizer(train.d_learning_rate),
    )
    return gan


class MlflowRun:
    """A thin, failure-tolerant handle on one MLflow run (or on none, when tracking is off)."""

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id
        self._warned = False

    def _call(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self.run_id is None:
            return
        import mlflow

        try:
            getattr(mlflow, method)(*args, **kwargs)
        except Exception as error:  # tracking must never cost a training its progress
            if not self._warned:
                log.warning(
                    "MLflow %s failed (%s); training goes on, losses stay in the CSV", method, error
                )
                self._warned = True

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        self._call("log_metrics", values, step=step)

    def log_image(self, image: np.ndarray, key: str, step: int) -> None:
        self._call("log_image", image, key=key, step=step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._call("log_artifact", str(path), artifact_path=artifact_path)


class TrainingMonitor(keras.callbacks.Callback):
    """Per-step losses to MLflow and the loss CSV; samples, checkpoint and checks per epoch."""

    def __init__(
        self,
        run: MlflowRun,
        store: CheckpointStore,
        state: dict[str, Any],
        history: list[dict[str, float]],
        log_every: int,
        samples: tuple[np.ndarray, np.ndarray],
        noise_schedule: Callable[[int], float],
    ) -> None:
        super().__init__()
        self.run, self.store, self.state = run, store, state
        self.history, self.log_every, self.samples = history, log_every, samples
        self.noise_schedule = noise_schedule

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.model.noise_std.assign(self.noise_schedule(epoch))

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        values = {name: float(np.mean(logs[name])) for name in LOSS_NAMES}
        if not all(math.isfinite(v) for v in values.values()):
            raise NonFiniteLoss(
                f"non-finite loss at step {self.state['step'] + 1}: {values}. The last good "
                f"checkpoint is kept in {self.store.directory}; lower the learning rates or "
                "raise train.l1_weight"
            )
        self.state["step"] += 1
        self.history.append(
            {"step": self.state["step"], "epoch": self.state["epoch"] + 1, **values}
        )
        if self.state["step"] % self.log_every == 0:
            self.run.log_metrics(values, step=self.state["step"])

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.state["epoch"] = epoch + 1
        if logs and "val_g_l1" in logs:
            self.state["val_g_l1"] = float(np.mean(logs["val_g_l1"]))
            self.run.log_metrics({"val_g_l1": self.state["val_g_l1"]}, step=self.state["step"])
        lightness, real_ab = self.samples
        fake_ab = self.model.generator(lightness, training=False).numpy()
        truth = scaled_lab_to_rgb(join_l_ab(lightness, real_ab))
        output = scaled_lab_to_rgb(join_l_ab(lightness, fake_ab))
        self.state["val_psnr"] = float(
            np.mean([psnr(t, o) for t, o in zip(truth, output, strict=True)])
        )
        self.run.log_metrics({"val_psnr": self.state["val_psnr"]}, step=self.state["step"])
        grid = comparison_grid(
            lightness[:SAMPLE_ROWS], fake_ab[:SAMPLE_ROWS], real_ab[:SAMPLE_ROWS]
        )
        self.run.log_image(grid, key="samples", step=self.state["epoch"])
        self.store.save(self.model, {**self.state, "history": self.history})


@contextmanager
def mlflow_run(
    params: Params, resume_id: str | None, root: Path, enabled: bool
) -> Iterator[MlflowRun]:
    """Start (or resume) the training's MLflow run; end it when training ends, however it ends."""
    if not enabled:
        yield MlflowRun(None)
        return
    import mlflow

    experiment_id = tracking.set_up(params.tracking)
    if resume_id is not None and not _run_exists(resume_id):
        log.warning(
            "MLflow run %s of the checkpoint is gone from the store; starting a new run", resume_id
        )
        resume_id = None
    params_text = json.dumps(params.model_dump(), sort_keys=True)
    with mlflow.start_run(
        run_id=resume_id,
        experiment_id=None if resume_id else experiment_id,
        tags=tracking.run_tags(root, params_text),
    ) as active:
        if resume_id is None:
            mlflow.log_params(flatten(params))
        yield MlflowRun(active.info.run_id)


def instance_noise(start: float, epochs: int, epoch: int) -> float:
    """Noise std for an epoch: ``start`` at the first, falling linearly to 0 at the last."""
    return start * max(0.0, 1.0 - epoch / max(1, epochs - 1))


def _run_exists(run_id: str) -> bool:
    import mlflow

    try:
        mlflow.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        return False
    return True


def _resume_point(store: CheckpointStore, params: Params) -> tuple[Path, dict[str, Any]] | None:
    latest = store.latest()
    if latest is None:
        return None
    path, state = latest
    if state.get("fingerprint") != fingerprint(params):
        log.info("checkpoints in %s were made with other params; starting over", store.directory)
        store.clear()
        return None
    return path, state


def train(params: Params, paths: TrainPaths) -> dict[str, float]:
    """Fit the GAN; write the models, run.json, metrics and the loss CSV. Returns the metrics.

    Under a multi-worker strategy only the chief writes; the other workers return the same
    metrics and leave every file alone.
    """
    # First: a multi-worker strategy must set up the runtime before any other TensorFlow op.
    strategy = distribution.make_strategy(params.train.distribution)
    with training_numerics(
        params.train.precision, params.train.deterministic, params.preprocess.image_size
    ) as policy:
        log.info(
            "dtype policy %s, deterministic ops %s, %s",
            policy,
            params.train.deterministic,
            distribution.describe(strategy),
        )
        try:
            return _train(params, paths, strategy, needs_loss_scaling(policy))
        except tf.errors.UnavailableError as error:  # raised by collectives with a peer gone
            raise WorkerLost(
                f"a worker of the cluster stopped ({error.message.strip().splitlines()[0]}). "
                "Start every worker again with its TF_CONFIG: training resumes from the "
                "chief's last checkpoint"
            ) from None


def _train(
    params: Params, paths: TrainPaths, strategy: tf.distribute.Strategy, loss_scaling: bool
) -> dict[str, float]:
    keras.utils.set_random_seed(params.seed)
    cfg = params.train
    chief = strategy.extended.should_checkpoint  # False on every worker but the chief
    train_data = make_dataset(
        paths.prepared / "train", cfg.batch_size, training=True, seed=params.seed
    )
    val_data = make_dataset(
        paths.prepared / "val", cfg.batch_size, training=False, seed=params.seed
    )
    # Repeat and count steps, so every epoch has the same length however the shards divide.
    train_data = distribution.shard_by_example(train_data.repeat())
    val_data = distribution.shard_by_example(val_data)
    steps = cfg.steps_per_epoch or math.ceil(
        count_examples(paths.prepared / "train") / cfg.batch_size
    )
    lightness, real_ab = next(iter(val_data.take(1)))
    samples = (lightness.numpy(), real_ab.numpy())  # val PSNR on these; the grid on a few

    with strategy.scope():  # variables made here are mirrored on every replica
        gan = build_gan(params, loss_scaling)
        gan.build_optimizers()
    store = CheckpointStore(paths.checkpoints, writable=chief)
    resume = _resume_point(store, params)
    state: dict[str, Any] = {
        "epoch": 0,
        "step": 0,
        "fingerprint": fingerprint(params),
        "run_id": None,
    }
    history: list[dict[str, float]] = []
    if resume is not None:
        checkpoint, saved = resume
        CheckpointStore.restore(gan, checkpoint)
        history = saved.pop("history", [])
        state.update(saved)
        log.info("resuming from %s (epoch %d, step %d)", checkpoint, state["epoch"], state["step"])

    root = tracking.repo_root()
    tracked = params.tracking.enabled and chief
    with mlflow_run(params, state["run_id"], root, tracked) as run:
        state["run_id"] = run.run_id
        if state["epoch"] < cfg.epochs:
            monitor = TrainingMonitor(
                run,
                store,
                state,
                history,
                cfg.log_every_steps,
                samples,
                partial(instance_noise, cfg.instance_noise, cfg.epochs),
            )
            # Pre-training (G on L1 alone) first, then adversarial: one fit() per phase.
            for pretraining, last_epoch in ((True, cfg.pretrain_epochs), (False, cfg.epochs)):
                if state["epoch"] >= last_epoch:
                    continue
                gan.set_phase(pretraining)
                gan.fit(
                    train_data,
                    epochs=last_epoch,
                    initial_epoch=state["epoch"],
                    steps_per_epoch=steps,
                    validation_data=val_data,
                    shuffle=False,  # make_dataset shuffles; Keras cannot shuffle a tf.data stream
                    callbacks=[monitor],
                    verbose=1 if sys.stdout.isatty() else 2,  # a bar on a terminal, lines in logs
                )
        metrics = _summarize(history, state)
        if not chief:
            return metrics
        _write_outputs(gan, paths, history, metrics)
        run.log_metrics({f"final_{k}": v for k, v in metrics.items()}, step=state["step"])
        for path in (paths.metrics, paths.losses):
            run.log_artifact(path, "reports")
        if run.run_id is not None:
            log_colorizer(paths.models / "generator.keras")
            info = tracking.RunInfo(
                run.run_id, _experiment_of(run.run_id), tracking.tracking_uri(params.tracking)
            )
            info.save(paths.models / "run.json")
        else:
            (paths.models / "run.json").write_text(json.dumps({"run_id": None}) + "\n")
    return metrics


def _summarize(history: list[dict[str, float]], state: dict[str, Any]) -> dict[str, float]:
    last_epoch = [row for row in history if row["epoch"] == state["epoch"]] or history[-1:]
    metrics = (
        {name: round(float(np.mean([row[name] for row in last_epoch])), 5) for name in LOSS_NAMES}
        if last_epoch
        else {}
    )
    metrics.update(epochs=state["epoch"], steps=state["step"])
    for key in ("val_g_l1", "val_psnr"):
        if key in state:
            metrics[key] = round(state[key], 5)
    return metrics


def _write_outputs(
    gan: ColorGAN, paths: TrainPaths, history: list[dict[str, float]], metrics: dict[str, float]
) -> None:
    paths.models.mkdir(parents=True, exist_ok=True)
    gan.generator.save(paths.models / "generator.keras")
    gan.discriminator.save(paths.models / "discriminator.keras")
    paths.metrics.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(metrics, indent=2) + "\n")
    paths.losses.parent.mkdir(parents=True, exist_ok=True)
    with paths.losses.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["step", "epoch", *LOSS_NAMES])
        writer.writeheader()
        writer.writerows(history)


def _experiment_of(run_id: str) -> str:
    import mlflow

    return mlflow.get_run(run_id).info.experiment_id
