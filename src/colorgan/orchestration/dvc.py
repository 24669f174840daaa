"""Drive the DVC pipeline from an orchestrator: stages, experiments, and their results.

Nothing here knows Prefect: the flows in pipelines/ wrap these functions in tasks. DVC stays
the one that decides what is up to date, and parameter overrides always go through DVC
experiments, so the user's params.yaml is never edited behind their back.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from colorgan.config import load_params
from colorgan.errors import ColorganError
from colorgan.tracking import store
from colorgan.tracking.runs import flatten_numbers

STAGES = ("sample", "ingest", "preprocess", "train", "evaluate")
# DVC's own words when another process holds the repository lock: worth a retry.
TRANSIENT_PATTERNS = ("Unable to acquire lock", "is locked by", "lock file")
ParamValue = str | int | float | bool | list[str | int | float]


class StageFailedError(ColorganError):
    """A DVC command failed for a reason that a retry will not fix; the message is DVC's."""


class TransientDvcError(RuntimeError):
    """DVC could not run now (e.g. the repository is locked); retrying later may work."""


@dataclass(frozen=True)
class StageResult:
    stage: str
    skipped: bool
    seconds: float


def dvc_command() -> str:
    """The `dvc` installed beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "dvc"
    return str(beside) if beside.exists() else "dvc"


def dvc_env() -> dict[str, str]:
    """Our environment, with this interpreter's scripts first on PATH: the `dvc` and the
    `python` of stage commands are then the ones colorgan is installed in."""
    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": os.pathsep.join([scripts, os.environ.get("PATH", "")])}


def run_dvc(args: list[str], project: Path, log: Callable[[str], None] = print) -> str:
    """Run `dvc <args>` in the project, pass each output line to `log`, return the output."""
    started = subprocess.Popen(
        [dvc_command(), *args],
        cwd=project,
        env=dvc_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in started.stdout:
        lines.append(line)
        log(line.rstrip())
    output = "".join(lines)
    if started.wait() != 0:
        if any(pattern in output for pattern in TRANSIENT_PATTERNS):
            raise TransientDvcError(f"dvc {' '.join(args)}: {output.strip()[-2000:]}")
        raise StageFailedError(f"dvc {' '.join(args)} failed:\n{output.strip()[-4000:]}")
    return output


def repro_stage(stage: str, project: Path, log: Callable[[str], None] = print) -> StageResult:
    """Reproduce one stage (not its upstream); DVC skips it when nothing it depends on changed."""
    started = time.monotonic()
    output = run_dvc(["repro", "--single-item", stage], project, log)
    skipped = f"Stage '{stage}' didn't change, skipping" in output
    return StageResult(stage, skipped, round(time.monotonic() - started, 2))


def set_param_args(overrides: Mapping[str, ParamValue]) -> list[str]:
    """['-S', 'train.epochs=3', ...] for `dvc exp run`."""
    args: list[str] = []
    for key, value in overrides.items():
        # true / ["translation", "cutout"]: JSON that DVC's YAML reading takes as it is
        text = json.dumps(value) if isinstance(value, bool | list) else str(value)
        args += ["--set-param", f"{key}={text}"]
    return args


def run_experiment(
    project: Path, overrides: Mapping[str, ParamValue], log: Callable[[str], None] = print
) -> str:
    """Run the whole pipeline as a DVC experiment in a temp copy; returns its name.

    `--temp` keeps the workspace (params.yaml included) exactly as it was.
    """
    output = run_dvc(["exp", "run", "--temp", *set_param_args(overrides)], project, log)
    match = re.search(r"Ran experiment\(s\): (\S+)", output)
    if match is None:
        raise StageFailedError(f"could not find the experiment's name in DVC's output:\n{output}")
    return match.group(1)


def sweep_names(count: int) -> list[str]:
    """Names for a sweep's experiments, in the order of its runs (unique to the second)."""
    stamp = int(time.time())
    return [f"sweep-{stamp}-{index}" for index in range(count)]


