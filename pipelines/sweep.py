"""Prefect flow `colorgan-sweep`: one DVC experiment (and MLflow run) per parameter set.

python -m pipelines.sweep --grid train.adversarial_loss=bce,lsgan --grid train.epochs=10,20
python -m pipelines.sweep --grid train.l1_weight=50,100 --runner dask --jobs 2
python -m pipelines.sweep --grid train.l1_weight=50,100 --runner dask --dask-address tcp://host:8786
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.futures import wait
from prefect.tasks import exponential_backoff
from pydantic import BaseModel, Field, model_validator

from colorgan.orchestration import dvc as orch
from pipelines.pipeline import retry_if_transient

if TYPE_CHECKING:
    from prefect_dask import DaskTaskRunner


class SweepSpec(BaseModel):
    """What to try: explicit runs, and/or a grid whose every combination becomes a run."""

    runs: list[dict[str, orch.ParamValue]] = Field(default_factory=list)
    grid: dict[str, list[orch.ParamValue]] = Field(default_factory=dict)
    metric: str = "psnr"
    higher_is_better: bool = True
    show: list[str] = Field(
        default_factory=list, description="more metrics shown in the table beside `metric`"
    )
    jobs: int = Field(
        1,
        ge=1,
        description="experiments run at once: DVC's queue workers, or the local Dask cluster's",
    )
    runner: Literal["dvc-queue", "dask"] = Field(
        "dvc-queue",
        description="dvc-queue: DVC's own queue, in one task; dask: one task per run on Dask",
    )
    dask_address: str | None = Field(
        None,
        description="scheduler of an existing Dask cluster (tcp://host:8786); "
        "none: a local cluster of `jobs` workers",
    )

    @model_validator(mode="after")
    def _address_needs_dask(self) -> SweepSpec:
        if self.dask_address and self.runner != "dask":
            raise ValueError("dask_address is for runner 'dask'")
        return self

    def all_runs(self) -> list[dict[str, orch.ParamValue]]:
        return [*self.runs, *(orch.grid(self.grid) if self.grid else [])]


@task
def run_experiments(project: Path, spec: SweepSpec) -> list[str]:
    return orch.run_sweep(project, spec.all_runs(), spec.jobs, get_run_logger().info)


# Plain arguments and result (Path, str, dict): a Dask worker process unpickles them.
@task(
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_condition_fn=retry_if_transient,
    task_run_name="{name}",
)
def branch(project: Path, name: str, overrides: dict[str, orch.ParamValue]) -> str:
    return orch.run_branch(project, name, overrides, get_run_logger().info)


@flow(name="colorgan-sweep-branches")
def branches(project: Path, names: list[str], runs: list[dict[str, orch.ParamValue]]) -> None:
    """Every run as its own task, side by side on the flow's task runner."""
    futures = [
        branch.submit(project, name, overrides) for name, overrides in zip(names, runs, strict=True)
    ]
    wait(futures)  # let every branch finish before the first failure ends the runner
    for future in futures:
        future.result()


def dask_task_runner(address: str | None, workers: int) -> DaskTaskRunner:
    """A Dask task runner on the cluster at `address`, else on a new local cluster."""
    import cloudpickle
    from prefect_dask import DaskTaskRunner

    # Dask's scheduler and workers unpickle the branch tasks. Shipped by value, the flows' code
    # needs only this environment there, not the repository on the path under the module name
    # it was loaded as (a Prefect worker loads pipelines/sweep.py as plain `sweep`).
    for name in (__name__, "pipelines"):
        if name in sys.modules:
            cloudpickle.register_pickle_by_value(sys.modules[name])
    if address:
        return DaskTaskRunner(address=address)
    # One single-threaded worker process per experiment at once, like a remote cluster's
    # workers: tasks and results cross a process boundary here too.
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1})


@flow(name="colorgan-sweep", log_prints=True)
def sweep(spec: SweepSpec, project: str = ".") -> list[dict[str, object]]:
    """Run every parameter set as a DVC experiment, then rank them by spec.metric."""
    root = Path(project).resolve()
    runs = spec.all_runs()
    if not runs:
        raise ValueError("the sweep has no runs: give `runs` or a `grid`")
    orch.prepare_tracking(root)
    if spec.runner == "dask":
        names = orch.sweep_names(len(runs))
        runner = dask_task_runner(spec.dask_address, spec.jobs)
        branches.with_options(task_runner=runner)(root, names, runs)
    else:
        names = run_experiments(root, spec)
    results = orch.experiment_metrics(root, names)
    table = orch.rank(results, spec.metric, spec.higher_is_better, spec.show)
    settings = dict(zip(names, runs, strict=True))
    for row in table:
        row["params"] = settings.get(str(row["experiment"]), {})
    create_markdown_artifact(
        key="colorgan-sweep",
        markdown=orch.markdown_table(
            table, ["rank", "experiment", spec.metric, *spec.show, "params"]
        ),
        description=f"Experiments ranked by {spec.metric}",
    )
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=".")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2")
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="KEY=V;KEY=V",
        help="one explicit parameter set (values read as YAML); repeat for more",
    )
    parser.add_argument("--metric", default="psnr")
    parser.add_argument("--show", action="append", default=[], metavar="METRIC")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--runner", choices=["dvc-queue", "dask"], default="dvc-queue")
    parser.add_argument("--dask-address", metavar="tcp://HOST:PORT")
    args = parser.parse_args(argv)
    axes = {k: v.split(",") for k, v in (item.split("=", 1) for item in args.grid)}
    runs = [
        {
            key: yaml.safe_load(value)
            for key, value in (part.split("=", 1) for part in item.split(";"))
        }
        for item in args.run
    ]
    spec = SweepSpec(
        runs=runs,
        grid=axes,
        metric=args.metric,
        show=args.show,
        jobs=args.jobs,
        runner=args.runner,
        dask_address=args.dask_address,
    )
    print(sweep(spec, args.project))


if __name__ == "__main__":
    main()
