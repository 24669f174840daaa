"""DVC stage sample: the bundled sample photos -> data/sample/, the default data.source."""

import sys
from pathlib import Path

from colorgan.config import SAMPLE_FOLDER, load_params
from colorgan.data.sample import write_sample
from colorgan.orchestration.stage import run_stage


def main() -> None:
    load_params()  # reads none, but a bad params.yaml stops the pipeline at its first stage
    copies = write_sample(Path(SAMPLE_FOLDER))
    print(f"{len(copies)} sample photos in {SAMPLE_FOLDER}")


if __name__ == "__main__":
    sys.exit(run_stage(main))
