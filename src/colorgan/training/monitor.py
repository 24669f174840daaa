"""What happens around each step and epoch of fit(): the loss guard and history, validation
scores, the sample grid, the kept epoch, checkpoints and the MLflow log."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from colorgan.errors import ColorganError
from colorgan.model.gan import LOSS_NAMES
from colorgan.tracking.runs import MlflowRun
from colorgan.training import selection
from colorgan.training.checkpoints import CheckpointSchedule, CheckpointStore
from colorgan.viz import comparison_grid

SAMPLE_ROWS = 6  # validation photos in each epoch's sample grid
GAME_NAMES = ("d_accuracy", "d_real", "d_fake", "g_adv")  # averaged per adversarial epoch


class NonFiniteLoss(ColorganError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def instance_noise(start: float, epochs: int, epoch: int) -> float:
    """Noise std for an epoch: ``start`` at the first, falling linearly to 0 at the last."""
    return start * max(0.0, 1.0 - epoch / max(1, epochs - 1))


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
        select: selection.EpochSelection | None = None,
    ) -> None:
        super().__init__()
        self.run, self.store, self.state = run, store, state
        self.history, self.log_every, self.validation = history, log_every, validation
        self.noise_schedule = noise_schedule
        self.schedule = schedule or CheckpointSchedule(1, 0.0, 0)
        self.select = select or selection.EpochSelection("last", 0.0)
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
        fake_ab = selection.predict_ab(self.model.colorizer, self.validation.lightness)
        scores = self.select.score(self.validation, fake_ab)  # realism adds val_kid
        self.state["scores"] = scores
        self.epoch_scores[self.state["step"]] = scores | self.game_means()
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

    def game_means(self) -> dict[str, float]:
        """An adversarial epoch's mean D accuracy and losses: whether the game stays
        balanced (about 0.5-0.8, steady) or one side wins, on one MLflow chart per epoch."""
        if self.model.pretraining:
            return {}  # D does not run in the L1 epochs
        rows = [row for row in self.history if row["epoch"] == self.state["epoch"]]
        return {
            f"epoch_{name}": float(np.mean([row[name] for row in rows]))
            for name in GAME_NAMES
            if rows
        }

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
