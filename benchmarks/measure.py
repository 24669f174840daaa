"""Shared by the benchmarks: the peak memory of a child process and everything it starts."""

from __future__ import annotations

import time

import psutil


def peak_rss(process: psutil.Popen, interval_s: float = 0.05) -> int:
    """Poll until ``process`` exits; the largest RSS of it and its children together, bytes."""
    peak = 0
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:  # a child exited between listing and reading it
            pass
        time.sleep(interval_s)
    return peak
