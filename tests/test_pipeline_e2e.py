"""The whole DVC pipeline on the bundled sample, in a throwaway copy of the project."""

import json
import math
import sqlite3

import pandas as pd

from tests.conftest import run

DECLARED_OUTPUTS = [
    "data/ingested/manifest.csv",
    "data/ingested/rejected.csv",
    "data/ingested/summary.json",
    "data/prepared/stats.json",
    "models/generator.keras",
    "models/discriminators/discriminator.keras",
    "models/run.json",
    "metrics/train.json",
    "metrics/eval.json",
    "plots/train_losses.csv",
    "plots/confusion.csv",
    "reports/per_image.csv",
]


def _finite_numbers(tree):
    if isinstance(tree, dict):
        for value in tree.values():
            yield from _finite_numbers(value)
    elif not isinstance(tree, str | bool):  # the kept epoch's reason, D's status, flags
        yield math.isfinite(float(tree))


def test_dvc_repro_runs_all_stages_tracks_the_run_and_then_is_up_to_date(trained_copy):
    project = trained_copy  # `dvc repro` has run on it once

    for output in DECLARED_OUTPUTS:
        assert (project / output).exists(), output
    metrics = json.loads((project / "metrics/eval.json").read_text())
    assert {"psnr", "ssim", "gray_psnr", "gray_ssim", "discriminator"} <= set(metrics)
    assert all(_finite_numbers(metrics))
    losses = pd.read_csv(project / "plots/train_losses.csv")
    assert len(losses) == 4  # 2 epochs x 2 steps

    run_id = json.loads((project / "models/run.json").read_text())["run_id"]
    with sqlite3.connect(project / "mlflow.db") as db:
        status = db.execute("select status from runs where run_uuid=?", (run_id,)).fetchone()
        logged = {
            key
            for (key,) in db.execute("select distinct key from metrics where run_uuid=?", (run_id,))
        }
        steps = db.execute(
            "select count(*) from metrics where run_uuid=? and key='g_l1'", (run_id,)
        ).fetchone()[0]
        params = db.execute("select count(*) from params where run_uuid=?", (run_id,)).fetchone()
    assert status == ("FINISHED",)
    assert {"g_adv", "g_l1", "d_real", "d_fake", "test_psnr", "test_ssim"} <= logged
    assert steps == 4
    assert params[0] > 20

    again = run(["dvc", "repro"], project)
    for stage in ("sample", "ingest", "preprocess", "train", "evaluate"):
        assert f"Stage '{stage}' didn't change, skipping" in again.stdout, again.stdout
    assert "Data and pipelines are up to date" in run(["dvc", "status"], project).stdout


def test_a_bad_parameter_stops_the_pipeline_before_any_work_with_the_key_named(make_project):
    project = make_project({"train": {"epochs": 0}})
    failed = run(["dvc", "repro"], project, check=False)
    assert failed.returncode != 0
    assert "train.epochs: Input should be greater than 0 (got 0)" in failed.stderr
    assert not (project / "data/ingested").exists()  # the first stage already refused
