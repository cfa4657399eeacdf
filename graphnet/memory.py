"""The process's memory: how much it holds (`memory_mib`) and handing what it freed back to the
system (`return_free_memory`); the pipeline does both after every step."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
import sys
from collections.abc import Callable

import pyarrow as pa


def memory_mib() -> tuple[float | None, float | None]:
    """This process's resident memory now and its peak so far, in MiB (None where unknown)."""
    rss: float | None = None
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # not on Windows
        return rss, None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mib = peak / (2**20 if sys.platform == "darwin" else 2**10)
    # the kernel updates the high-water mark lazily: it can trail the resident size read first
    return rss, peak_mib if rss is None else max(rss, peak_mib)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None (another C library or system)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def return_free_memory() -> bool:
    """Collect garbage and hand the free pages of both heaps back to the system: Arrow's
    memory pool (`release_unused`: Arrow's allocator keeps every page of tables and arrays
    that were freed, for Arrow's next ones) and the C heap (glibc's `malloc_trim`: once a
    large block has been freed, the C library serves blocks of up to its size from the heap,
    not from pages of their own). Without it, what a step freed stays in the process and the
    next step's peak starts from it. Returns whether the system has `malloc_trim`."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
