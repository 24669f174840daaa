"""Ingest + preprocess at scale: time, memory and disk per photo, extrapolated to 1 M photos.

    python benchmarks/bench_scale.py [--photos 10000] [--dask-address tcp://host:8786]

Generates ``--photos`` JPEG/PNG photos of mixed sizes (crops of the bundled sample photos)
with a few bad files among them (truncated, not an image, too small), then runs the ingest
and preprocess stages' functions at params.yaml defaults on a quarter of them and on all of
them, each in a fresh process whose peak RSS (with its workers) is sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from measure import peak_rss
from PIL import Image

from colorgan.data.parallel import bounded_map
from colorgan.data.sample import package_photo_paths

BAD_EVERY = 1000  # one truncated file, one non-image and one tiny image per thousand


def _sources() -> list[np.ndarray]:
    arrays = []
    for path in package_photo_paths():
        with Image.open(path) as image:
            arrays.append(np.asarray(image.convert("RGB")))
    return arrays


def make_photo(job: tuple[int, Path]) -> None:
    """Photo ``index``: a random crop of a sample photo, resized to a random size."""
    index, folder = job
    rng = np.random.default_rng(index)
    sources = _cached_sources()
    source = sources[index % len(sources)]
    height, width = source.shape[:2]
    side_h, side_w = rng.integers(height // 3, height + 1), rng.integers(width // 3, width + 1)
    top, left = rng.integers(0, height - side_h + 1), rng.integers(0, width - side_w + 1)
    short = int(rng.integers(160, 720))
    aspect = side_w / side_h
    size = (max(8, round(short * max(aspect, 1))), max(8, round(short / min(aspect, 1))))
    crop = Image.fromarray(source[top : top + side_h, left : left + side_w])
    crop = crop.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if index % BAD_EVERY == 1:
        crop.resize((8, 8)).save(folder / f"{index:06d}_tiny.png")
    elif index % BAD_EVERY == 2:
        (folder / f"{index:06d}_notes.jpg").write_text("not an image")
    elif index % BAD_EVERY == 3:
        buffer = io.BytesIO()
        crop.save(buffer, "JPEG", quality=90)
        data = buffer.getvalue()
        (folder / f"{index:06d}_truncated.jpg").write_bytes(data[: len(data) // 3])
    elif index % 10 == 0:
        crop.save(folder / f"{index:06d}.png")
    else:
        crop.save(folder / f"{index:06d}.jpg", quality=90)


_SOURCES: list[np.ndarray] = []


def _cached_sources() -> list[np.ndarray]:
    if not _SOURCES:
        _SOURCES.extend(_sources())
    return _SOURCES


def generate(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(index, folder / f"part{index // 2500:03d}") for index in range(count)]
    for part in {job[1] for job in jobs}:
        part.mkdir(exist_ok=True)
    for _job, error in bounded_map(make_photo, jobs, workers=0):
        if isinstance(error, BaseException):
            raise error


def child(source: str, work: Path, address: str | None) -> None:
    """The two stages as their scripts run them, at the default parameters."""
    from colorgan.config import parse_params
    from colorgan.data.ingest import ingest, iter_source
    from colorgan.data.preprocess import preprocess

    params = parse_params({})
    started = time.perf_counter()
    result = ingest(iter_source(source), params.data, work / "images", 0, address)
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    report = preprocess(
        result.manifest, work / "images", work / "prepared", params.preprocess,
        params.data.max_pixels, address,
    )  # fmt: skip
    facts = {
        "ingest_s": ingest_s,
        "preprocess_s": time.perf_counter() - started,
        "accepted": len(result.manifest),
        "rejected": len(result.rejected),
        "failed": len(report.failed),
        "prepared_bytes": sum(s["bytes"] for s in report.splits.values()),
        "train_photos": report.splits["train"]["photos"],
        "bytes_per_train_photo": report.bytes_per_train_photo,
        "ingested_bytes": sum(p.stat().st_size for p in (work / "images").iterdir()),
    }
    print(json.dumps(facts))


def measure(source: str, address: str | None) -> dict:
    """Run ``child`` in a fresh process; its facts plus wall time and peak RSS (MB)."""
    with tempfile.TemporaryDirectory() as work:
        command = [sys.executable, __file__, "--child", source, work]
        if address:
            command += ["--dask-address", address]
        started = time.perf_counter()
        process = psutil.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        peak = peak_rss(process)
        wall = time.perf_counter() - started
        facts = json.loads(process.stdout.read().decode().strip().splitlines()[-1])
    return {**facts, "wall_s": wall, "peak_rss_mb": peak / 2**20}


def report(count: int, facts: dict) -> None:
    rate = count / facts["wall_s"]
    print(
        f"{count:>7,} files: {facts['wall_s']:6.1f} s wall ({facts['ingest_s']:.1f} ingest + "
        f"{facts['preprocess_s']:.1f} preprocess), {rate:6.1f} photos/s, peak RSS "
        f"{facts['peak_rss_mb']:6.0f} MB; {facts['accepted']:,} accepted, "
        f"{facts['rejected']} rejected, {facts['failed']} failed in preprocess"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--dask-address", default=None)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.dask_address)
        return
    print(f"machine: {os.cpu_count()} cores; {args.dask_address or 'local process pool'}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        started = time.perf_counter()
        generate(folder, args.photos)
        print(f"generated {args.photos:,} files in {time.perf_counter() - started:.0f} s")
        quarter = Path(tmp) / "quarter.txt"
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        quarter.write_text("\n".join(map(str, files[: len(files) // 4])) + "\n")
        small = measure(str(quarter), args.dask_address)
        full = measure(str(folder), args.dask_address)
    report(len(files) // 4, small)
    report(len(files), full)
    growth = full["peak_rss_mb"] / small["peak_rss_mb"] - 1
    print(f"peak RSS growth from {len(files) // 4:,} to {len(files):,} files: {growth:+.1%}")
    per_photo = full["prepared_bytes"] / full["accepted"]
    print(
        f"on disk per photo: prepared {per_photo / 1e3:.0f} KB "
        f"(train {full['bytes_per_train_photo'] / 1e3:.0f} KB), "
        f"ingested copy {full['ingested_bytes'] / full['accepted'] / 1e3:.0f} KB"
    )
    rate = len(files) / full["wall_s"]
    print(
        f"1 M photos at this rate: {1e6 / rate / 3600:.1f} h on these {os.cpu_count()} cores "
        f"({1e6 / rate / 3600 * (os.cpu_count() or 1):.0f} core-hours), "
        f"{per_photo * 1e6 / 1e9:.0f} GB prepared, "
        f"{full['ingested_bytes'] / full['accepted'] * 1e6 / 1e9:.0f} GB ingested"
    )


if __name__ == "__main__":
    main()
