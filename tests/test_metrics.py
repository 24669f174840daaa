"""Each colour metric on cases whose answer is known."""

import json

import numpy as np
import pytest

from colorgan.color import gray_baseline, rgb_to_lab, rgb_to_scaled_lab, scaled_lab_to_rgb
from colorgan.evaluation.evaluate import discriminator_report, image_scores
from colorgan.metrics import (
    PSNR_CAP,
    ab_error_auc,
    ciede2000,
    colorfulness_ratio,
    colour_class_scores,
    psnr,
    ssim,
)
from tests.conftest import real_photo


@pytest.fixture(scope="module")
def photo():
    return real_photo("coffee.png", side=64).astype(np.float32) / 255.0


def test_identical_images_score_perfectly_and_stay_json_safe(photo):
    lab = rgb_to_lab(photo)
    assert psnr(photo, photo) == PSNR_CAP
    assert ssim(photo, photo) == pytest.approx(1.0)
    assert ciede2000(lab, lab) == 0.0
    assert ab_error_auc(lab, lab) == 100.0
    assert colorfulness_ratio(photo, photo) == pytest.approx(1.0)
    assert colour_class_scores(lab, lab)["f1_macro"] == 1.0
    scores = image_scores(rgb_to_scaled_lab(photo), rgb_to_scaled_lab(photo))
    assert scores["class_f1_macro"] == scores["class_recall_weighted"] == 1.0
    json.dumps(scores, allow_nan=False)  # no inf, no NaN


def test_gray_output_has_no_colour_and_loses_to_the_truth(photo):
    scaled = rgb_to_scaled_lab(photo)
    gray = gray_baseline(scaled)
    scores = image_scores(scaled, gray)
    assert scores["colorfulness"] < 0.5
    assert scores["colorfulness_ratio"] < 0.02
    assert scores["ciede2000"] > 5.0
    assert scores["auc_ab"] < 100.0
    # Every pixel lands in the ab = 0 cell: only the truth's pixels of that cell are recalled.
    assert scores["class_precision_macro"] < 0.5
    assert scores["class_recall_weighted"] < 0.5
    assert psnr(photo, scaled_lab_to_rgb(gray)) < 40.0


def test_colour_classes_on_a_known_confusion():
    truth = np.zeros((1, 4, 3))
    truth[0, :2, 1] = 25.0  # two pixels in the a = 20..30 cell, two in the 0..10 cell
    output = np.zeros((1, 4, 3))  # everything guessed in the 0..10 cell
    scores = colour_class_scores(truth, output)
    assert scores["recall_macro"] == pytest.approx(0.5)  # (0 + 1) / 2
    assert scores["precision_macro"] == pytest.approx(0.25)  # (0 + 2/4) / 2
    assert scores["f1_weighted"] == pytest.approx(0.5 * 2 * 0.5 / 1.5, abs=1e-5)


def test_ab_error_auc_is_the_mean_share_within_each_threshold():
    truth = np.zeros((1, 2, 3))
    shifted = truth.copy()
    shifted[..., 1] = 75.0  # every pixel 75 away in a: within thresholds 75..150
    assert ab_error_auc(truth, shifted) == pytest.approx(100.0 * 76 / 151)


def test_discriminator_report_on_known_probabilities():
    real = np.array([0.9, 0.8, 0.4])  # two real patches called real, one missed
    fake = np.array([0.1, 0.7, 0.2])  # one generated patch fools D
    metrics, confusion, curve = discriminator_report(real, fake, threshold=0.5)
    assert (metrics["true_positive"], metrics["false_negative"]) == (2, 1)
    assert (metrics["true_negative"], metrics["false_positive"]) == (2, 1)
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["fooling_rate"] == pytest.approx(1 / 3)
    assert metrics["roc_auc"] == pytest.approx(8 / 9)  # 8 of 9 (real, fake) pairs ordered
    assert len(confusion) == 6
    assert curve["recall"].between(0, 1).all()
