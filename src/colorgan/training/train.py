"""Train: build the GAN, stream the shards, fit phase by phase, keep the best epoch, write it.

A run killed at any point resumes from its last complete epoch when started again with the
same parameters; with other parameters it starts over (the old checkpoints no longer fit).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import shutil
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from colorgan.config import Params
from colorgan.data.dataset import count_examples, make_dataset
from colorgan.errors import ColorganError
from colorgan.model.colour_classes import empirical_prior, rebalancing_weights
from colorgan.model.gan import DISCRIMINATORS, LOSS_NAMES, AverageGenerator, ColorGAN, build_gan
from colorgan.serving.pyfunc import log_colorizer
from colorgan.tracking import runs, store
from colorgan.training import distribution
from colorgan.training.checkpoints import CheckpointSchedule, CheckpointStore, fingerprint
from colorgan.training.monitor import TrainingMonitor, instance_noise
from colorgan.training.precision import needs_loss_scaling, training_numerics
from colorgan.training.selection import EpochSelection, ValidationSet, keep_best

log = logging.getLogger(__name__)
PRIOR_BATCHES = 16  # training batches whose colours set the class rebalancing


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


def train(params: Params, paths: TrainPaths) -> dict[str, Any]:
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
) -> dict[str, Any]:
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
    validation = ValidationSet.load(paths.prepared / "val", cfg.batch_size, params.seed)

    with strategy.scope():  # variables made here are mirrored on every replica
        gan = build_gan(params, loss_scaling)
        gan.build_optimizers()
    if gan.with_logits is not None:
        gan.set_class_prior(class_prior(train_data, gan.centres))
    checkpoints = CheckpointStore(paths.checkpoints, cfg.keep_checkpoints, writable=chief)
    state: dict[str, Any] = {
        "epoch": 0,
        "step": 0,
        "fingerprint": fingerprint(params, paths.prepared),
        "run_id": None,
    }
    history: list[dict[str, float]] = []
    if resume := checkpoints.resumable(state["fingerprint"]):
        checkpoint, saved = resume
        CheckpointStore.restore(gan, checkpoint)
        history = saved.pop("history", [])
        state.update(saved)
        log.info("resuming from %s (epoch %d, step %d)", checkpoint, state["epoch"], state["step"])

    tracked = params.tracking.enabled and chief
    with runs.open_run(params, state["run_id"], store.repo_root(), tracked) as run:
        state["run_id"] = run.run_id
        monitor = TrainingMonitor(
            run,
            checkpoints,
            state,
            history,
            cfg.log_every_steps,
            validation,
            partial(instance_noise, cfg.instance_noise, cfg.epochs),
            CheckpointSchedule(
                cfg.checkpoint_every_epochs, cfg.checkpoint_every_minutes, cfg.epochs
            ),
            EpochSelection.from_params(cfg),
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
                callbacks=[AverageGenerator(), monitor],  # G_ema first: the monitor scores it
                verbose=1 if sys.stdout.isatty() else 2,  # a bar on a terminal, lines in logs
            )
        monitor.flush()  # a resumed run that had finished: what the kill kept from MLflow
        generator, kept = keep_best(gan, checkpoints, state, cfg, validation)
        metrics = _summarize(history, state, kept, cfg.pretrain_epochs)
        if not chief:
            return metrics
        _write_outputs(generator, gan, paths, history, metrics)
        numbers = {k: float(v) for k, v in metrics.items() if not isinstance(v, str)}  # MLflow
        run.log_metrics({f"final_{k}": v for k, v in numbers.items()}, step=state["step"])
        run.set_tags({"selected_epoch": kept["epoch"], "selection": kept["reason"]})
        for path in (paths.metrics, paths.losses):
            run.log_artifact(path, "reports")
        if run.run_id is not None:
            log_colorizer(paths.models / "generator.keras")
        run.save_pointer(paths.models / "run.json", params.tracking)
    return metrics


def class_prior(train_data: tf.data.Dataset, centres: np.ndarray) -> np.ndarray:
    """Rebalancing weights from the colours of the first PRIOR_BATCHES training batches."""
    ab = np.concatenate([batch_ab.numpy() for _, batch_ab in train_data.take(PRIOR_BATCHES)])
    return rebalancing_weights(empirical_prior(ab[:, ::2, ::2], centres))  # every 4th pixel


def _summarize(
    history: list[dict[str, float]], state: dict[str, Any], kept: dict[str, Any], pretrain: int
) -> dict[str, Any]:
    """train.json: the last epoch's mean losses, the kept epoch, why, and its validation
    scores; whether it is adversarial (D trained by then), which the evaluation reads."""
    last_epoch = [row for row in history if row["epoch"] == state["epoch"]] or history[-1:]
    metrics: dict[str, Any] = (
        {name: round(float(np.mean([row[name] for row in last_epoch])), 5) for name in LOSS_NAMES}
        if last_epoch
        else {}
    )
    metrics.update(
        epochs=state["epoch"],
        steps=state["step"],
        pretrain_epochs=pretrain,
        selected_epoch=kept["epoch"],
        selected_adversarial=kept["epoch"] > pretrain,
        d_trained=kept["epoch"] > pretrain,  # D's first step is the first adversarial one
        selection=kept["reason"],
        chroma_gain=kept["chroma_gain"],
    )
    metrics.update({key: round(value, 5) for key, value in kept["scores"].items()})
    return metrics


def _write_outputs(
    generator: keras.Model,
    gan: ColorGAN,
    paths: TrainPaths,
    history: list[dict[str, float]],
    metrics: dict[str, Any],
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
