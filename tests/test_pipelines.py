"""Prefect flows over the real DVC pipeline, against a real Prefect API (test harness)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from prefect import get_client
from prefect.client.schemas.filters import (
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler

from colorgan.orchestration.dvc import STAGES
from pipelines.colorize import colorize
from pipelines.pipeline import pipeline
from tests.conftest import commit_results, copy_project, dvc_env, real_photo, run, tracked_runs


@pytest.fixture(scope="module")
def project(tmp_path_factory, prefect_api):
    return copy_project(tmp_path_factory.mktemp("flows") / "project")


def _logs(flow_run_id) -> str:
    async def read() -> str:
        await APILogHandler.aflush()  # logs reach the API in batches
        async with get_client() as client:
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
            return "\n".join(log.message for log in logs)

    import asyncio

    return asyncio.run(read())


def test_pipeline_runs_every_stage_then_reports_them_skipped(project):
    environment = os.environ.get("MLFLOW_TRACKING_URI")
    first = pipeline(str(project), promote_metric="test_psnr")
    assert first["stages"].pop("promotion") == "version 1 is the first model: champion"
    # Promotion used the project's store without pointing later flows' stages at it.
    assert os.environ.get("MLFLOW_TRACKING_URI") == environment
    assert first["stages"] == dict.fromkeys(STAGES, "ran")
    assert "psnr" in first["metrics"]
    assert first["mlflow_run_id"]

    second = pipeline(str(project))
    assert set(second["stages"].values()) == {"skipped"}
    assert second["metrics"] == first["metrics"]


def test_a_failing_stage_fails_the_flow_with_dvc_error_in_the_logs(tmp_path, prefect_api):
    broken = copy_project(tmp_path / "broken", {"data": {"source": "no/such/folder"}})
    state = pipeline(str(broken), return_state=True)
    assert state.is_failed()
    logs = _logs(state.state_details.flow_run_id)
    # DVC itself stops: the source is ingest's dependency.
    assert "No such file or directory" in logs and "no/such/folder" in logs


def test_overrides_become_a_dvc_experiment_and_params_yaml_is_untouched(project):
    commit_results(project)
    before, runs_before = (project / "params.yaml").read_bytes(), tracked_runs(project)
    result = pipeline(str(project), {"train.l1_weight": 50.0})
    assert (project / "params.yaml").read_bytes() == before
    name = result["stages"]["experiment"]
    listed = run(["dvc", "exp", "list", "--name-only"], project).stdout.split()
    assert name in listed
    assert "psnr" in result["metrics"]
    assert tracked_runs(project) == runs_before + 1  # the temp copy tracked into the project


def test_deployments_deploy_and_a_worker_runs_one(project, prefect_api):
    env = {
        **dvc_env(project),
        "PREFECT_API_URL": prefect_api,
        "PREFECT_HOME": os.environ["PREFECT_HOME"],
    }
    prefect = [str(Path(sys.executable).parent / "prefect"), "--no-prompt"]
    run([*prefect, "work-pool", "create", "--type", "process", "colorgan"], project, env=env)
    deployed = run([*prefect, "deploy", "--all"], project, env=env)
    assert "colorgan-pipeline/pipeline" in deployed.stdout
    assert "colorgan-sweep/sweep-dask" in deployed.stdout
    started = run([*prefect, "deployment", "run", "colorgan-pipeline/pipeline"], project, env=env)
    assert "Created flow run" in started.stdout
    subprocess.run(
        [*prefect, "worker", "start", "--pool", "colorgan", "--run-once"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )

    async def states() -> list[str]:
        async with get_client() as client:
            runs = await client.read_flow_runs()
            return [r.state.type.value for r in runs if r.deployment_id is not None]

    import asyncio

    assert asyncio.run(states()) == ["COMPLETED"]


def test_colorize_flow_reports_bad_files_and_writes_the_rest(
    trained_project, tmp_path, prefect_api
):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(real_photo("coffee.png", side=100)).save(photos / "coffee.jpg")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")

    result = colorize(str(photos), str(tmp_path / "out"), str(trained_project / "models"))

    assert result == {"colorized": 1, "failed": 1}
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["coffee.png"]
