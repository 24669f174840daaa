"""What versioned photos cost: `dvc status` / `dvc repro` on an unchanged folder, and disk.

    python benchmarks/bench_versioning.py PHOTOS_FOLDER [--repeats 5] [--workdir DIR]

Copies the project and the photos into a fresh git + DVC repository (``--workdir``, default a
temporary folder), ingests them, then times the commands a user runs when nothing changed,
first with the folder untracked, then under `dvc add`, and prints the disk each part takes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import copy_project, dvc_env  # noqa: E402


def timed(command: list[str], project: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh process."""
    before = os.times()
    started = time.perf_counter()
    subprocess.run(command, cwd=project, env=dvc_env(project), check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu


def report(name: str, command: list[str], project: Path, repeats: int) -> None:
    runs = [timed(command, project) for _ in range(repeats)]
    walls = [wall for wall, _ in runs]
    print(
        f"{name:34s} wall median {statistics.median(walls):4.2f} s (max {max(walls):4.2f}), "
        f"CPU median {statistics.median(cpu for _, cpu in runs):4.2f} s"
    )


def disk_bytes(*paths: Path) -> int:
    """Bytes on disk, each hardlinked file counted once (as `du` does)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in paths:
        for path in [root, *root.rglob("*")] if root.is_dir() else [root]:
            stat = path.lstat()
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_blocks * 512
    return total


def print_disk(project: Path, photos: int) -> None:
    parts = {
        "raw photos": [project / "photos"],
        "data/ingested": [project / "data/ingested"],
        ".dvc/cache": [project / ".dvc/cache"],
    }
    for name, paths in parts.items():
        print(f"  {name:14s} {disk_bytes(*paths) / photos / 1024:6.1f} KiB per photo")
    together = disk_bytes(*(p for paths in parts.values() for p in paths))
    print(f"  {'all together':14s} {together / photos / 1024:6.1f} KiB per photo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-versioning-"))
    project = copy_project(workdir / "project", {"data": {"source": "photos"}})
    shutil.copytree(args.photos, project / "photos")
    photos = sum(1 for p in (project / "photos").rglob("*") if p.is_file())
    print(f"{photos} photos, {disk_bytes(project / 'photos') / 2**20:.1f} MiB, in {project}")
    print(f"first `dvc repro ingest`: {timed(['dvc', 'repro', 'ingest'], project)[0]:.1f} s")
    for tracked in (False, True):
        if tracked:
            subprocess.run(["dvc", "add", "photos"], cwd=project, env=dvc_env(project), check=True)
        print(f"source {'under `dvc add`' if tracked else 'untracked by DVC'}, nothing changed:")
        report("  dvc status ingest", ["dvc", "status", "ingest"], project, args.repeats)
        report("  dvc repro ingest", ["dvc", "repro", "ingest"], project, args.repeats)
        print_disk(project, photos)


if __name__ == "__main__":
    main()
