"""The bundled sample: about a hundred redistributable colour photos committed under
bundled/photos (credits and licences in bundled/CREDITS.csv), plus the natural
photos that installed packages already ship.

The sample stage copies both into one folder (data/sample), so the default ``data.source``
is a folder like any user's, which DVC tracks as ingest's dependency. The two kinds keep
their own subfolders: ``data.include: "packages/*"`` picks the few package photos alone
(the test suite's tiny pipelines do).
"""

from __future__ import annotations

import shutil
from pathlib import Path

BUNDLED_FOLDER = Path("bundled/photos")  # relative to the repository root
BUNDLED_SUBFOLDER = "bundled"
PACKAGES_SUBFOLDER = "packages"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


def package_photo_paths() -> list[Path]:
    """Natural colour photos from scikit-image, scikit-learn and matplotlib; no download.

    The packages' other colour images (a Hubble deep field, a stained tissue slide, a
    retina) are left out: they are not photos of the world, and taught the model their
    odd colours."""
    import matplotlib
    import skimage
    import sklearn

    skimage_data = Path(skimage.__file__).parent / "data"
    photos = [
        *(
            skimage_data / name
            for name in (
                "astronaut.png",
                "chelsea.png",
                "coffee.png",
                "rocket.jpg",
                "motorcycle_left.png",
            )
        ),
        Path(sklearn.__file__).parent / "datasets" / "images" / "china.jpg",
        Path(sklearn.__file__).parent / "datasets" / "images" / "flower.jpg",
        Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg",
    ]
    missing = [str(path) for path in photos if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"sample photos missing from the installed packages: {missing}; "
            "reinstall with the pinned constraints (make install)"
        )
    return photos


def bundled_photo_paths(folder: Path = BUNDLED_FOLDER) -> list[Path]:
    """The committed photos, sorted by name."""
    photos = sorted(p for p in folder.glob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise FileNotFoundError(
            f"no bundled photos in {folder}: run the sample stage from the repository root "
            "of a complete checkout (git restores bundled/photos)"
        )
    return photos


def write_sample(folder: Path, bundled: Path = BUNDLED_FOLDER) -> list[Path]:
    """Copy the bundled and the package photos into ``folder``'s subfolders (made afresh);
    returns the copies."""
    # Both lists first: a checkout missing its photos fails before the old sample is gone.
    sources = {BUNDLED_SUBFOLDER: bundled_photo_paths(bundled), PACKAGES_SUBFOLDER: package_photo_paths()}
    shutil.rmtree(folder, ignore_errors=True)  # a photo dropped from the bundle goes too
    copies = []
    for subfolder, photos in sources.items():
        (folder / subfolder).mkdir(parents=True, exist_ok=True)
        copies += [Path(shutil.copyfile(p, folder / subfolder / p.name)) for p in photos]
    return copies
