"""How far a set of colorized photos is from true colour photos, as sets: three measures on
ImageNet features (EfficientNet-Lite0's pooled 1280-channel head, :func:`lite0_features`).

- **Classifier two-sample test** (Lopez-Paz and Oquab, "Revisiting Classifier Two-Sample
  Tests", ICLR 2017): a fresh classifier learns to tell true photos from colorized ones on
  one set of photos and is scored on another. Held-out accuracy 0.5 means it cannot tell
  them apart; 1.0 means the colorization is always recognisable. Under "the two sets come
  from one distribution", the accuracy on n test samples is about N(1/2, 1/(4n)), which
  gives the p-value.
- **Improved precision and recall** (Kynkäänniemi et al., "Improved Precision and Recall
  Metric for Assessing Generative Models", NeurIPS 2019): each set's manifold is the union
  of balls around its samples reaching each sample's k-th nearest neighbour. Precision: the
  share of colorized samples inside the true photos' manifold (are they realistic?);
  recall: the share of true samples inside the colorized manifold (is the variety there?).
- **Fréchet distance** (Heusel et al., "GANs Trained by a Two Time-Scale Update Rule
  Converge to a Local Nash Equilibrium", NeurIPS 2017, the FID): the distance between
  Gaussians fitted to the two feature sets; 0 for identical sets. It is biased upwards for
  small sets (Chong and Forsyth 2020), so compare figures computed on equally many samples.

The metric functions take feature arrays (samples x features), so they need no network;
:func:`compare_sets` is the one-call version on photos.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import keras
import numpy as np
import tensorflow as tf
from scipy.spatial.distance import cdist
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from colorgan.errors import ColorganError

FEATURE_SIZE = 128  # photos are resized to this square before Lite0: cheap on a CPU
FEATURE_BATCH = 32
NEAREST_NEIGHBOURS = 3  # Kynkäänniemi et al.'s default k
# Strong L2 regularization: with 1280 features and tens to thousands of samples an
# unregularized logistic regression memorises the training photos and then scores near
# chance on new ones even where a difference is real.
C2ST_REGULARIZATION = 0.01


class FeatureError(ColorganError):
    """The feature network cannot be built (its weights are missing)."""


# --- features ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _lite0_encoder() -> keras.Model:
    """Lite0's head features, global-average-pooled: built once per process."""
    from colorgan.model.lite0 import Lite0WeightsError, pretrained_lite0

    try:
        trunk = pretrained_lite0((None, None, 3), include_top=False, weights=None)
    except Lite0WeightsError as error:
        raise FeatureError(str(error)) from None
    pooled = keras.layers.GlobalAveragePooling2D()(trunk.output)
    return keras.Model(trunk.input, pooled, name="lite0_features")


