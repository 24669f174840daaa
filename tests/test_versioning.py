"""Versioned photos: DVC sees every change of data.source, and MLflow runs name the data they saw.

Real git + DVC projects with a handful of tiny photos; `dvc repro ingest` only. DVC's status
and repro run in-process, through its Python API (`dvc.repo.Repo`): the same code as the CLI,
without a second of start-up per call. The lineage test opens the training's MLflow run
in-process, as the train stage does, after each ingest.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tests.conftest import GIT, dvc_env, real_photo, run

# One photo in each split at least (split by content hash), with every split at 1/3.
FIRST = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]
ADDED = "flower.jpg"
THIRDS = {"train": 0.34, "val": 0.33, "test": 0.33}
SOURCES = {
    "folder": {"source": "photos", "include": "**/*"},
    "glob": {"source": "photos", "include": "*.png"},
    "list": {"source": "photos", "include": "keep.txt"},
    "archive": {"source": "photos.zip", "include": "**/*"},
}


def save_photo(folder: Path, name: str, side: int = 48) -> Path:
    """A tiny real colour photo as PNG, named after its sample photo."""
    path = folder / f"{Path(name).stem}.png"
    Image.fromarray(real_photo(name, side)).save(path)
    return path


def ingest_status(project: Path) -> list:
    """What `dvc status ingest` reports: empty when ingest is up to date."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        return repo.status(targets=["ingest"]).get("ingest", [])


def repro_ingest(project: Path) -> list[str]:
    """`dvc repro ingest`: the names of the stages DVC ran."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        return [stage.addressing for stage in repo.reproduce("ingest")]


def ingested_files(project: Path) -> dict[str, bytes]:
    folder = project / "data" / "ingested"
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


class Source:
    """One kind of data.source: where its photos live and how a change reaches DVC's dep."""

    def __init__(self, kind: str, project: Path, staging: Path) -> None:
        self.kind = kind
        self.project = project
        # An archive is built from a folder outside the project; the others are the folder.
        self.photos = staging if kind == "archive" else project / "photos"
        self.photos.mkdir(parents=True, exist_ok=True)

    def listed(self) -> list[str]:
        return (self.photos / "keep.txt").read_text().split()

    def publish(self, listed: list[str] | None = None) -> None:
        """Make the photos what DVC hashes: the list rewritten, the archive replaced."""
        if self.kind == "list":
            names = (
                listed if listed is not None else sorted(p.name for p in self.photos.glob("*.png"))
            )
            (self.photos / "keep.txt").write_text("\n".join(names) + "\n")
        elif self.kind == "archive":
            with zipfile.ZipFile(self.project / "photos.zip", "w") as archive:
                for path in sorted(self.photos.glob("*.png")):
                    archive.write(path, path.name)
        elif self.kind == "glob":
            (self.photos / "notes.md").write_text("not matched by *.png\n")

    def add(self) -> None:
        name = save_photo(self.photos, ADDED).name
        self.publish([*self.listed(), name] if self.kind == "list" else None)

    def edit(self) -> None:
        path = self.photos / "chelsea.png"
        path.write_bytes(_png_bytes("chelsea.png", side=40))  # same file, other bytes
        self.publish(self.listed() if self.kind == "list" else None)

    def remove(self) -> None:
        if self.kind == "list":  # the photo stays in the folder, the list drops it
            self.publish([n for n in self.listed() if n != "rocket.png"])
            return
        (self.photos / "rocket.png").unlink()
        self.publish()


