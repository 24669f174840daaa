"""Classifier two-sample test (Lopez-Paz and Oquab, "Revisiting Classifier Two-Sample Tests",
ICLR 2017) on feature sets.

A fresh classifier learns to tell true photos from colorized ones on one set of photos and
is scored on another. Held-out accuracy 0.5 means it cannot tell them apart; 1.0 means the
colorization is always recognisable. Under "the two sets come from one distribution", the
accuracy on n test samples is about N(1/2, 1/(4n)), which gives the p-value.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from colorgan.realism.arrays import feature_pair

# Strong L2 regularization: with 1280 features and tens to thousands of samples an
# unregularized logistic regression memorises the training photos and then scores near
# chance on new ones even where a difference is real.
C2ST_REGULARIZATION = 0.01


def two_sample_classifier(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> Pipeline:
    """A fresh classifier fitted to call ``real`` samples 1 and ``fake`` samples 0:
    standardized features, L2-regularized logistic regression (deterministic lbfgs)."""
    real, fake = feature_pair(real, fake, minimum=1)
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
    samples, actual = _labelled(*feature_pair(real, fake, minimum=1))
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
