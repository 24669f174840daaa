"""Which epoch to keep, and how much to saturate it: both decided on the validation split.

A GAN's colours do not improve monotonically: the useful adversarial window can be short
(DeOldify's "inflection point"), so the last epoch is not always the one to ship. Each
epoch is scored on the validation photos; a criterion (``train.select_epoch``) names the
epoch to keep. After training, an optional chroma gain is fitted on the same photos.

The default criterion, ``realism``, keeps the epoch whose colorized photos look most like
the real ones to an ImageNet network (KID in EfficientNet-Lite0 features). Colorization has
many right answers and PSNR rewards their average, which is brown: a GAN that learnt real
colour sits near gray's PSNR, so a PSNR rule would throw that colour away. PSNR and
colourfulness still serve as a cheap guard against casts, and only epochs that pass it pay
for the features.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import keras
import numpy as np

from colorgan.color import join_l_ab, scaled_lab_to_rgb, unscale_lab
from colorgan.config import TrainParams
from colorgan.data.dataset import make_dataset
from colorgan.metrics import ciede2000, colorfulness, psnr
from colorgan.model.gan import ColorGAN
from colorgan.model.networks import predict_ab, with_chroma_gain
from colorgan.realism.features import lite0_features
from colorgan.realism.kid import kernel_inception_distance
from colorgan.training.checkpoints import CheckpointStore

log = logging.getLogger(__name__)
MAX_VALIDATION_PHOTOS = 256  # scored every epoch: enough to rank epochs, cheap to score
GAINS = np.round(np.arange(0.5, 3.01, 0.05), 2)  # candidate chroma gains, finest step 0.05
# realism's candidates: each costs the validation photos' features, so a coarser grid
REALISM_GAINS = np.arange(0.5, 2.51, 0.25)
NO_BAND = (0.0, math.inf)  # colourfulness band of the criteria that have none


@dataclass(frozen=True)
class ValidationSet:
    """The validation photos as arrays: L (n, s, s, 1) and ab (n, s, s, 2), scaled."""

    lightness: np.ndarray
    ab: np.ndarray

    def truth_rgb(self) -> np.ndarray:
        return scaled_lab_to_rgb(join_l_ab(self.lightness, self.ab))

    def colorized_rgb(self, fake_ab: np.ndarray) -> np.ndarray:
        return scaled_lab_to_rgb(join_l_ab(self.lightness, fake_ab))

    @cached_property
    def real_features(self) -> np.ndarray:
        """Lite0 features of the true photos: computed once per training (at the first
        epoch realism scores), as every epoch's colorized photos are compared with them."""
        return lite0_features(self.truth_rgb())

    @classmethod
    def load(cls, split_dir: Path, batch_size: int, seed: int) -> ValidationSet:
        """The first MAX_VALIDATION_PHOTOS examples of a split (the same on every worker:
        validation is not sharded)."""
        dataset = make_dataset(split_dir, batch_size, training=False, seed=seed)
        lightness, ab = [], []
        for batch_l, batch_ab in dataset:
            lightness.append(batch_l.numpy())
            ab.append(batch_ab.numpy())
            if sum(map(len, lightness)) >= MAX_VALIDATION_PHOTOS:
                break
        return cls(
            np.concatenate(lightness)[:MAX_VALIDATION_PHOTOS],
            np.concatenate(ab)[:MAX_VALIDATION_PHOTOS],
        )


def score(validation: ValidationSet, fake_ab: np.ndarray) -> dict[str, float]:
    """Validation metrics of generated ab: PSNR against gray's, colourfulness, CIEDE2000.

    Colourfulness is the ratio of the means over the photos (a mean of ratios would be
    dominated by the few nearly gray photos).
    """
    truth = validation.truth_rgb()
    output = validation.colorized_rgb(fake_ab)
    gray = scaled_lab_to_rgb(join_l_ab(validation.lightness, np.zeros_like(fake_ab)))
    real_lab = unscale_lab(join_l_ab(validation.lightness, validation.ab))
    fake_lab = unscale_lab(join_l_ab(validation.lightness, fake_ab))
    truth_colour = np.mean([colorfulness(image) for image in truth])
    return {
        "val_psnr": float(np.mean([psnr(t, o) for t, o in zip(truth, output, strict=True)])),
        "val_gray_psnr": float(np.mean([psnr(t, g) for t, g in zip(truth, gray, strict=True)])),
        "val_colorfulness_ratio": float(
            np.mean([colorfulness(image) for image in output]) / max(truth_colour, 1e-6)
        ),
        "val_ciede2000": ciede2000(real_lab, fake_lab),
        "val_l1": float(np.mean(np.abs(validation.ab - fake_ab))),
    }


def realism_scores(validation: ValidationSet, fake_ab: np.ndarray) -> dict[str, float]:
    """KID (Binkowski et al. 2018) between the colorized and the true validation photos in
    Lite0 features: about 0 when the two sets look alike to an ImageNet network, higher the
    less they do. Unbiased, so honest on a few tens of photos; and it never scores a photo
    against its own colorization (that pair says how close the colours are, not how real
    they look). Its std is the spread over subsets: 0 up to 1000 photos (one estimate)."""
    fake_features = lite0_features(validation.colorized_rgb(fake_ab))
    kid, kid_std = kernel_inception_distance(validation.real_features, fake_features)
    return {"val_kid": kid, "val_kid_std": kid_std}


