"""MLflow plumbing: where the store is, which run a stage belongs to, and what it is tagged with.

The train stage creates the run and records its id in ``models/run.json``; evaluate (and a
resumed training) reopen that same run. Every stage ends the run it opened, so a stage that
DVC skips never leaves a record half-finished.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from colorgan.config import TrackingParams
from colorgan.errors import ColorganError

# MLflow 3's UI opens an experiment without this tag as a GenAI one (traces, token usage);
# tagged, it opens on the runs table, where trainings are compared.
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
EXPERIMENT_TAGS = {
    EXPERIMENT_KIND: MODEL_TRAINING,
    "mlflow.note.content": "colorgan trainings: one run per `dvc repro` / `dvc exp run` of the "
    "train stage. A run's name says what sets it apart: an experiment's overrides, else the "
    "parameters that differ from the defaults.",
}


class TrackingUnavailable(ColorganError):
    """The MLflow tracking server cannot be reached; the message names the URI and the way out."""


def repo_root() -> Path:
    """The user's repository, also when DVC runs us inside an experiment's temp copy.

    DVC sets DVC_ROOT to the parent repository for queued and --temp experiments, so a
    relative store would otherwise land in a throwaway folder under .dvc/tmp/exps.
    """
    return Path(os.environ.get("DVC_ROOT") or Path.cwd()).resolve()


def tracking_uri(params: TrackingParams, root: Path | None = None) -> str:
    """params.yaml's uri, else $MLFLOW_TRACKING_URI, else a SQLite store in the repository.

    ``root`` is the repository, for callers outside it (an orchestrator); default repo_root().
    """
    root = root or repo_root()
    uri = params.uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
            return f"sqlite:///{(root / uri.removeprefix('sqlite:///')).as_posix()}"
        return uri
    return f"sqlite:///{(root / 'mlflow.db').as_posix()}"


def artifact_location(root: Path | None = None) -> str:
    return ((root or repo_root()) / "mlartifacts").as_uri()


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds, before any training, rather than after MLflow's minutes of retries."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s):
            pass
    except (urllib.error.URLError, OSError) as error:
        raise TrackingUnavailable(
            f"MLflow tracking server {uri} is unreachable ({error}). Start it, fix "
            "MLFLOW_TRACKING_URI / tracking.uri, or set tracking.enabled: false to train "
            "without tracking"
        ) from None


def set_up(params: TrackingParams) -> str:
    """Point MLflow at the store and make sure the experiment exists; returns its id."""
    import mlflow

    uri = tracking_uri(params)
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    return ensure_experiment(uri, params.experiment)


@contextmanager
def using(uri: str) -> Iterator[None]:
    """MLflow's fluent API (mlflow.register_model, ...) on ``uri`` for one block, in a process
    that lives on (a flow). mlflow.set_tracking_uri also sets $MLFLOW_TRACKING_URI, which
    every later subprocess, a DVC stage of another project included, would inherit."""
    import mlflow

    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # None unsets the variable again


def ensure_experiment(uri: str, name: str, root: Path | None = None) -> str:
    """Create the experiment (and a new SQLite store's tables) if missing; returns its id.

    Leaves MLflow's global tracking URI alone: setting it also sets $MLFLOW_TRACKING_URI, which
    every later subprocess, a DVC stage included, would then track into.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = artifact_location(root) if uri.startswith("sqlite:") else None
        return client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_TAGS)
    if experiment.tags.get(EXPERIMENT_KIND) is None:  # made before the tag existed
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
    return experiment.experiment_id


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    tracking_uri: str

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> RunInfo | None:
        if not path.is_file():
            return None
        saved = json.loads(path.read_text())
        return cls(**saved) if saved.get("run_id") else None