def run_sweep(
    project: Path,
    runs: list[Mapping[str, ParamValue]],
    jobs: int,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Queue one experiment per override set and let DVC run them, `jobs` at a time."""
    names = sweep_names(len(runs))
    for name, overrides in zip(names, runs, strict=True):
        run_dvc(["exp", "run", "--queue", "--name", name, *set_param_args(overrides)], project, log)
    run_dvc(["exp", "run", "--run-all", "--jobs", str(jobs)], project, log)
    return names


def experiment_names(project: Path) -> set[str]:
    """Names of the experiments on the project's current commit."""
    return set(run_dvc(["exp", "list", "--name-only"], project, log=lambda _line: None).split())


def run_branch(
    project: Path,
    name: str,
    overrides: Mapping[str, ParamValue],
    log: Callable[[str], None] = print,
) -> str:
    """Run one branch of a parallel sweep as the DVC experiment `name`, in a temp copy.

    Branches run side by side in one repository. DVC holds the repository lock only while it
    stashes an experiment and while it collects one, not while the pipeline runs, and waits
    3 s for it: a branch that starts beside others can fail with a TransientDvcError before
    anything ran, which is safe to retry. If the lock is missed after DVC has collected the
    experiment, the retry finds the name taken and does not run it twice.
    """
    if name in experiment_names(project):
        log(f"experiment {name} exists already (an earlier attempt ran it); not running it again")
        return name
    run_dvc(["exp", "run", "--temp", "--name", name, *set_param_args(overrides)], project, log)
    return name


def prepare_tracking(project: Path) -> None:
    """Create the project's MLflow store and experiment before experiments run side by side.

    Parallel train stages that find no store each create its tables, and one fails ("table
    latest_metrics already exists"); likewise for the MLflow experiment.
    """
    params = load_params(project / "params.yaml").tracking
    if params.enabled:
        uri = store.tracking_uri(params, root=project)
        store.check_reachable(uri)
        store.ensure_experiment(uri, params.experiment, root=project)


def grid(axes: Mapping[str, Iterable[ParamValue]]) -> list[dict[str, ParamValue]]:
    """{'a': [1, 2], 'b': [x]} -> [{'a': 1, 'b': x}, {'a': 2, 'b': x}]."""
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


def experiment_metrics(project: Path, names: list[str]) -> dict[str, dict[str, float]]:
    """Flat evaluation metrics of each named experiment, from `dvc exp show --json`."""
    output = subprocess.run(
        [dvc_command(), "exp", "show", "--json", "--no-fetch"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, dict[str, float]] = {}
    for commit in json.loads(output):
        for experiment in commit.get("experiments") or []:
            for revision in experiment.get("revs", []):
                name = revision.get("name")
                if name in names:
                    found[name] = flatten_numbers(_metric_file(revision, "metrics/eval.json"))
    return found


def _metric_file(revision: dict, path: str) -> dict:
    metrics = (revision.get("data") or {}).get("metrics") or {}
    return (metrics.get(path) or {}).get("data") or {}


def workspace_metrics(project: Path) -> tuple[dict[str, float], str | None]:
    """The workspace's evaluation metrics and the MLflow run id they belong to."""
    metrics_file, run_file = project / "metrics/eval.json", project / "models/run.json"
    metrics = flatten_numbers(json.loads(metrics_file.read_text())) if metrics_file.exists() else {}
    run_id = json.loads(run_file.read_text()).get("run_id") if run_file.exists() else None
    return metrics, run_id


def markdown_table(rows: list[dict[str, object]], columns: list[str]) -> str:
    def cell(value: object) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def rank(
    results: dict[str, dict[str, float]],
    metric: str,
    higher_is_better: bool = True,
    also: Iterable[str] = (),
) -> list[dict[str, object]]:
    """One row per experiment, best first; experiments without the metric go last. ``also``:
    more metrics shown beside it (e.g. gray_psnr next to psnr)."""
    missing = float("-inf") if higher_is_better else float("inf")
    ordered = sorted(
        results.items(),
        key=lambda item: item[1].get(metric, missing),
        reverse=higher_is_better,
    )
    shown = [metric, *(name for name in also if name != metric)]
    return [
        {"rank": place, "experiment": name, **{m: values.get(m, "n/a") for m in shown}}
        for place, (name, values) in enumerate(ordered, start=1)
    ]
