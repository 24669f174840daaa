"""An ordered, bounded map over a process pool or a Dask cluster: results stream out while
inputs stream in.

Pool.imap reads its whole input up front; with inputs that carry file contents that would
hold a whole photo collection in memory. Here at most ``window`` inputs are in flight.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

# Where to run ingest and preprocess: an execution detail, so an environment variable (or a
# stage's --dask-address), never params.yaml, where it would invalidate DVC's cache.
DASK_ADDRESS_ENV = "COLORGAN_DASK_ADDRESS"


def resolve_workers(workers: int) -> int:
    """0 means every core."""
    return workers or os.cpu_count() or 1


def dask_address(option: str | None = None) -> str | None:
    """The scheduler given on the command line, else in $COLORGAN_DASK_ADDRESS, else none."""
    return option or os.environ.get(DASK_ADDRESS_ENV) or None


def bounded_map(
    function: Callable[[In], Out],
    items: Iterable[In],
    workers: int,
    window: int | None = None,
    *,
    address: str | None = None,
) -> Iterator[tuple[In, Out | BaseException]]:
    """Yield (item, result or the exception it raised), in input order.

    With ``address``, the work runs on the Dask cluster there (``workers`` is then ignored:
    the cluster has its own); ``function`` must be importable on its workers.
    """
    if address:
        yield from _dask_map(function, items, address, window)
        return
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


def _dask_map(
    function: Callable[[In], Out], items: Iterable[In], address: str, window: int | None
) -> Iterator[tuple[In, Out | BaseException]]:
    from distributed import Client  # only when asked for: importing it takes a second

    # Connecting does not own the cluster: closing the client leaves it running for others.
    with Client(address, set_as_default=False) as client:
        window = window or 2 * max(1, sum(client.nthreads().values()))
        pending: deque[tuple[In, Any]] = deque()
        for item in items:
            # pure=False: two equal inputs are still two tasks, each with its own result.
            pending.append((item, client.submit(_call, function, item, pure=False)))
            if len(pending) >= window:
                done_item, future = pending.popleft()
                yield done_item, _settle(future)
        while pending:
            done_item, future = pending.popleft()
            yield done_item, _settle(future)


def _settle(future: Any) -> Any:
    try:
        return future.result()
    except Exception as error:  # a worker lost on this item (e.g. killed for memory)
        return error


def _call(function: Callable[[In], Out], item: In) -> Out | BaseException:
    try:
        return function(item)
    except Exception as error:  # returned, not raised: one bad item must not end the map
        return error
