"""DVC stage ingest: data.source -> data/ingested/ (images/, manifest, rejected, summary).

    python -m stages.ingest [--dask-address tcp://scheduler:8786]

The address (or $COLORGAN_DASK_ADDRESS) runs the image checks on that Dask cluster; the
output is the same, so it is not a parameter DVC tracks.
"""

import argparse
import json
import sys
from pathlib import Path

from colorgan.config import load_params
from colorgan.data.ingest import check_usable, ingest, iter_source
from colorgan.data.parallel import dask_address
from colorgan.orchestration.stage import run_stage

OUT = Path("data/ingested")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ingest stage")
    parser.add_argument("--dask-address", help="Dask scheduler; default $COLORGAN_DASK_ADDRESS")
    args = parser.parse_args(argv)
    params = load_params()
    result = ingest(
        iter_source(params.data.source, params.data.include),
        params.data,
        OUT / "images",
        params.data.workers,
        dask_address(args.dask_address),
    )
    result.manifest.to_csv(OUT / "manifest.csv", index=False)
    result.rejected.to_csv(OUT / "rejected.csv", index=False)
    summary = json.dumps(result.summary(), indent=2)
    (OUT / "summary.json").write_text(summary + "\n")
    print(summary)
    check_usable(result, params.data.split)  # after writing: rejected.csv says why


if __name__ == "__main__":
    sys.exit(run_stage(main))
