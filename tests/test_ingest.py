import hashlib
import re
import zipfile

import pytest
from PIL import Image

from colorgan.config import DataParams, ParamsError, SplitParams, parse_params
from colorgan.data.ingest import (
    IngestError,
    SourceFile,
    assign_split,
    check_usable,
    ingest,
    iter_source,
)
from tests.conftest import real_photo


def test_ingested_photos_are_stored_under_their_content_hash(photo_folder, tmp_path):
    result = ingest(iter_source(str(photo_folder)), DataParams(), tmp_path / "images")
    assert result.rejected.empty
    assert len(result.manifest) == len(list(photo_folder.iterdir()))
    for row in result.manifest.itertuples():
        stored = (tmp_path / "images" / row.file).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == row.hash


def test_every_file_is_accepted_or_rejected_with_a_reason(photo_folder, tmp_path):
    (photo_folder / "empty.jpg").write_bytes(b"")
    (photo_folder / "notes.txt").write_text("not a photo")
    good = (photo_folder / "photo1.jpg").read_bytes()
    (photo_folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (photo_folder / "photo1_copy.jpg").write_bytes(good)
    Image.new("RGB", (64, 64), (90, 90, 90)).save(photo_folder / "flat_gray.png")
    params = DataParams(split=SplitParams(train=0.34, val=0.33, test=0.33))

    result = ingest(iter_source(str(photo_folder)), params, tmp_path / "images")

    reasons = dict(
        zip(
            result.rejected["source"].str.rsplit("/", n=1).str[-1],
            result.rejected["reason"],
            strict=True,
        )
    )
    assert reasons["empty.jpg"].startswith("empty file")
    assert reasons["notes.txt"].startswith("not an image")
    assert reasons["truncated.jpg"].startswith("corrupt or truncated")
    assert reasons["photo1_copy.jpg"].startswith("duplicate")
    assert reasons["flat_gray.png"].startswith("already grayscale")
    assert len(result.manifest) + len(result.rejected) == len(list(photo_folder.iterdir()))


def test_split_is_a_pure_function_of_the_hash():
    ratios = SplitParams(train=0.5, val=0.25, test=0.25)
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(400)]
    splits = [assign_split(h, ratios) for h in hashes]
    assert splits == [assign_split(h, ratios) for h in hashes]
    assert 150 < splits.count("train") < 250  # roughly the ratio


def test_archive_source_is_read_member_by_member(photo_folder, tmp_path):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(photo_folder.iterdir()):
            handle.write(path, path.name)
    labels = [f.label for f in iter_source(str(archive))]
    assert labels == [f"{archive}:{p.name}" for p in sorted(photo_folder.iterdir())]


def test_nothing_usable_stops_with_a_clear_error(tmp_path):
    files = [SourceFile("a.jpg", lambda: b""), SourceFile("b.jpg", lambda: b"junk")]
    result = ingest(iter(files), DataParams(), tmp_path / "images")
    assert len(result.rejected) == 2
    with pytest.raises(IngestError, match="no usable image"):
        check_usable(result, DataParams().split)


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(IngestError, match="no such file or folder"):
        list(iter_source(str(tmp_path / "nowhere")))


def test_adding_photos_never_moves_one_and_uses_a_worker_pool(photo_folder, tmp_path):
    first = ingest(iter_source(str(photo_folder)), DataParams(), tmp_path / "a", workers=2)
    for index in range(4):
        image = Image.fromarray(real_photo("rocket.jpg", side=100 + 8 * index))
        image.save(photo_folder / f"new{index}.png")
    second = ingest(iter_source(str(photo_folder)), DataParams(), tmp_path / "b", workers=2)
    before = dict(zip(first.manifest["hash"], first.manifest["split"], strict=True))
    after = dict(zip(second.manifest["hash"], second.manifest["split"], strict=True))
    assert len(after) == len(before) + 4
    assert {h: after[h] for h in before} == before


def test_include_selects_files_by_glob_or_by_list_inside_the_folder(photo_folder):
    (photo_folder / "more").mkdir()
    (photo_folder / "more" / "extra.jpg").write_bytes(b"")
    (photo_folder / "keep.txt").write_text(
        "# chosen\nphoto1.jpg\nmore/extra.jpg\n../elsewhere.jpg\n"
    )

    by_glob = [f.label for f in iter_source(str(photo_folder), "**/*.jpg")]
    by_list = list(iter_source(str(photo_folder), "keep.txt"))

    assert by_glob == [
        str(photo_folder / n) for n in ("more/extra.jpg", "photo1.jpg", "photo3.jpg", "photo5.jpg")
    ]
    assert [f.label for f in by_list[:2]] == [
        str(photo_folder / "photo1.jpg"),
        str(photo_folder / "more/extra.jpg"),
    ]
    with pytest.raises(OSError, match=r"outside data\.source"):
        by_list[2].read()  # so it lands in rejected.csv, with the reason


def test_a_missing_list_is_a_clear_error(photo_folder):
    with pytest.raises(IngestError, match="no such list"):
        list(iter_source(str(photo_folder), "keep.txt"))


def test_include_other_than_all_files_is_refused_for_an_archive(tmp_path):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("a.jpg", b"")
    with pytest.raises(IngestError, match="selects files of a folder"):
        list(iter_source(str(archive), "*.jpg"))


@pytest.mark.parametrize(
    ("old", "advice"),
    [
        ("sample", "data/sample"),
        ("photos/**/*.jpg", "write data.source: photos and data.include: '**/*.jpg'"),
        ("lists/train.txt", "write data.source: lists and data.include: 'train.txt'"),
    ],
)
def test_old_style_sources_say_what_to_write_instead(old, advice):
    with pytest.raises(ParamsError, match=re.escape(advice)):
        parse_params({"data": {"source": old}})


def test_include_may_not_leave_the_source_folder():
    with pytest.raises(ParamsError, match=r"must stay inside data\.source"):
        parse_params({"data": {"include": "../other/*.jpg"}})
