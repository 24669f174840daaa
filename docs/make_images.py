"""Regenerate the README's pictures from the trained model (after `make run`).

python docs/make_images.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from colorgan.sample import sample_photo_paths

HERE = Path(__file__).resolve().parent
HEIGHT = 240


def before_after(photo: Path, target: Path) -> None:
    """gray input | colorized by `colorgan colorize` | original, for a held-out test photo."""
    with tempfile.TemporaryDirectory() as tmp:
        gray = Path(tmp) / f"{photo.stem}.png"
        Image.open(photo).convert("L").save(gray)
        subprocess.run(
            [
                str(Path(sys.executable).parent / "colorgan"),
                "colorize",
                str(gray),
                "-o",
                str(Path(tmp) / "out"),
            ],
            check=True,
        )
        panels = [
            Image.open(gray).convert("RGB"),
            Image.open(Path(tmp) / "out" / gray.name),
            Image.open(photo).convert("RGB"),
        ]
    width = round(panels[0].width * HEIGHT / panels[0].height)
    panels = [p.resize((width, HEIGHT), Image.Resampling.LANCZOS) for p in panels]
    strip = np.concatenate([np.asarray(p) for p in panels], axis=1)
    Image.fromarray(strip).save(target, optimize=True)


def main() -> None:
    test_photo = next(p for p in sample_photo_paths() if p.name == "motorcycle_left.png")
    before_after(test_photo, HERE / "images/before_after.png")
    for name in ("samples_best.png", "confusion_matrix.png", "pr_curve.png"):
        shutil.copy(Path("reports") / name, HERE / "images" / name)


if __name__ == "__main__":
    main()
