"""Pictures for people: gray | colorized | ground truth, side by side."""

from __future__ import annotations

import numpy as np

from colorgan.color import gray_baseline, join_l_ab, scaled_lab_to_rgb


def comparison_grid(
    lightness: np.ndarray, fake_ab: np.ndarray, real_ab: np.ndarray, gap: int = 2
) -> np.ndarray:
    """One row per example, columns gray | generated | real; uint8 RGB."""
    real = join_l_ab(lightness, real_ab)
    columns = [gray_baseline(real), join_l_ab(lightness, fake_ab), real]
    rgb = [scaled_lab_to_rgb(column) for column in columns]  # each (n, h, w, 3)
    n, height, width = rgb[0].shape[:3]
    grid = np.ones((n * (height + gap) - gap, 3 * (width + gap) - gap, 3), dtype=np.float32)
    for row in range(n):
        for col, images in enumerate(rgb):
            top, left = row * (height + gap), col * (width + gap)
            grid[top : top + height, left : left + width] = images[row]
    return (grid * 255 + 0.5).astype(np.uint8)
