"""Colorization latency and throughput on CPU: in-process (what the CLI runs) and served.

    python benchmarks/bench_inference.py [--model models/generator.keras] [--served 30]

Needs a trained model (`make run`). Served: the pyfunc model behind `mlflow models serve
--env-manager local` on loopback, one request per photo, base64 in and out.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from PIL import Image

from colorgan.serving.inference import Colorizer, colorize_paths

BSDS = Path(__file__).resolve().parents[2] / "shared/datasets/bsds500"


def photo_768x512(tmp: Path) -> Path:
    source = sorted((BSDS / "test").glob("*.jpg"))[0]
    target = tmp / "photo_768x512.jpg"
    Image.open(source).convert("RGB").resize((768, 512)).save(target, quality=92)
    return target


def timed(function, repeats: int) -> float:
    function()
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - started) / repeats


def serve(model: Path, tmp: Path) -> tuple[subprocess.Popen, str]:
    import mlflow

    from colorgan.serving.pyfunc import log_colorizer

    uri = f"sqlite:///{tmp}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench")
    with mlflow.start_run():
        model_uri = log_colorizer(model)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "models",
            "serve",
            "-m",
            model_uri,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(180):
        try:
            urllib.request.urlopen(f"{url}/ping", timeout=2).close()
            return process, url
        except OSError:
            time.sleep(1)
    raise RuntimeError("server did not start")


def post(url: str, path: Path) -> np.ndarray:
    body = json.dumps(
        {
            "dataframe_split": {
                "columns": ["image"],
                "data": [[base64.b64encode(path.read_bytes()).decode()]],
            }
        }
    ).encode()
    request = urllib.request.Request(
        f"{url}/invocations", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())["predictions"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/generator.keras"))
    parser.add_argument("--served", type=int, default=30, help="photos sent to the server")
    args = parser.parse_args()
    colorizer = Colorizer.load(args.model)
    test_photos = sorted((BSDS / "test").glob("*.jpg"))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        photo = photo_768x512(tmp)
        latency = timed(lambda: colorizer.colorize_file(photo), repeats=5)
        print(
            f"in-process: one 768x512 photo {latency * 1000:.0f} ms "
            f"(model input {colorizer.size} px)"
        )
        started = time.perf_counter()
        outcomes = list(colorize_paths(colorizer, test_photos, tmp / "out"))
        elapsed = time.perf_counter() - started
        print(
            f"in-process: {len(outcomes)} BSDS500 test photos (481x321) "
            f"{len(outcomes) / elapsed:.1f} photos/s"
        )
        process, url = serve(args.model, tmp)
        try:
            served_latency = timed(lambda: post(url, photo), repeats=5)
            batch = test_photos[: args.served]
            started = time.perf_counter()
            for path in batch:
                post(url, path)
            served_rate = len(batch) / (time.perf_counter() - started)
        finally:
            process.terminate()
            process.wait(timeout=30)
        print(
            f"served:     one 768x512 photo {served_latency * 1000:.0f} ms; "
            f"{served_rate:.1f} photos/s sequential over {len(batch)} BSDS500 test photos"
        )


if __name__ == "__main__":
    main()
