"""Prefect's sweep flow over DVC experiments, on DVC's queue and on Dask (real Prefect API).

Its own module, apart from test_pipelines: each module's tests share one project and one
Prefect server, so they run on one pytest-xdist worker; two modules run side by side.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

from pipelines.sweep import SweepSpec, sweep
from tests.conftest import commit_results, copy_prepared, run, tracked_runs


@pytest.fixture(scope="module")
def project(prepared_project: Path, tmp_path_factory, prefect_api) -> Path:
    """A project whose pipeline has run and been committed, as a user's before a sweep."""
    project = copy_prepared(prepared_project, tmp_path_factory.mktemp("sweeps") / "project")
    commit_results(project)
    return project


def test_sweep_runs_each_parameter_set_as_an_experiment_and_ranks_them(project):
    # Evaluation settings only: each experiment scores other test photos of the committed
    # training (the dask sweep below varies the training itself).
    runs = [{"evaluate.max_images": 1}, {"evaluate.max_images": 2}]
    spec = SweepSpec(runs=runs, metric="psnr")
    table = sweep(spec, str(project))
    assert [row["rank"] for row in table] == [1, 2]
    assert table[0]["psnr"] >= table[1]["psnr"]
    assert {row["params"]["evaluate.max_images"] for row in table} == {1, 2}
    assert len({row["psnr"] for row in table}) == 2  # two evaluations, not one copied
    listed = run(["dvc", "exp", "list", "--name-only"], project).stdout.split()
    assert {row["experiment"] for row in table} <= set(listed)


def _l1_weights(project: Path) -> dict[str, float]:
    """train.l1_weight of every MLflow run in the project's store, by run id."""
    with sqlite3.connect(project / "mlflow.db") as db:
        rows = db.execute("select run_uuid, value from params where key = 'train.l1_weight'")
        return {run_id: float(value) for run_id, value in rows}


def _experiments(project: Path) -> set[str]:
    """The names of the DVC experiments that `dvc exp show` lists."""
    shown = run(["dvc", "exp", "show", "--json", "--no-fetch"], project).stdout
    return {
        revision["name"]
        for commit in json.loads(shown)
        for experiment in commit.get("experiments") or []
        for revision in experiment["revs"]
    }


def test_sweep_on_dask_runs_each_parameter_set_as_a_task_on_a_worker(project):
    from distributed import Client, LocalCluster, get_task_stream

    # From the committed pipeline results: each branch trains and evaluates, the stages
    # before training come from DVC's cache (on a fresh project, each branch would run
    # sample, ingest and preprocess too, none of which this test is about).
    before, runs_before = (project / "params.yaml").read_bytes(), tracked_runs(project)
    weights_before, experiments_before = _l1_weights(project), _experiments(project)
    runs = [{"train.l1_weight": 10.0}, {"train.l1_weight": 200.0}]
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
    assert {row["params"]["train.l1_weight"] for row in table} == {10.0, 200.0}

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

    # DVC: exactly these two experiments; MLflow: one run each, with its own parameter.
    assert _experiments(project) - experiments_before == names
    assert tracked_runs(project) == runs_before + 2
    weights = _l1_weights(project)
    new_runs = sorted(weights[run_id] for run_id in weights.keys() - weights_before.keys())
    assert new_runs == [10.0, 200.0]
    assert (project / "params.yaml").read_bytes() == before
