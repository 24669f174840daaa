import numpy as np
import pandas as pd

from colorgan.color import rgb_to_scaled_lab
from colorgan.config import DataParams, PreprocessParams, SplitParams
from colorgan.ingest import ingest, iter_source
from colorgan.preprocess import PAD_GRAY, pad_to_square, preprocess
from tests.conftest import real_photo


def _prepare(photo_folder, tmp_path, **overrides):
    params = DataParams(split=SplitParams(train=0.34, val=0.33, test=0.33))
    result = ingest(iter_source(str(photo_folder)), params, tmp_path / "images")
    pre = PreprocessParams(image_size=32, crops_per_image=3, workers=1, **overrides)
    out = tmp_path / "prepared"
    report = preprocess(
        result.manifest, tmp_path / "images", out, pre, seed=1, max_pixels=params.max_pixels
    )
    return result.manifest, report, out


def test_shards_hold_scaled_lab_of_the_right_shape(photo_folder, tmp_path):
    manifest, report, out = _prepare(photo_folder, tmp_path)
    n_train = int((manifest["split"] == "train").sum())
    assert report.splits["train"]["examples"] == 3 * n_train
    shard = np.load(next((out / "train").glob("shard-*.npy")))
    assert shard.shape[1:] == (32, 32, 3)
    assert shard.min() >= -1.0
    assert shard.max() <= 1.0
    assert not report.failed


def test_preprocess_is_deterministic_for_a_seed(photo_folder, tmp_path):
    _, _, first = _prepare(photo_folder, tmp_path / "a")
    _, _, second = _prepare(photo_folder, tmp_path / "b")
    for path in sorted(first.rglob("*.npy")):
        np.testing.assert_array_equal(np.load(path), np.load(second / path.relative_to(first)))


def test_shards_split_at_shard_size(photo_folder, tmp_path):
    manifest, report, out = _prepare(photo_folder, tmp_path, shard_size=2)
    sizes = [np.load(p).shape[0] for p in sorted((out / "train").glob("shard-*.npy"))]
    assert sum(sizes) == report.splits["train"]["examples"]
    assert max(sizes) == 2
    assert isinstance(manifest, pd.DataFrame)


def test_pad_policy_keeps_the_whole_photo_on_neutral_gray():
    wide = real_photo("rocket.jpg", side=128)  # 128 x 85
    square = pad_to_square(wide, 64)
    assert square.shape == (64, 64, 3)
    assert (square[0] == PAD_GRAY).all()  # band above the photo
    assert (square[-1] == PAD_GRAY).all()  # and below it
    assert np.abs(rgb_to_scaled_lab(square[:1])[..., 1:]).max() < 0.01  # gray has no colour
    middle = square[32].astype(int)
    assert np.abs(middle - PAD_GRAY).max() > 40  # the photo itself, not padding
