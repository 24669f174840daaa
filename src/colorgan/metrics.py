"""Colour-quality metrics, from scikit-image's reference implementations."""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

# PSNR of identical images is infinite, which JSON cannot hold; cap it at a value no real
# colorization reaches so "perfect" still sorts above everything else.
PSNR_CAP = 100.0


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
