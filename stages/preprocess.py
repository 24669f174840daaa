"""DVC stage preprocess: data/ingested -> data/prepared/{train,val,test}/shard-*.npy, stats."""

import sys
from pathlib import Path

import pandas as pd

from colorgan.config import load_params
from colorgan.preprocess import preprocess
from colorgan.stage import run_stage

IN, OUT = Path("data/ingested"), Path("data/prepared")


def main() -> None:
    params = load_params()
    manifest = pd.read_csv(IN / "manifest.csv")
    report = preprocess(
        manifest, IN / "images", OUT, params.preprocess, params.seed, params.data.max_pixels
    )
    (OUT / "stats.json").write_text(report.to_json() + "\n")
    print(report.to_json())


if __name__ == "__main__":
    sys.exit(run_stage(main))
