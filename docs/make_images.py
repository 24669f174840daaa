"""Regenerate the README's pictures.

python docs/make_images.py                     # after `make run`: the default run's pictures
python docs/make_images.py --model /tmp/colorgan-bench-quality/runs/<run>/models \\
    --photos ../shared/datasets/bsds500/test    # the BSDS500 recipe of bench_quality.py
python docs/make_images.py --model <GAN>/models --photos ../shared/datasets/bsds500/test \\
    --compare <L1 only>/models <GAN, old rule>/models   # also compare.png: one row per photo

With --photos, every photo of the folder is colorized at full resolution (as `colorgan
colorize` does) and scored by CIEDE2000 against the original; the before/after strip shows
photos chosen evenly along that ranking (not the best ones), and the best and worst grids
the ends of it.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from colorgan.color import lab_to_rgb, rgb_to_lab
from colorgan.data.images import load_rgb
from colorgan.metrics import ciede2000
from colorgan.serving.inference import Colorizer

HERE = Path(__file__).resolve().parent
HEIGHT = 150
GAP = 4


def gray_of(rgb: np.ndarray) -> np.ndarray:
    lab = rgb_to_lab(rgb)
    lab[..., 1:] = 0.0
    return (lab_to_rgb(lab) * 255 + 0.5).astype(np.uint8)


def strip(rows: list[list[np.ndarray]]) -> Image.Image:
    """Rows of panels (gray | colorized | original), each panel HEIGHT pixels high."""
    scaled = []
    for row in rows:
        width = round(row[0].shape[1] * HEIGHT / row[0].shape[0])
        panels = [Image.fromarray(p).resize((width, HEIGHT), Image.Resampling.LANCZOS) for p in row]
        scaled.append(panels)
    total_w = max(sum(p.width for p in row) + GAP * (len(row) - 1) for row in scaled)
    canvas = Image.new("RGB", (total_w, len(scaled) * (HEIGHT + GAP) - GAP), "white")
    for index, row in enumerate(scaled):
        left = 0
        for panel in row:
            canvas.paste(panel, (left, index * (HEIGHT + GAP)))
            left += panel.width + GAP
    return canvas


def ranked_rows(model: Path, photos: list[Path]) -> list[tuple[float, list[np.ndarray]]]:
    """Each photo colorized at full resolution (as `colorgan colorize` does), with its
    CIEDE2000 against the original, best first: (score, [gray, colorized, original])."""
    colorizer = Colorizer.load(model)
    scored = []
    for path in photos:
        truth = load_rgb(path, 80_000_000)
        output = colorizer.colorize(truth)
        score = ciede2000(rgb_to_lab(truth), rgb_to_lab(output))
        scored.append((score, [gray_of(truth), output, truth]))
    return sorted(scored, key=lambda item: item[0])


def evenly(scored: list, count: int) -> list:
    """``count`` items picked evenly along the ranking, ends left out (not the best ones)."""
    middle = np.linspace(0, len(scored) - 1, count + 2).round().astype(int)[1:-1]
    return [scored[i] for i in middle]


def from_photos(model: Path, photos: Path, out: Path, per_picture: int = 4) -> None:
    scored = ranked_rows(model, sorted(photos.iterdir()))
    strip([row for _, row in evenly(scored, per_picture)]).save(
        out / "before_after.png", optimize=True
    )
    strip([row for _, row in scored[:per_picture]]).save(out / "samples_best.png", optimize=True)
    strip([row for _, row in scored[-per_picture:]]).save(out / "samples_worst.png", optimize=True)
    print("CIEDE2000 of the strip's photos:", [round(s, 2) for s, _ in evenly(scored, per_picture)])


def compare(model: Path, others: list[Path], photos: Path, out: Path, count: int = 5) -> None:
    """compare.png: photos picked evenly along ``model``'s CIEDE2000 ranking, one row each:
    gray | each of ``others`` | ``model`` | original, all at full resolution."""
    chosen = evenly(ranked_rows(model, sorted(photos.iterdir())), count)
    colorizers = [Colorizer.load(path) for path in others]
    rows = []
    for _, (gray, output, truth) in chosen:
        rows.append([gray, *[c.colorize(truth) for c in colorizers], output, truth])
    strip(rows).save(out / "compare.png", optimize=True)


def from_sample_run(out: Path, per_picture: int = 6) -> None:
    """The default run (`make run`): its test photos at full resolution, picked evenly along
    their CIEDE2000 ranking, and the evaluate stage's pictures."""
    manifest = pd.read_csv("data/ingested/manifest.csv")
    tests = [Path("data/ingested/images") / f for f in manifest[manifest.split == "test"].file]
    chosen = evenly(ranked_rows(Path("models"), tests), per_picture)
    strip([row for _, row in chosen]).save(out / "first_run.png", optimize=True)
    print("CIEDE2000 of the first-run strip's photos:", [round(s, 2) for s, _ in chosen])
    # D's pictures exist only when the kept epoch's D had trained (else eval.json says so).
    for name in ("confusion_matrix.png", "roc_curve.png", "two_sample_test.png"):
        if (Path("reports") / name).exists():
            shutil.copy(Path("reports") / name, out / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a folder holding generator.keras")
    parser.add_argument("--photos", type=Path, help="held-out colour photos to show")
    parser.add_argument("--out", type=Path, default=HERE / "images")
    parser.add_argument(
        "--compare", type=Path, nargs="*", default=[], help="models folders shown beside --model"
    )
    args = parser.parse_args()
    if args.photos:
        from_photos(args.model or Path("models"), args.photos, args.out)
        if args.compare:
            compare(args.model or Path("models"), args.compare, args.photos, args.out)
    else:
        from_sample_run(args.out)


if __name__ == "__main__":
    main()
