"""Overhead of the Prefect pipeline flow over plain `dvc repro` when nothing is to do.

    python benchmarks/bench_orchestration.py [--repeats 3]

Run in an up-to-date project (after `make run`). Both are timed as fresh processes, the
way a user or a scheduler starts them; the flow uses Prefect's ephemeral local API.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scripts = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{scripts}{os.pathsep}{os.environ['PATH']}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    dvc = [str(scripts / "dvc"), "repro"]
    flow = [sys.executable, "-m", "pipelines.pipeline"]
    seconds(flow, env)  # first start migrates Prefect's local database
    results = {}
    for name, command in (("dvc repro", dvc), ("pipeline flow", flow)):
        runs = [seconds(command, env) for _ in range(args.repeats)]
        results[name] = statistics.median(runs)
        print(
            f"{name:14s} median {results[name]:5.1f} s  (runs: "
            + ", ".join(f"{r:.1f}" for r in runs)
            + ")"
        )
    overhead = results["pipeline flow"] - results["dvc repro"]
    print(
        f"overhead of the flow: {overhead:+.1f} s "
        f"({results['pipeline flow'] / results['dvc repro']:.1f}x)"
    )


if __name__ == "__main__":
    main()
