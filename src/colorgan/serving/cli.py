"""The `colorgan` command: colorize photos, promote models, inspect parameters."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from colorgan.config import Params, load_params
from colorgan.errors import ColorganError


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(Params.model_json_schema(), indent=2))
    return 0


def _check(args: argparse.Namespace) -> int:
    load_params(args.params)
    print(f"{args.params}: valid")
    return 0


def _working_size(text: str) -> object:
    from colorgan.serving.inference import parse_working_size

    try:
        return parse_working_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _colorize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from colorgan.serving.inference import Colorizer, colorize_paths, expand_inputs

    paths = expand_inputs(args.inputs)
    if not paths:
        raise ColorganError(f"no images found in {args.inputs}")
    colorizer = Colorizer.load(args.model, args.max_pixels, args.working_size)
    failed = 0
    outcomes = colorize_paths(colorizer, paths, Path(args.output))
    for outcome in tqdm(outcomes, total=len(paths), unit="photo", disable=len(paths) < 2):
        if outcome.error:
            failed += 1
            print(f"skipped {outcome.source}: {outcome.error}", file=sys.stderr)
    print(f"{len(paths) - failed} colorized into {args.output}, {failed} skipped")
    return 1 if failed == len(paths) else 0


def _promote(args: argparse.Namespace) -> int:
    from colorgan.serving.registry import register_and_promote
    from colorgan.tracking import store

    params = load_params(args.params)
    run_id = args.run_id
    if run_id is None:
        info = store.RunInfo.load(Path("models/run.json"))
        if info is None:
            raise ColorganError("no tracked run in models/run.json: give --run-id")
        run_id = info.run_id
    store.set_up(params.tracking)
    decision = register_and_promote(run_id, args.name, args.metric, not args.lower_is_better)
    print(decision.reason)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="colorgan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    colorize = commands.add_parser("colorize", help="colorize photos at full resolution")
    colorize.add_argument("inputs", nargs="+", help="image files or folders")
    colorize.add_argument("-o", "--output", required=True, help="folder for the PNG results")
    colorize.add_argument(
        "--model",
        default="models",
        help="generator.keras, a folder holding it, or an MLflow URI "
        "such as models:/colorgan@champion (default: models)",
    )
    colorize.add_argument(
        "--max-pixels",
        type=int,
        default=50_000_000,
        help="refuse larger photos (default: 50 million)",
    )
    colorize.add_argument(
        "--working-size",
        type=_working_size,
        default="auto",
        metavar="PIXELS",
        help="the shorter side at which the generator sees each photo, aspect ratio kept; "
        "'auto' (default): 1.5 times the model's training size; 'squeeze': the whole photo "
        "squeezed into the training square",
    )
    colorize.set_defaults(func=_colorize)

    promote = commands.add_parser(
        "promote", help="register the trained model; make it champion if it is better"
    )
    promote.add_argument("--run-id", help="MLflow run (default: models/run.json)")
    promote.add_argument("--name", default="colorgan", help="registered model name")
    promote.add_argument("--metric", default="test_psnr", help="test metric that decides")
    promote.add_argument("--lower-is-better", action="store_true")
    promote.add_argument("--params", default="params.yaml")
    promote.set_defaults(func=_promote)

    schema = commands.add_parser("params-schema", help="print the JSON schema of params.yaml")
    schema.set_defaults(func=_schema)
    check = commands.add_parser("check-params", help="validate a params file")
    check.add_argument("params", nargs="?", default="params.yaml")
    check.set_defaults(func=_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ColorganError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
