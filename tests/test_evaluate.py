"""The evaluate stage's outputs, and comparing two runs with DVC and MLflow."""

import json
import sqlite3

import pandas as pd
import pytest

from tests.conftest import GIT, TINY_PARAMS, override_params, run


def test_evaluate_writes_metrics_plots_pictures_and_one_offline_report(trained_project):
    metrics = json.loads((trained_project / "metrics/eval.json").read_text())
    for key in ("psnr", "ssim", "ciede2000", "auc_ab", "colorfulness_ratio", "gray_psnr"):
        assert key in metrics, key
    assert {"precision_macro", "f1_weighted"} <= set(metrics["color_classes"])
    # Both heads (the default trains a PixelGAN), each with a threshold chosen on val.
    assert metrics["training"]["d_trained"] is True and metrics["training"]["adversarial"]
    for head in ("discriminator", "pixel_discriminator"):
        scores = metrics[head]
        assert scores["status"] == "trained"
        assert {"precision", "recall", "roc_auc", "fooling_rate", "val_roc_auc"} <= set(scores)
        assert 0 < scores["threshold"] <= 1
        patches = scores["true_positive"] + scores["false_negative"]
        assert patches == metrics["test_views"] * scores["patches_per_view"]
    assert metrics["test_views"] == metrics["test_images"] * metrics["views_per_photo"]
    for comparison in ("colorized_vs_real", "gray_vs_real"):
        scores = metrics[comparison]
        assert 0 <= scores["c2st_accuracy"] <= 1 and scores["frechet_distance"] >= 0
        assert {"kid", "kid_std", "density", "coverage", "c2st_p_value"} <= set(scores)
        assert 0 <= scores["coverage"] <= 1 and scores["density"] >= 0
        assert 0 <= scores["top1_agreement"] <= scores["top5_agreement"] <= 1
        assert not any(key.startswith("manifold_") for key in scores)
    reports = trained_project / "reports"
    pictures = [
        "confusion_matrix.png",
        "pr_curve.png",
        "roc_curve.png",
        "discriminator_scores.png",
        "two_sample_test.png",
        "samples_best.png",
        "samples_worst.png",
        "samples_random.png",
    ]
    for name in [*pictures, "per_image.csv"]:
        assert (reports / name).stat().st_size > 0, name
    page = (reports / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(pictures)
    assert "G fools D" in page and "D never trained" not in page
    assert "Semantic agreement" in page and "KID" in page
    assert "http" not in page  # opens offline
    per_image = pd.read_csv(reports / "per_image.csv")
    assert len(per_image) == metrics["test_images"]
    assert {"class_f1_macro", "gray_class_f1_macro", "gray_ciede2000"} <= set(per_image)
    assert metrics["class_f1_macro"] == pytest.approx(per_image["class_f1_macro"].mean(), abs=1e-4)
    confusion = pd.read_csv(trained_project / "plots/c2st_confusion.csv")
    assert len(confusion) == metrics["colorized_vs_real"]["real_samples"] * 2


def test_dvc_plots_show_renders_the_csv_plots_and_the_pictures(trained_copy, tmp_path):
    shown = run(["dvc", "plots", "show", "--json", "-o", str(tmp_path / "html")], trained_copy)
    plots = json.loads(shown.stdout)["data"]
    kinds = {name: {entry["type"] for entry in entries} for name, entries in plots.items()}
    for plot in (
        "plots/confusion.csv",
        "plots/pixel_confusion.csv",
        "plots/c2st_confusion.csv",
        "plots/c2st_gray_confusion.csv",
        "discriminator_pr_curve",
        "discriminator_roc_curve",
    ):
        assert kinds[plot] == {"vega"}, plot
    for picture in ("confusion_matrix", "roc_curve", "two_sample_test", "samples_best"):
        assert kinds[f"reports/{picture}.png"] == {"image"}, picture
    assert {"actual", "predicted"} <= set(
        plots["plots/confusion.csv"][0]["content"]["data"]["values"][0]
    )


def test_two_runs_compare_in_dvc_and_both_are_in_mlflow_the_second_l1_only_with_d_untrained(
    trained_copy,
):
    """The trained project's run, then a second one with another L1 weight, no set metrics,
    and pre-training for every epoch: an L1-only run, whose D never took a step (its AUC of
    about 0.5 would read as "G fools D"). One training and evaluation serves both checks:
    comparing two runs, and reporting an untrained D (its PatchGAN and its PixelGAN here)."""
    project = trained_copy
    run([*GIT, "add", "-A"], project)
    run([*GIT, "commit", "-qm", "first run"], project)  # what `dvc metrics diff` compares to
    # L1-only: pre-training takes every epoch (2); kept epoch: the last (no Lite0 in this run).
    epochs = TINY_PARAMS["train"]["epochs"]
    train = {"l1_weight": 5.0, "pretrain_epochs": epochs, "select_epoch": "last"}
    # No Lite0: its outputs stay, empty.
    override_params(project, {"train": train, "evaluate": {"set_metrics": False}})

    run(["dvc", "repro"], project)

    metrics = json.loads((project / "metrics/eval.json").read_text())
    assert "colorized_vs_real" not in metrics and "gray_vs_real" not in metrics
    for name in ("c2st_confusion.csv", "c2st_gray_confusion.csv"):
        assert pd.read_csv(project / "plots" / name).empty, name
    assert not (project / "reports/two_sample_test.png").exists()
    page = (project / "reports/report.html").read_text()
    assert "evaluate.set_metrics</code> is false" in page

    # The L1-only run: D untrained, reported so, with no figures.
    training = metrics["training"]
    assert training["adversarial"] is False and training["d_trained"] is False
    assert training["pretrain_epochs"] == 2 and training["selected_epoch"] == 2
    assert metrics["discriminator"] == metrics["pixel_discriminator"] == {"status": "untrained"}
    for name in ("confusion.csv", "pr_curve.csv", "roc_curve.csv", "pixel_roc_curve.csv"):
        table = pd.read_csv(project / "plots" / name)
        assert table.empty and len(table.columns) == 2, name  # header-only: DVC still renders
    assert "D never trained (L1-only run): no discriminator figures" in page
    assert "G fools D" not in page and not (project / "reports/roc_curve.png").exists()

    # The two runs in DVC. --all: a metric that did not change (two tiny trainings can round
    # to the same PSNR) is otherwise left out of the diff.
    diff = json.loads(run(["dvc", "metrics", "diff", "--all", "--json"], project).stdout)
    psnr = diff["metrics/eval.json"]["psnr"]
    assert isinstance(psnr["old"], float) and isinstance(psnr["new"], float)
    # The total generator loss weighs L1 by 100 in the first run (plus its adversarial
    # term) and by 5 in the second.
    g_total = diff["metrics/train.json"]["g_total"]
    assert g_total["new"] < g_total["old"]
    # ...and in MLflow.
    with sqlite3.connect(project / "mlflow.db") as db:
        runs = db.execute(
            "select runs.run_uuid, params.value from runs join params using (run_uuid) "
            "where params.key='train.l1_weight'"
        ).fetchall()
        with_psnr = db.execute(
            "select run_uuid from latest_metrics where key='test_psnr'"
        ).fetchall()
    assert sorted(weight for _, weight in runs) == ["100.0", "5.0"]
    with sqlite3.connect(project / "mlflow.db") as db:
        names = {name for (name,) in db.execute("select name from runs")}
    # The second run is named by what it changed against the committed params.yaml.
    assert any(name.startswith("l1_weight=5.0") for name in names)
    assert {run_id for (run_id,) in with_psnr} == {run_id for run_id, _ in runs}


@pytest.mark.parametrize(
    "train, epochs, expected",
    [
        # train.json says it all (the other keys are passed through).
        (
            {
                "selected_epoch": 3,
                "pretrain_epochs": 2,
                "selected_adversarial": True,
                "d_trained": True,
                "selection": "lowest val KID",
            },
            (4, 2),
            {
                "selected_epoch": 3,
                "pretrain_epochs": 2,
                "adversarial": True,
                "d_trained": True,
                "selection": "lowest val KID",
            },
        ),
        # An older train.json: the kept epoch against pre-training tells.
        ({"selected_epoch": 2}, (4, 2), {"selected_epoch": 2, "adversarial": False}),
        ({"selected_epoch": 3}, (4, 2), {"selected_epoch": 3, "adversarial": True}),
        # No train.json: params alone; an L1-only run never trains D.
        ({}, (3, 3), {"adversarial": False, "d_trained": False}),
        ({}, (3, 1), {"adversarial": True, "d_trained": True}),
    ],
)
def test_the_training_summary_reads_train_json_and_falls_back_gracefully(train, epochs, expected):
    from colorgan.config import Params
    from colorgan.evaluation.evaluate import training_summary

    total, pretrain = epochs
    params = Params.model_validate({"train": {"epochs": total, "pretrain_epochs": pretrain}})
    summary = training_summary(train, params)
    assert expected.items() <= summary.items()
    assert summary["d_trained"] is summary["adversarial"] or "d_trained" in train
