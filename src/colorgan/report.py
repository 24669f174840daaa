"""The evaluation's pictures and its one-file HTML report (images embedded, opens offline)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image
from sklearn.metrics import ConfusionMatrixDisplay

from colorgan.viz import comparison_grid

if TYPE_CHECKING:
    from colorgan.evaluate import Predictions

SAMPLES_PER_GROUP = 3


def confusion_png(rows: pd.DataFrame, path: Path) -> None:
    figure, axes = plt.subplots(figsize=(4, 3.5), dpi=100)
    ConfusionMatrixDisplay.from_predictions(
        rows["actual"],
        rows["predicted"],
        labels=["real", "generated"],
        ax=axes,
        colorbar=False,
        cmap="Blues",
    )
    axes.set_title("Discriminator, test patches")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def pr_curve_png(curve: pd.DataFrame, average_precision: float, path: Path) -> None:
    figure, axes = plt.subplots(figsize=(4, 3.5), dpi=100)
    axes.plot(curve["recall"], curve["precision"], drawstyle="steps-post")
    axes.set(
        xlabel="recall (real)",
        ylabel="precision (real)",
        xlim=(0, 1),
        ylim=(0, 1.05),
        title=f"Discriminator PR curve (AP {average_precision:.2f})",
    )
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
        f"<tr><th>{html.escape(str(k))}</th><td>{v}</td></tr>" for k, v in values.items()
    )
    return f"<table>{rows}</table>"


def write_report(
    directory: Path,
    metrics: dict,
    scores: pd.DataFrame,
    predictions: Predictions,
    confusion_rows: pd.DataFrame,
    pr_curve: pd.DataFrame,
) -> Path:
    """PNGs plus report.html in ``directory``; returns the report's path."""
    confusion_png(confusion_rows, directory / "confusion_matrix.png")
    pr_curve_png(
        pr_curve, metrics["discriminator"]["average_precision"], directory / "pr_curve.png"
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
        "<h2>Discriminator (real is positive)</h2>",
        _table(metrics["discriminator"]),
        _embedded(directory / "confusion_matrix.png"),
        _embedded(directory / "pr_curve.png"),
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
