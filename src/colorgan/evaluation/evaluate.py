"""Evaluate: colour quality on the test split against a gray baseline; how well each
discriminator head tells true colours from generated ones; and how real the colorized photos
look (colorgan.realism: as sets against true colour photos, and to an ImageNet classifier).
Writes DVC metrics and plots, pictures and one HTML report, and logs them all into the
training's MLflow run.

What was trained is read first (metrics/train.json: the kept epoch, whether it came after the
L1-only pre-training, whether D had trained by then): a D that never took a training step
(an L1-only run) is reported as ``"status": "untrained"`` with no figures, since its AUC of
about 0.5 would read as "G fools D".

What D is shown, and why:

- **Views.** The test shards hold one centre square per photo, at image_size; a PatchGAN
  there gives a few dozen strongly overlapping patches per photo. Each photo is judged in
  ``evaluate.views_per_photo`` views instead: the square, its mirror image, and random square
  sub-windows (side a uniform fraction in [VIEW_SCALE_MIN, 1] of the square's, anywhere,
  mirrored half the time) resized back to image_size, which is what training's random crops
  are (a crop of a fraction of the photo's side, resized to image_size), only upsampled from
  the stored square rather than cut from the full photo. Views of one photo are not
  independent samples: they vary framing, scale and orientation, the only freedom a photo
  gives. The same views feed the feature metrics.
- **As in training.** True pairs are (L, ab x train.color_enhance_factor clipped to
  [-1, 1]): the real colours D learned to call real. Generated pairs come from the generator
  of the kept epoch (models/generator.keras without the fitted chroma gain, which D never
  saw), in inference mode; D is the same epoch's (train.py saves them together). No
  DiffAugment and no instance noise: both are training-time regularizers, and cutout would
  only add blanked patches neither class can be told by.
- **BatchNorm: batch statistics** (training=True), real and generated pairs in separate
  batches of train.batch_size mixing views of different photos, exactly as D ran in every
  training step: that is the function D learned. D's moving averages were accumulated over
  alternating real and generated batches of a changing G, so they describe neither kind.
  Measured on a small trained model (32 px, 8 epochs, the sample photos): with batch
  statistics PatchGAN / PixelGAN test ROC AUC 0.98 / 0.95; with the moving averages
  (inference mode) 0.52 / 0.76, with D's scores of both kinds bunched together. The caveat:
  with batch statistics a patch's score also depends on its batch, which is all real or all
  generated, as in training. ``stateless_call`` returns the updated moving averages instead
  of assigning them, so scoring leaves D as saved.
- **Threshold** chosen on the validation photos (evaluate.threshold: youden maximizes
  Youden's J = TPR - FPR there, the same as maximizing balanced accuracy), then applied to
  the test photos unchanged: the test figures are not tuned on the test photos.

ROC AUC near 0.5: G fools D; near 1: D sees through G.

The set comparisons judge the colorizer as shipped (chroma gain included) with a judge that
never trained against it: the true-colour, colorized and gray versions of the same views, as
EfficientNet-Lite0 features; the two-sample classifiers learn on the validation photos (which
epoch selection and the chroma gain also saw: fine for fitting a classifier) and are scored
on the test photos; KID, density and coverage and the Fréchet distance compare the test
views. Semantic agreement (Lite0's ImageNet class of the colorized or gray photo against its
class of the true-colour photo) is computed on the test photos' stored squares (each photo's
centre square at preprocess.image_size, i.e. view 0; the prepared data keeps no full photos),
the same images as the colour metrics, each resized whole to Lite0's 224 x 224.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

from colorgan.color import gray_baseline, join_l_ab, scaled_lab_to_rgb, unscale_lab
from colorgan.config import Params
from colorgan.data.color_tf import rgb_to_scaled_lab
from colorgan.data.dataset import fixed_view, make_dataset, prepared_stats, shard_paths
from colorgan.errors import ColorganError
from colorgan.evaluation import report
from colorgan.evaluation.report import HeadResult, Predictions
from colorgan.metrics import (
    ab_error_auc,
    ciede2000,
    colorfulness,
    colorfulness_ratio,
    colour_class_scores,
    psnr,
    ssim,
)
from colorgan.model.gan import DISCRIMINATORS
from colorgan.model.losses import real_probability
from colorgan.model.networks import predict_ab
from colorgan.realism.features import lite0_class_logits, lite0_features
from colorgan.realism.semantic import semantic_agreement
from colorgan.realism.sets import set_comparison
from colorgan.tracking import runs, store

PR_CURVE_POINTS = 200  # enough for a smooth curve, small enough to diff in git
# DVC's confusion template counts one CSV row per sample; a PixelGAN judges every pixel
# (millions of rows). Above this many, the rows are scaled down in proportion (the exact
# counts are in eval.json).
MAX_CONFUSION_ROWS = 10_000
VIEW_SCALE_MIN = 0.5  # smaller sub-windows would be upsampled more than 2x: mostly blur
HEADS = {"discriminator": "PatchGAN", "pixel_discriminator": "PixelGAN"}
PLOT_PREFIX = {"discriminator": "", "pixel_discriminator": "pixel_"}
COMPARISONS = {
    "colorized_vs_real": ("colorized", "colorized vs true colours", "c2st_confusion.csv"),
    "gray_vs_real": ("gray", "gray (ab = 0) vs true colours", "c2st_gray_confusion.csv"),
}


class EvaluationError(ColorganError):
    """The prepared data or the trained models are not what evaluation needs."""


@dataclass(frozen=True)
class EvalPaths:
    prepared: Path
    models: Path
    metrics: Path  # metrics/eval.json
    plots: Path  # confusion, PR and ROC curves, two-sample confusion: CSV
    reports: Path  # per_image.csv, PNGs, report.html
    train_metrics: Path | None = None  # metrics/train.json; None: judged from params alone

    @classmethod
    def default(cls, root: Path = Path()) -> EvalPaths:
        return cls(
            root / "data/prepared",
            root / "models",
            root / "metrics/eval.json",
            root / "plots",
            root / "reports",
            root / "metrics/train.json",
        )


# --- what was trained -------------------------------------------------------------------------


def read_train_metrics(path: Path | None) -> dict[str, object]:
    """metrics/train.json, or {} when there is none to read (a bare models/ folder)."""
    if path is None or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise EvaluationError(
            f"{path} is not valid JSON ({error}); rerun the train stage to rewrite it"
        ) from None


def training_summary(train: dict[str, object], params: Params) -> dict[str, object]:
    """What evaluate judges: the kept epoch, whether it was adversarial (after the L1-only
    pre-training), whether D had trained by then, and why it was kept.

    train.json says so itself (selected_adversarial, d_trained, selection); an older one
    without those keys is read from selected_epoch and pretrain_epochs (D trains only in
    adversarial epochs, and the kept epoch's D is the one saved), and without a kept epoch
    from params: an L1-only run (train.pretrain_epochs >= train.epochs) never trains D."""
    pretrain = int(train.get("pretrain_epochs", params.train.pretrain_epochs))
    epoch = train.get("selected_epoch")
    if "selected_adversarial" in train:
        adversarial = bool(train["selected_adversarial"])
    elif epoch is not None:
        adversarial = int(epoch) > pretrain
    else:
        adversarial = params.train.epochs > pretrain
    summary: dict[str, object] = {
        "selected_epoch": epoch,
        "pretrain_epochs": pretrain,
        "adversarial": adversarial,
        "d_trained": bool(train.get("d_trained", adversarial)),
        "selection": train.get("selection"),
    }
    return {key: value for key, value in summary.items() if value is not None}


# --- the photos and their views -------------------------------------------------------------


def load_photos(split_dir: Path, limit: int | None = None) -> np.ndarray:
    """A val/test split's stored squares as uint8 RGB (n, s, s, 3), in shard order."""
    size = prepared_stats(split_dir)["image_size"]
    paths = [str(path) for path in shard_paths(split_dir)]
    dataset = tf.data.TFRecordDataset(paths).map(lambda record: fixed_view(record, size))
    if limit:
        dataset = dataset.take(limit)
    photos = [image.numpy() for image in dataset]
    if not photos:
        raise EvaluationError(
            f"{split_dir} holds no photos; add photos or change data.split, then rerun the "
            "ingest and preprocess stages"
        )
    return np.stack(photos)


def photo_views(photos: np.ndarray, views: int, seed: int) -> np.ndarray:
    """``views`` views of each photo as float RGB in [0, 1], photo after photo: the photo,
    its mirror image, then random square sub-windows (side a uniform fraction in
    [VIEW_SCALE_MIN, 1] of the photo's), mirrored half the time, resized back to its size."""
    count, size = photos.shape[0], photos.shape[1]
    rng = np.random.default_rng(seed)
    sides = rng.uniform(VIEW_SCALE_MIN, 1.0, (count, views)) * size
    sides[:, :2] = size  # views 0 and 1: the whole photo
    sides = np.maximum(np.round(sides), 2)
    tops = np.floor(rng.uniform(0, 1, (count, views)) * (size - sides + 1))
    lefts = np.floor(rng.uniform(0, 1, (count, views)) * (size - sides + 1))
    flips = rng.uniform(0, 1, (count, views)) < 0.5
    flips[:, 0] = False  # the photo itself
    flips[:, 1:2] = True  # its mirror image, when two views or more are asked for
    # crop_and_resize's box corners are pixel centres in [0, 1]: a whole box is the identity.
    corners = np.stack([tops, lefts, tops + sides - 1, lefts + sides - 1], axis=-1) / (size - 1)
    crops = tf.image.crop_and_resize(
        tf.constant(photos, tf.float32) / 255.0,
        corners.reshape(-1, 4).astype(np.float32),
        np.repeat(np.arange(count), views).astype(np.int32),
        (size, size),
    ).numpy()
    crops[flips.ravel()] = crops[flips.ravel(), :, ::-1]
    return np.clip(crops, 0.0, 1.0)


def split_views(split_dir: Path, params: Params) -> np.ndarray:
    """The views of a split's photos in scaled Lab (the training pipeline's conversion)."""
    photos = load_photos(split_dir, params.evaluate.max_images or None)
    rgb = photo_views(photos, params.evaluate.views_per_photo, params.seed)
    return np.asarray(rgb_to_scaled_lab(tf.constant(rgb)))


# --- colour quality of the stored squares ----------------------------------------------------


def predict(generator: keras.Model, params: Params, paths: EvalPaths) -> Predictions:
    """Run G (inference mode, as shipped) over the test split's stored squares."""
    limit = params.evaluate.max_images or None
    real, fake = [], []
    dataset = make_dataset(
        paths.prepared / "test", params.train.batch_size, training=False, seed=params.seed
    )
    for lightness, real_ab in dataset:
        fake_ab = generator.predict_on_batch(lightness)  # compiled: see predict_ab
        real.append(join_l_ab(lightness.numpy(), real_ab.numpy()))
        fake.append(join_l_ab(lightness.numpy(), fake_ab))
        if limit and sum(map(len, real)) >= limit:
            break
    return Predictions(*(np.concatenate(part)[:limit] for part in (real, fake)))


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


# --- the discriminators -------------------------------------------------------------------


def trained_generator(generator: keras.Model) -> keras.Model:
    """The shipped generator without its chroma gain: the generator D was trained against."""
    names = {layer.name for layer in generator.layers}
    if "chroma_gain" not in names:  # models.with_chroma_gain's layer
        return generator
    return keras.Model(generator.input, generator.get_layer("chroma_gain").input)


def saved_heads(models: Path) -> list[str]:
    """The heads train.py saved: the PatchGAN, and the PixelGAN when there was one."""
    names = [name for name in HEADS if (models / DISCRIMINATORS / f"{name}.keras").exists()]
    if "discriminator" not in names:
        raise EvaluationError(
            f"no {models / DISCRIMINATORS / 'discriminator.keras'}; run the train stage first"
        )
    return names


def load_discriminators(models: Path) -> dict[str, keras.Model]:
    """The saved heads, loaded: {section name: model}."""
    return {
        name: keras.models.load_model(models / DISCRIMINATORS / f"{name}.keras")
        for name in saved_heads(models)
    }


def patch_probabilities(
    discriminator: keras.Model,
    lightness: np.ndarray,
    ab: np.ndarray,
    kind: str,
    batch_statistics: bool = True,
) -> np.ndarray:
    """D's P(real) for each patch of a batch of (L, ab) pairs, (b, p, p).

    ``batch_statistics``: BatchNorm normalizes with the batch's own statistics, as in every
    training step (see the module docstring); ``stateless_call`` hands back the updated
    moving averages instead of assigning them, so scoring leaves D exactly as it was saved.
    False: inference mode, with the moving averages.
    """
    logits, _ = discriminator.stateless_call(
        discriminator.trainable_variables,
        discriminator.non_trainable_variables,
        [lightness, ab],
        training=batch_statistics,
    )
    return np.asarray(real_probability(logits, kind))[..., 0]


def shown_real_ab(ab: np.ndarray, color_enhance_factor: float) -> np.ndarray:
    """The true ab as D saw them in training (ColorGAN.train_step)."""
    return np.clip(ab * color_enhance_factor, -1.0, 1.0)


def batch_indices(count: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """Shuffled batches of ``count`` items, all of ``batch_size``: batch statistics of a
    last batch of one or two would be noise, so it is filled up from the batch before
    (those items are scored twice; their second score is kept)."""
    order = np.random.default_rng(seed).permutation(count)
    batches = [order[start : start + batch_size] for start in range(0, count, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < batch_size:
        batches[-1] = order[-batch_size:]
    return batches


def judge_views(
    lab: np.ndarray,
    generator: keras.Model,
    discriminators: dict[str, keras.Model],
    params: Params,
    batch_statistics: bool = True,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each head's P(real) for every patch of the true and of the generated pairs of the
    views (scaled Lab, (m, s, s, 3)): {head: (real (m, p, p), generated (m, p, p))}."""
    kind, factor = params.train.adversarial_loss, params.train.color_enhance_factor
    scores: dict[str, list[np.ndarray]] = {}
    for index in batch_indices(len(lab), params.train.batch_size, params.seed):
        lightness, ab = lab[index, ..., :1], lab[index, ..., 1:]
        fake_ab = generator.predict_on_batch(lightness)
        shown = shown_real_ab(ab, factor)
        for name, head in discriminators.items():
            real = patch_probabilities(head, lightness, shown, kind, batch_statistics)
            fake = patch_probabilities(head, lightness, fake_ab, kind, batch_statistics)
            if name not in scores:  # the first batch tells each head's patch grid
                scores[name] = [np.zeros((len(lab), *real.shape[1:]), np.float32) for _ in (0, 1)]
            scores[name][0][index], scores[name][1][index] = real, fake
    return {name: (real, fake) for name, (real, fake) in scores.items()}


def youden_threshold(real_prob: np.ndarray, fake_prob: np.ndarray) -> float:
    """The P(real) threshold maximizing Youden's J = TPR - FPR (= 2 x balanced accuracy - 1)
    for 'P(real) >= threshold means real'; 1.0 when no threshold beats chance."""
    actual, score = _labelled(real_prob, fake_prob)
    if len(np.unique(actual)) < 2:
        return 0.5
    false_positive, true_positive, thresholds = roc_curve(actual, score)
    best = int(np.argmax(true_positive - false_positive))
    return float(min(thresholds[best], 1.0))  # roc_curve's first threshold is +inf


def choose_threshold(rule: str | float, real_prob: np.ndarray, fake_prob: np.ndarray) -> float:
    """evaluate.threshold applied to the validation scores."""
    return youden_threshold(real_prob, fake_prob) if rule == "youden" else float(rule)


def _labelled(real_prob: np.ndarray, fake_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    actual = np.concatenate([np.ones(real_prob.size), np.zeros(fake_prob.size)]).astype(int)
    return actual, np.concatenate([np.ravel(real_prob), np.ravel(fake_prob)])


def discriminator_report(
    real_prob: np.ndarray, fake_prob: np.ndarray, threshold: float
) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
    """Patch-level scores of D ('real' is the positive class; P(real) >= threshold means
    real): metrics, confusion rows (see MAX_CONFUSION_ROWS), PR curve."""
    actual, score = _labelled(real_prob, fake_prob)
    predicted = (score >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(actual, predicted, labels=[0, 1]).ravel()
    precision, recall, f1, _ = precision_recall_fscore_support(
        actual, predicted, average="binary", zero_division=0
    )
    both_classes = len(np.unique(actual)) == 2
    metrics = {
        "threshold": float(threshold),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "accuracy": float((tp + tn) / actual.size),
        "balanced_accuracy": float(0.5 * (tp / max(tp + fn, 1) + tn / max(tn + fp, 1))),
        "roc_auc": float(roc_auc_score(actual, score)) if both_classes else 0.5,
        "average_precision": float(average_precision_score(actual, score)),
        "fooling_rate": float(np.mean(np.ravel(fake_prob) >= threshold)),
        "true_positive": int(tp),
        "false_positive": int(fp),
        "true_negative": int(tn),
        "false_negative": int(fn),
    }
    confusion = confusion_rows(metrics, ("real", "generated"))
    curve_precision, curve_recall, _ = precision_recall_curve(actual, score)
    keep = _thinned(len(curve_recall))
    pr_curve = pd.DataFrame({"recall": curve_recall[keep], "precision": curve_precision[keep]})
    return metrics, confusion, pr_curve


def roc_table(real_prob: np.ndarray, fake_prob: np.ndarray) -> pd.DataFrame:
    """The ROC curve (real positive), thinned to PR_CURVE_POINTS points."""
    false_positive, true_positive, _ = roc_curve(*_labelled(real_prob, fake_prob))
    keep = _thinned(len(false_positive))
    return pd.DataFrame(
        {"false_positive_rate": false_positive[keep], "true_positive_rate": true_positive[keep]}
    )


def _thinned(length: int) -> np.ndarray:
    return np.unique(np.linspace(0, length - 1, PR_CURVE_POINTS).astype(int))


def confusion_rows(
    metrics: dict, names: tuple[str, str], prefix: str = "", cap: int = MAX_CONFUSION_ROWS
) -> pd.DataFrame:
    """One (actual, predicted) row per sample, for DVC's confusion template; ``names`` are
    (positive, negative). Above ``cap`` samples the four cells are scaled to ``cap`` rows."""
    positive, negative = names
    cells = {
        (positive, positive): metrics[f"{prefix}true_positive"],
        (positive, negative): metrics[f"{prefix}false_negative"],
        (negative, positive): metrics[f"{prefix}false_positive"],
        (negative, negative): metrics[f"{prefix}true_negative"],
    }
    total = sum(cells.values())
    scale = min(1.0, cap / total) if total else 1.0
    rows = [cell for cell, count in cells.items() for _ in range(round(count * scale))]
    return pd.DataFrame(rows, columns=["actual", "predicted"])


def head_results(
    val: dict[str, tuple[np.ndarray, np.ndarray]],
    test: dict[str, tuple[np.ndarray, np.ndarray]],
    rule: str | float,
) -> tuple[dict[str, HeadResult], dict[str, pd.DataFrame]]:
    """Each head: the threshold from the validation scores, the report on the test scores.
    Returns the results and the CSV plots by file name."""
    results, plots = {}, {}
    for name, (real, fake) in test.items():
        val_real, val_fake = val[name]
        threshold = choose_threshold(rule, val_real, val_fake)
        metrics, confusion, pr_curve = discriminator_report(real, fake, threshold)
        val_metrics, _, _ = discriminator_report(val_real, val_fake, threshold)
        metrics |= {
            "val_roc_auc": val_metrics["roc_auc"],
            "val_balanced_accuracy": val_metrics["balanced_accuracy"],
            "patches_per_view": int(real[0].size),
        }
        roc = roc_table(real, fake)
        results[name] = HeadResult(HEADS[name], metrics, real.ravel(), fake.ravel(), pr_curve, roc)
        prefix = PLOT_PREFIX[name]
        plots |= {
            f"{prefix}confusion.csv": confusion,
            f"{prefix}pr_curve.csv": pr_curve,
            f"{prefix}roc_curve.csv": roc,
        }
    return results, plots


def empty_head_plots(heads: dict[str, HeadResult]) -> dict[str, pd.DataFrame]:
    """Header-only CSVs for a head the training did not have: DVC requires every declared
    output to exist, and renders these as empty plots."""
    plots = {}
    for name, prefix in PLOT_PREFIX.items():
        if name not in heads:
            plots |= {
                f"{prefix}confusion.csv": pd.DataFrame(columns=["actual", "predicted"]),
                f"{prefix}pr_curve.csv": pd.DataFrame(columns=["recall", "precision"]),
                f"{prefix}roc_curve.csv": pd.DataFrame(
                    columns=["false_positive_rate", "true_positive_rate"]
                ),
            }
    return plots


# --- true colours against colorized and gray photos, as sets ---------------------------------


def colorize(generator: keras.Model, lab: np.ndarray, batch_size: int) -> np.ndarray:
    """The shipped generator's colours for the views' L, as scaled Lab."""
    return join_l_ab(lab[..., :1], predict_ab(generator, lab[..., :1], batch_size))


def feature_sets(lab: np.ndarray, generator: keras.Model, batch_size: int) -> dict[str, np.ndarray]:
    """Lite0 features of the views in true colour, colorized, and gray."""
    versions = {
        "real": lab,
        "colorized": colorize(generator, lab, batch_size),
        "gray": gray_baseline(lab),
    }
    return {name: lite0_features(scaled_lab_to_rgb(v)) for name, v in versions.items()}


def set_comparisons(
    val: dict[str, np.ndarray], test: dict[str, np.ndarray], params: Params
) -> tuple[dict[str, dict[str, float]], dict[str, pd.DataFrame]]:
    """Colorized vs true and gray vs true: the two-sample test (fitted on val, scored on
    test), KID, density and coverage and the Fréchet distance (test). Returns the metrics
    sections and the two-sample tests' confusion CSVs.

    Density and coverage group the views by photo (see realism.density_coverage: otherwise
    near-duplicate views make every ball tiny); a single test photo cannot be grouped, and
    its figures then compare views within it.
    """
    photos = len(test["real"]) // params.evaluate.views_per_photo
    groups = np.repeat(np.arange(photos), params.evaluate.views_per_photo) if photos > 1 else None
    sections, plots = {}, {}
    for section, (version, _, csv_name) in COMPARISONS.items():
        scores, _, _ = set_comparison(
            val["real"],
            val[version],
            test["real"],
            test[version],
            k=params.evaluate.nearest_neighbours,
            seed=params.seed,
            test_groups=groups,
        )
        sections[section] = scores
        plots[csv_name] = confusion_rows(scores, ("real", version), prefix="c2st_")
    return sections, plots


def semantic_agreements(predictions: Predictions) -> dict[str, dict[str, float]]:
    """Per comparison section, top1_agreement and top5_agreement of Lite0's ImageNet classes
    of the colorized and of the gray test squares against the true-colour ones'."""
    versions = {
        "real": predictions.real,
        "colorized": predictions.fake,
        "gray": gray_baseline(predictions.real),
    }
    logits = {name: lite0_class_logits(scaled_lab_to_rgb(lab)) for name, lab in versions.items()}
    return {
        section: semantic_agreement(logits["real"], logits[version])
        for section, (version, _, _) in COMPARISONS.items()
    }


# --- all of it ---------------------------------------------------------------------------


def _rounded(values: dict) -> dict:
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in values.items()}


def judged_heads(
    generator: keras.Model,
    views: dict[str, np.ndarray],
    params: Params,
    paths: EvalPaths,
    d_trained: bool,
) -> tuple[dict[str, HeadResult], dict[str, dict], dict[str, pd.DataFrame]]:
    """Each saved head scored on the views: results, metrics sections ("status": "trained"
    plus the figures) and CSV plots. A D that never trained gets "status": "untrained" and
    no figures (its AUC of about 0.5 would read as "G fools D"); its plots are header-only."""
    if not d_trained:
        sections = {name: {"status": "untrained"} for name in saved_heads(paths.models)}
        return {}, sections, empty_head_plots({})
    discriminators = load_discriminators(paths.models)
    trained = trained_generator(generator)  # one model: its predict function is made once
    judged = {
        split: judge_views(lab, trained, discriminators, params) for split, lab in views.items()
    }
    heads, plots = head_results(judged["val"], judged["test"], params.evaluate.threshold)
    sections = {name: {"status": "trained", **_rounded(h.metrics)} for name, h in heads.items()}
    return heads, sections, plots | empty_head_plots(heads)


def evaluate(params: Params, paths: EvalPaths) -> dict[str, object]:
    """Score the test split; write metrics, plots, pictures and the report. Returns the metrics."""
    training = training_summary(read_train_metrics(paths.train_metrics), params)
    # Loaded once: each load would make (and trace) its own compiled predict function.
    generator = keras.models.load_model(paths.models / "generator.keras")
    predictions = predict(generator, params, paths)
    scores = per_image_table(predictions)
    views = {split: split_views(paths.prepared / split, params) for split in ("val", "test")}
    heads, head_sections, plots = judged_heads(
        generator, views, params, paths, bool(training["d_trained"])
    )
    sets: dict[str, dict[str, float]] = {}
    if params.evaluate.set_metrics:
        batch = params.train.batch_size
        features = {split: feature_sets(lab, generator, batch) for split, lab in views.items()}
        sets, set_plots = set_comparisons(features["val"], features["test"], params)
        for section, agreement in semantic_agreements(predictions).items():
            sets[section] |= agreement
        plots |= set_plots
    else:  # declared DVC outputs: header-only CSVs, rendered as empty plots
        empty = pd.DataFrame(columns=["actual", "predicted"])
        plots |= {csv_name: empty for _, _, csv_name in COMPARISONS.values()}
    per_photo = params.evaluate.views_per_photo
    metrics: dict[str, object] = {
        "test_images": len(scores),
        "test_views": len(views["test"]),
        "val_views": len(views["val"]),
        "views_per_photo": per_photo,
        **_rounded(scores.mean().astype(float).to_dict()),
        "training": training,
        "color_classes": colour_class_scores(
            unscale_lab(predictions.real), unscale_lab(predictions.fake)
        ),
        **head_sections,
        **{name: _rounded(section) for name, section in sets.items()},
    }
    for path in (paths.metrics.parent, paths.plots, paths.reports):
        path.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(metrics, indent=2) + "\n")
    for name, table in plots.items():
        table.to_csv(paths.plots / name, index=False)
    scores.to_csv(paths.reports / "per_image.csv", index_label="image")
    titles = {section: title for section, (_, title, _) in COMPARISONS.items() if section in sets}
    report.write_report(paths.reports, metrics, scores, predictions, heads, titles)
    return metrics


def evaluate_and_log(params: Params, paths: EvalPaths) -> dict[str, object]:
    """Evaluate, then add the metrics, plots and report to the training's MLflow run."""
    metrics = evaluate(params, paths)
    run_info = store.RunInfo.load(paths.models / "run.json")
    if params.tracking.enabled and run_info is not None:
        import mlflow

        store.set_up(params.tracking)
        with mlflow.start_run(run_id=run_info.run_id):
            # MLflow names: test_psnr, test_discriminator_roc_auc,
            # test_colorized_vs_real_c2st_accuracy, ...
            mlflow.log_metrics(runs.flatten_numbers(metrics, "test_", separator="_"))
            mlflow.log_artifact(str(paths.metrics), artifact_path="evaluation")
            mlflow.log_artifacts(str(paths.plots), artifact_path="evaluation/plots")
            mlflow.log_artifacts(str(paths.reports), artifact_path="evaluation")
    return metrics
