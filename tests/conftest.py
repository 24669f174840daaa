"""Shared fixtures: small real photos (from the bundled sample) and a throwaway project copy."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from filelock import FileLock
from PIL import Image

from colorgan.data.sample import package_photo_paths

REPO = Path(__file__).resolve().parents[1]
# What a DVC project copy needs to run the pipeline (the package itself is installed).
PROJECT_FILES = [
    ".dvc/config",
    ".dvc/.gitignore",
    ".dvcignore",
    "dvc.yaml",
    "params.yaml",
    "stages",
    "src",
    "pipelines",
    "prefect.yaml",
    ".gitignore",
    "bundled",
]

# Small enough that a whole `dvc repro` takes well under a minute on 2 cores. No L1-only
# phase: each phase is a fit() that traces its own step (seconds per training process); the
# tests of pre-training (test_train, test_levers) ask for it. No PixelGAN and no set metrics
# (Lite0 in evaluate): the shared trained project has both (TRAINED_PARAMS).
TINY_PARAMS = {
    # The sample's few package photos, not its hundred bundled ones.
    "data": {"min_side": 16, "include": "packages/*"},
    "preprocess": {"image_size": 32, "workers": 1},
    "model": {
        # The U-Net's own encoder: a pretrained one (the default) is tested in test_lite0.
        "generator": {"encoder": "unet", "depth": 3, "base_filters": 8, "max_filters": 32},
        "discriminator": {"depth": 2, "base_filters": 8, "pixel_gan": False},
    },
    # A checkpoint every epoch: the kill-and-resume test waits for the second one.
    "train": {
        "epochs": 2,
        "pretrain_epochs": 0,
        "batch_size": 8,
        "steps_per_epoch": 2,
        "checkpoint_every_epochs": 1,
    },
    "evaluate": {"views_per_photo": 2, "set_metrics": False},
}
# The one project every reading test shares: each evaluate output present.
TRAINED_PARAMS = {
    "model": {"discriminator": {"pixel_gan": True}},
    "evaluate": {"views_per_photo": 8, "set_metrics": True},
}


# Tests that take these run a whole (tiny) pipeline: tens of seconds each.
PIPELINE_FIXTURES = {
    "make_project",
    "make_prepared",
    "project",
    "trained_project",
    "prefect_api",
}


# Modules whose module-scoped fixtures are expensive (a Prefect server takes ~15 s to start):
# their tests run on one pytest-xdist worker, so the fixtures are built once, not per worker.
ONE_WORKER_MODULES = {"test_pipelines.py"}


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """One worker more than cores (`-n auto`): a third of the suite's time is spent waiting
    for servers and stage processes, which a third worker on two cores fills (pytest 503 s
    against 536 s with two, ONEDNN_MAX_CPU_ISA=AVX2)."""
    return (os.cpu_count() or 1) + 1


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Load balancing test by test, except that ONE_WORKER_MODULES stay whole.

    (pytest-xdist's own `--dist loadgroup` marks groups in node ids, which pytest 9's
    node ids no longer let it do.)"""
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerModules(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", maxsplit=1)[0]
            return module if Path(module).name in ONE_WORKER_MODULES else nodeid

    return OneWorkerModules(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with the most pipeline tests first, the quick unit tests last.

    pytest-xdist hands tests to its workers in this order; a long test handed out last keeps
    one core busy while the other idles. A module's tests stay together and in their order.
    """

    def module(item: pytest.Item) -> str:
        return item.nodeid.split("::")[0]

    heavy = Counter(module(i) for i in items if PIPELINE_FIXTURES & set(i.fixturenames))
    first_seen = {name: index for index, name in enumerate(dict.fromkeys(map(module, items)))}

    def order(item: pytest.Item) -> tuple[bool, int, int]:
        # The shared trained project's readers first: built early, on the worker that the
        # one-worker modules (which xdist hands out first, whole) leave free, it keeps no
        # worker waiting for it later.
        early = "trained_project" in item.fixturenames
        early = early and Path(module(item)).name not in ONE_WORKER_MODULES
        return (not early, -heavy[module(item)], first_seen[module(item)])

    items.sort(key=order)


def deep_update(base: dict, overrides: dict) -> dict:
    merged = dict(base)
    for key, value in overrides.items():
        merged[key] = deep_update(merged.get(key, {}), value) if isinstance(value, dict) else value
    return merged


def as_if_trained(generator) -> None:
    """Give the generator's last layer DCGAN-like weights: a fresh one starts at zero (gray
    output), so its first step sends no gradient below that layer; tests that check a step
    reaches the encoder take a generator past that point."""
    layer = generator.get_layer("ab")
    rng = np.random.default_rng(0)
    layer.kernel.assign(rng.normal(0.0, 0.02, layer.kernel.shape).astype("float32"))


def real_photo(name: str = "astronaut.png", side: int = 96) -> np.ndarray:
    """A real colour photo from the bundled sample, shrunk so tests stay fast."""
    path = next(p for p in package_photo_paths() if p.name == name)
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    image.thumbnail((side, side))
    return np.asarray(image)


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    """Six small real colour photos as JPEG and PNG files."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, path in enumerate(package_photo_paths()[:6]):
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        image.thumbnail((128, 128))
        image.save(folder / f"photo{index}.{'jpg' if index % 2 else 'png'}")
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dvc_env(project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    # `python -m stages.x` resolves stages/ in the copy, and `colorgan` is the copy's own src/
    # (not whichever checkout the package was installed from in editable mode).
    env["PYTHONPATH"] = os.pathsep.join([str(project), str(project / "src")])
    return env


def run(
    cmd: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        cmd,
        check=False,
        cwd=cwd,
        env=env or dvc_env(cwd),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


GIT = ["git", "-c", "user.name=colorgan-tests", "-c", "user.email=tests@colorgan.invalid"]


def override_params(project: Path, overrides: dict) -> None:
    """Merge ``overrides`` into the project's params.yaml."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params = deep_update(params, overrides)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def copy_project(project: Path, overrides: dict | None = None) -> Path:
    """A fresh git + DVC copy of this project at ``project``, with TINY_PARAMS and overrides."""
    for entry in PROJECT_FILES:
        source, target = REPO / entry, project / entry
        if source.is_dir():
            shutil.copytree(
                source, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        elif source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    override_params(project, deep_update(TINY_PARAMS, overrides or {}))
    run(["git", "init", "-q"], project)
    run([*GIT, "add", "-A"], project)
    run([*GIT, "commit", "-qm", "init"], project)
    return project


@pytest.fixture
def make_project(tmp_path: Path):
    """Factory: make_project(overrides) -> path of a fresh project copy."""
    return lambda overrides=None, name="project": copy_project(tmp_path / name, overrides)


def shared_project(
    tmp_path_factory: pytest.TempPathFactory,
    worker_id: str,
    name: str,
    build: Callable[[Path], None],
) -> Path:
    """A project made once per session by ``build(path)``, whichever pytest-xdist worker
    needs it first; the other workers wait for it, then share it."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":  # every worker's basetemp is a folder of the session's
        shared = shared.parent
    project, complete = shared / name / "project", shared / name / "complete"
    with FileLock(shared / f"{name}.lock"):
        if not complete.exists():
            shutil.rmtree(project.parent, ignore_errors=True)  # a build that failed
            build(project)
            complete.touch()
    return project


def copy_prepared(prepared: Path, project: Path, overrides: dict | None = None) -> Path:
    """A copy of the prepared project at ``project``, with training (not data) parameters
    overridden: preprocess stays up to date."""
    shutil.copytree(prepared, project, ignore=shutil.ignore_patterns("tmp"))
    override_params(project, overrides or {})
    return project


@pytest.fixture(scope="session")
def prepared_project(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A tiny project up to its training shards (`dvc repro preprocess`); copy it with
    ``make_prepared``."""

    def build(project: Path) -> None:
        copy_project(project)
        run(["dvc", "repro", "preprocess"], project)

    return shared_project(tmp_path_factory, worker_id, "prepared", build)


@pytest.fixture(scope="session")
def trained_project(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str, prepared_project: Path
) -> Path:
    """One tiny project on which `dvc repro` has run, shared by the tests that only read it.

    Tests must not modify it, nor run DVC in it (two workers' DVC would contend for its
    lock): copy it with ``trained_copy``, or use make_project for a project of your own.
    """

    def build(project: Path) -> None:
        # The prepared project's data stages are this one's (TRAINED_PARAMS change no data
        # parameter): `dvc repro` then trains and evaluates, and finds the rest up to date.
        copy_prepared(prepared_project, project, TRAINED_PARAMS)
        # Committed, as a fresh copy's parameters are: runs are named by what they change
        # against the committed params.yaml.
        run([*GIT, "commit", "-qam", "trained project's parameters"], project)
        run(["dvc", "repro"], project)

    return shared_project(tmp_path_factory, worker_id, "trained", build)


@pytest.fixture
def make_prepared(prepared_project: Path, tmp_path: Path) -> Callable[..., Path]:
    """Factory: make_prepared(overrides) -> a copy of the prepared project of the test's own,
    with training (not data) parameters overridden: preprocess stays up to date."""
    return lambda overrides=None: copy_prepared(prepared_project, tmp_path / "project", overrides)


@pytest.fixture
def trained_copy(trained_project: Path, tmp_path: Path) -> Path:
    """A copy of the trained project of the test's own, to run DVC in or change."""
    project = tmp_path / "project"
    shutil.copytree(trained_project, project, ignore=shutil.ignore_patterns("tmp"))
    return project


def log_colorizer_run(
    generator: Path, metrics: dict[str, float], max_pixels: int = 50_000_000
) -> str:
    """A tracked run holding a pyfunc colorizer and test metrics, in the current MLflow store."""
    import mlflow

    from colorgan.serving.pyfunc import log_colorizer

    with mlflow.start_run() as active:
        log_colorizer(generator, max_pixels)
        mlflow.log_metrics(metrics)
    return active.info.run_id


@contextlib.contextmanager
def running_server(
    command: list[str],
    log_path: Path,
    ready: Callable[[], bool],
    env: dict[str, str] | None = None,
    timeout_s: float = 180,
):
    """Start a server process, wait until ``ready()``, stop it afterwards.

    If it exits or is not ready in time, the test fails with the server's own log.
    """
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + timeout_s
            while not ready():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log_path.read_text())
                time.sleep(1)
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)
