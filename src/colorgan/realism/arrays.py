"""Feature arrays as every realism measure takes them: (samples, features) float64, checked
once at the door with errors that say what was wrong. Numpy only, so the measures load
without TensorFlow."""

from __future__ import annotations

import numpy as np


def feature_matrix(array: np.ndarray, name: str, minimum: int = 2) -> np.ndarray:
    """``array`` as float64 (samples, features), checked: every set measure needs a matrix
    with enough samples, and a wrong shape would otherwise surface as a puzzling numpy error."""
    matrix = np.asarray(array, dtype=np.float64)
    if matrix.ndim != 2 or len(matrix) < minimum:
        raise ValueError(
            f"{name} features must be (samples, features) with at least {minimum} samples, "
            f"got shape {matrix.shape}"
        )
    return matrix


def feature_pair(
    real: np.ndarray, fake: np.ndarray, minimum: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Two checked feature matrices of the same width (features of one network)."""
    real, fake = feature_matrix(real, "real", minimum), feature_matrix(fake, "fake", minimum)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real and fake features differ in width ({real.shape[1]} vs {fake.shape[1]}): "
            "compute both with the same network"
        )
    return real, fake
