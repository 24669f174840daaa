"""Semantic agreement: is a colorized photo still recognised as what it shows?

Zhang, Isola and Efros ("Colorful Image Colorization", ECCV 2016) judged colorizations by
"semantic interpretability": an ImageNet classifier's accuracy on them. Here the reference is
the classifier's own verdict on the true-colour photo (no labels needed): colours that
mislead the classifier (a gray dog, a purple lawn) lower the agreement, plausible ones keep
it. Lite0 (ImageNet top-1 about 75%) is the classifier (features.py).
"""

from __future__ import annotations

import numpy as np

from colorgan.realism.features import CLASSIFICATION_SIZE, Photos, lite0_class_logits

TOP_K = 5


def _logits(array: np.ndarray, name: str) -> np.ndarray:
    logits = np.asarray(array)
    if logits.ndim != 2 or len(logits) == 0 or logits.shape[1] < TOP_K:
        raise ValueError(
            f"{name} logits must be (photos, classes) with at least one photo and {TOP_K} "
            f"classes, got shape {logits.shape}"
        )
    return logits


def semantic_agreement(
    reference_logits: np.ndarray, candidate_logits: np.ndarray
) -> dict[str, float]:
    """How often the candidate photos are classified as their references are, photo by photo:
    top1_agreement = share whose candidate top-1 class is the reference's top-1;
    top5_agreement = share whose reference top-1 class is among the candidate's top 5."""
    reference = _logits(reference_logits, "reference")
    candidate = _logits(candidate_logits, "candidate")
    if reference.shape != candidate.shape:
        raise ValueError(
            f"reference and candidate logits must pair photo by photo, got shapes "
            f"{reference.shape} and {candidate.shape}"
        )
    truth = reference.argmax(axis=1)
    top5 = np.argsort(-candidate, axis=1, kind="stable")[:, :TOP_K]
    return {
        "top1_agreement": float(np.mean(candidate.argmax(axis=1) == truth)),
        "top5_agreement": float(np.mean((top5 == truth[:, None]).any(axis=1))),
    }


def photo_semantic_agreement(
    reference: Photos, candidate: Photos, size: int = CLASSIFICATION_SIZE
) -> dict[str, float]:
    """:func:`semantic_agreement` of two paired lists of RGB photos (uint8 or [0, 1] float),
    each resized whole to ``size`` and classified by Lite0."""
    if len(reference) != len(candidate):
        raise ValueError(
            f"{len(reference)} reference photos but {len(candidate)} candidates: they pair "
            "photo by photo"
        )
    return semantic_agreement(
        lite0_class_logits(reference, size), lite0_class_logits(candidate, size)
    )
