"""The evaluation's pictures and its one-file HTML report (images embedded, opens offline)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image
from sklearn.metrics import ConfusionMatrixDisplay

from colorgan.viz import comparison_grid

SAMPLES_PER_GROUP = 3
HISTOGRAM_BINS = 40


@dataclass
class Predictions:
    """The test photos as stored (centre squares) and colorized: what the colour metrics and
    the sample pictures use."""

    real: np.ndarray  # (n, s, s, 3) scaled Lab, ground truth
    fake: np.ndarray  # (n, s, s, 3) scaled Lab, generated ab with the true L


@dataclass
class HeadResult:
    """One discriminator head scored on the test views."""

    title: str  # PatchGAN | PixelGAN
    metrics: dict[str, float]  # discriminator_report's, with the threshold
    real_prob: np.ndarray  # P(real) of every patch of the true pairs, flat
    fake_prob: np.ndarray  # ... of the generated pairs
    pr_curve: pd.DataFrame  # recall, precision
    roc_curve: pd.DataFrame  # false_positive_rate, true_positive_rate


def confusion_counts(metrics: dict, prefix: str = "") -> np.ndarray:
    """A 2x2 confusion matrix from a metrics dict's counts: rows actual, columns predicted,
    each in the order (real, the other class)."""
    names = ("true_positive", "false_negative", "false_positive", "true_negative")
    tp, fn, fp, tn = (int(metrics[f"{prefix}{name}"]) for name in names)
    return np.array([[tp, fn], [fp, tn]])


def confusion_png(
    panels: dict[str, np.ndarray], labels: list[str], path: Path, xlabel: str = "predicted"
) -> None:
    """One confusion matrix per panel (2x2 counts, rows actual, in ``labels`` order)."""
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.5), dpi=100)
    for axis, (title, matrix) in zip(np.atleast_1d(axes), panels.items(), strict=True):
        ConfusionMatrixDisplay(matrix, display_labels=labels).plot(
            ax=axis, colorbar=False, cmap="Blues", values_format="d"
        )
        axis.set(title=title, xlabel=xlabel)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def curves_png(heads: dict[str, HeadResult], kind: str, path: Path) -> None:
    """Every head's PR curve (kind 'pr') or ROC curve (kind 'roc') on one axis."""
    figure, axes = plt.subplots(figsize=(4.5, 4), dpi=100)
    for head in heads.values():
        if kind == "pr":
            curve, x, y = head.pr_curve, "recall", "precision"
            label = f"{head.title} (AP {head.metrics['average_precision']:.2f})"
        else:
            curve, x, y = head.roc_curve, "false_positive_rate", "true_positive_rate"
            label = f"{head.title} (AUC {head.metrics['roc_auc']:.2f})"
        axes.plot(curve[x], curve[y], drawstyle="steps-post" if kind == "pr" else None, label=label)
    if kind == "roc":
        axes.plot([0, 1], [0, 1], color="gray", linestyle=":", label="chance (G fools D)")
    names = ("recall (real)", "precision (real)") if kind == "pr" else ("FPR", "TPR (real)")
    axes.set(xlabel=names[0], ylabel=names[1], xlim=(0, 1), ylim=(0, 1.05))
    axes.set_title(f"Discriminators, test patches: {kind.upper()}")
    axes.legend(loc="lower right" if kind == "roc" else "lower left", fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def histogram_png(heads: dict[str, HeadResult], path: Path) -> None:
    """D's P(real) for true and generated test patches, with the threshold chosen on val."""
    figure, axes = plt.subplots(1, len(heads), figsize=(4 * len(heads), 3.2), dpi=100)
    bins = np.linspace(0, 1, HISTOGRAM_BINS + 1)
    for axis, head in zip(np.atleast_1d(axes), heads.values(), strict=True):
        axis.hist(head.real_prob, bins, alpha=0.6, density=True, label="true colours")
        axis.hist(head.fake_prob, bins, alpha=0.6, density=True, label="generated")
        axis.axvline(head.metrics["threshold"], color="black", linestyle="--", label="threshold")
        axis.set(title=head.title, xlabel="P(real)", ylabel="density")
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def pick_samples(
    errors: pd.Series, per_group: int = SAMPLES_PER_GROUP, seed: int = 0
) -> dict[str, list[int]]:
    """Indices of the best, worst and some random images by per-image error (lower is better)."""
    order = errors.sort_values(kind="stable").index.to_list()
    rng = np.random.default_rng(seed)
    random = sorted(rng.choice(order, size=min(per_group, len(order)), replace=False).tolist())
    return {"best": order[:per_group], "worst": order[::-1][:per_group], "random": random}


def samples_png(predictions: Predictions, indices: list[int], path: Path) -> None:
    real, fake = predictions.real[indices], predictions.fake[indices]
    grid = comparison_grid(real[..., :1], fake[..., 1:], real[..., 1:])
    Image.fromarray(grid).save(path)


def _embedded(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">'


def _table(values: dict[str, object]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in values.items()
    )
    return f"<table>{rows}</table>"


EXPLAINED_D = (
    "<p>Each head of the discriminator scores every patch (PatchGAN) or pixel (PixelGAN) of "
    "the test photos' views, true colours shown as in training (ab times "
    "train.color_enhance_factor, clipped), generated colours from the generator of the same "
    "kept epoch. Real is the positive class. <b>ROC AUC near 0.5: G fools D</b> (D cannot rank "
    "true above generated patches); <b>near 1: D sees through G</b>; well below 0.5: D is "
    "confidently wrong. The threshold is chosen on the validation photos "
    "(evaluate.threshold: youden = the one maximizing balanced accuracy there) and applied "
    "unchanged to the test photos.</p>"
)
EXPLAINED_SETS = (
    "<p>True colour photos against colorized ones (and against gray, ab = 0, the baseline "
    "every colorizer should beat), as sets of EfficientNet-Lite0 ImageNet features. "
    "<b>Classifier two-sample test</b> (Lopez-Paz and Oquab 2017): a fresh logistic "
    "regression learns true vs colorized on the validation photos and is scored on the test "
    "photos; <b>accuracy 0.5 = indistinguishable</b>, 1 = always recognised (p-value: "
    "chance of at least this accuracy if they were indistinguishable). <b>KID</b> (kernel "
    "inception distance, Binkowski et al. 2018): an unbiased distance between the sets, "
    "<b>about 0 = same distribution</b>, lower is better; kid_std is its spread over random "
    "subsets (0 when the sets were scored whole). <b>Density and coverage</b> (Naeem et al. "
    "2020, balls reaching each true photo's k-th nearest true neighbour, views of one photo "
    "kept apart): density = how many true balls a colorized photo falls in, over k "
    "(<b>about 1 = as realistic as true photos</b>, lower = off the true photos' manifold); "
    "coverage = share of true photos with a colorized one in their ball (the variety "
    "reached). <b>Frechet distance</b> (the FID's formula, Heusel et al. 2017): 0 for "
    "identical feature statistics, lower is better; biased upwards on few photos, so compare "
    "runs on the same test split. <b>Semantic agreement</b> (after Zhang et al. 2016): "
    "top1_agreement = share of test photos that Lite0's ImageNet classifier puts in the same "
    "class as their true-colour version, top5_agreement = share whose true-colour class is "
    "among its five best guesses (stored test squares; 1 = the colours never mislead it).</p>"
)
UNTRAINED_D = (
    "<p><b>D never trained (L1-only run): no discriminator figures.</b> The kept epoch came "
    "before any adversarial step (train.pretrain_epochs &ge; train.epochs, or an L1 "
    "pre-training epoch was kept), so D's scores would be those of random weights: an AUC "
    "near 0.5 that says nothing about the colours.</p>"
)


def reading(metrics: dict) -> str:
    """One head's figures in words: what its AUC says, and why a confusion matrix with one
    predicted class (every patch called the same) carries no precision or recall."""
    auc = metrics["roc_auc"]
    verdict = (
        "G fools D: it cannot rank true above generated patches"
        if abs(auc - 0.5) < 0.1
        else "D sees through G"
        if auc >= 0.6
        else "D is confidently wrong: it ranks generated patches above true ones"
    )
    text = f"ROC AUC {auc:.2f}: {verdict}."
    said_real = metrics["true_positive"] + metrics["false_positive"]
    said_fake = metrics["true_negative"] + metrics["false_negative"]
    if not said_real or not said_fake:
        called = "generated" if not said_real else "real"
        text += (
            f" At the threshold {metrics['threshold']:.3g} (chosen on the validation photos) "
            f"D called every test patch {called}: its scores on the test photos fall on one "
            "side of what separated the validation photos, so precision and recall say "
            "nothing here; the AUC, which needs no threshold, still does."
        )
    return f"<p>{html.escape(text)}</p>"


def discriminator_sections(
    directory: Path, metrics: dict, heads: dict[str, HeadResult]
) -> list[str]:
    """The trained heads' pictures (written to ``directory``) and the report's HTML for them."""
    confusion_png(
        {head.title: confusion_counts(head.metrics) for head in heads.values()},
        ["real", "generated"],
        directory / "confusion_matrix.png",
    )
    curves_png(heads, "pr", directory / "pr_curve.png")
    curves_png(heads, "roc", directory / "roc_curve.png")
    histogram_png(heads, directory / "discriminator_scores.png")
    pictures = ("confusion_matrix", "roc_curve", "pr_curve", "discriminator_scores")
    return [
        EXPLAINED_D,
        *(
            f"<h3>{head.title}</h3>" + reading(metrics[key]) + _table(metrics[key])
            for key, head in heads.items()
        ),
        *(_embedded(directory / f"{name}.png") for name in pictures),
    ]


def write_report(
    directory: Path,
    metrics: dict,
    scores: pd.DataFrame,
    predictions: Predictions,
    heads: dict[str, HeadResult],
    comparisons: dict[str, str],
) -> Path:
    """PNGs plus report.html in ``directory``; returns the report's path.

    ``heads``: each discriminator head's result, keyed by its metrics section (none when D
    never trained: the report says so instead of showing figures); ``comparisons``: the
    metrics sections of the set comparisons and their titles.
    """
    discriminators = discriminator_sections(directory, metrics, heads) if heads else [UNTRAINED_D]
    if comparisons:
        confusion_png(
            {title: confusion_counts(metrics[key], "c2st_") for key, title in comparisons.items()},
            ["true colours", "other"],
            directory / "two_sample_test.png",
            xlabel="classifier says",
        )
    groups = pick_samples(scores["ciede2000"])
    for name, indices in groups.items():
        samples_png(predictions, indices, directory / f"samples_{name}.png")
    colour = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    sections = [
        "<h1>colorgan evaluation</h1>",
        "<h2>Colour quality (means over test images; gray_* is the ab = 0 baseline)</h2>",
        _table(colour),
        "<h2>Colour classes (10x10 ab cells, per pixel, pooled over all test pixels)</h2>",
        _table(metrics["color_classes"]),
        "<h2>What was trained (metrics/train.json)</h2>",
        _table(metrics.get("training", {})),
        "<h2>Discriminators (real is positive)</h2>",
        *discriminators,
        "<h2>True colours against colorized and gray photos: as sets, and as classified</h2>",
        *(
            [
                EXPLAINED_SETS,
                *(f"<h3>{title}</h3>" + _table(metrics[key]) for key, title in comparisons.items()),
                _embedded(directory / "two_sample_test.png"),
            ]
            if comparisons
            else ["<p>Not computed: <code>evaluate.set_metrics</code> is false.</p>"]
        ),
        "<h2>Test photos: gray | colorized | ground truth</h2>",
    ]
    for name in groups:
        sections += [
            f"<h3>{name} (by CIEDE2000)</h3>",
            _embedded(directory / f"samples_{name}.png"),
        ]
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:auto}"
        "td,th{padding:2px 8px;text-align:left}img{image-rendering:pixelated;margin:4px}"
    )
    page = f"<!doctype html><meta charset=utf-8><style>{style}</style>" + "\n".join(sections)
    target = directory / "report.html"
    target.write_text(page)
    return target
