import numpy as np
import pytest
import tensorflow as tf

from colorgan.color import rgb_to_scaled_lab
from colorgan.config import DataParams, PreprocessParams, SplitParams
from colorgan.data import records
from colorgan.data.color_tf import rgb_to_scaled_lab as tf_rgb_to_scaled_lab
from colorgan.data.dataset import count_examples, crop_window, make_dataset, random_view
from colorgan.data.images import load_rgb
from colorgan.data.ingest import ingest, iter_source
from colorgan.data.preprocess import center_crop, encode, preprocess
from tests.conftest import real_photo


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Six small real photos through ingest and preprocess at 32 px."""
    from PIL import Image

    from colorgan.data.sample import package_photo_paths

    root = tmp_path_factory.mktemp("data")
    (root / "photos").mkdir()
    for index, path in enumerate(package_photo_paths()[:6]):
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        image.thumbnail((128, 128))
        image.save(root / "photos" / f"photo{index}.png")
    data = DataParams(split=SplitParams(train=0.34, val=0.33, test=0.33))
    result = ingest(iter_source(str(root / "photos")), data, root / "images")
    params = PreprocessParams(image_size=32, workers=1)
    report = preprocess(result.manifest, root / "images", root / "prepared", params, 10**8)
    (root / "prepared/stats.json").write_text(report.to_json() + "\n")
    return root, result.manifest


def _epochs(dataset: tf.data.Dataset, n: int) -> list[np.ndarray]:
    """n epochs of (L, ab) batches as one array each."""
    return [
        np.concatenate(
            [np.concatenate([lightness, ab], -1) for lightness, ab in dataset.as_numpy_iterator()]
        )
        for _ in range(n)
    ]


def _jpeg_record(rgb: np.ndarray) -> tf.Tensor:
    return tf.constant(
        records.encode_example(
            {
                records.IMAGE: encode(rgb, "train", 95),
                records.HEIGHT: rgb.shape[0],
                records.WIDTH: rgb.shape[1],
            }
        )
    )


def test_hand_encoded_records_read_back_in_tensorflow(tmp_path):
    example = records.encode_example({"image": b"\x00\xffbytes", "height": 300, "width": 7})
    parsed = tf.train.Example.FromString(example).features.feature
    assert parsed["image"].bytes_list.value == [b"\x00\xffbytes"]
    assert parsed["height"].int64_list.value == [300]
    assert parsed["width"].int64_list.value == [7]
    # TensorFlow's reader checks both checksums of every frame: a wrong one is a DataLossError.
    shard = tmp_path / "shard.tfrecord"
    shard.write_bytes(records.frame(example) * 2)
    assert list(tf.data.TFRecordDataset(str(shard)).as_numpy_iterator()) == [example, example]
    corrupt = bytearray(records.frame(example))
    corrupt[-1] ^= 0xFF
    shard.write_bytes(bytes(corrupt))
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset(str(shard)).as_numpy_iterator())


def test_tensorflow_lab_matches_scikit_image():
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (1, 4096, 3), dtype=np.uint8)
    corners = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 0, 255], [0, 255, 0]]])
    for rgb in (colours, corners.astype(np.uint8), real_photo(side=64)):
        got = tf_rgb_to_scaled_lab(tf.constant(rgb)).numpy()
        np.testing.assert_allclose(got, rgb_to_scaled_lab(rgb), atol=1e-3)


def test_crop_sides_span_the_scale_range_inside_the_photo():
    height, width, scale = 90, 150, (0.35, 1.0)
    windows = np.array(
        [crop_window(height, width, tf.constant(d, tf.int64), scale).numpy() for d in range(300)]
    )
    top, left, side = windows[:, 0], windows[:, 1], windows[:, 2]
    assert side.min() >= round(0.35 * 90)
    assert side.max() <= 90
    assert side.min() < 0.45 * 90  # the whole range is drawn, both ends
    assert side.max() > 0.9 * 90
    assert (top >= 0).all() and (top + side <= height).all()
    assert (left >= 0).all() and (left + side <= width).all()
    assert len({tuple(w) for w in windows}) > 250  # positions vary too


def test_flips_are_random_and_left_right_only():
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:, :16] = (220, 30, 30)  # red left half, blue right half
    rgb[:, 16:] = (30, 30, 220)
    record = _jpeg_record(rgb)
    views = [
        random_view(record, tf.constant(d, tf.int64), 32, (1.0, 1.0)).numpy() for d in range(40)
    ]
    red_left = [view[:, 4, 0].mean() > view[:, 27, 0].mean() for view in views]
    assert 5 < sum(red_left) < 35  # both orientations occur
    for view in views:
        assert np.abs(view[:, :, :] - view[::-1, :, :]).max() < 0.05  # never upside down


def test_val_and_test_are_the_exact_centre_crops_in_order(prepared):
    root, manifest = prepared
    for split in ("val", "test"):
        rows = manifest[manifest["split"] == split].sort_values("hash")
        truth = np.stack(
            [
                rgb_to_scaled_lab(center_crop(load_rgb(root / "images" / f, 10**8, 32), 32))
                for f in rows["file"]
            ]
        )
        dataset = make_dataset(root / "prepared" / split, 4, training=False, seed=0)
        first, second = _epochs(dataset, 2)
        np.testing.assert_array_equal(first, second)
        np.testing.assert_allclose(first, truth, atol=1e-3)


def test_same_seed_same_batches_and_new_crops_every_epoch(prepared):
    root, _ = prepared
    train = root / "prepared/train"
    run_a = _epochs(make_dataset(train, 2, training=True, seed=7), 3)
    run_b = _epochs(make_dataset(train, 2, training=True, seed=7), 3)
    for epoch_a, epoch_b in zip(run_a, run_b, strict=True):
        np.testing.assert_array_equal(epoch_a, epoch_b)
    assert run_a[0].shape == (count_examples(train), 32, 32, 3)
    assert not np.allclose(np.sort(run_a[0], axis=None), np.sort(run_a[1], axis=None))
    assert not np.allclose(np.sort(run_a[1], axis=None), np.sort(run_a[2], axis=None))
    other = _epochs(make_dataset(train, 2, training=True, seed=8), 1)[0]
    assert not np.array_equal(other, run_a[0])
    assert run_a[0][..., 0].min() >= -1.0 and np.abs(run_a[0]).max() <= 1.0


def test_repeated_training_stream_is_reproducible(prepared):
    """As train.py uses it: repeated forever, read a few epochs' worth of batches."""
    root, _ = prepared
    train = root / "prepared/train"

    def stream():
        batches = make_dataset(train, 2, training=True, seed=1).repeat().take(6)
        return [ab for _, ab in batches.as_numpy_iterator()]

    for a, b in zip(stream(), stream(), strict=True):
        np.testing.assert_array_equal(a, b)
