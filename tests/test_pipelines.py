"""Prefect flows over the real DVC pipeline, against a real Prefect API (test harness).

Prefect and the flows are imported in the tests, not with the module: every pytest-xdist
worker collects this module, and only one runs it (conftest.ONE_WORKER_MODULES); the others
would each pay Prefect's import (about 3 s of CPU) for nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from colorgan.orchestration.dvc import STAGES
from tests.conftest import GIT, copy_project, dvc_env, real_photo, run


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    """One Prefect server for the module (starting one takes ~15 s)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="module")
def project(tmp_path_factory, prefect_api):
    return copy_project(tmp_path_factory.mktemp("flows") / "project")


def _logs(flow_run_id) -> str:
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    async def read() -> str:
        await APILogHandler.aflush()  # logs reach the API in batches
        async with get_client() as client:
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
            return "\n".join(log.message for log in logs)

    return asyncio.run(read())


def test_pipeline_runs_every_stage_then_reports_them_skipped(project):
    from pipelines.pipeline import pipeline

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
    from pipelines.pipeline import pipeline

    broken = copy_project(tmp_path / "broken", {"data": {"source": "no/such/folder"}})
    state = pipeline(str(broken), return_state=True)
    assert state.is_failed()
    logs = _logs(state.state_details.flow_run_id)
    # DVC itself stops: the source is ingest's dependency.
    assert "No such file or directory" in logs and "no/such/folder" in logs


def _tracked_test_psnrs(project: Path) -> list[float]:
    """Every test_psnr in the project's MLflow store: each evaluation logs one more."""
    with sqlite3.connect(project / "mlflow.db") as db:
        return [value for (value,) in db.execute("select value from metrics where key='test_psnr'")]


def _commit_results(project: Path) -> None:
    """What a user does before trying variations: the pipeline run and committed. DVC builds
    each experiment from the commit: the stages an experiment leaves unchanged come from the
    cache instead of running again."""
    run(["dvc", "repro"], project)  # nothing to do once the pipeline test has run
    run([*GIT, "add", "-A"], project)
    run([*GIT, "commit", "-qm", "pipeline results", "--allow-empty"], project)


def test_overrides_become_a_dvc_experiment_and_params_yaml_is_untouched(project):
    from pipelines.pipeline import pipeline

    # An evaluation setting (views_per_photo apart from every other test's, so that DVC's run
    # cache has nothing to restore): the experiment evaluates the committed training again,
    # the one stage a change of it reruns.
    _commit_results(project)
    before, psnrs_before = (project / "params.yaml").read_bytes(), _tracked_test_psnrs(project)
    result = pipeline(str(project), {"evaluate.views_per_photo": 1})
    assert (project / "params.yaml").read_bytes() == before
    name = result["stages"]["experiment"]
    listed = run(["dvc", "exp", "list", "--name-only"], project).stdout.split()
    assert name in listed
    # The experiment ran in a temp copy under .dvc/tmp/exps, and tracked into the project's
    # store: its evaluation is one more test_psnr there, the one the flow reports.
    added = Counter(_tracked_test_psnrs(project)) - Counter(psnrs_before)
    assert list(added.elements()) == pytest.approx([result["metrics"]["psnr"]], abs=1e-3)


def test_sweep_runs_each_parameter_set_as_an_experiment_and_ranks_them(project):
    from pipelines.sweep import SweepSpec, sweep

    # Evaluation settings only: each experiment scores other test photos of the committed
    # training, the one stage they rerun.
    runs = [{"evaluate.max_images": 1}, {"evaluate.max_images": 2}]
    spec = SweepSpec(runs=runs, metric="psnr")
    _commit_results(project)
    table = sweep(spec, str(project))
    assert [row["rank"] for row in table] == [1, 2]
    assert table[0]["psnr"] >= table[1]["psnr"]
    assert {row["params"]["evaluate.max_images"] for row in table} == {1, 2}
    assert len({row["psnr"] for row in table}) == 2  # two evaluations, not one copied
    listed = run(["dvc", "exp", "list", "--name-only"], project).stdout.split()
    assert {row["experiment"] for row in table} <= set(listed)


