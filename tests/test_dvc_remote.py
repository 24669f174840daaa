"""Data remotes: push the pipeline's data and models, pull them into a fresh clone."""

import shutil

from tests.conftest import run

CACHED_OUTPUTS = [
    "data/ingested/manifest.csv",
    "data/prepared/stats.json",
    "models/generator.keras",
    "models/run.json",
]


def test_push_then_pull_into_a_fresh_clone_restores_every_output(trained_project, tmp_path):
    project = tmp_path / "origin"
    shutil.copytree(trained_project, project, ignore=shutil.ignore_patterns("mlflow.db"))
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "--default", "storage", str(remote)], project)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    run([*git, "add", "-A"], project)
    run([*git, "commit", "-qm", "pipeline results + remote"], project)
    run(["dvc", "push"], project)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    assert not (clone / "models/generator.keras").exists()
    run(["dvc", "pull"], clone)

    for output in CACHED_OUTPUTS:
        assert (clone / output).read_bytes() == (project / output).read_bytes(), output
    assert "up to date" in run(["dvc", "status"], clone).stdout
