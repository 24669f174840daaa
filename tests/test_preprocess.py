import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from colorgan.color import rgb_to_scaled_lab
from colorgan.config import DataParams, PreprocessParams, SplitParams
from colorgan.data.images import load_rgb
from colorgan.data.ingest import ingest, iter_source
from colorgan.data.preprocess import (
    PAD_GRAY,
    Job,
    center_crop,
    pad_to_square,
    preprocess,
    process_photo,
)
from colorgan.data.sample import package_photo_paths
from tests.conftest import real_photo

SPLITS = ("train", "val", "test")
# Before TFRecords: 32 crops per train photo of 128 x 128 x 3 float16 values.
OLD_BYTES_PER_TRAIN_PHOTO = 32 * 128 * 128 * 3 * 2


def _prepare(photo_folder, tmp_path, dask_address=None, workers=1, **overrides):
    params = DataParams(split=SplitParams(train=0.34, val=0.33, test=0.33))
    result = ingest(
        iter_source(str(photo_folder)), params, tmp_path / "images", workers, dask_address
    )
    pre = PreprocessParams(image_size=32, workers=workers, **overrides)
    out = tmp_path / "prepared"
    report = preprocess(
        result.manifest, tmp_path / "images", out, pre, params.max_pixels, dask_address
    )
    (out / "stats.json").write_text(report.to_json() + "\n")
    return result, report, out


def read_records(split_dir) -> list[dict]:
    """Every stored example of a split, parsed by TensorFlow itself."""
    import tensorflow as tf

    features = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "height": tf.io.FixedLenFeature([], tf.int64),
        "width": tf.io.FixedLenFeature([], tf.int64),
    }
    paths = sorted(str(p) for p in split_dir.glob("shard-*.tfrecord"))
    return [
        {k: v.numpy() for k, v in tf.io.parse_single_example(record, features).items()}
        for record in tf.data.TFRecordDataset(paths)
    ]


def _decode(data: bytes) -> tuple[str, np.ndarray]:
    with Image.open(io.BytesIO(data)) as image:
        return image.format, np.asarray(image.convert("RGB"))


def test_each_photo_is_stored_once_train_larger_val_test_exact(photo_folder, tmp_path):
    result, report, out = _prepare(photo_folder, tmp_path)
    manifest = result.manifest.sort_values(["split", "hash"])
    stored_side = math.ceil(32 / 0.35)  # the smallest crop still covers 32 pixels
    for split in SPLITS:
        rows = manifest[manifest["split"] == split]
        stored = read_records(out / split)
        assert report.splits[split]["photos"] == len(rows) == len(stored) > 0
        for row, example in zip(rows.itertuples(), stored, strict=True):
            kind, rgb = _decode(example["image"])
            assert rgb.shape[:2] == (example["height"], example["width"])
            decoded_side = stored_side if split == "train" else 32  # JPEG draft decoding
            original = load_rgb(tmp_path / "images" / row.file, 10**8, decoded_side)
            if split == "train":
                assert kind == "JPEG"
                assert min(rgb.shape[:2]) == min(stored_side, *original.shape[:2])
            else:
                assert kind == "PNG"  # lossless: evaluation's truth is the exact centre crop
                np.testing.assert_array_equal(rgb, center_crop(original, 32))
    assert json.loads((out / "stats.json").read_text())["train_crop_scale"] == [0.35, 1.0]
    assert not report.failed


def test_a_stored_train_photo_takes_a_twentieth_of_the_old_crops():
    params = PreprocessParams(image_size=128)  # crop_scale: the default [0.35, 1]
    sizes = []
    for path in package_photo_paths()[:4]:
        framed = process_photo(Job(str(path), path.read_bytes(), "train", params, 10**8))
        assert isinstance(framed, bytes), framed
        sizes.append(len(framed))
    assert max(sizes) <= OLD_BYTES_PER_TRAIN_PHOTO / 20, sizes


def test_output_is_byte_identical_across_runs_and_worker_counts(photo_folder, tmp_path):
    _, _, first = _prepare(photo_folder, tmp_path / "a", workers=1)
    _, _, second = _prepare(photo_folder, tmp_path / "b", workers=2)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_shards_split_at_shard_size(photo_folder, tmp_path):
    _, report, out = _prepare(photo_folder, tmp_path, shard_size=1)
    shards = sorted((out / "train").glob("shard-*.tfrecord"))
    assert len(shards) == report.splits["train"]["shards"] == report.splits["train"]["photos"]
    assert sum(p.stat().st_size for p in shards) == report.splits["train"]["bytes"]


@pytest.mark.parametrize("resize", ["center_crop", "pad"])
def test_square_policies_store_train_photos_at_image_size(photo_folder, tmp_path, resize):
    _, report, out = _prepare(photo_folder, tmp_path, resize=resize)
    for example in read_records(out / "train"):
        assert (example["height"], example["width"]) == (32, 32)
    assert report.train_crop_scale == [1.0, 1.0]  # the pipeline only flips these


def test_unreadable_photos_are_reported_not_fatal(photo_folder, tmp_path):
    result, _, _ = _prepare(photo_folder, tmp_path)
    images = tmp_path / "images"
    broken = result.manifest.iloc[0].file
    (images / broken).write_bytes(b"not an image any more")
    missing = result.manifest.iloc[1].file
    (images / missing).unlink()
    params = PreprocessParams(image_size=32, workers=1)
    report = preprocess(result.manifest, images, tmp_path / "again", params, 10**8)
    assert len(report.failed) == 2
    assert any(broken in line and "not an image" in line for line in report.failed)
    assert any(missing in line and "unreadable" in line for line in report.failed)
    assert sum(s["photos"] for s in report.splits.values()) == len(result.manifest) - 2


def test_dask_cluster_gives_the_same_bytes_as_the_local_run(photo_folder, tmp_path):
    from distributed import LocalCluster

    good = (photo_folder / "photo1.jpg").read_bytes()
    (photo_folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (photo_folder / "notes.txt").write_text("not a photo")
    local_ingest, _, local = _prepare(photo_folder, tmp_path / "local")
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        dask_ingest, _, remote = _prepare(
            photo_folder, tmp_path / "dask", dask_address=cluster.scheduler_address
        )
    assert len(dask_ingest.rejected) == 2  # bad files: reported, not fatal
    pd.testing.assert_frame_equal(local_ingest.rejected, dask_ingest.rejected)
    pd.testing.assert_frame_equal(local_ingest.manifest, dask_ingest.manifest)
    for local_dir, dask_dir in (
        (tmp_path / "local/images", tmp_path / "dask/images"),
        (local, remote),
    ):
        files = sorted(p.relative_to(local_dir) for p in local_dir.rglob("*") if p.is_file())
        assert files
        assert files == sorted(p.relative_to(dask_dir) for p in dask_dir.rglob("*") if p.is_file())
        for name in files:
            assert (local_dir / name).read_bytes() == (dask_dir / name).read_bytes(), name


def test_pad_policy_keeps_the_whole_photo_on_neutral_gray():
    wide = real_photo("rocket.jpg", side=128)  # 128 x 85
    square = pad_to_square(wide, 64)
    assert square.shape == (64, 64, 3)
    assert (square[0] == PAD_GRAY).all()  # band above the photo
    assert (square[-1] == PAD_GRAY).all()  # and below it
    assert np.abs(rgb_to_scaled_lab(square[:1])[..., 1:]).max() < 0.01  # gray has no colour
    middle = square[32].astype(int)
    assert np.abs(middle - PAD_GRAY).max() > 40  # the photo itself, not padding
