"""Prefect flow `colorgan-colorize`: a folder of photos in, a folder of colorized PNGs out.

python -m pipelines.colorize photos/ colorized/ --model models:/colorgan@champion
python -m pipelines.colorize photos/ colorized/ --working-size 128    # see colorgan colorize
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from colorgan.serving.inference import (
    Colorizer,
    WorkingSize,
    colorize_paths,
    expand_inputs,
    parse_working_size,
)


@flow(name="colorgan-colorize", log_prints=True)
def colorize(
    input_dir: str, output_dir: str, model: str = "models", working_size: WorkingSize = "auto"
) -> dict[str, int]:
    """Colorize every image under input_dir; a failing file is reported, the rest go on.

    working_size: the shorter side at which the generator sees each photo (pixels), "auto" or
    None (squeezed into the training square), as `colorgan colorize --working-size`.
    """
    logger = get_run_logger()
    paths = expand_inputs([input_dir])
    colorizer = Colorizer.load(model, working_size=working_size)
    done, failures = 0, []
    for index, outcome in enumerate(colorize_paths(colorizer, paths, Path(output_dir)), 1):
        if outcome.error:
            failures.append(f"| {outcome.source} | {outcome.error} |")
            logger.warning("skipped %s: %s", outcome.source, outcome.error)
        else:
            done += 1
        logger.info("%d/%d %s", index, len(paths), outcome.source.name)
    if failures:
        create_markdown_artifact(
            key="colorgan-colorize-failures",
            markdown="| file | reason |\n| --- | --- |\n" + "\n".join(failures),
        )
    return {"colorized": done, "failed": len(failures)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input_dir")
    parser.add_argument("output_dir")
    parser.add_argument("--model", default="models")
    parser.add_argument("--working-size", type=parse_working_size, default="auto")
    args = parser.parse_args(argv)
    print(colorize(args.input_dir, args.output_dir, args.model, args.working_size))


if __name__ == "__main__":
    main()
