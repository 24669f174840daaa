"""Decode any photo a user may hand us into plain 8-bit RGB, or say why it cannot be used.

Ingest, preprocess and inference all load pixels through :func:`load_rgb`, so an image
that passed ingest decodes the same way everywhere, EXIF orientation included.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


class UnusableImage(ValueError):
    """The file cannot serve as a colour photo; ``str(error)`` is the reason for a person."""


def open_image(source: str | Path | bytes, max_pixels: int) -> Image.Image:
    """Open lazily (header only) and refuse oversized images before decoding them."""
    if isinstance(source, bytes | bytearray):
        if not source:
            raise UnusableImage("empty file (0 bytes)")
        stream: io.BytesIO | Path = io.BytesIO(source)
    else:
        stream = Path(source)
        if stream.stat().st_size == 0:
            raise UnusableImage("empty file (0 bytes)")
    try:
        # Pillow's own bomb guard warns for big images; data.max_pixels, checked below from
        # the header before any pixel is decoded, is the cap that counts here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream)
    except UnidentifiedImageError:
        raise UnusableImage("not an image (format not recognised)") from None
    except Image.DecompressionBombError as error:
        raise UnusableImage(f"too many pixels: {error}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise UnusableImage(
            f"too many pixels: {width}x{height} = {width * height:,} "
            f"> data.max_pixels={max_pixels:,}"
        )
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB: alpha composited on white, 16-bit scaled to 8-bit, CMYK converted."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16/32-bit gray: scale by the actual range so a 16-bit scan is not clipped to white.
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if array.max(initial=0) > 255 else 255.0
        gray = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        gray = np.clip(array * (255.0 if array.max(initial=0) <= 1.0 else 1.0), 0, 255)
        return Image.fromarray(gray.astype(np.uint8), mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def load_rgb(
    source: str | Path | bytes,
    max_pixels: int,
    min_decoded_side: int | None = None,
) -> np.ndarray:
    """Decode to an (H, W, 3) uint8 array in display orientation.

    ``min_decoded_side`` lets JPEG decoding skip work (Pillow's draft mode decodes at
    1/2, 1/4 or 1/8 scale) while keeping the shorter side at least that long.
    """
    image = open_image(source, max_pixels)
    try:
        if min_decoded_side and image.format == "JPEG":
            width, height = image.size
            scale = min_decoded_side / min(width, height)
            if scale < 1:
                image.draft("RGB", (int(width * scale) + 1, int(height * scale) + 1))
        image.seek(0)  # first frame of a GIF or multi-page TIFF
        image.load()
        image = ImageOps.exif_transpose(image) or image
        return np.asarray(to_rgb(image), dtype=np.uint8)
    except UnusableImage:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise UnusableImage(f"corrupt or truncated image data: {error}") from None
    finally:
        image.close()
