"""The pyfunc model and the champion rule, against a real MLflow store with a registry."""

import base64
import io

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from colorgan.serving.registry import CHAMPION, PromotionError, register_and_promote
from tests.conftest import log_colorizer_run, real_photo


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("registry-test")
    return mlflow.MlflowClient(uri)


def _champion(client) -> str:
    return client.get_model_version_by_alias("colorgan", CHAMPION).version


def test_pyfunc_model_colorizes_base64_images_without_colorgan_calls(trained_project, store):
    run_id = log_colorizer_run(trained_project / "models/generator.keras", {})
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    photo = real_photo("flower.jpg", side=90)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG")

    result = model.predict(pd.DataFrame({"image": [base64.b64encode(buffer.getvalue()).decode()]}))

    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(result["image"][0]))))
    assert decoded.shape == photo.shape
    assert (result["width"][0], result["height"][0]) == (photo.shape[1], photo.shape[0])


def test_first_model_becomes_champion_and_only_a_better_one_replaces_it(trained_project, store):
    generator = trained_project / "models/generator.keras"
    first = register_and_promote(log_colorizer_run(generator, {"test_psnr": 20.0}))
    assert first.promoted
    assert "first model" in first.reason

    worse = register_and_promote(log_colorizer_run(generator, {"test_psnr": 19.0}))
    tie = register_and_promote(log_colorizer_run(generator, {"test_psnr": 20.0}))
    unmeasured = register_and_promote(log_colorizer_run(generator, {}))
    assert not (worse.promoted or tie.promoted or unmeasured.promoted)
    assert "does not beat" in worse.reason
    assert "ties" in tie.reason
    assert "has no test_psnr" in unmeasured.reason
    assert _champion(store) == first.version

    better = register_and_promote(log_colorizer_run(generator, {"test_psnr": 21.5}))
    assert better.promoted
    assert "beats champion" in better.reason
    assert _champion(store) == better.version
    assert int(better.version) == 5  # every run was registered, champion or not


def test_a_run_without_a_model_cannot_be_registered(store):
    with mlflow.start_run() as empty:
        mlflow.log_metric("test_psnr", 30.0)
    with pytest.raises(PromotionError, match="cannot register run"):
        register_and_promote(empty.info.run_id)
