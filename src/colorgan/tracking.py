"""MLflow plumbing: where the store is, which run a stage belongs to, and what it is tagged with.

The train stage creates the run and records its id in ``models/run.json``; evaluate (and a
resumed training) reopen that same run. Every stage ends the run it opened, so a stage that
DVC skips never leaves a record half-finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from colorgan.config import Params, TrackingParams
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
def store(uri: str) -> Iterator[None]:
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


def dvc_out_hashes(root: Path, stage: str) -> dict[str, str]:
    """The md5 of each output a stage recorded in dvc.lock: the exact DVC version of the data."""
    import yaml

    lock = root / "dvc.lock"
    if not lock.is_file():
        return {}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    return {out["path"]: out.get("md5", "") for out in stages.get(stage, {}).get("outs", [])}


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
    for path, md5 in dvc_out_hashes(root, "preprocess").items():
        tags[f"dvc.{path}"] = md5
    return tags
