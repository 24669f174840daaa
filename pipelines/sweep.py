"""Prefect flow `colorgan-sweep`: one DVC experiment (and MLflow run) per parameter set.

python -m pipelines.sweep --grid train.adversarial_loss=bce,lsgan --grid train.epochs=10,20
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field

from colorgan import orchestration as orch


class SweepSpec(BaseModel):
    """What to try: explicit runs, and/or a grid whose every combination becomes a run."""

    runs: list[dict[str, orch.ParamValue]] = Field(default_factory=list)
    grid: dict[str, list[orch.ParamValue]] = Field(default_factory=dict)
    metric: str = "psnr"
    higher_is_better: bool = True
    jobs: int = Field(1, ge=1, description="experiments run at once (DVC's queue workers)")

    def all_runs(self) -> list[dict[str, orch.ParamValue]]:
        return [*self.runs, *(orch.grid(self.grid) if self.grid else [])]


@task
def run_experiments(project: Path, spec: SweepSpec) -> list[str]:
    return orch.run_sweep(project, spec.all_runs(), spec.jobs, get_run_logger().info)


@flow(name="colorgan-sweep", log_prints=True)
def sweep(spec: SweepSpec, project: str = ".") -> list[dict[str, object]]:
    """Run every parameter set as a DVC experiment, then rank them by spec.metric."""
    root = Path(project).resolve()
    runs = spec.all_runs()
    if not runs:
        raise ValueError("the sweep has no runs: give `runs` or a `grid`")
    names = run_experiments(root, spec)
    results = orch.experiment_metrics(root, names)
    table = orch.rank(results, spec.metric, spec.higher_is_better)
    settings = dict(zip(names, runs, strict=True))
    for row in table:
        row["params"] = settings.get(str(row["experiment"]), {})
    create_markdown_artifact(
        key="colorgan-sweep",
        markdown=orch.markdown_table(table, ["rank", "experiment", spec.metric, "params"]),
        description=f"Experiments ranked by {spec.metric}",
    )
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=".")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2")
    parser.add_argument("--metric", default="psnr")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    axes = {k: v.split(",") for k, v in (item.split("=", 1) for item in args.grid)}
    print(sweep(SweepSpec(grid=axes, metric=args.metric, jobs=args.jobs), args.project))


if __name__ == "__main__":
    main()
