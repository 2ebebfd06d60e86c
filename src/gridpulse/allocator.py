"""glibc malloc tuning: keep freed memory for reuse instead of handing it back to the kernel.

numpy, Arrow's compute kernels and DuckDB's results allocate and free arrays of megabytes on every
ingest batch and every analysis. With glibc's defaults a freed block over the (dynamic) mmap
threshold goes back to the kernel at once, and free space over 128 KiB at the top of a heap is
trimmed, so the next batch touches fresh pages: 18,000-23,000 page faults per local-time profile
of the query benchmark (40-60 % of its time) and 15-30 % of the HTTP ingest rate (measured in
benchmarks/README.md, "What was tried"). Raising both thresholds makes freed blocks stay in the
process, to be reused; resident memory stays near its peak instead of falling back between
requests. numpy's advice to back large arrays with transparent huge pages is turned off with it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable

__all__ = ["keep_freed_memory"]

log = logging.getLogger(__name__)

# mallopt(3) parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc's ceiling for M_MMAP_THRESHOLD on 64-bit systems (larger values are refused)
_MMAP_THRESHOLD_MAX_BYTES = 32 * 1024**2


@functools.cache
def _mallopt() -> Callable[[int, int], int] | None:
    """glibc's mallopt, or None where the C library has none (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        fn = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


@functools.cache
def keep_freed_memory(keep_mb: int) -> bool:
    """Let the process keep up to `keep_mb` MiB of freed heap for reuse (process-wide, once).

    Blocks up to 32 MiB come from the heap instead of their own mappings, and free space at the
    top of a heap is handed back only past `keep_mb`. 0 leaves glibc's defaults.

    Returns:
        Whether the C library took the setting (False: 0 given, or not glibc).
    """
    if keep_mb <= 0:
        return False
    _no_numpy_huge_pages()
    fn = _mallopt()
    if fn is None:
        return False
    trim_bytes = min(keep_mb * 1024**2, 2**31 - 1)
    ok = bool(fn(_M_MMAP_THRESHOLD, min(_MMAP_THRESHOLD_MAX_BYTES, trim_bytes)))
    ok = bool(fn(_M_TRIM_THRESHOLD, trim_bytes)) and ok
    if not ok:
        log.debug("mallopt refused the thresholds; glibc's defaults stay")
    return ok


def _no_numpy_huge_pages() -> None:
    """Stop numpy advising transparent huge pages for its arrays of 4 MiB and more.

    Those arrays live for one batch or one analysis; each huge page they fault in is zeroed whole
    (2 MiB), which in a process whose heap other work keeps churning cost the local-time profile
    120-320 ms of kernel time per call instead of 20-40 (query benchmark, 2026-11-27).
    """
    import importlib

    try:  # private to numpy but kept for this purpose since 1.20 (numpy.core before 2.0)
        multiarray = importlib.import_module("numpy._core.multiarray")
    except ImportError:
        multiarray = importlib.import_module("numpy.core.multiarray")
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    if setter is not None:
        setter(False)
