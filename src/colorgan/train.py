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
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from colorgan import distribution, lineage, selection, tracking
from colorgan.checkpoints import CheckpointStore
from colorgan.colour_classes import empirical_prior, rebalancing_weights
from colorgan.config import Params, flatten
from colorgan.data import count_examples, make_dataset
from colorgan.errors import ColorganError
from colorgan.gan import DISCRIMINATORS, LOSS_NAMES, ColorGAN
from colorgan.models import (
    build_discriminator,
    build_generator,
    build_pixel_discriminator,
    with_chroma_gain,
)
from colorgan.precision import needs_loss_scaling, training_numerics
from colorgan.pyfunc import log_colorizer
from colorgan.viz import comparison_grid

log = logging.getLogger(__name__)
SAMPLE_ROWS = 6  # validation photos in each epoch's sample grid
MLFLOW_BATCH = 1000  # metrics per log_batch request: MLflow's limit
MAX_VALIDATION_PHOTOS = 256  # scored every epoch: enough to rank epochs, cheap to score
PRIOR_BATCHES = 16  # training batches whose colours set the class rebalancing
# Parameters that do not change what training computes: a checkpoint made under other
# values of these is resumed, not thrown away.
NOT_FINGERPRINTED = {
    "distribution",
    "log_every_steps",
    "checkpoint_every_epochs",
    "checkpoint_every_minutes",
    "chroma_gain",
}


