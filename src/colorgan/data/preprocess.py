"""Preprocess: each ingested photo, once, as an encoded image in sharded TFRecord files.

Train photos are kept larger than the training squares (JPEG) so that the input pipeline
(colorgan.data.dataset) can cut a fresh random crop every epoch; val and test photos are their
fixed centre crops (PNG, lossless), so evaluation's ground truth is exact. Photos are
decoded in a worker pool (or on a Dask cluster) and streamed into shards: memory holds
a few photos, whatever their number. The output is byte-identical wherever it runs.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from colorgan.data import records
from colorgan.config import PreprocessParams
from colorgan.data.images import UnusableImage, load_rgb
from colorgan.data.parallel import bounded_map

PAD_GRAY = 128  # neutral gray: its a and b are 0, so padding teaches no colour
SPLITS = ("train", "val", "test")


def _resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    image = Image.fromarray(rgb)
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(image)


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return _resize(rgb[top : top + side, left : left + side], size, size)


def pad_to_square(rgb: np.ndarray, size: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    canvas = np.full((side, side, 3), PAD_GRAY, dtype=np.uint8)
    canvas[top : top + height, left : left + width] = rgb
    return _resize(canvas, size, size)


def shrink_to_short_side(rgb: np.ndarray, short_side: int) -> np.ndarray:
    """Scale down so the shorter side is ``short_side``; smaller photos stay as they are."""
    height, width = rgb.shape[:2]
    if min(height, width) <= short_side:
        return rgb
    scale = short_side / min(height, width)
    return _resize(
        rgb, max(short_side, round(width * scale)), max(short_side, round(height * scale))
    )


def stored_short_side(params: PreprocessParams) -> int:
    """The smallest random crop (crop_scale[0] of this side) still covers image_size pixels."""
    return math.ceil(params.image_size / params.crop_scale[0])


def train_crop_scale(params: PreprocessParams) -> list[float]:
    """The crop range the input pipeline applies: only random_crop photos are larger squares."""
    return list(params.crop_scale) if params.resize == "random_crop" else [1.0, 1.0]


def stored_view(rgb: np.ndarray, split: str, params: PreprocessParams) -> np.ndarray:
    """What is kept of a photo: val and test are always their centre crop at image_size."""
    size = params.image_size
    if split != "train" or params.resize == "center_crop":
        return center_crop(rgb, size)
    if params.resize == "pad":
        return pad_to_square(rgb, size)
    return shrink_to_short_side(rgb, stored_short_side(params))


def encode(rgb: np.ndarray, split: str, jpeg_quality: int) -> bytes:
    """JPEG for train (4:4:4: colour is what the model learns), PNG for val/test."""
    buffer = io.BytesIO()
    image = Image.fromarray(rgb)
    if split == "train":
        image.save(buffer, "JPEG", quality=jpeg_quality, subsampling=0)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Job:
    label: str  # the file, for error messages
    data: bytes  # its contents: a Dask worker need not see the files
    split: str
    params: PreprocessParams
    max_pixels: int


def process_photo(job: Job) -> bytes | str:
    """One photo to one framed TFRecord, or the reason it failed."""
    params = job.params
    decoded_side = params.image_size
    if job.split == "train" and params.resize == "random_crop":
        decoded_side = stored_short_side(params)
    try:
        rgb = load_rgb(job.data, job.max_pixels, min_decoded_side=decoded_side)
    except (UnusableImage, OSError) as error:
        return f"{job.label}: {error}"
    view = stored_view(rgb, job.split, params)
    example = records.encode_example(
        {
            records.IMAGE: encode(view, job.split, params.jpeg_quality),
            records.HEIGHT: view.shape[0],
            records.WIDTH: view.shape[1],
        }
    )
    return records.frame(example)


@dataclass
class PreprocessReport:
    image_size: int
    train_crop_scale: list[float]
    splits: dict[str, dict[str, int]] = field(default_factory=dict)
    bytes_per_train_photo: int = 0
    failed: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)


def _jobs(
    manifest: pd.DataFrame,
    image_dir: Path,
    params: PreprocessParams,
    max_pixels: int,
    failed: list[str],
) -> Iterator[Job]:
    """Sorted by split and hash, so shards do not depend on the manifest's row order;
    files that cannot be read go to ``failed``."""
    for row in manifest.sort_values(["split", "hash"]).itertuples():
        path = image_dir / row.file
        try:
            data = path.read_bytes()
        except OSError as error:
            failed.append(f"{path}: unreadable: {error}")
            continue
        yield Job(str(path), data, row.split, params, max_pixels)


def preprocess(
    manifest: pd.DataFrame,
    image_dir: Path,
    out_dir: Path,
    params: PreprocessParams,
    max_pixels: int,
    dask_address: str | None = None,
) -> PreprocessReport:
    """Write ``out_dir/<split>/shard-*.tfrecord``; return counts, sizes and failures.

    Per-photo work runs in ``params.workers`` local processes, or on the Dask cluster at
    ``dask_address``; results come back in order, so the shards are the same either way.
    """
    writers = {split: records.ShardWriter(out_dir / split, params.shard_size) for split in SPLITS}
    report = PreprocessReport(params.image_size, train_crop_scale(params))
    jobs = _jobs(manifest, image_dir, params, max_pixels, report.failed)
    results = bounded_map(process_photo, jobs, params.workers, address=dask_address)
    for job, result in tqdm(results, total=len(manifest), desc="preprocess", unit="photo"):
        if isinstance(result, BaseException):
            report.failed.append(f"{job.label}: {result!r}")
        elif isinstance(result, str):
            report.failed.append(result)
        else:
            writers[job.split].add(result)
    for split, writer in writers.items():
        writer.close()
        report.splits[split] = {
            "photos": writer.count,
            "shards": writer.shards,
            "bytes": writer.bytes,
        }
    report.bytes_per_train_photo = writers["train"].bytes // max(1, writers["train"].count)
    return report
