"""The bundled photos: each one credited, each one accounted for by ingest, and enough of
them in every split for the default run to be judged."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from colorgan.config import DataParams
from colorgan.data.ingest import ingest, iter_source
from colorgan.data.sample import (
    BUNDLED_SUBFOLDER,
    PACKAGES_SUBFOLDER,
    bundled_photo_paths,
    package_photo_paths,
    write_sample,
)

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "bundled"
REDISTRIBUTABLE = ("CC0", "Public Domain", "CC BY", "CC BY-SA", "Unsplash License")
MIN_EVAL_PHOTOS = 12  # val and test each: the floor for judging a default run


def credits() -> list[dict[str, str]]:
    with (BUNDLE / "CREDITS.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_bundled_photo_has_exactly_one_credit_and_every_credit_a_photo():
    photos = [path.name for path in bundled_photo_paths(BUNDLE / "photos")]
    credited = [row["file"] for row in credits()]

    assert len(photos) >= 95  # "about a hundred": bundled/README.md lists what was left out
    assert sorted(credited) == sorted(photos)
    assert len(set(credited)) == len(credited)


@pytest.mark.parametrize("row", credits(), ids=lambda row: row["file"])
def test_each_credit_names_author_source_and_a_licence_that_allows_redistribution(row):
    for field in ("title", "author", "source_url", "licence", "licence_url", "modifications"):
        assert row[field].strip(), field
    assert row["source_url"].startswith(("http://", "https://"))
    assert row["licence"].startswith(REDISTRIBUTABLE), row["licence"]


def test_ingest_accounts_for_every_sample_photo_and_fills_every_split(tmp_path):
    copies = write_sample(tmp_path / "sample", BUNDLE / "photos")
    expected = len(bundled_photo_paths(BUNDLE / "photos")) + len(package_photo_paths())
    assert len(copies) == expected

    result = ingest(iter_source(str(tmp_path / "sample")), DataParams(), tmp_path / "images")

    sources = [*result.manifest["source"], *result.rejected["source"]]
    assert sorted(sources) == sorted(map(str, copies))  # each photo once: kept or why not
    assert result.rejected.empty, result.rejected.to_dict("records")
    per_split = result.summary()["per_split"]
    assert per_split["val"] >= MIN_EVAL_PHOTOS and per_split["test"] >= MIN_EVAL_PHOTOS, per_split
    kinds = {Path(source).parent.name for source in result.manifest["source"]}
    assert kinds == {BUNDLED_SUBFOLDER, PACKAGES_SUBFOLDER}


def test_a_checkout_without_the_bundled_photos_says_where_they_belong(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "notes.txt").write_text("no photos here")
    earlier = tmp_path / "sample" / BUNDLED_SUBFOLDER / "kept.jpg"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"an earlier sample's photo")

    with pytest.raises(FileNotFoundError, match=r"no bundled photos in .*photos.*git restores"):
        write_sample(tmp_path / "sample", tmp_path / "photos")
    assert earlier.read_bytes() == b"an earlier sample's photo"  # the old sample is untouched
