"""Preprocess: ingested photos to fixed-size, network-scaled Lab tensors in .npy shards.

Photos are decoded in a worker pool and streamed into shards of ``shard_size`` examples,
so memory holds one shard per split whatever the number of photos.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from colorgan.color import rgb_to_scaled_lab
from colorgan.config import PreprocessParams
from colorgan.images import UnusableImage, load_rgb
from colorgan.parallel import bounded_map

SHARD_DTYPE = np.float16  # scaled Lab in [-1, 1]: half precision loses nothing visible
PAD_GRAY = 128  # neutral gray: its a and b are 0, so padding teaches no colour


def _resize(rgb: np.ndarray, size: int) -> np.ndarray:
    image = Image.fromarray(rgb)
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(image)


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return _resize(rgb[top : top + side, left : left + side], size)


def pad_to_square(rgb: np.ndarray, size: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    canvas = np.full((side, side, 3), PAD_GRAY, dtype=np.uint8)
    canvas[top : top + height, left : left + width] = rgb
    return _resize(canvas, size)


def random_crops(
    rgb: np.ndarray, size: int, count: int, scale: tuple[float, float], rng: np.random.Generator
) -> list[np.ndarray]:
    """``count`` square crops with sides drawn from ``scale`` times the shorter side."""
    height, width = rgb.shape[:2]
    short = min(height, width)
    crops = []
    for _ in range(count):
        side = max(1, round(short * rng.uniform(*scale)))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        crops.append(_resize(rgb[top : top + side, left : left + side], size))
    return crops


def square_views(
    rgb: np.ndarray, split: str, params: PreprocessParams, rng: np.random.Generator
) -> list[np.ndarray]:
    """The training examples one photo yields; val and test are always one centre crop."""
    size = params.image_size
    if split != "train" or params.resize == "center_crop":
        return [center_crop(rgb, size)]
    if params.resize == "pad":
        return [pad_to_square(rgb, size)]
    return random_crops(rgb, size, params.crops_per_image, tuple(params.crop_scale), rng)


@dataclass(frozen=True)
class Job:
    path: Path
    content_hash: str
    split: str
    params: PreprocessParams
    seed: int
    max_pixels: int


def process_photo(job: Job) -> np.ndarray | str:
    """One photo to a (n, size, size, 3) scaled-Lab array, or the reason it failed."""
    params = job.params
    decoded_side = params.image_size
    if job.split == "train" and params.resize == "random_crop":
        decoded_side = int(np.ceil(params.image_size / params.crop_scale[0]))
    try:
        rgb = load_rgb(job.path, job.max_pixels, min_decoded_side=decoded_side)
    except (UnusableImage, OSError) as error:
        return f"{job.path}: {error}"
    # Per-photo seed: the crops of a photo do not depend on which other photos exist.
    rng = np.random.default_rng([job.seed, int(job.content_hash[:12], 16)])
    views = np.stack(square_views(rgb, job.split, params, rng))
    return rgb_to_scaled_lab(views).astype(SHARD_DTYPE)


class ShardWriter:
    """Appends examples and writes ``shard-00000.npy``, ... of at most ``shard_size`` each."""

    def __init__(self, directory: Path, shard_size: int) -> None:
        self.directory = directory
        self.shard_size = shard_size
        self.buffer: list[np.ndarray] = []
        self.buffered = 0
        self.shards = 0
        self.count = 0
        self.sum = np.zeros(3)
        self.sum_sq = np.zeros(3)
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, examples: np.ndarray) -> None:
        values = examples.astype(np.float64)
        self.sum += values.sum(axis=(0, 1, 2))
        self.sum_sq += (values**2).sum(axis=(0, 1, 2))
        self.count += len(examples)
        self.buffer.append(examples)
        self.buffered += len(examples)
        while self.buffered >= self.shard_size:
            self._flush(self.shard_size)

    def _flush(self, n: int) -> None:
        block = np.concatenate(self.buffer)
        np.save(self.directory / f"shard-{self.shards:05d}.npy", block[:n])
        self.shards += 1
        rest = block[n:]
        self.buffer = [rest] if len(rest) else []
        self.buffered = len(rest)

    def close(self) -> None:
        if self.buffered:
            self._flush(self.buffered)


@dataclass
class PreprocessReport:
    splits: dict[str, dict[str, object]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    channel_mean: list[float] = field(default_factory=list)
    channel_std: list[float] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)


def preprocess(
    manifest: pd.DataFrame,
    image_dir: Path,
    out_dir: Path,
    params: PreprocessParams,
    seed: int,
    max_pixels: int,
) -> PreprocessReport:
    """Write ``out_dir/<split>/shard-*.npy`` and return counts and channel statistics."""
    jobs = [
        Job(image_dir / row.file, row.hash, row.split, params, seed, max_pixels)
        for row in manifest.sort_values(["split", "hash"]).itertuples()
    ]
    writers = {
        split: ShardWriter(out_dir / split, params.shard_size) for split in ("train", "val", "test")
    }
    report = PreprocessReport()
    results = bounded_map(process_photo, jobs, params.workers)
    for job, result in tqdm(results, total=len(jobs), desc="preprocess", unit="photo"):
        if isinstance(result, BaseException):
            report.failed.append(f"{job.path}: {result!r}")
        elif isinstance(result, str):
            report.failed.append(result)
        else:
            writers[job.split].add(result)
    for split, writer in writers.items():
        writer.close()
        report.splits[split] = {"examples": writer.count, "shards": writer.shards}
    pixels = max(1, sum(w.count for w in writers.values())) * params.image_size**2
    mean = sum(w.sum for w in writers.values()) / pixels
    mean_sq = sum(w.sum_sq for w in writers.values()) / pixels
    report.channel_mean = [round(float(v), 5) for v in mean]
    report.channel_std = [round(float(v), 5) for v in np.sqrt(np.maximum(mean_sq - mean**2, 0))]
    return report
