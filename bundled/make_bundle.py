"""Build colorgan's bundled photo set from a checkout of https://github.com/Ivordir/quantette.

Reads the CQ100 photos (img/CQ100/img/*.png, credits in img/CQ100/metadata.csv) and the
Unsplash photos (img/unsplash/img/960x640/*.jpg, credits in img/unsplash/README.md), leaves
out EXCLUDED and any photo under a licence not in ACCEPTED_LICENCES, and writes

- photos/<name>.jpg: shorter side downscaled to 384 px (Lanczos, never upscaled), RGB,
  JPEG quality 90, optimized, with no EXIF and no colour profile (all sources are sRGB);
- CREDITS.csv: one row per photo (title, author, source, licence, modifications).

Usage, from the repository root:

    git clone https://github.com/Ivordir/quantette /tmp/quantette
    python bundled/make_bundle.py /tmp/quantette

Needs only the standard library and Pillow.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms

SHORT_SIDE = 384
JPEG_QUALITY = 90
UNSPLASH_SIZE = "960x640"  # quantette's resized copies; ample for a 384 px short side
UNSPLASH_LICENCE_URL = "https://unsplash.com/license"
CREDITS_HEADER = [
    "file",
    "title",
    "author",
    "author_url",
    "source_url",
    "licence",
    "licence_url",
    "modifications",
]

# Source name (CQ100's "Modified Filename", or the Unsplash file's stem) -> why it is left out.
EXCLUDED: dict[str, str] = {
    "color_chart": "a rendered chart (the xterm 256-colour chart, from an SVG), not a photo",
    "astro_bodies": "a rendered illustration of planet and star sizes, not a photo",
    "daisy_poster": "a poster: a grid of twelve cut-out daisy photos on black",
    "cosmic_vista": "an astronomical composite image (NASA/Chandra), not a scene of the world",
    "mural": "a photo of a painted mural, so a drawing fills the frame "
    "(and the mural is a third party's artwork)",
    "color_checker": "a colour chart (an X-Rite ColorChecker) filling the frame on white",
    "shopping_bags": "a 3D render of four paper bags on a flat yellow background",
    "tablet": "a cut-out stock photo on white whose colour is a rendered low-poly "
    "graphic on the tablet's screen",
    "veggies": "a poster: text panels and a MyPlate logo laid over the photo",
    "Rosetta Nebula": "astrophotography, not a scene of the world",
    "Futuristic": "a digital render (a glowing geometric graphic), not a photo",
    "Bryggen": "mostly gray: sky, mountain and forest desaturated (a selective-colour "
    "edit), only the waterfront in colour",
}

# CC0, public domain, CC BY and CC BY-SA of any version (ported ones too), Unsplash License.
ACCEPTED_LICENCES = re.compile(r"CC0 1\.0|Public Domain|CC BY(-SA)? \d\.\d( [A-Z]{2})?")

# "- `Jewel Changi.jpg` is by [Pang Yuhao](https://unsplash.com/@yuhao)"; one entry lacks ".jpg".
UNSPLASH_CREDIT = re.compile(
    r"^- `(?P<name>[^`]+?)(?:\.jpg)?` is by \[(?P<author>[^\]]+)\]\((?P<url>[^)]+)\)"
)


@dataclass
class Photo:
    """One source photo with the credits of its CREDITS.csv row."""

    source: Path
    name: str  # the bundled file's stem
    title: str
    author: str
    author_url: str
    source_url: str
    licence: str
    licence_url: str
    origin: str  # where the source file came from, for the modifications column


def cq100_photos(quantette: Path) -> list[tuple[str, Photo]]:
    """(category, photo) for every row of CQ100's metadata.csv."""
    folder = quantette / "img" / "CQ100"
    with (folder / "metadata.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    photos = []
    for row in rows:
        name = row["Modified Filename"]
        mods = row["Modifications"].lower()
        photos.append(
            (
                row["Category"],
                Photo(
                    source=folder / "img" / f"{name}.png",
                    name=name,
                    title=row["Original Filename"],
                    author=row["Author"],
                    author_url="" if row["Author URL"] == "Unknown" else row["Author URL"],
                    source_url=row["Source URL"],
                    licence=row["License"],
                    licence_url=row["License URL"],
                    origin=(
                        f"from CQ100's {row['Modified Width']}x{row['Modified Height']} image "
                        "(a PPM in CQ100, a PNG in Ivordir/quantette; CQ100's changes to the "
                        f"{row['Original Width']}x{row['Original Height']} original: {mods})"
                    ),
                ),
            )
        )
    return photos


def unsplash_photos(quantette: Path) -> list[tuple[str, Photo]]:
    """("Unsplash", photo) for every photo credited in img/unsplash/README.md."""
    folder = quantette / "img" / "unsplash"
    photos = []
    for line in (folder / "README.md").read_text(encoding="utf-8").splitlines():
        match = UNSPLASH_CREDIT.match(line)
        if not match:
            continue
        stem = match["name"]
        photos.append(
            (
                "Unsplash",
                Photo(
                    source=folder / "img" / UNSPLASH_SIZE / f"{stem}.jpg",
                    name=stem.lower().replace(" ", "_"),
                    title=f"{stem}.jpg",
                    author=match["author"],
                    author_url=match["url"],
                    source_url=match["url"],  # quantette names no photo page: the author's
                    licence="Unsplash License",
                    licence_url=UNSPLASH_LICENCE_URL,
                    origin=(
                        f"from the {UNSPLASH_SIZE} JPEG via Ivordir/quantette img/unsplash "
                        "(itself resized from the Unsplash original)"
                    ),
                ),
            )
        )
    return photos


def licence_accepted(licence: str) -> bool:
    return licence == "Unsplash License" or ACCEPTED_LICENCES.fullmatch(licence) is not None


def load_rgb(path: Path) -> Image.Image:
    """The image in sRGB RGB: an embedded non-sRGB profile is converted, then dropped."""
    with Image.open(path) as image:
        image.load()
    profile = image.info.get("icc_profile")
    if profile:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if not ImageCms.getProfileDescription(source).strip().startswith("sRGB"):
            image = ImageCms.profileToProfile(
                image.convert("RGB"), source, ImageCms.createProfile("sRGB")
            )
    return image.convert("RGB")


def downscale(image: Image.Image) -> Image.Image:
    """Shorter side to SHORT_SIDE px with Lanczos; a smaller image is left as it is."""
    short = min(image.size)
    if short <= SHORT_SIDE:
        return image
    scale = SHORT_SIDE / short
    size = (
        max(SHORT_SIDE, round(image.width * scale)),
        max(SHORT_SIDE, round(image.height * scale)),
    )
    return image.resize(size, Image.Resampling.LANCZOS)


def write_photo(photo: Photo, folder: Path) -> dict[str, str]:
    """Write the photo's JPEG; returns its CREDITS.csv row."""
    image = downscale(load_rgb(photo.source))
    file = f"{photo.name}.jpg"
    image.save(folder / file, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return {
        "file": file,
        "title": photo.title,
        "author": photo.author,
        "author_url": photo.author_url,
        "source_url": photo.source_url,
        "licence": photo.licence,
        "licence_url": photo.licence_url,
        "modifications": (
            f"Downscaled to {image.width}x{image.height} and re-encoded as JPEG "
            f"(quality {JPEG_QUALITY}) by colorgan, {photo.origin}"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("quantette", type=Path, help="path of a quantette checkout")
    parser.add_argument(
        "out",
        type=Path,
        nargs="?",
        default=Path(__file__).resolve().parent,
        help="output folder (default: bundled, the folder holding this script)",
    )
    args = parser.parse_args(argv)

    sources = cq100_photos(args.quantette) + unsplash_photos(args.quantette)
    unknown = set(EXCLUDED) - {photo.source.stem for _, photo in sources}
    if unknown:
        print(f"error: EXCLUDED names no source photo: {sorted(unknown)}", file=sys.stderr)
        return 1

    photos_folder = args.out / "photos"
    photos_folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    categories: Counter[str] = Counter()
    licences: Counter[str] = Counter()
    for category, photo in sources:
        source_name = photo.source.stem
        if source_name in EXCLUDED:
            print(f"left out {source_name}: {EXCLUDED[source_name]}")
            continue
        if not licence_accepted(photo.licence):
            print(f"left out {source_name}: licence {photo.licence!r} is not accepted")
            continue
        rows.append(write_photo(photo, photos_folder))
        categories[category] += 1
        licences[photo.licence] += 1

    written = {row["file"] for row in rows}
    for stale in photos_folder.glob("*.jpg"):
        if stale.name not in written:
            stale.unlink()

    rows.sort(key=lambda row: row["file"])
    with (args.out / "CREDITS.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CREDITS_HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    print(f"wrote {len(rows)} photos to {photos_folder}")
    print("by category:", dict(categories.most_common()))
    print("by licence:", dict(licences.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
