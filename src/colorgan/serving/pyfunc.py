"""The MLflow model: base64 images in, base64 colorized PNGs out, over Python or REST.

Request body for `mlflow models serve`:
    {"dataframe_split": {"columns": ["image"], "data": [["<base64 PNG or JPEG>"]]}}
Response: {"predictions": [{"image": "<base64 PNG>", "width": W, "height": H}]}
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel, PythonModelContext
from PIL import Image

from colorgan.data.images import UnusableImage
from colorgan.serving.inference import DEFAULT_MAX_PIXELS, Colorizer

GENERATOR_ARTIFACT = "generator"


def encode_png(rgb: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_image_field(value: object, row: int) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise MlflowException(
            f"row {row}: 'image' is not valid base64", error_code=INVALID_PARAMETER_VALUE
        ) from None


class ColorizerModel(PythonModel):
    """Wraps the generator with colorgan's pre- and post-processing."""

    def __init__(self, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.max_pixels = max_pixels
        self.colorizer: Colorizer | None = None

    def load_context(self, context: PythonModelContext) -> None:
        self.colorizer = Colorizer.load(context.artifacts[GENERATOR_ARTIFACT], self.max_pixels)

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        if "image" not in model_input.columns:
            raise MlflowException(
                "expected a column 'image' of base64-encoded PNG or JPEG",
                error_code=INVALID_PARAMETER_VALUE,
            )
        rows = []
        for row, value in enumerate(model_input["image"]):
            try:
                rgb = self.colorizer.colorize_file(decode_image_field(value, row))
            except UnusableImage as error:
                raise MlflowException(
                    f"row {row}: {error}", error_code=INVALID_PARAMETER_VALUE
                ) from None
            rows.append({"image": encode_png(rgb), "width": rgb.shape[1], "height": rgb.shape[0]})
        return pd.DataFrame(rows, columns=["image", "width", "height"])


def example_input(side: int = 16) -> pd.DataFrame:
    """A tiny gray image, the input example logged with the model."""
    gray = np.full((side, side, 3), 128, dtype=np.uint8)
    return pd.DataFrame({"image": [encode_png(gray)]})


def log_colorizer(generator_path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """Log the pyfunc model into the active MLflow run as `model`; returns its model URI."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    signature = ModelSignature(
        inputs=Schema([ColSpec("string", "image")]),
        outputs=Schema(
            [ColSpec("string", "image"), ColSpec("long", "width"), ColSpec("long", "height")]
        ),
    )
    example = example_input()
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=ColorizerModel(max_pixels),
        artifacts={GENERATOR_ARTIFACT: str(generator_path)},
        signature=signature,
        input_example=example,
        pip_requirements=_requirements(),
    )
    return info.model_uri


def _requirements() -> list[str]:
    """colorgan's own pins; inferring them would load the model once more at log time."""
    from importlib.metadata import version

    names = ["tensorflow-cpu", "keras", "mlflow", "pillow", "scikit-image", "pandas", "numpy"]
    return [f"{name}=={version(name)}" for name in names]