def beats_gray(scores: dict[str, float], margin_db: float) -> bool:
    """Validation PSNR above gray's plus ``margin_db`` (negative: at most that far below)."""
    return scores["val_psnr"] > scores["val_gray_psnr"] + margin_db


def passes_guard(scores: dict[str, float], margin_db: float, band: tuple[float, float]) -> bool:
    """No cast: PSNR near or above gray's, and colourfulness near the truth's. Cheap (from
    :func:`score`), so realism pays for features only for the epochs that pass it."""
    low, high = band
    return beats_gray(scores, margin_db) and low <= scores["val_colorfulness_ratio"] <= high


def ranking_key(
    criterion: str, margin_db: float, band: tuple[float, float] = NO_BAND
) -> Callable[[dict[str, float]], tuple]:
    """Larger is better. ``colourful_above_gray`` ranks every epoch that beats gray above
    every one that does not; among those that do, the most colourful wins; among those
    that do not, the most accurate (so a run that never beats gray keeps its best PSNR).
    ``realism`` likewise ranks the epochs that pass the guard (and so have a KID) first,
    the lowest KID winning, and the others by PSNR."""
    if criterion == "realism":
        return lambda s: (
            (1, -s["val_kid"])
            if "val_kid" in s and passes_guard(s, margin_db, band)
            else (0, s["val_psnr"])
        )
    if criterion == "val_psnr":
        return lambda s: (s["val_psnr"],)
    if criterion == "val_ciede2000":
        return lambda s: (-s["val_ciede2000"],)
    if criterion == "colourful_above_gray":
        return lambda s: (
            (1, s["val_colorfulness_ratio"]) if beats_gray(s, margin_db) else (0, s["val_psnr"])
        )
    raise ValueError(f"no ranking for criterion {criterion!r}")


@dataclass
class EpochSelection:
    """Keeps the epoch a validation criterion ranks highest (``train.select_epoch``)."""

    criterion: str
    margin_db: float
    band: tuple[float, float] = NO_BAND  # realism's colourfulness guard

    @classmethod
    def from_params(cls, cfg: TrainParams) -> EpochSelection:
        return cls(cfg.select_epoch, cfg.select_margin_db, tuple(cfg.select_colorfulness_band))

    def score(self, validation: ValidationSet, fake_ab: np.ndarray) -> dict[str, float]:
        """:func:`score`'s metrics and, under realism for an epoch that passes the guard,
        its KID (the only epochs it can rank by; an epoch without one has no val_kid key,
        so MLflow's val_kid curve shows the epochs that competed)."""
        scores = score(validation, fake_ab)
        if self.criterion != "realism" or not passes_guard(scores, self.margin_db, self.band):
            return scores
        if len(fake_ab) < 2:
            log.warning("one validation photo: no KID (it compares sets); ranking by PSNR")
            return scores
        return {**scores, **realism_scores(validation, fake_ab)}

    def better(self, scores: dict[str, float], best: dict[str, Any] | None) -> bool:
        if self.criterion == "last" or best is None:
            return True
        key = ranking_key(self.criterion, self.margin_db, self.band)
        return key(scores) > key(best["scores"])


def _guard_words(margin_db: float, band: tuple[float, float]) -> str:
    low, high = band
    psnr_rule = (
        f"at most {-margin_db:g} dB below gray's"
        if margin_db < 0
        else f"at least {margin_db:g} dB over gray's"
    )
    return f"validation PSNR {psnr_rule}, colourfulness {low:.0%}-{high:.0%} of the truth's"


def reason(
    criterion: str, margin_db: float, scores: dict[str, float], band: tuple[float, float] = NO_BAND
) -> str:
    """Why the kept epoch was kept, in words for the MLflow run and train.json's reader."""
    if criterion == "realism":
        return _realism_reason(margin_db, scores, band)
    if criterion == "last":
        return "the last epoch (train.select_epoch: last)"
    if criterion == "val_psnr":
        return f"highest validation PSNR ({scores['val_psnr']:.2f} dB)"
    if criterion == "val_ciede2000":
        return f"lowest validation CIEDE2000 ({scores['val_ciede2000']:.2f})"
    if beats_gray(scores, margin_db):
        return (
            f"most colourful epoch (colourfulness {scores['val_colorfulness_ratio']:.0%} of "
            f"the truth's) whose validation PSNR {scores['val_psnr']:.2f} dB beats gray's "
            f"{scores['val_gray_psnr']:.2f} dB by more than {margin_db:g} dB"
        )
    return (
        f"no epoch beat gray's validation PSNR by {margin_db:g} dB: kept the highest "
        f"validation PSNR ({scores['val_psnr']:.2f} dB vs gray {scores['val_gray_psnr']:.2f})"
    )