def _png_bytes(name: str, side: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(real_photo(name, side)).save(buffer, format="PNG")
    return buffer.getvalue()


def context(dataset_input) -> str:
    return next(t.value for t in dataset_input.tags if t.key == "mlflow.data.context")


@pytest.fixture
def in_process_dvc(monkeypatch) -> Callable[[Path], None]:
    """DVC run in this process as in the project: from its root (DVC resolves targets from the
    working directory), with the environment `dvc repro` gives its stage commands."""

    def use(project: Path) -> None:
        monkeypatch.chdir(project)
        for variable in ("MLFLOW_TRACKING_URI", "DVC_ROOT"):
            monkeypatch.delenv(variable, raising=False)
        env = dvc_env(project)
        for variable in ("PATH", "PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL"):
            monkeypatch.setenv(variable, env[variable])

    return use


@pytest.fixture
def source_project(make_project, tmp_path, in_process_dvc) -> Callable[[str], Source]:
    def make(kind: str) -> Source:
        # One process: a worker pool would cost more to start than five tiny photos.
        project = make_project({"data": {**SOURCES[kind], "split": THIRDS, "workers": 1}})
        in_process_dvc(project)
        source = Source(kind, project, tmp_path / "staging")
        for name in FIRST:
            save_photo(source.photos, name)
        source.publish()
        return source

    return make


@pytest.mark.parametrize("kind", ["folder", "glob", "list", "archive"])
def test_every_change_of_the_source_reruns_ingest_and_none_reruns_nothing(source_project, kind):
    source = source_project(kind)
    project = source.project
    repro_ingest(project)
    manifests = [(project / "data/ingested/manifest.csv").read_text()]

    for change in (source.add, source.edit, source.remove):
        change()
        status = ingest_status(project)
        assert any("changed deps" in entry for entry in status), (change, status)
        assert repro_ingest(project) == ["ingest"], change
        manifests.append((project / "data/ingested/manifest.csv").read_text())

    assert ingest_status(project) == []  # up to date
    assert repro_ingest(project) == []
    rows = [manifest.count("\n") - 1 for manifest in manifests]
    assert rows == [5, 6, 6, 5]  # added, edited in place, removed
    assert len(set(manifests)) == 4


def test_the_default_sample_is_a_dvc_stage_sharing_one_copy_with_the_cache(
    make_project, in_process_dvc
):
    project = make_project()
    in_process_dvc(project)
    assert repro_ingest(project) == ["sample", "ingest"]  # the sample stage first: no set-up

    assert ingest_status(project) == []
    manifest = (project / "data/ingested/manifest.csv").read_text()
    assert manifest.count("data/sample/packages/") == 8  # TINY_PARAMS' data.include
    # cache.type hardlink: the sample photo, its cache entry and its ingested copy, one inode.
    ingested = project / "data/ingested/images"
    assert all(path.stat().st_nlink == 3 for path in ingested.iterdir())


def test_git_checkout_and_dvc_checkout_bring_back_the_exact_ingested_photos(source_project):
    source = source_project("folder")
    project = source.project
    run(["dvc", "add", "photos"], project)  # the raw photos versioned too, as the README says
    repro_ingest(project)
    run([*GIT, "add", "-A"], project)
    run([*GIT, "commit", "-qm", "five photos"], project)
    before = ingested_files(project)

    source.add()
    repro_ingest(project)  # also records the folder's new version in photos.dvc
    run([*GIT, "add", "-A"], project)
    run([*GIT, "commit", "-qm", "six photos"], project)
    after = ingested_files(project)

    # Only what ingest needs: the later stages never ran here.
    checkout = ["dvc", "checkout", "photos.dvc", "ingest"]
    run(["git", "checkout", "-q", "HEAD~1"], project)
    run(checkout, project)
    assert ingested_files(project) == before  # manifest (with the split) and photos, bytewise
    assert not (project / "photos" / f"{Path(ADDED).stem}.png").exists()
    run(["git", "checkout", "-q", "-"], project)
    run(checkout, project)
    assert ingested_files(project) == after
    assert len(after) == len(before) + 1


def test_each_training_run_logs_its_splits_with_the_dvc_hash_as_digest(source_project):
    """The MLflow run of a training, opened as the train stage opens it, names the photos of
    each split and DVC's hash of them from dvc.lock; a photo added makes a new digest."""
    from mlflow import MlflowClient

    from colorgan.config import load_params
    from colorgan.tracking import runs, store

    source = source_project("folder")
    project = source.project  # also the working directory, as the train stage's
    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)

    def ingest_and_open_a_run() -> tuple[list[str], str, list]:
        ran = repro_ingest(project)
        lock = yaml.safe_load((project / "dvc.lock").read_text())
        digest = next(
            out["md5"] for out in lock["stages"]["ingest"]["outs"] if out["path"] == "data/ingested"
        )
        params = load_params(project / "params.yaml")
        with store.using(uri), runs.open_run(params, None, project, enabled=True) as tracked:
            run_id = tracked.run_id
        return ran, digest, client.get_run(run_id).inputs.dataset_inputs

    _, first_digest, first = ingest_and_open_a_run()
    source.add()
    ran, second_digest, second = ingest_and_open_a_run()

    assert ran == ["ingest"]
    manifest = (project / "data/ingested/manifest.csv").read_text().splitlines()[1:]
    for inputs, digest in ((first, first_digest), (second, second_digest)):
        contexts = {context(i): i.dataset for i in inputs}
        assert set(contexts) == {"training", "validation", "test"}
        assert {d.digest for d in contexts.values()} == {digest}
        assert {d.source for d in contexts.values()} == {json.dumps({"uri": "photos"})}
        assert contexts["training"].name == "photos/train"
    assert first_digest != second_digest
    rows = {context(i): json.loads(i.dataset.profile)["num_rows"] for i in second}
    assert sum(rows.values()) == len(manifest) == 6
