"""Epoch checkpoints that a killed training resumes from: weights, optimizers, step, state.

Each checkpoint is written to a temporary folder and renamed into place, so a kill at any
moment leaves either the previous checkpoint or the new one, never half of one. A
checkpoint is resumed only by a training of the same parameters and data (its fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from colorgan.config import Params
from colorgan.data.dataset import shard_paths
from colorgan.model.gan import ColorGAN

log = logging.getLogger(__name__)
STATE_FILE = "state.json"
# Parameters that do not change what training computes: a checkpoint made under other
# values of these is resumed, not thrown away.
NOT_FINGERPRINTED = {
    "distribution",
    "log_every_steps",
    "checkpoint_every_epochs",
    "checkpoint_every_minutes",
    "keep_checkpoints",
    "chroma_gain",
}


def fingerprint(params: Params, prepared: Path) -> str:
    """What a checkpoint must share with the current params and the prepared data it trains
    on to be resumed from. Not where it runs: a training started on one device may go on with
    more (the batch is global)."""
    relevant = {
        "data": shards_digest(prepared),  # new photos: a new training, not the old one resumed
        "seed": params.seed,
        "preprocess": params.preprocess.model_dump(),
        "model": params.model.model_dump(),
        "train": params.train.model_dump(exclude=NOT_FINGERPRINTED),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def shards_digest(prepared: Path, splits: tuple[str, ...] = ("train", "val")) -> str:
    """md5 over the shards of ``splits`` (names and bytes): the photos a training learns from
    and selects on, by content, so a copy of the folder elsewhere has the same digest and a
    photo added, removed or edited another."""
    combined = hashlib.md5(usedforsecurity=False)
    for split in splits:
        for path in shard_paths(prepared / split):
            with path.open("rb") as shard:
                content = hashlib.file_digest(shard, "md5").hexdigest()
            combined.update(f"{split}/{path.name} {content}\n".encode())
    return combined.hexdigest()


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


class CheckpointStore:
    """``writable=False``: a worker that resumes from the chief's checkpoints but never
    writes or deletes one, so a multi-worker training leaves one series."""

    def __init__(self, directory: Path, keep: int = 2, writable: bool = True) -> None:
        self.directory = directory
        self.keep = keep
        self.writable = writable

    def latest(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest complete checkpoint and its state, or None."""
        for path in sorted(self.directory.glob("epoch-*"), reverse=True):
            state_file = path / STATE_FILE
            if state_file.is_file():  # written last: its presence means complete
                return path, json.loads(state_file.read_text())
        return None

    def resumable(self, fingerprint: str) -> tuple[Path, dict[str, Any]] | None:
        """The latest checkpoint if it was made with this fingerprint; otherwise None, and
        the series made with other parameters is deleted (it can never be resumed)."""
        latest = self.latest()
        if latest is None:
            return None
        if latest[1].get("fingerprint") != fingerprint:
            log.info("checkpoints in %s were made with other params; starting over", self.directory)
            self.clear()
            return None
        return latest

    def save(self, gan: ColorGAN, state: dict[str, Any]) -> Path | None:
        if not self.writable:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"epoch-{state['epoch']:05d}"
        partial = self.directory / f".partial-{final.name}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        for name, model in _networks(gan):
            model.save_weights(partial / f"{name}.weights.h5")
        for name, optimizer in gan.optimizers.items():
            np.savez(partial / f"{name}.npz", *[v.numpy() for v in optimizer.variables])
        (partial / STATE_FILE).write_text(json.dumps(state, indent=2))
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        if self.keep:  # 0: keep every epoch's
            for old in sorted(self.directory.glob("epoch-*"))[: -self.keep]:
                shutil.rmtree(old, ignore_errors=True)
        return final

    @staticmethod
    def restore(gan: ColorGAN, path: Path) -> None:
        for name, model in _networks(gan):
            model.load_weights(path / f"{name}.weights.h5")
        gan.build_optimizers()
        for name, optimizer in gan.optimizers.items():
            with np.load(path / f"{name}.npz") as saved:
                arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
            if len(arrays) != len(optimizer.variables):
                raise ValueError(f"{path}: {name} state does not match the model; delete it")
            for variable, value in zip(optimizer.variables, arrays, strict=True):
                variable.assign(value)

    def clear(self) -> None:
        if self.writable:
            shutil.rmtree(self.directory, ignore_errors=True)

    def best_weights(self, network: str) -> Path:
        """The kept epoch's weights of one network: generator, discriminator or
        pixel_discriminator (beside the series, so resuming keeps the best epoch found
        before the kill; evaluation scores D of the same epoch as G)."""
        return self.directory / "best" / f"{network}.weights.h5"

    def restore_best(self, gan: ColorGAN) -> list[str]:
        """Load the kept epoch's networks into ``gan``; returns the names of those with no
        saved weights (a best epoch saved before D was saved with it), left as they are."""
        missing = []
        for name, model in _networks(gan):
            if self.best_weights(name).is_file():
                model.load_weights(self.best_weights(name))
            else:
                missing.append(name)
        return missing

    def save_best(self, gan: ColorGAN) -> None:
        """Save G and the discriminator(s) of the epoch model selection keeps."""
        if not self.writable:
            return
        (self.directory / "best").mkdir(parents=True, exist_ok=True)
        written = []
        for name, model in _networks(gan):
            final = self.best_weights(name)
            partial = final.with_name(f".partial-{final.name}")
            model.save_weights(partial)
            written.append((partial, final))
        # All written first, then renamed (each atomic): a kill leaves the old best or the
        # new one for each network, and mixes epochs only within these few renames.
        for partial, final in written:
            partial.replace(final)


def _networks(gan: ColorGAN) -> list[tuple[str, object]]:
    networks = [("generator", gan.generator), ("discriminator", gan.discriminator)]
    if gan.generator_ema is not None:
        networks.append(("generator_ema", gan.generator_ema))
    if gan.pixel_discriminator is not None:
        networks.append(("pixel_discriminator", gan.pixel_discriminator))
    return networks
