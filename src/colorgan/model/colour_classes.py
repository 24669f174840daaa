"""Colour as classes (Zhang, Isola and Efros, "Colorful Image Colorization", 2016).

Regression to ab with L1 or L2 averages the plausible colours of an object into a grayish
middle. Predicting a distribution over quantized ab cells, with rare (saturated) cells
weighted up, and decoding it with an "annealed mean" (the mean of the distribution
sharpened by a temperature T < 1) keeps colour where the model is confident.

All ab values here are in the network's scale (ab / 128).
"""

from __future__ import annotations

import numpy as np
from keras import ops
from skimage.color.colorconv import rgb_from_xyz

from colorgan.color import AB_RANGE

GRID = 10.0  # cell side in ab units, as in the paper
SOFT_NEIGHBOURS = 5  # the ground truth is spread over its 5 nearest cells ...
SOFT_SIGMA = 5.0  # ... with a Gaussian of this width (ab units)
REBALANCE_MIX = 0.5  # lambda: the prior mixed with a uniform one before inverting
PRIOR_SIGMA = 5.0  # the empirical prior is smoothed with this Gaussian (ab units)
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


def _in_gamut(lightness: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether Lab colours fall inside sRGB (computed without clipping, unlike lab2rgb)."""
    lightness, a, b = np.broadcast_arrays(lightness, a, b)
    fy = (lightness + 16) / 116
    f = np.stack([fy + a / 500, fy, fy - b / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * WHITE_D65
    rgb = xyz @ rgb_from_xyz.T
    return ((rgb >= -1e-6) & (rgb <= 1 + 1e-6)).all(axis=-1)


def bin_centres() -> np.ndarray:
    """(Q, 2) centres of the GRID-wide ab cells that hold some displayable colour."""
    centres = np.arange(-120 + GRID / 2, 120, GRID)
    a, b = (grid.ravel() for grid in np.meshgrid(centres, centres, indexing="ij"))
    lightness = np.linspace(1, 99, 50)[:, None]
    corners = [(0, 0), (-0.5, -0.5), (-0.5, 0.5), (0.5, -0.5), (0.5, 0.5)]
    usable = np.zeros(a.shape, dtype=bool)
    for da, db in corners:
        usable |= _in_gamut(lightness, a + da * GRID, b + db * GRID).any(axis=0)
    return (np.stack([a[usable], b[usable]], axis=-1) / AB_RANGE).astype(np.float32)


def soft_encode(ab, centres: np.ndarray):
    """(..., 2) ab -> (..., Q) targets: a Gaussian over the nearest SOFT_NEIGHBOURS cells."""
    # |x - c|^2 = |x|^2 - 2 x.c + |c|^2, without a (..., Q, 2) intermediate.
    cross = ops.matmul(ab, ops.transpose(centres))
    squared = ops.sum(ops.square(ab), axis=-1, keepdims=True) - 2 * cross
    distance = ops.maximum(squared + ops.sum(ops.square(centres), axis=-1), 0.0) * AB_RANGE**2
    nearest = -ops.top_k(-distance, SOFT_NEIGHBOURS)[0][..., -1:]  # 5th smallest distance
    weights = ops.exp(-distance / (2 * SOFT_SIGMA**2)) * ops.cast(distance <= nearest, "float32")
    return weights / ops.sum(weights, axis=-1, keepdims=True)


def empirical_prior(ab: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """How often each cell is the nearest one to a training pixel, smoothed (sums to 1)."""
    pixels = ab.reshape(-1, 2)
    nearest = np.argmin(((pixels[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    counts = np.bincount(nearest, minlength=len(centres)).astype(np.float64)
    between = ((centres[:, None, :] - centres[None]) ** 2).sum(-1) * AB_RANGE**2
    smoothed = np.exp(-between / (2 * PRIOR_SIGMA**2)) @ counts
    return smoothed / smoothed.sum()


def rebalancing_weights(prior: np.ndarray) -> np.ndarray:
    """w ~ 1 / ((1 - lambda) p + lambda / Q), normalised so that E_p[w] = 1: rare colours
    count more, so the loss no longer pays the model to predict the common grayish ones."""
    weights = 1.0 / ((1 - REBALANCE_MIX) * prior + REBALANCE_MIX / len(prior))
    return (weights / np.sum(prior * weights)).astype(np.float32)


def rebalanced_cross_entropy(logits, ab, centres: np.ndarray, weights):
    """Mean over pixels of w(nearest cell of the truth) * CE(soft target, logits)."""
    target = soft_encode(ab, centres)
    log_p = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    per_pixel = -ops.sum(target * log_p, axis=-1)
    pixel_weight = ops.take(weights, ops.argmax(target, axis=-1))
    return ops.mean(pixel_weight * per_pixel)
