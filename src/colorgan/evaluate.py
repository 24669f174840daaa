"""Evaluate: colour quality on the test split against a gray baseline, and how well D tells
real colours from generated ones. Writes DVC metrics and plots, pictures and one HTML report,
and logs them all into the training's MLflow run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
)

from colorgan import report, tracking
from colorgan.color import gray_baseline, join_l_ab, scaled_lab_to_rgb, unscale_lab
from colorgan.config import Params
from colorgan.data import make_dataset
from colorgan.losses import real_probability
from colorgan.metrics import (
    ab_error_auc,
    ciede2000,
    colorfulness,
    colorfulness_ratio,
    colour_class_scores,
    psnr,
    ssim,
)

PR_CURVE_POINTS = 200  # enough for a smooth curve, small enough to diff in git


@dataclass(frozen=True)
class EvalPaths:
    prepared: Path
    models: Path
    metrics: Path  # metrics/eval.json
    plots: Path  # confusion.csv, pr_curve.csv
    reports: Path  # per_image.csv, PNGs, report.html

    @classmethod
    def default(cls, root: Path = Path()) -> EvalPaths:
        return cls(
            root / "data/prepared",
            root / "models",
            root / "metrics/eval.json",
            root / "plots",
            root / "reports",
        )


@dataclass
class Predictions:
    real: np.ndarray  # (n, s, s, 3) scaled Lab, ground truth
    fake: np.ndarray  # (n, s, s, 3) scaled Lab, generated ab with the true L
    real_prob: np.ndarray  # (n, p, p) D's P(real) for each patch of the true pairs
    fake_prob: np.ndarray  # (n, p, p) ... and of the generated pairs


def patch_probabilities(
    discriminator: keras.Model, lightness: np.ndarray, ab: np.ndarray, kind: str
) -> np.ndarray:
    """D's P(real) for each patch of a batch of (L, ab) pairs, (b, p, p).

    BatchNorm normalizes with the batch's own statistics (training=True), as in training and
    as pix2pix does at test time: D's moving averages were accumulated over the real and the
    generated batches of a changing G and fit neither, so in inference mode D calls nearly
    every patch "real". ``stateless_call`` returns the updated moving averages instead of
    assigning them, so scoring leaves D exactly as it was saved.
    """
    logits, _ = discriminator.stateless_call(
        discriminator.trainable_variables,
        discriminator.non_trainable_variables,
        [lightness, ab],
        training=True,
    )
    return np.asarray(real_probability(logits, kind))[..., 0]


def predict(params: Params, paths: EvalPaths) -> Predictions:
    """Run G (inference mode) and D (batch statistics, see patch_probabilities) over the test
    split, real and generated pairs in separate batches as in training."""
    generator = keras.models.load_model(paths.models / "generator.keras")
    discriminator = keras.models.load_model(paths.models / "discriminator.keras")
    kind = params.train.adversarial_loss
    limit = params.evaluate.max_images or None
    real, fake, real_prob, fake_prob = [], [], [], []
    dataset = make_dataset(
        paths.prepared / "test", params.train.batch_size, training=False, seed=params.seed
    )
    for lightness, real_ab in dataset:
        fake_ab = generator(lightness, training=False)
        real_prob.append(patch_probabilities(discriminator, lightness, real_ab, kind))
        fake_prob.append(patch_probabilities(discriminator, lightness, fake_ab, kind))
        real.append(join_l_ab(lightness.numpy(), real_ab.numpy()))
        fake.append(join_l_ab(lightness.numpy(), np.asarray(fake_ab)))
        if limit and sum(map(len, real)) >= limit:
            break
    return Predictions(
        *(np.concatenate(part)[:limit] for part in (real, fake, real_prob, fake_prob))
    )


def image_scores(real_scaled: np.ndarray, fake_scaled: np.ndarray) -> dict[str, float]:
    """Every per-image colour metric of one output against the ground truth."""
    real_lab, fake_lab = unscale_lab(real_scaled), unscale_lab(fake_scaled)
    truth, output = scaled_lab_to_rgb(real_scaled), scaled_lab_to_rgb(fake_scaled)
    return {
        "psnr": psnr(truth, output),
        "ssim": ssim(truth, output),
        "ciede2000": ciede2000(real_lab, fake_lab),
        "auc_ab": ab_error_auc(real_lab, fake_lab),
        "colorfulness": colorfulness(output),
        "colorfulness_truth": colorfulness(truth),
        "colorfulness_ratio": colorfulness_ratio(truth, output),
        **{
            f"class_{name}": value
            for name, value in colour_class_scores(real_lab, fake_lab).items()
        },
    }


def per_image_table(predictions: Predictions) -> pd.DataFrame:
    rows = []
    for real, fake in zip(predictions.real, predictions.fake, strict=True):
        model = image_scores(real, fake)
        gray = image_scores(real, gray_baseline(real))
        rows.append(
            {**model, **{f"gray_{k}": v for k, v in gray.items() if k != "colorfulness_truth"}}
        )
    return pd.DataFrame(rows)


def discriminator_report(
    real_prob: np.ndarray, fake_prob: np.ndarray, threshold: float
) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
    """Patch-level scores of D ('real' is the positive class): metrics, confusion rows, PR curve."""
    actual = np.concatenate([np.ones(real_prob.size), np.zeros(fake_prob.size)]).astype(int)
    score = np.concatenate([real_prob.ravel(), fake_prob.ravel()])
    predicted = (score > threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(actual, predicted, labels=[0, 1]).ravel()
    precision, recall, f1, _ = precision_recall_fscore_support(
        actual, predicted, average="binary", zero_division=0
    )
    both_classes = len(np.unique(actual)) == 2
    metrics = {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "accuracy": float((tp + tn) / actual.size),
        "roc_auc": float(roc_auc_score(actual, score)) if both_classes else 0.5,
        "average_precision": float(average_precision_score(actual, score)),
        "fooling_rate": float(np.mean(fake_prob > threshold)),
        "true_positive": int(tp),
        "false_positive": int(fp),
        "true_negative": int(tn),
        "false_negative": int(fn),
    }
    names = np.array(["generated", "real"])
    confusion_rows = pd.DataFrame({"actual": names[actual], "predicted": names[predicted]})
    curve_precision, curve_recall, _ = precision_recall_curve(actual, score)
    keep = np.unique(np.linspace(0, len(curve_recall) - 1, PR_CURVE_POINTS).astype(int))
    pr_curve = pd.DataFrame({"recall": curve_recall[keep], "precision": curve_precision[keep]})
    return metrics, confusion_rows, pr_curve


def _rounded(values: dict) -> dict:
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in values.items()}


def evaluate(params: Params, paths: EvalPaths) -> dict[str, object]:
    """Score the test split; write metrics, plots, pictures and the report. Returns the metrics."""
    predictions = predict(params, paths)
    scores = per_image_table(predictions)
    d_metrics, confusion_rows, pr_curve = discriminator_report(
        predictions.real_prob, predictions.fake_prob, params.evaluate.threshold
    )
    metrics: dict[str, object] = {
        "test_images": len(scores),
        **_rounded(scores.mean().astype(float).to_dict()),
        "color_classes": colour_class_scores(
            unscale_lab(predictions.real), unscale_lab(predictions.fake)
        ),
        "discriminator": _rounded(d_metrics),
    }
    for path in (paths.metrics.parent, paths.plots, paths.reports):
        path.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(metrics, indent=2) + "\n")
    confusion_rows.to_csv(paths.plots / "confusion.csv", index=False)
    pr_curve.to_csv(paths.plots / "pr_curve.csv", index=False)
    scores.to_csv(paths.reports / "per_image.csv", index_label="image")
    report.write_report(paths.reports, metrics, scores, predictions, confusion_rows, pr_curve)
    return metrics


def evaluate_and_log(params: Params, paths: EvalPaths) -> dict[str, object]:
    """Evaluate, then add the metrics, plots and report to the training's MLflow run."""
    metrics = evaluate(params, paths)
    run_info = tracking.RunInfo.load(paths.models / "run.json")
    if params.tracking.enabled and run_info is not None:
        import mlflow

        tracking.set_up(params.tracking)
        with mlflow.start_run(run_id=run_info.run_id):
            # MLflow names: test_psnr, test_discriminator_precision, ...
            mlflow.log_metrics(tracking.flatten_numbers(metrics, "test_", separator="_"))
            mlflow.log_artifact(str(paths.metrics), artifact_path="evaluation")
            mlflow.log_artifacts(str(paths.plots), artifact_path="evaluation/plots")
            mlflow.log_artifacts(str(paths.reports), artifact_path="evaluation")
    return metrics
