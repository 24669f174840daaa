"""MLflow bookkeeping: where the store is, the training's run (name, tags, metrics) and the
datasets it was trained on (DVC's data version)."""
