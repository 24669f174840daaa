"""Data lineage in MLflow: the photos of each split, logged as the training run's datasets.

The digest is DVC's hash of data/ingested from dvc.lock, so the runs table's Dataset column
names the exact data version: `dvc checkout` of a commit whose dvc.lock has that hash brings
the same photos and split back.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

INGESTED = Path("data/ingested")
# Manifest split -> MLflow's conventional dataset context.
CONTEXTS = {"train": "training", "val": "validation", "test": "test"}


def dvc_out_hashes(root: Path, stage: str) -> dict[str, str]:
    """The md5 of each output a stage recorded in dvc.lock: the exact DVC version of the data."""
    import yaml

    lock = root / "dvc.lock"
    if not lock.is_file():
        return {}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    return {out["path"]: out.get("md5", "") for out in stages.get(stage, {}).get("outs", [])}


def data_digest(workspace: Path = Path()) -> str:
    """DVC's hash of data/ingested as dvc.lock records it, else the manifest's own hash.

    The fallback covers a training run outside DVC; either way a photo added, removed or
    edited gives another digest. At most 36 characters: MLflow's limit for a digest.
    "" when there is neither (a training on data/prepared alone).
    """
    recorded = dvc_out_hashes(workspace, "ingest").get(INGESTED.as_posix())
    if recorded:
        return recorded
    manifest = workspace / INGESTED / "manifest.csv"
    if not manifest.is_file():
        return ""
    return hashlib.md5(manifest.read_bytes(), usedforsecurity=False).hexdigest()


def log_datasets(source: str, workspace: Path = Path()) -> None:
    """Log the manifest rows of each split as a dataset input of the active MLflow run."""
    import mlflow

    path = workspace / INGESTED / "manifest.csv"
    if not path.is_file():  # training on data/prepared alone: no lineage, but no failure
        log.warning("no %s: the MLflow run gets no dataset inputs", path)
        return
    manifest = pd.read_csv(path)
    digest = data_digest(workspace)
    name = Path(source).name
    for split, context in CONTEXTS.items():
        with warnings.catch_warnings():
            # MLflow registers its local-path source twice and warns that a path matches both.
            warnings.filterwarnings("ignore", "The specified dataset source", UserWarning)
            dataset = mlflow.data.from_pandas(
                manifest[manifest["split"] == split].reset_index(drop=True),
                source=source,
                name=f"{name}/{split}",
                digest=digest,
            )
        mlflow.log_input(dataset, context=context)
