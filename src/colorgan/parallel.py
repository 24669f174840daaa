"""An ordered, bounded process-pool map: results stream out while inputs stream in.

Pool.imap reads its whole input up front; with inputs that carry file contents that would
hold a whole photo collection in memory. Here at most ``window`` inputs are in flight.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


def resolve_workers(workers: int) -> int:
    """0 means every core."""
    return workers or os.cpu_count() or 1


def bounded_map(
    function: Callable[[In], Out], items: Iterable[In], workers: int, window: int | None = None
) -> Iterator[tuple[In, Out | BaseException]]:
    """Yield (item, result or the exception it raised), in input order."""
    workers = resolve_workers(workers)
    if workers == 1:
        for item in items:
            yield item, _call(function, item)
        return
    window = window or 2 * workers
    # spawn, not fork: a forked TensorFlow or MLflow thread pool in the parent can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[tuple[In, Future]] = deque()
        for item in items:
            pending.append((item, pool.submit(_call, function, item)))
            if len(pending) >= window:
                done_item, future = pending.popleft()
                yield done_item, future.result()
        while pending:
            done_item, future = pending.popleft()
            yield done_item, future.result()


def _call(function: Callable[[In], Out], item: In) -> Out | BaseException:
    try:
        return function(item)
    except Exception as error:  # returned, not raised: one bad item must not end the map
        return error
