"""DVC stage ingest: data.source -> data/ingested/ (images/, manifest, rejected, summary)."""

import json
import sys
from pathlib import Path

from colorgan.config import load_params
from colorgan.ingest import check_usable, ingest, iter_source
from colorgan.stage import run_stage

OUT = Path("data/ingested")


def main() -> None:
    params = load_params()
    files = iter_source(params.data.source, params.data.include)
    result = ingest(files, params.data, OUT / "images", params.data.workers)
    result.manifest.to_csv(OUT / "manifest.csv", index=False)
    result.rejected.to_csv(OUT / "rejected.csv", index=False)
    summary = json.dumps(result.summary(), indent=2)
    (OUT / "summary.json").write_text(summary + "\n")
    print(summary)
    check_usable(result, params.data.split)  # after writing: rejected.csv says why


if __name__ == "__main__":
    sys.exit(run_stage(main))
