"""DVC stage train: data/prepared -> models/ (generator, discriminator, checkpoints, run.json)."""

import json
import sys

from colorgan.allocator import keep_freed_memory
from colorgan.config import load_params
from colorgan.stage import run_stage


def main() -> None:
    params = load_params()
    keep_freed_memory()
    from colorgan.train import TrainPaths, train  # TensorFlow loads only once params are valid

    metrics = train(params, TrainPaths.default())
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    sys.exit(run_stage(main))