def _as_float_square(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 or [0, 1] float RGB of any size -> (size, size, 3) float32 in [0, 1].

    The whole photo is resized (aspect ratio not kept, as clean-fid does) rather than
    cropped, so every pixel of a full-size photo counts."""
    rgb = np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an RGB photo (height, width, 3), got shape {rgb.shape}")
    rgb = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float32)
    resized = tf.image.resize(rgb, (size, size), method="bilinear", antialias=True)
    return np.clip(resized.numpy(), 0.0, 1.0)


def lite0_features(
    images: Sequence[np.ndarray] | np.ndarray, size: int = FEATURE_SIZE
) -> np.ndarray:
    """(n, 1280) ImageNet features of RGB photos (uint8, or float in [0, 1]; any sizes)."""
    from colorgan.model.lite0 import imagenet_normalize

    if len(images) == 0:
        raise ValueError("no photos to compute features of")
    encoder = _lite0_encoder()
    features = []
    for start in range(0, len(images), FEATURE_BATCH):
        batch = np.stack([_as_float_square(i, size) for i in images[start : start + FEATURE_BATCH]])
        features.append(np.asarray(encoder(imagenet_normalize(batch), training=False)))
    return np.concatenate(features).astype(np.float64)


# --- Fréchet distance ----------------------------------------------------------------------


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
    real, fake = _features(real, "real"), _features(fake, "fake")
    centred_real, centred_fake = real - real.mean(axis=0), fake - fake.mean(axis=0)
    mean_term = float(np.sum((real.mean(axis=0) - fake.mean(axis=0)) ** 2))
    traces = np.sum(centred_real**2) / (len(real) - 1) + np.sum(centred_fake**2) / (len(fake) - 1)
    distance = mean_term + float(traces) - 2.0 * _trace_sqrt_product(centred_real, centred_fake)
    return max(0.0, distance)  # rounding can leave -1e-12 for two equal sets


def _features(array: np.ndarray, name: str, minimum: int = 2) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2 or len(array) < minimum:
        raise ValueError(
            f"{name} features must be (samples, features) with at least {minimum} samples, "
            f"got shape {array.shape}"
        )
    return array


# --- improved precision and recall --------------------------------------------------------


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


def manifold_radii(
    features: np.ndarray, k: int = NEAREST_NEIGHBOURS, groups: np.ndarray | None = None
) -> np.ndarray:
    """Each sample's distance to its k-th nearest neighbour in its own set: itself excluded,
    and with ``groups`` every sample of its group."""
    own = np.arange(len(features)) if groups is None else groups
    return np.sort(_distances(features, features, own, own), axis=1)[:, k - 1]


def inside_manifold(
    queries: np.ndarray,
    support: np.ndarray,
    k: int = NEAREST_NEIGHBOURS,
    query_groups: np.ndarray | None = None,
    support_groups: np.ndarray | None = None,
) -> np.ndarray:
    """Whether each query lies within the k-NN ball of some sample of ``support`` (of
    another group, with groups)."""
    radii = manifold_radii(support, k, support_groups)
    distances = _distances(queries, support, query_groups, support_groups)
    return (distances <= radii[None, :]).any(axis=1)


def improved_precision_recall(
    real: np.ndarray,
    fake: np.ndarray,
    k: int = NEAREST_NEIGHBOURS,
    real_groups: np.ndarray | None = None,
    fake_groups: np.ndarray | None = None,
) -> dict[str, float]:
    """Kynkäänniemi et al. (2019): precision = share of fake samples on the real manifold,
    recall = share of real samples on the fake manifold, manifolds from k-NN balls.

    ``groups`` (e.g. the photo each view was cut from; same ids in both sets for paired
    sets): samples of one group are left out of each other's neighbours and balls. Views of
    one photo are near-duplicates: as neighbours they shrink every ball to within-photo
    size, and a colorized view would be judged against its own true-colour twin; grouped,
    each photo is judged against the other photos, as the metric means. k is lowered to
    what the smallest set (of other groups) allows; the figures then say less.
    """
    real, fake = _features(real, "real"), _features(fake, "fake")
    k = min(k, _most_neighbours(real_groups, len(real)), _most_neighbours(fake_groups, len(fake)))
    if k < 1:
        raise ValueError("improved precision and recall need at least two groups (photos)")
    return {
        "manifold_precision": float(
            inside_manifold(fake, real, k, fake_groups, real_groups).mean()
        ),
        "manifold_recall": float(inside_manifold(real, fake, k, real_groups, fake_groups).mean()),
        "manifold_k": k,
    }


def _most_neighbours(groups: np.ndarray | None, count: int) -> int:
    """The fewest neighbours any sample has: the others, or the others' groups' samples."""
    if groups is None:
        return count - 1
    _, sizes = np.unique(groups, return_counts=True)
    return count - int(sizes.max())


# --- classifier two-sample test ----------------------------------------------------------


def two_sample_classifier(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> Pipeline:
    """A fresh classifier fitted to call ``real`` samples 1 and ``fake`` samples 0:
    standardized features, L2-regularized logistic regression (deterministic lbfgs)."""
    real, fake = _features(real, "real", 1), _features(fake, "fake", 1)
    classifier = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=C2ST_REGULARIZATION, max_iter=2000, random_state=seed),
    )
    classifier.fit(*_labelled(real, fake))
    return classifier


def _labelled(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    samples = np.concatenate([real, fake])
    labels = np.concatenate([np.ones(len(real), int), np.zeros(len(fake), int)])
    return samples, labels


def two_sample_predictions(
    classifier: Pipeline, real: np.ndarray, fake: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(actual, predicted) labels of held-out samples, 1 = real."""
    samples, actual = _labelled(_features(real, "real", 1), _features(fake, "fake", 1))
    return actual, classifier.predict(samples).astype(int)


def two_sample_scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy (0.5 = indistinguishable), precision and recall of 'real', the confusion
    counts, and the one-sided p-value of the accuracy under 'same distribution'."""
    tn, fp, fn, tp = confusion_matrix(actual, predicted, labels=[0, 1]).ravel()
    accuracy = float((tp + tn) / len(actual))
    # Lopez-Paz and Oquab: under H0 the accuracy is about N(1/2, 1/(4 n)).
    p_value = float(norm.sf((accuracy - 0.5) * math.sqrt(4 * len(actual))))
    return {
        "c2st_accuracy": accuracy,
        "c2st_precision": float(tp / (tp + fp)) if tp + fp else 0.0,
        "c2st_recall": float(tp / (tp + fn)) if tp + fn else 0.0,
        "c2st_p_value": p_value,
        "c2st_true_positive": int(tp),
        "c2st_false_positive": int(fp),
        "c2st_true_negative": int(tn),
        "c2st_false_negative": int(fn),
    }


def classifier_two_sample_test(
    real_train: np.ndarray,
    fake_train: np.ndarray,
    real_test: np.ndarray,
    fake_test: np.ndarray,
    seed: int = 0,
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Lopez-Paz and Oquab (2017): fit on the train features, score on the test features.
    Returns the scores and the test samples' (actual, predicted) labels (1 = real)."""
    classifier = two_sample_classifier(real_train, fake_train, seed)
    actual, predicted = two_sample_predictions(classifier, real_test, fake_test)
    return two_sample_scores(actual, predicted), actual, predicted


# --- all of it -------------------------------------------------------------------------


def set_comparison(
    real_train: np.ndarray,
    fake_train: np.ndarray,
    real_test: np.ndarray,
    fake_test: np.ndarray,
    k: int = NEAREST_NEIGHBOURS,
    seed: int = 0,
    test_groups: np.ndarray | None = None,
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """The two-sample test (fitted on train, scored on test), improved precision and recall
    and the Fréchet distance (both on the test features), from feature arrays; and the
    two-sample test's (actual, predicted) test labels, 1 = real. ``test_groups``: the photo
    of each test sample, the same for both test sets (improved_precision_recall)."""
    c2st, actual, predicted = classifier_two_sample_test(
        real_train, fake_train, real_test, fake_test, seed
    )
    scores = {
        **c2st,
        **improved_precision_recall(real_test, fake_test, k, test_groups, test_groups),
        "frechet_distance": frechet_distance(real_test, fake_test),
        "real_samples": len(real_test),
        "fake_samples": len(fake_test),
    }
    return scores, actual, predicted


def distribution_scores(
    real_train: np.ndarray,
    fake_train: np.ndarray,
    real_test: np.ndarray,
    fake_test: np.ndarray,
    k: int = NEAREST_NEIGHBOURS,
    seed: int = 0,
) -> dict[str, float]:
    """:func:`set_comparison`'s scores alone."""
    return set_comparison(real_train, fake_train, real_test, fake_test, k, seed)[0]


def compare_sets(
    real_rgb_train: Sequence[np.ndarray],
    fake_rgb_train: Sequence[np.ndarray],
    real_rgb_test: Sequence[np.ndarray],
    fake_rgb_test: Sequence[np.ndarray],
    k: int = NEAREST_NEIGHBOURS,
    seed: int = 0,
    size: int = FEATURE_SIZE,
) -> dict[str, float]:
    """True photos against colorized ones, as sets, in Lite0 feature space.

    Photos are RGB arrays (uint8, or float in [0, 1]) of any sizes. The classifier
    two-sample test learns on the train photos and is scored on the test photos (use
    different photos for the two: otherwise it measures memorisation); improved precision
    and recall (k nearest neighbours) and the Fréchet distance compare the test sets.
    Returns c2st_accuracy (0.5 = indistinguishable), c2st_precision, c2st_recall,
    c2st_p_value, the c2st confusion counts, manifold_precision, manifold_recall,
    manifold_k, frechet_distance, real_samples and fake_samples.
    """
    features = [lite0_features(s, size) for s in (real_rgb_train, fake_rgb_train)]
    features += [lite0_features(s, size) for s in (real_rgb_test, fake_rgb_test)]
    return distribution_scores(*features, k=k, seed=seed)
