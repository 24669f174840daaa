"""`mlflow models serve` of the champion answers REST requests with colorized photos."""

import base64
import io
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest
from PIL import Image

from colorgan.serving.registry import register_and_promote
from tests.conftest import dvc_env, free_port, log_colorizer_run, real_photo, running_server

MAX_PIXELS = 300_000


def _post(url: str, images: list[str]) -> tuple[int, dict]:
    body = json.dumps({"dataframe_split": {"columns": ["image"], "data": [[i] for i in images]}})
    request = urllib.request.Request(
        f"{url}/invocations", body.encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _b64(rgb: np.ndarray, kind: str = "JPEG") -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=kind)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def server(trained_project, tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("serving-test")
    run_id = log_colorizer_run(
        trained_project / "models/generator.keras", {"test_psnr": 20.0}, max_pixels=MAX_PIXELS
    )
    assert register_and_promote(run_id).promoted
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "models",
        "serve",
        "-m",
        "models:/colorgan@champion",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    env = {**dvc_env(tmp_path), "MLFLOW_TRACKING_URI": uri}  # and the venv's uvicorn
    with running_server(command, tmp_path / "serve.log", lambda: _pings(url), env=env):
        yield url


def _pings(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=2):
            return True
    except OSError:
        return False


def test_served_champion_colorizes_and_survives_bad_requests(server):
    photo = real_photo("chelsea.png", side=200)
    status, body = _post(server, [_b64(photo)])
    assert status == 200, body
    prediction = body["predictions"][0]
    colorized = np.asarray(Image.open(io.BytesIO(base64.b64decode(prediction["image"]))))
    assert colorized.shape == photo.shape

    huge = np.zeros((600, 600, 3), dtype=np.uint8)  # 360,000 pixels > MAX_PIXELS
    for bad, expected in [
        ("%%% not base64", "not valid base64"),
        (base64.b64encode(b"plain text").decode(), "not an image"),
        (_b64(huge, "PNG"), "too many pixels"),
    ]:
        status, body = _post(server, [bad])
        assert status == 400, body
        assert expected in body["message"]

    status, _ = _post(server, [_b64(photo)])
    assert status == 200  # still serving
