"""What every DVC stage entry point shares: logging, and errors printed for people."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from colorgan.errors import ColorganError


def run_stage(main: Callable[[], None]) -> int:
    """Run a stage's main; a ColorganError becomes a one-paragraph message and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ banner quiet
    try:
        main()
    except ColorganError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