def test_sweep_on_dask_runs_each_parameter_set_as_a_task_on_a_worker(project):
    from distributed import Client, LocalCluster, get_task_stream
    from prefect import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

    from pipelines.sweep import SweepSpec, sweep

    # From the committed pipeline results, as the sweep above: each branch evaluates the
    # committed training (views_per_photo apart from the earlier tests', so that DVC's run
    # cache has nothing to restore).
    _commit_results(project)
    before, psnrs_before = (project / "params.yaml").read_bytes(), _tracked_test_psnrs(project)
    runs = [
        {"evaluate.max_images": 1, "evaluate.views_per_photo": 3},
        {"evaluate.max_images": 2, "evaluate.views_per_photo": 3},
    ]
    # Worker processes, as on a real cluster, so tasks, arguments and results cross a process
    # boundary; one thread each, so the two branches can only overlap on two workers.
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
        get_task_stream(client) as stream,
    ):
        spec = SweepSpec(runs=runs, runner="dask", dask_address=cluster.scheduler_address)
        table = sweep(spec, str(project))
        worker_pids = client.run(os.getpid)

    names = {row["experiment"] for row in table}
    assert [row["rank"] for row in table] == [1, 2]
    assert {row["params"]["evaluate.max_images"] for row in table} == {1, 2}
    assert len({row["psnr"] for row in table}) == 2  # two evaluations, not one copied

    # Prefect: one completed task run per parameter set, running at the same time.
    async def branch_runs() -> list:
        async with get_client() as client:
            name_filter = TaskRunFilterName(any_=sorted(names))
            return await client.read_task_runs(task_run_filter=TaskRunFilter(name=name_filter))

    first, second = sorted(asyncio.run(branch_runs()), key=lambda run: run.start_time)
    assert {first.name, second.name} == names
    assert first.state.type.value == second.state.type.value == "COMPLETED"
    assert second.start_time < first.end_time

    # Dask: the two branches were computed by two worker processes, not this one, side by side.
    computed = [task for task in stream.data if task["key"].startswith("branch-")]
    assert len(computed) == 2
    assert len({task["worker"] for task in computed}) == 2
    assert os.getpid() not in {worker_pids[task["worker"]] for task in computed}
    windows = [
        next(part for part in task["startstops"] if part["action"] == "compute")
        for task in computed
    ]
    assert max(w["start"] for w in windows) < min(w["stop"] for w in windows)

    # DVC: exactly these two experiments; MLflow: each branch's evaluation, run on a worker
    # in a temp copy, reached the project's store (the committed training's run).
    shown = run(["dvc", "exp", "show", "--json", "--no-fetch"], project).stdout
    listed = {
        revision["name"]
        for commit in json.loads(shown)
        for experiment in commit.get("experiments") or []
        for revision in experiment["revs"]
    }
    assert listed == names  # the commit's own: the earlier tests' experiments are on others
    added = Counter(_tracked_test_psnrs(project)) - Counter(psnrs_before)
    assert sorted(added.elements()) == pytest.approx(sorted(row["psnr"] for row in table), abs=1e-3)
    assert (project / "params.yaml").read_bytes() == before


def test_deployments_deploy_and_a_worker_runs_one(project, prefect_api):
    from prefect import get_client

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

    assert asyncio.run(states()) == ["COMPLETED"]


def test_colorize_flow_reports_bad_files_and_writes_the_rest(
    trained_project, tmp_path, prefect_api
):
    from pipelines.colorize import colorize

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(real_photo("coffee.png", side=100)).save(photos / "coffee.jpg")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated")

    result = colorize(str(photos), str(tmp_path / "out"), str(trained_project / "models"))

    assert result == {"colorized": 1, "failed": 1}
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["coffee.png"]


# The sweep's set-up: no flow runs.


def test_dask_runner_is_a_local_cluster_of_jobs_workers_unless_given_an_address():
    from pipelines.sweep import dask_task_runner

    local = dask_task_runner(None, 3)
    assert local.address is None
    assert local.cluster_kwargs == {"n_workers": 3, "threads_per_worker": 1}
    assert dask_task_runner("tcp://10.0.0.5:8786", 3).address == "tcp://10.0.0.5:8786"


def test_a_dask_address_needs_the_dask_runner():
    from pipelines.sweep import SweepSpec

    with pytest.raises(ValueError, match="dask_address is for runner 'dask'"):
        SweepSpec(runs=[{"train.epochs": 3}], dask_address="tcp://10.0.0.5:8786")
