"""DVC stage train: data/prepared -> models/ (generator, discriminator, checkpoints, run.json)."""

import json
import sys

from colorgan.config import load_params
from colorgan.orchestration.stage import run_stage
from colorgan.tracking.store import check_reachable, tracking_uri
from colorgan.training.allocator import keep_freed_memory


def main() -> None:
    params = load_params()
    if params.tracking.enabled:  # an unreachable server fails in a second, not after TF loads
        check_reachable(tracking_uri(params.tracking))
    keep_freed_memory()
    from colorgan.training.train import (  # TensorFlow loads only once params are valid
        TrainPaths,
        train,
    )

    metrics = train(params, TrainPaths.default())
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    sys.exit(run_stage(main))
