"""Colour-quality metrics, from scikit-image's and scikit-learn's reference implementations.

Inputs are float RGB in [0, 1] or CIE Lab (L in [0, 100], a and b in about [-110, 110]).
"""

from __future__ import annotations

import numpy as np
from skimage.color import deltaE_ciede2000
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from sklearn.metrics import precision_recall_fscore_support

from colorgan.color import colorfulness

# PSNR of identical images is infinite, which JSON cannot hold; cap it at a value no real
# colorization reaches so "perfect" still sorts above everything else.
PSNR_CAP = 100.0
# Zhang et al. (2016): the share of pixels whose ab error is within t, for t = 0..150.
AB_THRESHOLDS = np.arange(0, 151)
AB_BIN = 10.0  # colour classes: 10x10 cells of the ab plane, as in Zhang et al.


def psnr(reference: np.ndarray, candidate: np.ndarray) -> float:
    """PSNR in dB of float RGB images in [0, 1], capped at PSNR_CAP."""
    if np.array_equal(reference, candidate):
        return PSNR_CAP
    value = peak_signal_noise_ratio(reference, candidate, data_range=1.0)
    return float(min(value, PSNR_CAP))


def ssim(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Mean SSIM of float RGB images in [0, 1] (channels compared separately, then averaged)."""
    side = min(reference.shape[:2])
    window = min(7, side if side % 2 else side - 1)
    return float(
        structural_similarity(
            reference, candidate, data_range=1.0, channel_axis=-1, win_size=window
        )
    )


def ciede2000(reference_lab: np.ndarray, candidate_lab: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference (about 2.3 is a just-noticeable difference)."""
    return float(np.mean(deltaE_ciede2000(reference_lab, candidate_lab)))


def ab_error_auc(reference_lab: np.ndarray, candidate_lab: np.ndarray) -> float:
    """Area under the cumulative per-pixel ab-error curve, thresholds 0..150, in percent."""
    error = np.hypot(*(reference_lab[..., 1:] - candidate_lab[..., 1:]).reshape(-1, 2).T)
    within = (error[None, :] <= AB_THRESHOLDS[:, None]).mean(axis=1)
    return float(100.0 * within.mean())


def colorfulness_ratio(reference_rgb: np.ndarray, candidate_rgb: np.ndarray) -> float:
    """Output colourfulness over ground truth: well under 1 is the washed-out, sepia look."""
    truth = colorfulness(reference_rgb)
    return float(colorfulness(candidate_rgb) / truth) if truth > 0 else 0.0


def ab_classes(lab: np.ndarray) -> np.ndarray:
    """Each pixel's colour class: its cell in a grid of AB_BIN-wide squares of the ab plane."""
    cells = np.floor(lab[..., 1:].reshape(-1, 2) / AB_BIN).astype(np.int64) + 64
    return cells[:, 0] * 128 + cells[:, 1]


def colour_class_scores(reference_lab: np.ndarray, candidate_lab: np.ndarray) -> dict:
    """Per-pixel colour-class precision, recall and F1 over the classes present in the truth."""
    truth, predicted = ab_classes(reference_lab), ab_classes(candidate_lab)
    labels = np.unique(truth)
    scores = {}
    for average in ("macro", "weighted"):
        precision, recall, f1, _ = precision_recall_fscore_support(
            truth, predicted, labels=labels, average=average, zero_division=0
        )
        scores |= {
            f"precision_{average}": precision,
            f"recall_{average}": recall,
            f"f1_{average}": f1,
        }
    return {key: round(float(value), 5) for key, value in scores.items()}
