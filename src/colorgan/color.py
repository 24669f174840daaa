"""The one place where RGB, CIE Lab (D65) and the network's [-1, 1] scaling meet.

Training, evaluation and inference all go through these functions, so the generator
always sees L and predicts ab on the same scale. The conversion itself is scikit-image's.
"""

from __future__ import annotations

import numpy as np
from skimage import color as skcolor

# L lies in [0, 100]; a and b of sRGB colours stay within about +-110, so 128 keeps
# every displayable colour inside [-1, 1] without clipping.
L_HALF_RANGE = 50.0
AB_RANGE = 128.0


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 or [0, 1] float RGB (..., H, W, 3) to CIE Lab float32."""
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:
        rgb = rgb.astype(np.float32) / 255.0
    return skcolor.rgb2lab(rgb.astype(np.float32, copy=False)).astype(np.float32, copy=False)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE Lab (..., H, W, 3) to float RGB in [0, 1]; out-of-gamut colours are clipped."""
    rgb = skcolor.lab2rgb(np.asarray(lab, dtype=np.float64))
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def scale_lab(lab: np.ndarray) -> np.ndarray:
    """Lab to the network scale: L/50 - 1 and ab/128, each in [-1, 1]."""
    lab = np.asarray(lab, dtype=np.float32)
    scaled = np.empty_like(lab)
    scaled[..., 0] = lab[..., 0] / L_HALF_RANGE - 1.0
    scaled[..., 1:] = np.clip(lab[..., 1:] / AB_RANGE, -1.0, 1.0)
    return scaled


def unscale_lab(scaled: np.ndarray) -> np.ndarray:
    """Inverse of :func:`scale_lab`."""
    scaled = np.asarray(scaled, dtype=np.float32)
    lab = np.empty_like(scaled)
    lab[..., 0] = (scaled[..., 0] + 1.0) * L_HALF_RANGE
    lab[..., 1:] = scaled[..., 1:] * AB_RANGE
    return lab


def rgb_to_scaled_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB to the (H, W, 3) tensor the models train on: channel 0 is L, 1-2 are ab."""
    return scale_lab(rgb_to_lab(rgb))


def scaled_lab_to_rgb(scaled: np.ndarray) -> np.ndarray:
    """Network-scale Lab back to float RGB in [0, 1]."""
    return lab_to_rgb(unscale_lab(scaled))


def join_l_ab(l_scaled: np.ndarray, ab_scaled: np.ndarray) -> np.ndarray:
    """Stack a scaled L (..., H, W[, 1]) and scaled ab (..., H, W, 2) into scaled Lab."""
    l_scaled = np.asarray(l_scaled, dtype=np.float32)
    if l_scaled.ndim == np.asarray(ab_scaled).ndim - 1:
        l_scaled = l_scaled[..., None]
    return np.concatenate([l_scaled, np.asarray(ab_scaled, dtype=np.float32)], axis=-1)


def gray_baseline(scaled: np.ndarray) -> np.ndarray:
    """The colourless guess: keep L, set ab to 0."""
    baseline = np.array(scaled, dtype=np.float32, copy=True)
    baseline[..., 1:] = 0.0
    return baseline


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003) colourfulness of uint8 or [0, 1] float RGB (0 when gray).

    Computed on [0, 255]-scaled values, as in the paper: about 15 is "slightly colourful",
    about 60 "highly colourful".
    """
    rgb = np.asarray(rgb)
    scale = 255.0 if np.issubdtype(rgb.dtype, np.floating) else 1.0  # floats are in [0, 1]
    rgb = rgb.astype(np.float64) * scale
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    std = np.hypot(rg.std(), yb.std())
    mean = np.hypot(rg.mean(), yb.mean())
    return float(std + 0.3 * mean)
