"""The `colorgan` command: small tools around the pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from colorgan.config import Params, load_params
from colorgan.errors import ColorganError


def _schema(args: argparse.Namespace) -> None:
    print(json.dumps(Params.model_json_schema(), indent=2))


def _check(args: argparse.Namespace) -> None:
    load_params(args.params)
    print(f"{args.params}: valid")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="colorgan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    schema = commands.add_parser("params-schema", help="print the JSON schema of params.yaml")
    schema.set_defaults(func=_schema)
    check = commands.add_parser("check-params", help="validate a params file")
    check.add_argument("params", nargs="?", default="params.yaml")
    check.set_defaults(func=_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ColorganError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
