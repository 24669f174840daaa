"""Evaluate: colour quality on the test split against a gray baseline, and how well D tells
real colours from generated ones."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_score, recall_score

from colorgan import tracking
from colorgan.color import gray_baseline, join_l_ab, scaled_lab_to_rgb
from colorgan.config import Params
from colorgan.data import make_dataset
from colorgan.losses import real_probability
from colorgan.metrics import psnr, ssim


@dataclass(frozen=True)
class EvalPaths:
    prepared: Path
    models: Path
    metrics: Path  # metrics/eval.json
    confusion: Path  # plots/confusion.csv
    per_image: Path  # reports/per_image.csv

    @classmethod
    def default(cls, root: Path = Path()) -> EvalPaths:
        return cls(
            root / "data/prepared",
            root / "models",
            root / "metrics/eval.json",
            root / "plots/confusion.csv",
            root / "reports/per_image.csv",
        )


def colour_scores(real_lab: np.ndarray, fake_lab: np.ndarray) -> dict[str, float]:
    """PSNR and SSIM of one colorized image, and of the gray baseline, against the truth."""
    truth = scaled_lab_to_rgb(real_lab)
    model = scaled_lab_to_rgb(fake_lab)
    gray = scaled_lab_to_rgb(gray_baseline(real_lab))
    return {
        "psnr": psnr(truth, model),
        "ssim": ssim(truth, model),
        "gray_psnr": psnr(truth, gray),
        "gray_ssim": ssim(truth, gray),
    }


def discriminator_report(
    real_prob: np.ndarray, fake_prob: np.ndarray, threshold: float
) -> tuple[dict[str, float], pd.DataFrame]:
    """Patch-level confusion of D at ``threshold``: 'real' is the positive class."""
    actual = np.concatenate([np.ones(real_prob.size), np.zeros(fake_prob.size)]).astype(int)
    predicted = (np.concatenate([real_prob.ravel(), fake_prob.ravel()]) > threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(actual, predicted, labels=[0, 1]).ravel()
    report = {
        "precision": float(precision_score(actual, predicted, zero_division=0)),
        "recall": float(recall_score(actual, predicted, zero_division=0)),
        "accuracy": float((tp + tn) / actual.size),
        "true_positive": int(tp),
        "false_positive": int(fp),
        "true_negative": int(tn),
        "false_negative": int(fn),
    }
    labels = np.array(["generated", "real"])
    rows = pd.DataFrame({"actual": labels[actual], "predicted": labels[predicted]})
    return report, rows


def evaluate(params: Params, paths: EvalPaths) -> dict[str, object]:
    generator = keras.models.load_model(paths.models / "generator.keras")
    discriminator = keras.models.load_model(paths.models / "discriminator.keras")
    dataset = make_dataset(
        paths.prepared / "test", params.train.batch_size, training=False, seed=params.seed
    )
    limit = params.evaluate.max_images or None
    per_image, real_probs, fake_probs = [], [], []
    for lightness, real_ab in dataset:
        fake_ab = generator(lightness, training=False)
        kind = params.train.adversarial_loss
        real_probs.append(
            np.asarray(real_probability(discriminator([lightness, real_ab], training=False), kind))
        )
        fake_probs.append(
            np.asarray(real_probability(discriminator([lightness, fake_ab], training=False), kind))
        )
        real_lab = join_l_ab(lightness.numpy(), real_ab.numpy())
        fake_lab = join_l_ab(lightness.numpy(), np.asarray(fake_ab))
        per_image += [colour_scores(r, f) for r, f in zip(real_lab, fake_lab, strict=True)]
        if limit and len(per_image) >= limit:
            break
    scores = pd.DataFrame(per_image[:limit])
    d_report, confusion_rows = discriminator_report(
        np.concatenate(real_probs), np.concatenate(fake_probs), params.evaluate.threshold
    )
    metrics: dict[str, object] = {
        "test_images": len(scores),
        **{name: round(float(scores[name].mean()), 5) for name in scores.columns},
        "discriminator": {
            k: round(v, 5) if isinstance(v, float) else v for k, v in d_report.items()
        },
    }
    _write(paths, metrics, confusion_rows, scores)
    return metrics


def _write(
    paths: EvalPaths, metrics: dict[str, object], confusion_rows: pd.DataFrame, scores: pd.DataFrame
) -> None:
    for path in (paths.metrics, paths.confusion, paths.per_image):
        path.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(metrics, indent=2) + "\n")
    confusion_rows.to_csv(paths.confusion, index=False)
    scores.to_csv(paths.per_image, index_label="image")


def flat_metrics(metrics: dict[str, object], prefix: str = "test_") -> dict[str, float]:
    """{'test_psnr': ..., 'test_discriminator_precision': ...} for MLflow."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(flat_metrics(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = float(value)
    return flat


def evaluate_and_log(params: Params, paths: EvalPaths) -> dict[str, object]:
    """Evaluate, then add the metrics and reports to the training's MLflow run."""
    metrics = evaluate(params, paths)
    run_info = tracking.RunInfo.load(paths.models / "run.json")
    if params.tracking.enabled and run_info is not None:
        import mlflow

        tracking.set_up(params.tracking)
        with mlflow.start_run(run_id=run_info.run_id):
            mlflow.log_metrics(flat_metrics(metrics))
            for path in (paths.metrics, paths.confusion, paths.per_image):
                mlflow.log_artifact(str(path), artifact_path="reports")
    return metrics
