"""The bundled sample: colour photos that installed packages already ship, found at run time.

The sample stage copies them into a folder (data/sample), so the default ``data.source`` is
a folder like any user's, which DVC tracks as ingest's dependency.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def sample_photo_paths() -> list[Path]:
    """Natural colour photos from scikit-image, scikit-learn and matplotlib; no download."""
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
                "hubble_deep_field.jpg",
                "ihc.png",
                "retina.jpg",
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


def write_sample(folder: Path) -> list[Path]:
    """Copy the sample photos into ``folder`` (made if missing); returns the copies."""
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(path, folder / path.name)) for path in sample_photo_paths()]
