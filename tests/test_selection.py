"""Selection by realism: the kept epoch is the one whose colours look real, not the one
closest to the average colour; casts are kept out by a cheap guard; the chroma gain follows
the same rule; train.json says what was kept and why."""

import json
import logging

import keras
import numpy as np
import pytest
from PIL import Image

from colorgan.color import rgb_to_scaled_lab
from colorgan.config import ParamsError, parse_params
from colorgan.model.gan import LOSS_NAMES, build_gan
from colorgan.tracking.runs import MlflowRun
from colorgan.training.checkpoints import CheckpointStore
from colorgan.training.monitor import TrainingMonitor
from colorgan.training.selection import (
    EpochSelection,
    ValidationSet,
    fit_chroma_gain,
    keep_best,
    predict_ab,
    realism_chroma_gain,
    reason,
)
from colorgan.training.train import _summarize
from tests.conftest import REPO, TINY_PARAMS, deep_update
from tests.test_gan import _batch

BAND = (0.6, 1.3)  # a guard of train.select_colorfulness_band (the default is [0.5, 1.3])
MARGIN = -1.0  # up to 1 dB below gray: the margin a GAN near gray's PSNR needs (BSDS research)


@pytest.fixture(scope="module")
def validation() -> ValidationSet:
    """32 bundled photos, centre squares at 96 px (the default run's validation size)."""
    crops = []
    for path in sorted((REPO / "bundled/photos").glob("*.jpg"))[:32]:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        square = image.crop((left, top, left + side, top + side)).resize((96, 96))
        crops.append(np.asarray(square))
    lab = rgb_to_scaled_lab(np.stack(crops))
    return ValidationSet(lab[..., :1], lab[..., 1:])


def _turn_hues(ab: np.ndarray, max_degrees: float, seed: int = 0) -> np.ndarray:
    """Each photo's true colours turned by its own random hue angle: a red car painted
    blue, a green field yellow. Wrong colours, but colours a photo could have."""
    angles = np.deg2rad(np.random.default_rng(seed).uniform(-max_degrees, max_degrees, len(ab)))
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    a, b = ab[..., 0], ab[..., 1]
    return np.stack([cos * a - sin * b, sin * a + cos * b], axis=-1)


def _kept(criterion, epochs, margin=MARGIN, band=BAND):
    """The index of the epoch a criterion keeps, the epochs scored in order."""
    select = EpochSelection(criterion, margin, band)
    best = None
    for index, scores in enumerate(epochs):
        if select.better(scores, best):
            best = {"epoch": index, "scores": scores}
    return best["epoch"]


def test_realism_keeps_real_colours_that_psnr_passes_over_for_beige(validation):
    # Given two epochs: one with the truth's hues at 40% of their strength (what L1 learns:
    # the cautious average), one with full, plausible but partly wrong colours.
    beige, vivid = 0.4 * validation.ab, _turn_hues(validation.ab, 90)
    # A band wide enough to let both compete: KID alone decides between them.
    select = EpochSelection("realism", MARGIN, (0.3, 1.3))
    epochs = [select.score(validation, beige), select.score(validation, vivid)]

    # PSNR prefers the beige epoch; both are above gray, and realism prefers the vivid one.
    assert epochs[0]["val_psnr"] > epochs[1]["val_psnr"] > epochs[1]["val_gray_psnr"]
    assert epochs[1]["val_kid"] < 0.5 * epochs[0]["val_kid"]  # 0.008 vs 0.026 when written
    assert _kept("val_psnr", epochs) == 0
    assert _kept("colourful_above_gray", epochs, margin=1.0) == 1  # (by colour, not realism)
    assert _kept("realism", epochs, band=(0.3, 1.3)) == 1
    # The default band does not even let the beige epoch compete (40% of the truth's colour).
    assert "val_kid" not in EpochSelection("realism", MARGIN, BAND).score(validation, beige)


def test_a_cast_fails_the_guard_and_is_not_kept_even_with_a_low_kid(validation):
    select = EpochSelection("realism", MARGIN, BAND)
    orange = np.clip(validation.ab + np.array([0.2, 0.4]), -1.0, 1.0)  # a strong orange cast
    cast = select.score(validation, orange)
    assert "val_kid" not in cast  # no features paid for an epoch the guard excludes
    assert cast["val_psnr"] < cast["val_gray_psnr"] + MARGIN
    honest = select.score(validation, 0.8 * validation.ab)
    assert "val_kid" in honest

    flattered = {**cast, "val_kid": -1.0}  # even a KID that would win everything
    assert _kept("realism", [flattered, honest]) == 1


