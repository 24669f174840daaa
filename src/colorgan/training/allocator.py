"""Keep the memory a training step frees for the next step, instead of giving it back to the
kernel and faulting it in again.

glibc serves large blocks (above a threshold that grows to at most 32 MB) straight from
mmap and unmaps them on free. A training step allocates and frees the same activations and
gradients every time, so each step maps them anew and touches every page once more: with
2 cores that showed as hundreds of millions of minor page faults and a third of the CPU
time in the kernel. Raising the mmap and trim thresholds makes glibc recycle those blocks
from its heap. Memory use stays at the step's high-water mark, as it would anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # <malloc.h>: free memory at the top of the heap kept before trimming
M_MMAP_THRESHOLD = -3  # blocks at least this large are mmapped (and unmapped on free)
KEEP_BYTES = 1 << 30  # blocks up to 1 GiB come from the heap; a step's tensors are far smaller


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for a long loop of equal steps; False where there is no glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl, macOS: no mallopt, nothing to tune
        return False
    done = mallopt(M_MMAP_THRESHOLD, KEEP_BYTES) == 1 and mallopt(M_TRIM_THRESHOLD, KEEP_BYTES) == 1
    log.debug("malloc thresholds raised: %s", done)
    return done
