"""Throughput and memory of the data stages against a naive loop, side by side.

    python benchmarks/bench_data.py [--bsds ../shared/datasets/bsds500] [--large 8]

Naive loop: full Pillow decode, resize, scikit-image rgb2lab, one image at a time, all
results kept in memory. Ours: colorgan's ingest and preprocess (worker pool, draft decoding
of big JPEGs, streamed shards). Peak RSS is measured in a fresh subprocess per run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from measure import peak_rss
from PIL import Image
from skimage.color import rgb2lab

from colorgan.config import DataParams, PreprocessParams
from colorgan.data.ingest import ingest, iter_source
from colorgan.data.preprocess import center_crop, preprocess

SIZE = 64


def naive_preprocess(paths: list[Path]) -> list[np.ndarray]:
    kept = []
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        kept.append(rgb2lab(center_crop(rgb, SIZE)))
    return kept


def ours(folder: Path, work: Path) -> tuple[float, float, int]:
    """Seconds for ingest and for preprocess, and the number of photos."""
    data = DataParams(min_side=16, min_colorfulness=0.0)
    started = time.perf_counter()
    result = ingest(iter_source(str(folder)), data, work / "images", workers=0)
    ingest_s = time.perf_counter() - started
    params = PreprocessParams(image_size=SIZE, resize="center_crop", workers=0)
    started = time.perf_counter()
    preprocess(result.manifest, work / "images", work / "prepared", params, data.max_pixels)
    return ingest_s, time.perf_counter() - started, len(result.manifest)


def naive_ingest(paths: list[Path]) -> None:
    import hashlib

    for path in paths:
        hashlib.sha256(path.read_bytes()).hexdigest()
        Image.open(path).convert("RGB")


def compare(label: str, folder: Path) -> None:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".png"})
    with tempfile.TemporaryDirectory() as work:
        ingest_s, preprocess_s, count = ours(folder, Path(work))
    started = time.perf_counter()
    naive_ingest(paths)
    naive_ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    naive_preprocess(paths)
    naive_s = time.perf_counter() - started
    n = len(paths)
    print(f"\n{label}: {n} images ({count} accepted)")
    print(
        f"  ingest      colorgan {n / ingest_s:7.1f} img/s   naive {n / naive_ingest_s:7.1f}"
        f" img/s   ratio {naive_ingest_s / ingest_s:5.2f}x"
    )
    print(
        f"  preprocess  colorgan {n / preprocess_s:7.1f} img/s   naive {n / naive_s:7.1f}"
        f" img/s   ratio {naive_s / preprocess_s:5.2f}x"
    )


def make_large_jpegs(sources: list[Path], count: int, folder: Path) -> None:
    """~12-megapixel JPEGs (4240 x 2832) upscaled from real photos."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        with Image.open(sources[index % len(sources)]) as image:
            big = image.convert("RGB").resize((4240, 2832), Image.Resampling.BICUBIC)
        big.save(folder / f"large{index:03d}.jpg", quality=90)


def peak_rss_mb(folder: Path, mode: str) -> float:
    """Peak RSS, summed over a fresh process and its workers, sampled every 20 ms.

    (ru_maxrss would not do: Linux carries it across exec from this already-big process.)
    """
    code = (
        "import sys, tempfile; from pathlib import Path; sys.path.insert(0, 'benchmarks');"
        "import bench_data as b; folder = Path(sys.argv[1]);"
        "b.ours(folder, Path(tempfile.mkdtemp())) if sys.argv[2] == 'ours' "
        "else b.naive_preprocess(sorted(folder.glob('*.jpg')))"
    )
    process = psutil.Popen(
        [sys.executable, "-c", code, str(folder), mode],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return peak_rss(process, interval_s=0.02) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bsds", type=Path, default=Path(__file__).resolve().parents[2] / "shared/datasets/bsds500"
    )
    parser.add_argument("--large", type=int, default=16, help="N large JPEGs (RSS also at 4N)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores")
    compare("BSDS500 (481x321 JPEGs)", args.bsds)
    sources = sorted((args.bsds / "train").glob("*.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "n", Path(tmp) / "4n"
        make_large_jpegs(sources, args.large, small)
        make_large_jpegs(sources, 4 * args.large, large)
        compare(f"large JPEGs (12 MP), {4 * args.large} of them", large)
        rows = []
        for mode in ("ours", "naive"):
            at_n, at_4n = peak_rss_mb(small, mode), peak_rss_mb(large, mode)
            rows.append(
                {
                    "implementation": mode,
                    "N": args.large,
                    "RSS at N (MB)": at_n,
                    "RSS at 4N (MB)": at_4n,
                    "growth": f"{at_4n / at_n - 1:+.1%}",
                }
            )
        print("\npeak RSS (process + workers):")
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