def _scores(psnr, gray, colour, kid=None):
    scores = {"val_psnr": psnr, "val_gray_psnr": gray, "val_colorfulness_ratio": colour}
    return scores if kid is None else {**scores, "val_kid": kid, "val_kid_std": 0.0}


def test_realism_ranks_by_kid_among_the_guarded_and_says_why():
    epochs = [
        _scores(22.0, 21.0, 0.7, kid=0.030),
        _scores(20.5, 21.0, 0.95, kid=0.012),  # below gray, within the margin: competes
        _scores(19.0, 21.0, 1.0),  # 2 dB below gray: no KID was computed
        _scores(21.5, 21.0, 1.6),  # more colourful than the band allows
    ]
    assert _kept("realism", epochs) == 1
    assert _kept("realism", epochs, margin=0.0) == 0  # a margin of 0: only above gray competes
    words = reason("realism", MARGIN, epochs[1], BAND)
    assert "KID 0.0120" in words
    assert "at most 1 dB below gray's" in words
    assert "60%-130%" in words


def test_when_no_epoch_passes_the_guard_the_highest_psnr_is_kept_and_the_reason_says_so():
    epochs = [_scores(20.0, 21.0, 0.3), _scores(21.0, 21.0, 0.4), _scores(18.0, 21.0, 1.0)]
    assert _kept("realism", epochs) == 1
    words = reason("realism", MARGIN, epochs[1], BAND)
    assert words.startswith("no epoch passed the realism guard")
    assert "kept the highest validation PSNR (validation PSNR 21.00 dB" in words


class RecordingRun(MlflowRun):
    """An MLflow run with no store that keeps the (step, scores) rows it is sent."""

    def __init__(self):
        super().__init__(None)
        self.rows = []

    def log_steps(self, rows):
        self.rows += rows


def test_a_kept_kid_survives_the_checkpoint_and_reaches_mlflow_each_epoch(tmp_path):
    # Given a monitor under realism with a guard every epoch passes (an untrained G's
    # colours are nearly gray).
    keras.utils.set_random_seed(0)
    gan = build_gan(parse_params(TINY_PARAMS))
    run, store, state = RecordingRun(), CheckpointStore(tmp_path / "ckpt"), {"epoch": 0, "step": 2}
    select = EpochSelection("realism", -100.0, (1e-9, 1e9))
    validation = ValidationSet(*_batch())
    monitor = TrainingMonitor(
        run, store, state, [], 1, validation, lambda epoch: 0.0, select=select
    )
    monitor.set_model(gan)

    monitor.on_epoch_end(0)

    # MLflow got the epoch's KID with its other scores, at the epoch's last step.
    assert [(step, "val_kid" in scores) for step, scores in run.rows] == [(2, True)]
    # A resumed training reads the kept epoch's KID back from the checkpoint (JSON) and
    # goes on comparing with it.
    best = store.latest()[1]["best"]
    assert best["scores"]["val_kid"] == pytest.approx(state["scores"]["val_kid"])
    later = {**best["scores"], "val_kid": best["scores"]["val_kid"] - 0.01}
    assert select.better(later, best)
    assert not select.better(best["scores"], {"epoch": 2, "scores": later})


def _kept_from(select_epoch: str, pretrain_epochs: int, tmp_path, caplog):
    """keep_best on a fresh tiny GAN whose epoch 2 of 3 is kept: the kept generator and
    what train.json gets, with what the gain would be if fitted."""
    train = {"epochs": 3, "pretrain_epochs": pretrain_epochs, "select_epoch": select_epoch}
    params = parse_params(deep_update(TINY_PARAMS, {"train": {**train, "chroma_gain": "fit"}}))
    keras.utils.set_random_seed(0)
    gan = build_gan(params)
    validation = ValidationSet(*_batch())
    fake_ab = predict_ab(gan.generator, validation.lightness)
    scores = EpochSelection.from_params(params.train).score(validation, fake_ab)
    state = {"epoch": 2, "best": {"epoch": 2, "scores": scores}}
    store = CheckpointStore(tmp_path / "checkpoints")
    with caplog.at_level(logging.INFO, logger="colorgan.training.selection"):
        generator, kept = keep_best(gan, store, state, params.train, validation)
    fitted = fit_chroma_gain(validation, fake_ab, params.train.select_margin_db)
    return gan, generator, kept, fitted


