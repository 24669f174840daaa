"""Colorize photos of any size with a trained generator.

Resizing policy: the generator sees the whole photo squeezed to its square input (aspect
ratio not kept). Colour (ab) is smooth, so stretching it back costs little, while cropping
would leave parts of the photo uncoloured and padding would waste model resolution. The
predicted ab is upsampled to the photo's full size and joined with the photo's own
full-resolution lightness, so every edge and texture of the output is the original's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from colorgan.color import AB_RANGE, lab_to_rgb, rgb_to_lab, scale_lab
from colorgan.errors import ColorganError
from colorgan.images import UnusableImage, load_rgb

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
DEFAULT_MAX_PIXELS = 50_000_000


class ModelNotFoundError(ColorganError):
    """The --model path or URI names no generator."""


def _resize_channel(channel: np.ndarray, width: int, height: int) -> np.ndarray:
    resized = Image.fromarray(channel.astype(np.float32), mode="F").resize(
        (width, height), Image.Resampling.BICUBIC
    )
    return np.asarray(resized, dtype=np.float32)


class Colorizer:
    """A generator plus the pre- and post-processing that make it colorize whole photos."""

    def __init__(self, generator: object, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.generator = generator
        self.max_pixels = max_pixels
        self.size = int(generator.input_shape[1])

    @classmethod
    def load(cls, model: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Colorizer:
        """From a .keras file, a folder holding generator.keras, or an MLflow model URI."""
        import keras

        return cls(keras.models.load_model(resolve_generator(model)), max_pixels)

    def colorize(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 photo (colour or gray) -> (H, W, 3) uint8 colorized photo."""
        height, width = rgb.shape[:2]
        if height * width > self.max_pixels:
            raise UnusableImage(
                f"too many pixels: {width}x{height} = {width * height:,} > {self.max_pixels:,}"
            )
        lightness = rgb_to_lab(rgb)[..., 0]  # colour input: only its lightness is used
        small = _resize_channel(lightness, self.size, self.size)
        small_l = scale_lab(np.stack([small, np.zeros_like(small), np.zeros_like(small)], -1))
        ab_small = np.asarray(self.generator(small_l[None, ..., :1], training=False))[0]
        ab = np.stack(
            [_resize_channel(ab_small[..., c] * AB_RANGE, width, height) for c in (0, 1)], -1
        )
        rgb_out = lab_to_rgb(np.concatenate([lightness[..., None], ab], axis=-1))
        return (rgb_out * 255 + 0.5).astype(np.uint8)

    def colorize_file(self, source: str | Path | bytes) -> np.ndarray:
        return self.colorize(load_rgb(source, self.max_pixels))


def resolve_generator(model: str | Path) -> Path:
    """A local path to generator.keras for a path or an MLflow URI (models:/, runs:/, ...)."""
    text = str(model)
    if "://" in text or text.startswith(("models:/", "runs:/")):
        import mlflow

        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=text))
        except Exception as error:
            raise ModelNotFoundError(f"cannot fetch MLflow model {text}: {error}") from None
    else:
        local = Path(text)
    if local.is_file():
        return local
    found = sorted(local.rglob("generator.keras")) if local.is_dir() else []
    if not found:
        raise ModelNotFoundError(
            f"no generator at {text}: give a .keras file, a folder holding generator.keras "
            "(e.g. models/) or an MLflow model URI such as models:/colorgan@champion"
        )
    return found[0]


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders expanded to the images inside them (recursively, sorted)."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += sorted(
                p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        else:
            paths.append(item)
    return paths


@dataclass(frozen=True)
class Outcome:
    source: Path
    output: Path | None
    error: str | None = None


def colorize_paths(colorizer: Colorizer, paths: list[Path], out_dir: Path) -> Iterator[Outcome]:
    """Colorize each file to out_dir/<stem>.png; a failure is reported and the batch goes on."""
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for path in paths:
        name = path.stem
        while name in used:  # same name from two folders: keep both
            name += "_"
        used.add(name)
        target = out_dir / f"{name}.png"
        try:
            Image.fromarray(colorizer.colorize_file(path)).save(target)
        except (UnusableImage, OSError) as error:
            yield Outcome(path, None, str(error))
        else:
            yield Outcome(path, target)
