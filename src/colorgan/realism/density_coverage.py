"""Density and coverage (Naeem et al., "Reliable Fidelity and Diversity Metrics for
Generative Models", ICML 2020; reference implementation clovaai/generative-evaluation-prdc).

Each true sample X_i gets a ball reaching its k-th nearest true neighbour. With M colorized
samples Y_j:

- density = (1 / kM) sum_j #{i : Y_j in ball(X_i)}: how many true balls a colorized sample
  falls in, over k. About 1 when both sets come from one distribution; well below 1 for
  samples off the true photos' manifold. It can exceed 1 where colorized samples crowd
  into dense true regions.
- coverage = share of true samples whose ball holds at least one colorized sample: is the
  variety of the true photos reached? About 1 - 2^-k for one distribution.

Unlike improved precision and recall (which they replace here, and which read 0.97-1.0
for gray photos: a few outlying true samples with huge balls swallow everything), they only
use balls around true samples, so outliers of either set weigh little.

Views of one photo are near-duplicates: as neighbours they would shrink every ball to the
size of one photo's variations, and a colorized view would be judged against its own
true-colour twin. With ``groups`` (the photo each sample was cut from; the same ids in both
sets for paired sets) samples of one group are left out of each other's neighbours and
balls, so each photo is judged against the other photos, as the metrics mean.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from colorgan.realism.arrays import feature_pair

NEAREST_NEIGHBOURS = 5  # Naeem et al.'s k


def _distances(
    queries: np.ndarray,
    support: np.ndarray,
    query_groups: np.ndarray | None,
    support_groups: np.ndarray | None,
) -> np.ndarray:
    """Euclidean distances, +inf between samples of one group (views of one photo)."""
    distances = cdist(queries, support)
    if query_groups is not None and support_groups is not None:
        distances[np.asarray(query_groups)[:, None] == np.asarray(support_groups)[None, :]] = np.inf
    return distances


def neighbour_radii(
    features: np.ndarray, k: int = NEAREST_NEIGHBOURS, groups: np.ndarray | None = None
) -> np.ndarray:
    """Each sample's distance to its k-th nearest neighbour in its own set: itself excluded,
    and with ``groups`` every sample of its group."""
    own = np.arange(len(features)) if groups is None else groups
    return np.sort(_distances(features, features, own, own), axis=1)[:, k - 1]


def fewest_neighbours(groups: np.ndarray | None, count: int) -> int:
    """The fewest neighbours any sample has: the others, or the others' groups' samples.
    k above it would give some balls an infinite radius."""
    if groups is None:
        return count - 1
    _, sizes = np.unique(groups, return_counts=True)
    return count - int(sizes.max())


def density_coverage(
    real: np.ndarray,
    fake: np.ndarray,
    k: int = NEAREST_NEIGHBOURS,
    real_groups: np.ndarray | None = None,
    fake_groups: np.ndarray | None = None,
) -> dict[str, float]:
    """Naeem et al. (2020)'s density and coverage of ``fake`` against ``real`` features,
    with k-NN balls around the real samples (see the module docstring for ``groups``).

    k is lowered to what the real set (of other groups) allows; ``nearest_neighbours`` in
    the result is the k used. Balls are closed (<=, as Kynkäänniemi et al.'s); the reference
    implementation's open balls differ only on ties, where they leave each ball's own k-th
    neighbour out. Paired sets (fake j made from real j) are compared with groups (at least
    ``np.arange(n)``): a perfect copy then reads density and coverage 1. Ungrouped, each copy
    would also count in its own original's ball, and density would read (k + 1) / k.
    """
    real, fake = feature_pair(real, fake)
    if (real_groups is None) != (fake_groups is None):
        raise ValueError("give groups for both sets or for neither")
    k = min(k, fewest_neighbours(real_groups, len(real)))
    if k < 1:
        raise ValueError("density and coverage need true samples of at least two groups (photos)")
    radii = neighbour_radii(real, k, real_groups)
    inside = _distances(real, fake, real_groups, fake_groups) <= radii[:, None]  # (real, fake)
    return {
        "density": float(inside.sum() / (k * len(fake))),
        "coverage": float(inside.any(axis=1).mean()),
        "nearest_neighbours": k,
    }
