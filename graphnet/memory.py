"""The process's memory: how much it holds (`memory_mib`), the peak of a part of its work
(`start_span`, `span_peak_mib`) and handing what it freed back to the system
(`return_free_memory`); the pipeline does all three around every step."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
import sys
from collections.abc import Callable

import pyarrow as pa

#: the process's peak before the high-water mark was last started afresh (`start_span`), MiB
_peak_before_span = 0.0
#: whether the high-water mark was started afresh, so that it is the span's own peak
_span_started = False


def _resident_mib() -> float | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def _high_water_mib(rss: float | None) -> float | None:
    """The kernel's high-water mark of resident memory (since the process started, or since
    it was last started afresh), in MiB."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mib = peak / (2**20 if sys.platform == "darwin" else 2**10)
    # the kernel updates the high-water mark lazily: it can trail the resident size read first
    return peak_mib if rss is None else max(rss, peak_mib)


def memory_mib() -> tuple[float | None, float | None]:
    """This process's resident memory now and its peak so far, in MiB (None where unknown)."""
    rss = _resident_mib()
    high = _high_water_mib(rss)
    if high is None:
        return rss, None
    return rss, max(high, _peak_before_span)


def start_span() -> bool:
    """Start the kernel's high-water mark of resident memory afresh (Linux: "5" written to
    `/proc/self/clear_refs`), so that `span_peak_mib` is the peak of what runs from now on;
    `memory_mib` still gives the process's peak so far. Returns whether the system allows it.
    One span at a time per process: the mark is the process's."""
    global _peak_before_span, _span_started
    peak = memory_mib()[1]
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        _span_started = False
        return False
    _peak_before_span = max(_peak_before_span, peak or 0.0)
    _span_started = True
    return True


def span_peak_mib() -> float | None:
    """The peak resident memory since `start_span`, in MiB (None when it could not start the
    mark afresh, or the system does not say)."""
    if not _span_started:
        return None
    return _high_water_mib(_resident_mib())


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