def _realism_reason(margin_db: float, scores: dict[str, float], band: tuple[float, float]) -> str:
    measured = (
        f"validation PSNR {scores['val_psnr']:.2f} dB vs gray {scores['val_gray_psnr']:.2f}, "
        f"colourfulness {scores['val_colorfulness_ratio']:.0%} of the truth's"
    )
    if "val_kid" in scores and passes_guard(scores, margin_db, band):
        spread = scores.get("val_kid_std", 0.0)  # 0 up to 1000 photos: one estimate, no subsets
        kid = f"KID {scores['val_kid']:.4f}" + (f" ± {spread:.4f}" if spread else "")
        return (
            f"most realistic epoch: its colorized validation photos are the closest to the "
            f"real ones in Lite0 features ({kid}) among the epochs with no cast "
            f"({_guard_words(margin_db, band)}); {measured}"
        )
    return (
        f"no epoch passed the realism guard ({_guard_words(margin_db, band)}): kept the "
        f"highest validation PSNR ({measured})"
    )


def fit_chroma_gain(validation: ValidationSet, fake_ab: np.ndarray, margin_db: float) -> float:
    """The largest gain on ab whose validation PSNR stays ``margin_db`` above gray's and
    whose colourfulness stays within the truth's.

    PSNR as a function of a gain s is unimodal (the MSE of s*h is a parabola in s before
    clipping), so gains above the most accurate one trade accuracy for colour; this takes
    as much colour as the margin allows, but never more than the photos have. When even the
    most accurate gain does not clear the margin, that gain is returned (possibly below 1:
    less of a colour that is mostly wrong).
    """
    scores = [score(validation, np.clip(gain * fake_ab, -1.0, 1.0)) for gain in GAINS]
    psnrs = np.array([s["val_psnr"] for s in scores])
    allowed = np.array(
        [beats_gray(s, margin_db) and s["val_colorfulness_ratio"] <= 1.0 for s in scores]
    )
    if allowed.any():
        return float(GAINS[allowed].max())
    return float(GAINS[int(np.argmax(psnrs))])


def realism_chroma_gain(
    validation: ValidationSet, fake_ab: np.ndarray, margin_db: float, band: tuple[float, float]
) -> float | None:
    """The gain (1.0 among the candidates) whose colorized validation photos have the lowest
    KID among the gains that pass realism's guard; None when none passes.

    The same rule as the epoch's: a beige L1 output may look more real boosted (up to where
    the guard's PSNR or colourfulness stops it), a GAN's own colours may look best at 1.0.
    Only guarded gains pay for features."""
    candidates = []
    for gain in REALISM_GAINS:
        gained = np.clip(gain * fake_ab, -1.0, 1.0)
        if passes_guard(score(validation, gained), margin_db, band):
            candidates.append((realism_scores(validation, gained)["val_kid"], float(gain)))
    return min(candidates)[1] if candidates else None


def keep_best(
    gan: ColorGAN,
    store: CheckpointStore,
    state: dict[str, Any],
    cfg: TrainParams,
    validation: ValidationSet,
) -> tuple[keras.Model, dict[str, Any]]:
    """The generator to ship (G_ema when there is one): the epoch ``train.select_epoch``
    keeps, with the chroma gain ``train.chroma_gain`` fits; and what was kept and why, with
    its validation scores. The GAN's discriminators are set to the same epoch."""
    best = state.get("best") or {  # a checkpoint from before model selection existed
        "epoch": state["epoch"],
        "scores": score(validation, predict_ab(gan.colorizer, validation.lightness)),
    }
    if cfg.select_epoch != "last" and best["epoch"] != state["epoch"]:
        # D of the same epoch too: evaluation judges G with the D it was trained against.
        for name in store.restore_best(gan):
            log.warning("no kept-epoch %s: models/ gets the last epoch's", name)
    select = EpochSelection.from_params(cfg)
    kept = {
        "epoch": best["epoch"],
        "reason": reason(select.criterion, select.margin_db, best["scores"], select.band),
        "chroma_gain": 1.0,
        "scores": best["scores"],
    }
    if cfg.chroma_gain == "off":
        return gan.colorizer, kept
    if select.criterion == "realism" and kept["epoch"] > cfg.pretrain_epochs:
        # The adversarial loss already set how much colour G paints: a gain would trade the
        # colour D taught for fewer blotches (measured on BSDS: KID chose 0.75, 70% of the
        # truth's colour where the epoch gave 98%).
        log.info("adversarial epoch %d kept by realism: chroma gain stays 1.0", kept["epoch"])
        return gan.colorizer, kept
    fake_ab = predict_ab(gan.colorizer, validation.lightness)
    gain = None
    if select.criterion == "realism":  # PSNR would trade the colour realism chose for PSNR
        gain = realism_chroma_gain(validation, fake_ab, select.margin_db, select.band)
    if gain is None:
        gain = fit_chroma_gain(validation, fake_ab, cfg.select_margin_db)
    generator = with_chroma_gain(gan.colorizer, gain)
    kept["chroma_gain"] = gain
    kept["scores"] = select.score(validation, predict_ab(generator, validation.lightness))
    log.info("chroma gain %.2f fitted on %d validation photos", gain, len(fake_ab))
    return generator, kept
