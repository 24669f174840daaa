"""Prefect flow `colorgan-pipeline`: the DVC stages as tasks, DVC deciding what is up to date.

python -m pipelines.pipeline                        # like `dvc repro`, watched by Prefect
python -m pipelines.pipeline -S train.epochs=20     # a DVC experiment; params.yaml untouched
python -m pipelines.pipeline --serve "0 3 * * *"    # serve it locally on a cron schedule
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.tasks import exponential_backoff

from colorgan.orchestration import dvc as orch


def retry_if_transient(task: object, task_run: object, state: object) -> bool:
    """Retry only what may pass: DVC's repository lock held by another process."""
    try:
        state.result()
    except orch.TransientDvcError:
        return True
    except Exception:
        return False
    return False


@task(
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_condition_fn=retry_if_transient,
    task_run_name="{stage}",
)
def dvc_stage(stage: str, project: Path) -> orch.StageResult:
    logger = get_run_logger()
    result = orch.repro_stage(stage, project, logger.info)
    logger.info(
        "%s %s in %.1f s", stage, "skipped: up to date" if result.skipped else "ran", result.seconds
    )
    return result


@task(
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_condition_fn=retry_if_transient,
)
def dvc_experiment(project: Path, overrides: dict[str, orch.ParamValue]) -> str:
    return orch.run_experiment(project, overrides, get_run_logger().info)


@task
def promote(project: Path, run_id: str, metric: str) -> str:
    """Register the run's model; it becomes champion only if it beats the current one."""
    from colorgan.serving.registry import register_and_promote
    from colorgan.tracking import store

    info = store.RunInfo.load(project / "models/run.json")
    with store.using(info.tracking_uri):  # the store the train stage wrote to
        decision = register_and_promote(run_id, metric=metric)
    get_run_logger().info(decision.reason)
    return decision.reason


@flow(name="colorgan-pipeline", log_prints=True)
def pipeline(
    project: str = ".",
    overrides: dict[str, orch.ParamValue] | None = None,
    promote_metric: str | None = None,
) -> dict[str, object]:
    """Run the DVC stages (sample -> ingest -> ... -> evaluate); with overrides, as one experiment.

    With ``promote_metric`` (e.g. "test_psnr"), the trained model is then registered and
    made champion if it beats the current one on that metric.
    """
    root = Path(project).resolve()
    if overrides:
        name = dvc_experiment(root, overrides)
        metrics = orch.experiment_metrics(root, [name]).get(name, {})
        run_id, stages = None, {"experiment": name}
    else:
        stages = {}
        for stage in orch.STAGES:
            result = dvc_stage(stage, root)
            stages[stage] = "skipped" if result.skipped else "ran"
        metrics, run_id = orch.workspace_metrics(root)
        if promote_metric and run_id and any(v == "ran" for v in stages.values()):
            stages["promotion"] = promote(root, run_id, promote_metric)
    rows = [{"metric": key, "value": value} for key, value in metrics.items()]
    create_markdown_artifact(
        key="colorgan-metrics",
        markdown=f"MLflow run: `{run_id}`  \nStages: {stages}\n\n"
        + orch.markdown_table(rows, ["metric", "value"]),
        description="Evaluation metrics of this pipeline run",
    )
    return {"stages": stages, "metrics": metrics, "mlflow_run_id": run_id}


def _overrides(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=".")
    parser.add_argument("-S", "--set-param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--serve", metavar="CRON", help="serve the flow locally on a schedule")
    args = parser.parse_args(argv)
    if args.serve:
        pipeline.serve(
            name="colorgan-pipeline-local",
            cron=args.serve,
            parameters={"project": str(Path(args.project).resolve())},
        )
    else:
        pipeline(args.project, _overrides(args.set_param) or None)


if __name__ == "__main__":
    main()
