"""Every kind of file a photo collection holds: accepted and normalized, or rejected with why."""

import io

import numpy as np
import pytest
from PIL import Image

from colorgan.config import DataParams
from colorgan.data.images import UnusableImage, load_rgb
from colorgan.data.ingest import SourceFile, ingest, inspect_image
from tests.conftest import real_photo

PARAMS = DataParams(min_side=16, max_pixels=1_000_000)


def encode(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(real_photo("astronaut.png", side=64))


def test_truncated_png_and_jpeg_are_rejected_as_corrupt(photo):
    for kind in ("PNG", "JPEG"):
        data = encode(photo, kind)
        with pytest.raises(UnusableImage, match="corrupt or truncated"):
            load_rgb(data[: len(data) * 2 // 3], PARAMS.max_pixels)


def test_decompression_bomb_is_refused_from_the_header_before_decoding():
    bomb = encode(Image.new("L", (2000, 1000)), "PNG")  # 2 MP of zeros: a few kB on disk
    assert len(bomb) < 20_000
    with pytest.raises(UnusableImage, match=r"2000x1000 = 2,000,000 > data.max_pixels=1,000,000"):
        inspect_image(bomb, PARAMS)


def test_too_small_is_rejected_with_the_limit(photo):
    with pytest.raises(UnusableImage, match="too small: 10x8"):
        inspect_image(encode(photo.resize((10, 8)), "PNG"), PARAMS)


def test_transparent_images_are_composited_on_white(photo):
    rgba = photo.convert("RGBA")
    rgba.putalpha(0)
    la = photo.convert("LA")
    la.putalpha(0)
    for image in (rgba, la):
        assert (load_rgb(encode(image, "PNG"), PARAMS.max_pixels) == 255).all()
    palette = photo.convert("P")
    palette.info["transparency"] = int(np.asarray(palette)[0, 0])
    decoded = load_rgb(encode(palette, "PNG"), PARAMS.max_pixels)
    assert (decoded[0, 0] == 255).all()


def test_cmyk_jpeg_comes_out_as_the_same_colours(photo):
    rgb = load_rgb(encode(photo.convert("CMYK"), "JPEG", quality=95), PARAMS.max_pixels)
    assert rgb.shape == (64, 64, 3)
    assert np.abs(rgb.astype(int) - np.asarray(photo)).mean() < 12


def test_sixteen_bit_png_and_tiff_keep_their_tones():
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    for kind in ("PNG", "TIFF"):
        image = Image.fromarray(ramp)
        assert image.mode == "I;16"
        rgb = load_rgb(encode(image, kind), PARAMS.max_pixels)
        assert rgb.dtype == np.uint8
        assert rgb[0, 0, 0] == 0
        assert rgb[-1, -1, 0] == 255  # scaled, not clipped to white
        assert 120 < rgb[32, 0, 0] < 136


def test_exif_orientation_is_applied_before_anything_else(photo):
    wide = photo.crop((0, 0, 64, 32))
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated by 90 degrees
    data = encode(wide, "JPEG", exif=exif)
    assert load_rgb(data, PARAMS.max_pixels).shape == (64, 32, 3)
    facts = inspect_image(data, DataParams(min_side=16))
    assert (facts["width"], facts["height"]) == (32, 64)


def test_formats_and_wrong_extensions_are_identified_by_content(photo, tmp_path):
    blobs = {
        "a.webp": encode(photo, "WEBP"),
        "b.bmp": encode(photo, "BMP"),
        "c.gif": encode(photo, "GIF"),
        "d.TIFF": encode(photo.rotate(90), "TIFF"),
        "really_a_png.jpg": encode(photo.rotate(180), "PNG"),
    }
    files = [SourceFile(name, lambda b=blob: b) for name, blob in blobs.items()]
    result = ingest(iter(files), DataParams(min_side=16), tmp_path / "images")
    formats = dict(zip(result.manifest["source"], result.manifest["format"], strict=True))
    assert result.rejected.empty
    assert formats["really_a_png.jpg"] == "PNG"
    assert {"WEBP", "BMP", "GIF", "TIFF"} <= set(formats.values())
