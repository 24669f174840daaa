"""Sweep branches and their set-up, without running a pipeline."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from colorgan.orchestration import dvc as orch


def test_a_branch_whose_experiment_exists_is_not_run_again(monkeypatch, tmp_path):
    # Given an earlier attempt that DVC collected, then lost the repository lock
    calls: list[list[str]] = []

    def fake_dvc(args: list[str], project: Path, log: object = print) -> str:
        calls.append(args)
        return "sweep-1-0\nsweep-1-1\n" if args[:2] == ["exp", "list"] else ""

    monkeypatch.setattr(orch, "run_dvc", fake_dvc)
    # When the retry runs
    assert orch.run_branch(tmp_path, "sweep-1-1", {"train.epochs": 3}) == "sweep-1-1"
    # Then it only looked
    assert calls == [["exp", "list", "--name-only"]]


def test_a_new_branch_runs_as_a_named_temp_experiment(monkeypatch, tmp_path):
    calls: list[list[str]] = []
    monkeypatch.setattr(orch, "run_dvc", lambda args, *_, **__: calls.append(args) or "")
    orch.run_branch(tmp_path, "sweep-1-0", {"train.epochs": 3, "train.deterministic": True})
    assert calls[-1] == [
        "exp", "run", "--temp", "--name", "sweep-1-0",
        "--set-param", "train.epochs=3", "--set-param", "train.deterministic=true",
    ]  # fmt: skip


def test_prepare_tracking_creates_the_store_and_experiment_in_the_project(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    (tmp_path / "params.yaml").write_text("tracking:\n  experiment: sweeps\n")

    orch.prepare_tracking(tmp_path)  # not the working directory: the project decides

    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        rows = db.execute("select artifact_location from experiments where name = 'sweeps'")
        assert rows.fetchall() == [((tmp_path / "mlartifacts").as_uri(),)]
    # The next project's stages, started from this process, must not track into this store.
    assert "MLFLOW_TRACKING_URI" not in os.environ
