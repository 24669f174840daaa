"""DVC stage preprocess: data/ingested -> data/prepared/{train,val,test}/shard-*.tfrecord, stats.

    python -m stages.preprocess [--dask-address tcp://scheduler:8786]

The address (or $COLORGAN_DASK_ADDRESS) runs the per-photo work on that Dask cluster; the
output is the same, so it is not a parameter DVC tracks.
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

from colorgan.config import load_params
from colorgan.data.parallel import dask_address
from colorgan.data.preprocess import preprocess
from colorgan.orchestration.stage import run_stage

IN, OUT = Path("data/ingested"), Path("data/prepared")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="preprocess stage")
    parser.add_argument("--dask-address", help="Dask scheduler; default $COLORGAN_DASK_ADDRESS")
    args = parser.parse_args(argv)
    params = load_params()
    manifest = pd.read_csv(IN / "manifest.csv")
    report = preprocess(
        manifest,
        IN / "images",
        OUT,
        params.preprocess,
        params.data.max_pixels,
        dask_address(args.dask_address),
    )
    (OUT / "stats.json").write_text(report.to_json() + "\n")
    print(report.to_json())


if __name__ == "__main__":
    sys.exit(run_stage(main))
