"""The training's MLflow run: opened (or resumed) with its name, description, tags and
datasets; written through a handle whose failures never cost a training its progress."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from colorgan.config import Params, TrackingParams, flatten
from colorgan.tracking import lineage, store

log = logging.getLogger(__name__)
MLFLOW_BATCH = 1000  # metrics per log_batch request: MLflow's limit


class MlflowRun:
    """A thin, failure-tolerant handle on one MLflow run (or on none, when tracking is off)."""

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id
        self._warned = False

    def _safely(self, what: str, call: Callable[[Any], Any]) -> Any:
        """``call(mlflow)``; a tracking failure is logged once and never ends the training."""
        if self.run_id is None:
            return None
        import mlflow

        try:
            return call(mlflow)
        except Exception as error:  # tracking must never cost a training its progress
            if not self._warned:
                log.warning(
                    "MLflow %s failed (%s); training goes on, losses stay in the CSV", what, error
                )
                self._warned = True
        return None

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        self._safely("log_metrics", lambda mlflow: mlflow.log_metrics(values, step=step))

    def log_steps(self, rows: list[tuple[int, dict[str, float]]]) -> None:
        """Many steps' metrics in one request (one SQLite transaction, not one per value)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, v, now, step) for step, values in rows for key, v in values.items()]
        for start in range(0, len(metrics), MLFLOW_BATCH):
            batch = metrics[start : start + MLFLOW_BATCH]
            self._safely(
                "log_batch",
                lambda mlflow, batch=batch: mlflow.MlflowClient().log_batch(
                    self.run_id, metrics=batch
                ),
            )

    def last_logged_step(self, key: str) -> int:
        """The highest step of ``key`` in the run: where a resumed training's logging goes on."""
        history = self._safely(
            "get_metric_history",
            lambda mlflow: mlflow.MlflowClient().get_metric_history(self.run_id, key),
        )
        return max((metric.step for metric in history or []), default=0)

    def set_tags(self, tags: dict[str, object]) -> None:
        self._safely("set_tags", lambda mlflow: mlflow.set_tags(tags))

    def log_image(self, image: np.ndarray, key: str, step: int) -> None:
        self._safely("log_image", lambda mlflow: mlflow.log_image(image, key=key, step=step))

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._safely("log_artifact", lambda mlflow: mlflow.log_artifact(str(path), artifact_path))

    def save_pointer(self, path: Path, params: TrackingParams) -> None:
        """run.json: where evaluate and the flows find this run ({"run_id": null} untracked)."""
        if self.run_id is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"run_id": None}) + "\n")
            return
        info = store.RunInfo(self.run_id, _experiment_of(self.run_id), store.tracking_uri(params))
        info.save(path)


@contextmanager
def open_run(
    params: Params, resume_id: str | None, root: Path, enabled: bool
) -> Iterator[MlflowRun]:
    """Start (or resume) the training's MLflow run; end it when training ends, however it ends."""
    if not enabled:
        yield MlflowRun(None)
        return
    import mlflow

    experiment_id = store.set_up(params.tracking)
    if resume_id is not None and not _run_exists(resume_id):
        log.warning(
            "MLflow run %s of the checkpoint is gone from the store; starting a new run", resume_id
        )
        resume_id = None
    params_text = json.dumps(params.model_dump(), sort_keys=True)
    # What sets this run apart: the overrides of a `dvc exp run -S ...` (against the commit's
    # params.yaml), or, for a run of the committed params, what differs from the defaults.
    base = committed_params()
    changed = _differences(params, base) if base is not None else {}
    changed = changed or _differences(params, Params())
    commit = git_commit(root)
    with mlflow.start_run(
        run_id=resume_id,
        experiment_id=None if resume_id else experiment_id,
        run_name=None if resume_id else run_name(changed),
        description=None if resume_id else run_description(changed, commit),
        tags=run_tags(root, params_text),
    ) as active:
        if resume_id is None:
            mlflow.log_params(flatten(params))
            lineage.log_datasets(params.data.source)
        yield MlflowRun(active.info.run_id)


def _differences(params: Params, reference: Params) -> dict[str, object]:
    reference_values = flatten(reference)
    return {
        key: value
        for key, value in flatten(params).items()
        if value != reference_values.get(key) and not key.startswith("tracking.")
    }


def _run_exists(run_id: str) -> bool:
    import mlflow

    try:
        mlflow.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        return False
    return True


def _experiment_of(run_id: str) -> str:
    import mlflow

    return mlflow.get_run(run_id).info.experiment_id


def flatten_numbers(
    tree: Mapping[str, object],
    prefix: str = "",
    separator: str = ".",
) -> dict[str, float]:
    """Nested metrics to flat names: {'d': {'recall': 1}} -> {'d.recall': 1.0}; non-numbers
    are left out."""
    flat: dict[str, float] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(flatten_numbers(value, f"{prefix}{key}{separator}", separator))
        elif isinstance(value, int | float):
            flat[f"{prefix}{key}"] = float(value)
    return flat


def git_commit(root: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def committed_params(workspace: Path | None = None) -> Params | None:
    """params.yaml as the current git commit has it (an experiment's baseline), validated;
    None outside git or when it is missing or invalid there."""
    from colorgan.config import ParamsError, parse_params

    try:
        shown = subprocess.run(
            ["git", "show", "HEAD:params.yaml"],
            cwd=workspace or Path.cwd(),
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        return parse_params(yaml.safe_load(shown) or {}, "HEAD:params.yaml")
    except (OSError, subprocess.SubprocessError, yaml.YAMLError, ParamsError):
        return None


def run_name(changed: Mapping[str, object], limit: int = 60) -> str:
    """What sets this run apart, as the runs table shows it: the non-default parameters,
    shortest first, e.g. 'l1_weight=20 pixel_gan=True'; 'defaults' when there are none."""
    parts = sorted((f"{key.rsplit('.', 1)[-1]}={value}" for key, value in changed.items()), key=len)
    name = ""
    for part in parts:
        if len(name) + len(part) + 1 > limit:
            return f"{name} +{len(parts) - len(name.split())}"
        name = f"{name} {part}".strip()
    return name or "defaults"


def run_description(changed: Mapping[str, object], commit: str | None) -> str:
    """The run page's description (MLflow's note): every non-default parameter, one a line."""
    lines = [f"- `{key}`: {value}" for key, value in sorted(changed.items())]
    header = f"Trained at commit `{commit[:12]}`" if commit else "Trained outside git"
    body = "\n".join(lines) if lines else "All parameters at their defaults."
    return f"{header}. Parameters that differ from the defaults:\n\n{body}"


def run_tags(root: Path, params_text: str) -> dict[str, str]:
    tags = {"params_sha256": hashlib.sha256(params_text.encode()).hexdigest()}
    if commit := git_commit(root):
        tags["git_commit"] = commit
    for path, md5 in lineage.dvc_out_hashes(root, "preprocess").items():
        tags[f"dvc.{path}"] = md5
    return tags