class NonFiniteLoss(ColorganError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class WorkerLost(ColorganError):
    """Another worker of a multi-worker training stopped; restarting them all resumes."""


@dataclass(frozen=True)
class TrainPaths:
    prepared: Path  # data/prepared: {train,val}/shard-*.tfrecord, stats.json
    models: Path  # generator.keras, discriminators/, run.json
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
    """What a checkpoint must share with the current params and data to be resumed from. Not
    where it runs: a training started on one device may go on with more (the batch is global)."""
    relevant = {
        "data": lineage.data_digest(),  # new photos: a new training, not the old one resumed
        "seed": params.seed,
        "preprocess": params.preprocess.model_dump(),
        "model": params.model.model_dump(),
        "train": params.train.model_dump(exclude=NOT_FINGERPRINTED),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def build_gan(params: Params, loss_scaling: bool = False) -> ColorGAN:
    """Both networks and their optimizers; ``loss_scaling`` wraps the optimizers for float16
    (ColorGAN._scaled_for_gradients scales the loss they unscale)."""
    size = params.preprocess.image_size
    d_params = params.model.discriminator
    gan = ColorGAN(
        build_generator(size, params.model.generator),
        build_discriminator(size, d_params),
        adversarial_loss=params.train.adversarial_loss,
        l1_weight=params.train.l1_weight,
        label_smoothing=params.train.label_smoothing,
        seed=params.seed,
        pixel_discriminator=build_pixel_discriminator(size, d_params)
        if d_params.pixel_gan
        else None,
        color_enhance_factor=params.train.color_enhance_factor,
        diff_augment=tuple(params.train.diff_augment),
        class_weight=params.train.class_weight,
    )
    train = params.train
    clip = {"clipnorm": train.grad_clip_norm} if train.grad_clip_norm else {}

    def optimizer(learning_rate: float) -> keras.Optimizer:
        adam = keras.optimizers.Adam(learning_rate, beta_1=train.beta_1, **clip)
        return keras.optimizers.LossScaleOptimizer(adam) if loss_scaling else adam

    gan.compile(
        g_optimizer=optimizer(train.g_learning_rate),
        d_optimizer=optimizer(train.d_learning_rate),
        e_optimizer=optimizer(train.encoder_learning_rate),
    )
    return gan


class MlflowRun:
    """A thin, failure-tolerant handle on one MLflow run (or on none, when tracking is off)."""

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id
        self._warned = False

    def _safely(self, what: str, call: Callable[[Any], Any]) -> Any:
        """``call(mlflow)``; a tracking failure is logged once and never ends the training."""
        if self.run_id is None:
            return None
        import mlflow

        try:
            return call(mlflow)
        except Exception as error:  # tracking must never cost a training its progress
            if not self._warned:
                log.warning(
                    "MLflow %s failed (%s); training goes on, losses stay in the CSV", what, error
                )
                self._warned = True
        return None

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        self._safely("log_metrics", lambda mlflow: mlflow.log_metrics(values, step=step))

    def log_steps(self, rows: list[tuple[int, dict[str, float]]]) -> None:
        """Many steps' metrics in one request (one SQLite transaction, not one per value)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, v, now, step) for step, values in rows for key, v in values.items()]
        for start in range(0, len(metrics), MLFLOW_BATCH):
            batch = metrics[start : start + MLFLOW_BATCH]
            self._safely(
                "log_batch",
                lambda mlflow, batch=batch: mlflow.MlflowClient().log_batch(
                    self.run_id, metrics=batch
                ),
            )

    def last_logged_step(self, key: str) -> int:
        """The highest step of ``key`` in the run: where a resumed training's logging goes on."""
        history = self._safely(
            "get_metric_history",
            lambda mlflow: mlflow.MlflowClient().get_metric_history(self.run_id, key),
        )
        return max((metric.step for metric in history or []), default=0)

    def set_tags(self, tags: dict[str, object]) -> None:
        self._safely("set_tags", lambda mlflow: mlflow.set_tags(tags))

    def log_image(self, image: np.ndarray, key: str, step: int) -> None:
        self._safely("log_image", lambda mlflow: mlflow.log_image(image, key=key, step=step))

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._safely("log_artifact", lambda mlflow: mlflow.log_artifact(str(path), artifact_path))


@dataclass
class CheckpointSchedule:
    """Checkpoint every ``every_epochs`` epochs, at the last epoch, and at the first epoch end
    ``every_minutes`` after the previous checkpoint (0 = no time rule)."""

    every_epochs: int
    every_minutes: float
    last_epoch: int
    previous: float = field(default_factory=time.monotonic)

    def due(self, epoch: int) -> bool:
        minutes = (time.monotonic() - self.previous) / 60
        return (
            epoch % self.every_epochs == 0
            or epoch == self.last_epoch
            or (self.every_minutes > 0 and minutes >= self.every_minutes)
        )

    def done(self) -> None:
        self.previous = time.monotonic()


@dataclass
class EpochSelection:
    """Keeps the epoch a validation criterion ranks highest (``train.select_epoch``)."""

    criterion: str
    margin_db: float

    def better(self, scores: dict[str, float], best: dict[str, Any] | None) -> bool:
        if self.criterion == "last" or best is None:
            return True
        key = selection.ranking_key(self.criterion, self.margin_db)
        return key(scores) > key(best["scores"])


class TrainingMonitor(keras.callbacks.Callback):
    """Per step: the non-finite guard and the loss history. Per epoch: validation scores, the
    sample grid, model selection and (on schedule) the checkpoint. MLflow receives the steps
    a checkpoint covers, right after it is written, so a killed and resumed training logs
    each step once: the steps after the last checkpoint are redone, never logged twice."""

    def __init__(
        self,
        run: MlflowRun,
        store: CheckpointStore,
        state: dict[str, Any],
        history: list[dict[str, float]],
        log_every: int,
        validation: selection.ValidationSet,
        noise_schedule: Callable[[int], float],
        schedule: CheckpointSchedule | None = None,
        select: EpochSelection | None = None,
    ) -> None:
        super().__init__()
        self.run, self.store, self.state = run, store, state
        self.history, self.log_every, self.validation = history, log_every, validation
        self.noise_schedule = noise_schedule
        self.schedule = schedule or CheckpointSchedule(1, 0.0, 0)
        self.select = select or EpochSelection("last", 0.0)
        self.logged_step = run.last_logged_step("g_l1")
        self.epoch_scores: dict[int, dict[str, float]] = {}

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

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.state["epoch"] = epoch + 1
        fake_ab = predict_ab(self.model.generator, self.validation.lightness)
        scores = selection.score(self.validation, fake_ab)
        self.state["scores"] = scores
        self.epoch_scores[self.state["step"]] = scores
        if self.select.better(scores, self.state.get("best")):
            self.state["best"] = {"epoch": self.state["epoch"], "scores": scores}
            if self.select.criterion != "last":
                self.store.save_best(self.model)
        grid = comparison_grid(
            self.validation.lightness[:SAMPLE_ROWS],
            fake_ab[:SAMPLE_ROWS],
            self.validation.ab[:SAMPLE_ROWS],
        )
        self.run.log_image(grid, key="samples", step=self.state["epoch"])
        if self.schedule.due(self.state["epoch"]):
            self.store.save(self.model, {**self.state, "history": self.history})
            self.schedule.done()
            self.flush()

    def flush(self) -> None:
        """Send MLflow every step and epoch score not sent yet (all covered by a checkpoint)."""
        rows = [
            (row["step"], {name: row[name] for name in LOSS_NAMES})
            for row in self.history
            if row["step"] > self.logged_step and row["step"] % self.log_every == 0
        ]
        rows += [(step, scores) for step, scores in self.epoch_scores.items()]
        self.run.log_steps(rows)
        self.logged_step = self.state["step"]
        self.epoch_scores.clear()


def predict_ab(generator: keras.Model, lightness: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """The generator's ab for many photos, in inference mode, a batch at a time."""
    return np.concatenate(
        [
            np.asarray(generator(lightness[start : start + batch_size], training=False))
            for start in range(0, len(lightness), batch_size)
        ]
    )


def class_prior(train_data: tf.data.Dataset, centres: np.ndarray) -> np.ndarray:
    """Rebalancing weights from the colours of the first PRIOR_BATCHES training batches."""
    ab = np.concatenate([batch_ab.numpy() for _, batch_ab in train_data.take(PRIOR_BATCHES)])
    return rebalancing_weights(empirical_prior(ab[:, ::2, ::2], centres))  # every 4th pixel


def load_validation(split_dir: Path, batch_size: int, seed: int) -> selection.ValidationSet:
    """The first MAX_VALIDATION_PHOTOS validation examples as arrays (the same on every
    worker: validation is not sharded)."""
    dataset = make_dataset(split_dir, batch_size, training=False, seed=seed)
    lightness, ab = [], []
    for batch_l, batch_ab in dataset:
        lightness.append(batch_l.numpy())
        ab.append(batch_ab.numpy())
        if sum(map(len, lightness)) >= MAX_VALIDATION_PHOTOS:
            break
    return selection.ValidationSet(
        np.concatenate(lightness)[:MAX_VALIDATION_PHOTOS],
        np.concatenate(ab)[:MAX_VALIDATION_PHOTOS],
    )


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
    # What sets this run apart: the overrides of a `dvc exp run -S ...` (against the commit's
    # params.yaml), or, for a run of the committed params, what differs from the defaults.
    base = tracking.committed_params()
    changed = _differences(params, base) if base is not None else {}
    changed = changed or _differences(params, Params())
    commit = tracking.git_commit(root)
    with mlflow.start_run(
        run_id=resume_id,
        experiment_id=None if resume_id else experiment_id,
        run_name=None if resume_id else tracking.run_name(changed),
        description=None if resume_id else tracking.run_description(changed, commit),
        tags=tracking.run_tags(root, params_text),
    ) as active:
        if resume_id is None:
            mlflow.log_params(flatten(params))
            lineage.log_datasets(params.data.source)
        yield MlflowRun(active.info.run_id)


def _differences(params: Params, reference: Params) -> dict[str, object]:
    reference_values = flatten(reference)
    return {
        key: value
        for key, value in flatten(params).items()
        if value != reference_values.get(key) and not key.startswith("tracking.")
    }


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
    # Repeat and count steps, so every epoch has the same length however the shards divide.
    train_data = distribution.shard_by_example(train_data.repeat())
    steps = cfg.steps_per_epoch or math.ceil(
        count_examples(paths.prepared / "train") / cfg.batch_size
    )
    validation = load_validation(paths.prepared / "val", cfg.batch_size, params.seed)

    with strategy.scope():  # variables made here are mirrored on every replica
        gan = build_gan(params, loss_scaling)
        gan.build_optimizers()
    if gan.with_logits is not None:
        gan.set_class_prior(class_prior(train_data, gan.centres))
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
        monitor = TrainingMonitor(
            run,
            store,
            state,
            history,
            cfg.log_every_steps,
            validation,
            partial(instance_noise, cfg.instance_noise, cfg.epochs),
            CheckpointSchedule(
                cfg.checkpoint_every_epochs, cfg.checkpoint_every_minutes, cfg.epochs
            ),
            EpochSelection(cfg.select_epoch, cfg.select_margin_db),
        )
        # Pre-training (G on L1 alone) first, then adversarial; a pretrained encoder frozen
        # first, then learning: one fit() per phase.
        for last_epoch, pretraining, encoder_frozen in cfg.phases():
            if state["epoch"] >= last_epoch:
                continue
            gan.set_phase(pretraining, encoder_frozen)
            gan.fit(
                train_data,
                epochs=last_epoch,
                initial_epoch=state["epoch"],
                steps_per_epoch=steps,
                shuffle=False,  # make_dataset shuffles; Keras cannot shuffle a tf.data stream
                callbacks=[monitor],
                verbose=1 if sys.stdout.isatty() else 2,  # a bar on a terminal, lines in logs
            )
        monitor.flush()  # a resumed run that had finished: what the kill kept from MLflow
        generator, kept = _kept_generator(gan, store, state, params, validation)
        metrics = _summarize(history, state, kept)
        if not chief:
            return metrics
        _write_outputs(generator, gan, paths, history, metrics)
        run.log_metrics({f"final_{k}": v for k, v in metrics.items()}, step=state["step"])
        run.set_tags({"selected_epoch": kept["epoch"], "selection": kept["reason"]})
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


def _kept_generator(
    gan: ColorGAN,
    store: CheckpointStore,
    state: dict[str, Any],
    params: Params,
    validation: selection.ValidationSet,
) -> tuple[keras.Model, dict[str, Any]]:
    """The generator to ship: the epoch ``train.select_epoch`` keeps, with the chroma gain
    ``train.chroma_gain`` fits; and what was kept and why, with its validation scores. The
    GAN's discriminators are set to the same epoch."""
    cfg = params.train
    best = state.get("best") or {  # a checkpoint from before model selection existed
        "epoch": state["epoch"],
        "scores": selection.score(validation, predict_ab(gan.generator, validation.lightness)),
    }
    if cfg.select_epoch != "last" and best["epoch"] != state["epoch"]:
        # D of the same epoch too: evaluation judges G with the D it was trained against.
        for name in store.restore_best(gan):
            log.warning("no kept-epoch %s: models/ gets the last epoch's", name)
    kept = {
        "epoch": best["epoch"],
        "reason": selection.reason(cfg.select_epoch, cfg.select_margin_db, best["scores"]),
        "chroma_gain": 1.0,
        "scores": best["scores"],
    }
    if cfg.chroma_gain == "off":
        return gan.generator, kept
    fake_ab = predict_ab(gan.generator, validation.lightness)
    gain = selection.fit_chroma_gain(validation, fake_ab, cfg.select_margin_db)
    generator = with_chroma_gain(gan.generator, gain)
    kept["chroma_gain"] = gain
    kept["scores"] = selection.score(validation, predict_ab(generator, validation.lightness))
    log.info("chroma gain %.2f fitted on %d validation photos", gain, len(fake_ab))
    return generator, kept


def _summarize(
    history: list[dict[str, float]], state: dict[str, Any], kept: dict[str, Any]
) -> dict[str, float]:
    """train.json: the last epoch's mean losses, the kept epoch and its validation scores."""
    last_epoch = [row for row in history if row["epoch"] == state["epoch"]] or history[-1:]
    metrics: dict[str, Any] = (
        {name: round(float(np.mean([row[name] for row in last_epoch])), 5) for name in LOSS_NAMES}
        if last_epoch
        else {}
    )
    metrics.update(
        epochs=state["epoch"],
        steps=state["step"],
        selected_epoch=kept["epoch"],
        chroma_gain=kept["chroma_gain"],
    )
    metrics.update({key: round(value, 5) for key, value in kept["scores"].items()})
    return metrics


def _write_outputs(
    generator: keras.Model,
    gan: ColorGAN,
    paths: TrainPaths,
    history: list[dict[str, float]],
    metrics: dict[str, float],
) -> None:
    paths.models.mkdir(parents=True, exist_ok=True)
    generator.save(paths.models / "generator.keras")
    # One folder for D's heads (one DVC output, whether or not there is a PixelGAN); emptied
    # first, so a previous run's PixelGAN is never evaluated as this one's.
    heads = paths.models / DISCRIMINATORS
    shutil.rmtree(heads, ignore_errors=True)
    heads.mkdir()
    for network in gan.discriminators:
        network.save(heads / f"{network.name}.keras")
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
