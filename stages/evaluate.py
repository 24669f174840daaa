"""DVC stage evaluate: models/ + val and test shards -> metrics/eval.json, plots/, reports/."""

import json
import sys

from colorgan.config import load_params
from colorgan.orchestration.stage import run_stage


def main() -> None:
    from colorgan.evaluation.evaluate import EvalPaths, evaluate_and_log

    metrics = evaluate_and_log(load_params(), EvalPaths.default())
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    sys.exit(run_stage(main))
