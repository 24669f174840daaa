"""Fréchet distance (Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to
a Local Nash Equilibrium", NeurIPS 2017: the FID's formula) between two feature sets.

The distance between Gaussians fitted to the two sets; 0 for identical sets. It is biased
upwards for small sets (Chong and Forsyth 2020), so compare figures computed on equally many
samples (KID, kid.py, has no such bias).
"""

from __future__ import annotations

import math

import numpy as np

from colorgan.realism.arrays import feature_pair


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _trace_sqrt_product(centred_real: np.ndarray, centred_fake: np.ndarray) -> float:
    """tr((S_r S_f)^(1/2)) of the two sets' covariances, from the centred samples.

    With fewer samples than features (the usual case here: 1280 features), S_r S_f =
    X_r' (X_r X_f' X_f) / c has the nonzero eigenvalues of (X_r X_f')(X_r X_f')' / c: the
    squared singular values of the small matrix X_r X_f' (eig(AB) = eig(BA)). So no
    1280 x 1280 matrix is ever decomposed; otherwise S_r^(1/2) S_f S_r^(1/2) (symmetric,
    PSD, same eigenvalues) is. Both are exact where scipy's sqrtm of the product returns
    complex noise for singular covariances.
    """
    scale = math.sqrt((len(centred_real) - 1) * (len(centred_fake) - 1))
    if min(len(centred_real), len(centred_fake)) <= centred_real.shape[1]:
        product = centred_real @ centred_fake.T
        small = product @ product.T if len(product) <= product.shape[1] else product.T @ product
        return float(np.sum(np.sqrt(np.linalg.eigvalsh(small).clip(0.0)))) / scale
    root = _psd_sqrt(centred_real.T @ centred_real)
    values = np.linalg.eigvalsh(root @ (centred_fake.T @ centred_fake) @ root)
    return float(np.sum(np.sqrt(values.clip(0.0)))) / scale


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """||mu_r - mu_f||^2 + tr(S_r + S_f - 2 (S_r S_f)^(1/2)) of two feature sets (Heusel et
    al. 2017), with unbiased covariances (as pytorch-fid); see _trace_sqrt_product."""
    real, fake = feature_pair(real, fake)
    centred_real, centred_fake = real - real.mean(axis=0), fake - fake.mean(axis=0)
    mean_term = float(np.sum((real.mean(axis=0) - fake.mean(axis=0)) ** 2))
    traces = np.sum(centred_real**2) / (len(real) - 1) + np.sum(centred_fake**2) / (len(fake) - 1)
    distance = mean_term + float(traces) - 2.0 * _trace_sqrt_product(centred_real, centred_fake)
    return max(0.0, distance)  # rounding can leave -1e-12 for two equal sets
