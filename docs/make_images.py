"""Regenerate the README's pictures.

python docs/make_images.py                     # after `make run`: the sample model's reports
python docs/make_images.py --model /tmp/colorgan-bench-quality/runs/<run>/models \\
    --photos ../shared/datasets/bsds500/test    # the BSDS500 recipe of bench_quality.py

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
from PIL import Image

from colorgan.color import lab_to_rgb, rgb_to_lab
from colorgan.data.images import load_rgb
from colorgan.data.sample import sample_photo_paths
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


def from_photos(model: Path, photos: Path, out: Path, per_picture: int = 4) -> None:
    colorizer = Colorizer.load(model)
    scored = []
    for path in sorted(photos.iterdir()):
        truth = load_rgb(path, 80_000_000)
        output = colorizer.colorize(truth)
        scored.append((ciede2000(rgb_to_lab(truth), rgb_to_lab(output)), path.name, truth, output))
    scored.sort(key=lambda item: item[0])
    rows = [[gray_of(t), o, t] for _, _, t, o in scored]
    middle = np.linspace(0, len(rows) - 1, per_picture + 2).round().astype(int)[1:-1]
    strip([rows[i] for i in middle]).save(out / "before_after.png", optimize=True)
    strip(rows[:per_picture]).save(out / "samples_best.png", optimize=True)
    strip(rows[-per_picture:]).save(out / "samples_worst.png", optimize=True)
    print("CIEDE2000 of the strip's photos:", [round(scored[i][0], 2) for i in middle])


def from_sample_run(out: Path) -> None:
    test_photo = next(p for p in sample_photo_paths() if p.name == "motorcycle_left.png")
    truth = load_rgb(test_photo, 80_000_000)
    output = Colorizer.load(Path("models")).colorize(truth)
    strip([[gray_of(truth), output, truth]]).save(out / "before_after.png", optimize=True)
    for name in ("confusion_matrix.png", "roc_curve.png", "two_sample_test.png"):
        shutil.copy(Path("reports") / name, out / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a folder holding generator.keras")
    parser.add_argument("--photos", type=Path, help="held-out colour photos to show")
    parser.add_argument("--out", type=Path, default=HERE / "images")
    args = parser.parse_args()
    if args.photos:
        from_photos(args.model or Path("models"), args.photos, args.out)
    else:
        from_sample_run(args.out)


if __name__ == "__main__":
    main()
