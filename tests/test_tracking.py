"""Tracking stores: the embedded SQLite default, an unreachable server, a PostgreSQL server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from colorgan.config import TrackingParams
from colorgan.tracking import store
from tests.conftest import dvc_env, free_port, run, running_server


def test_default_store_is_sqlite_in_the_dvc_root_even_from_an_experiment_copy(
    monkeypatch, tmp_path
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path.parent)  # not the repo root: DVC_ROOT must win
    assert store.tracking_uri(TrackingParams()) == f"sqlite:///{tmp_path}/mlflow.db"
    relative = TrackingParams(uri="sqlite:///stores/runs.db")
    assert store.tracking_uri(relative) == f"sqlite:///{tmp_path}/stores/runs.db"


def test_unreachable_server_fails_fast_with_the_uri_and_the_way_out():
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(store.TrackingUnavailable) as error:
        store.check_reachable(uri)
    assert time.monotonic() - started < 10
    assert uri in str(error.value)
    assert "tracking.enabled: false" in str(error.value)


def test_train_stage_refuses_to_start_against_an_unreachable_server(make_prepared):
    project = make_prepared()
    env = {**dvc_env(project), "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    result = run([sys.executable, "-m", "stages.train"], project, check=False, env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "is unreachable" in result.stderr
    assert not (project / "models/checkpoints").exists()  # no compute was spent


def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if found is None and os.geteuid() == 0:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "postgresql"],
            check=True,
            capture_output=True,
            timeout=600,
        )
        return _postgres_bin(name)
    if found is None:
        pytest.fail(f"PostgreSQL's {name} not found: install the Debian package postgresql")
    return found


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL server on loopback.

    PostgreSQL refuses to run as root, so as root it runs as the postgres user, in a folder
    of its own (pytest's tmp folders are private to root).
    """
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="colorgan-pg-"))
    if as_user:
        shutil.chown(base, "postgres")
    data, port = base / "data", free_port()
    pg_ctl = _postgres_bin("pg_ctl")
    subprocess.run(
        [
            *as_user,
            _postgres_bin("initdb"),
            "-D",
            str(data),
            "-U",
            "colorgan",
            "--auth=trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        [
            *as_user,
            pg_ctl,
            "-D",
            str(data),
            "-w",
            "-l",
            str(base / "pg.log"),
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "colorgan",
                "-d",
                "postgres",
                "-c",
                "CREATE DATABASE mlflow",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield f"postgresql+psycopg2://colorgan@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-m", "fast", "stop"],
            check=False,
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def mlflow_server(postgres_url: str, tmp_path: Path):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        postgres_url,
        "--artifacts-destination",
        str(tmp_path / "artifacts"),
        "--workers",
        "1",
    ]
    # On a database store, MLflow 3's server also starts a GenAI job runner: eight more
    # processes, which take about half a core even while idle. Runs and artifacts, all that
    # this server is here for, do not go through it.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = tmp_path / "mlflow-server.log"
    with running_server(command, log, lambda: _reachable(uri), env=env):
        yield uri


def _reachable(uri: str) -> bool:
    try:
        store.check_reachable(uri, timeout_s=2)
    except store.TrackingUnavailable:
        return False
    return True


def test_train_and_evaluate_track_into_mlflow_server_on_postgresql(make_prepared, mlflow_server):
    import mlflow

    project = make_prepared()  # `dvc repro` trains and evaluates
    env = {**dvc_env(project), "MLFLOW_TRACKING_URI": mlflow_server}
    run(["dvc", "repro"], project, env=env)

    run_id = json.loads((project / "models/run.json").read_text())["run_id"]
    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    stored = client.get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert {"g_l1", "test_psnr"} <= set(stored.data.metrics)
    assert not (project / "mlflow.db").exists()  # nothing went to the embedded store
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert "reports" in artifacts


def test_runs_are_named_by_what_sets_them_apart_in_an_experiment_made_for_training(
    trained_project,
):
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{trained_project}/mlflow.db")
    experiment = client.get_experiment_by_name("colorgan")
    # MLflow's UI opens a tagged experiment on its runs table, not on the GenAI overview.
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    (run,) = client.search_runs([experiment.experiment_id])
    # conftest's TINY_PARAMS: 2 epochs, 32 px, ...; the name shows the shortest of them.
    assert "epochs=2" in run.info.run_name
    note = run.data.tags["mlflow.note.content"]
    assert "- `train.epochs`: 2" in note and "- `preprocess.image_size`: 32" in note
    assert "tracking." not in note


def test_run_names_stay_short_and_say_when_nothing_changed():
    from colorgan.tracking.runs import run_name

    assert run_name({}) == "defaults"
    many = {f"train.key{i}": "x" * 10 for i in range(10)}
    name = run_name(many)
    assert len(name) <= 64 and name.endswith("+7")  # 3 of the 10 fit in 60 characters