def test_realism_fits_the_gain_by_kid_so_beige_is_boosted_and_true_colours_left_alone(
    validation,
):
    beige = validation.ab * 0.5
    boosted = realism_chroma_gain(validation, beige, MARGIN, BAND)
    assert boosted is not None and 1.75 <= boosted <= 2.25  # back near the truth: x 1/0.5

    assert realism_chroma_gain(validation, validation.ab, MARGIN, BAND) == pytest.approx(1.0)


def test_with_no_gain_passing_the_guard_realism_falls_back_to_the_psnr_fit(
    validation, tmp_path, caplog
):
    orange = np.broadcast_to(np.array([0.4, 0.6]), validation.ab.shape)  # a cast at any gain
    assert realism_chroma_gain(validation, orange, 0.0, BAND) is None

    # A fresh generator paints gray (its last layer starts at zero): no gain makes that
    # colourful enough for the guard, so keep_best fits the gain of the L1 epoch by PSNR.
    _, generator, kept, fitted = _kept_from("realism", 2, tmp_path, caplog)
    assert kept["chroma_gain"] == pytest.approx(fitted)
    assert generator.get_layer("chroma_gain").scale == pytest.approx(fitted)
    assert fitted != pytest.approx(1.0)  # so the next test's 1.0 is realism's doing


def test_realism_leaves_an_adversarial_epoch_at_gain_one(tmp_path, caplog):
    gan, generator, kept, fitted = _kept_from("realism", 1, tmp_path, caplog)
    assert fitted != pytest.approx(1.0)  # PSNR would have scaled it
    assert kept["chroma_gain"] == 1.0
    assert generator is gan.colorizer  # shipped as trained (G_ema by default), no gain layer
    assert "chroma gain stays 1.0" in caplog.text


def test_other_criteria_still_fit_the_gain_of_an_adversarial_epoch(tmp_path, caplog):
    _, generator, kept, fitted = _kept_from("val_psnr", 1, tmp_path, caplog)
    assert kept["chroma_gain"] == pytest.approx(fitted)
    assert generator.get_layer("chroma_gain").scale == pytest.approx(fitted)


def test_train_json_says_whether_the_kept_epoch_is_adversarial_and_why():
    history = [{"step": 40, "epoch": 4, **dict.fromkeys(LOSS_NAMES, 0.5)}]
    kept = {
        "epoch": 3,
        "reason": "most realistic epoch: ...",
        "chroma_gain": 1.0,
        "scores": _scores(20.5, 21.0, 0.95, kid=0.012),
    }
    metrics = _summarize(history, {"epoch": 4, "step": 40}, kept, pretrain=2)
    assert metrics["pretrain_epochs"] == 2
    assert metrics["selected_adversarial"] is True
    assert metrics["d_trained"] is True
    assert metrics["selection"] == "most realistic epoch: ..."
    assert metrics["val_kid"] == pytest.approx(0.012)
    json.dumps(metrics)  # what train.json is written with
    l1 = _summarize(history, {"epoch": 4, "step": 40}, {**kept, "epoch": 2}, pretrain=2)
    assert l1["selected_adversarial"] is False and l1["d_trained"] is False


def test_realism_is_the_default_and_its_band_must_be_ordered():
    train = parse_params({}).train
    assert (train.select_epoch, train.select_colorfulness_band) == ("realism", [0.5, 1.3])
    assert parse_params({"train": {"select_margin_db": -2.0}}).train.select_margin_db == -2.0
    for band in ([1.3, 0.6], [0.8, 0.8]):
        with pytest.raises(ParamsError, match=r"0 < low < high .*got \["):
            parse_params({"train": {"select_colorfulness_band": band}})
    with pytest.raises(ParamsError, match="select_colorfulness_band"):
        parse_params({"train": {"select_colorfulness_band": [0.0, 1.3]}})
