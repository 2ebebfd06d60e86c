"""Opening a store keeps freed memory in the process (glibc malloc thresholds), so the next batch
or analysis reuses pages instead of faulting in fresh ones; `keep_freed_mb = 0` leaves glibc alone.

Each case runs in a fresh interpreter: the thresholds are process-wide and cannot be taken back."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from gridpulse.allocator import keep_freed_memory

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's; other C libraries are left alone"
)

#: numpy's own switch for huge-page advice (numpy.core before 2.0)
_HUGE_PAGES = """
try:
    from numpy._core.multiarray import _get_madvise_hugepage
except ImportError:
    from numpy.core.multiarray import _get_madvise_hugepage
"""

_PROBE = _HUGE_PAGES + """
import json, resource, sys
import numpy as np
from gridpulse.store import StoreOptions, open_store

store = open_store(sys.argv[1], StoreOptions(keep_freed_mb=int(sys.argv[2])))

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1024**2

faults, dropped = [], []
for _ in range(3):  # what every ingest batch does: a 20 MiB array made, filled and dropped
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.ones(20 * 1024**2 // 8)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    with_array = rss_mib()
    del a
    dropped.append(with_array - rss_mib())
store.close()
print(json.dumps({"faults": faults, "dropped_mib": dropped, "huge_pages": _get_madvise_hugepage()}))
"""


def _probe(tmp_path: Path, keep_mb: int) -> tuple[list[int], list[float], bool]:
    """Page faults while filling each array, MiB of resident memory its release gave back, and
    whether numpy still advises huge pages."""
    url = f"duckdb:///{tmp_path / f'keep{keep_mb}.duckdb'}"
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, url, str(keep_mb)], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["faults"], result["dropped_mib"], result["huge_pages"]


def test_freed_arrays_stay_in_the_process_for_the_next_ones(tmp_path: Path) -> None:
    faults, dropped, huge_pages = _probe(tmp_path, 256)
    assert not huge_pages  # each would be zeroed whole (2 MiB) on its first touch
    assert max(dropped) < 2, dropped  # freed, but kept for reuse
    # the first array faults its pages in; the next ones reuse them
    assert sum(faults[1:]) < faults[0] / 4, faults


def test_zero_leaves_glibc_defaults_and_freed_arrays_go_back(tmp_path: Path) -> None:
    faults, dropped, huge_pages = _probe(tmp_path, 0)
    assert huge_pages == _numpy_default_huge_pages()
    assert dropped[0] > 15, dropped  # a 20 MiB block is its own mapping, unmapped when freed
    assert faults[1] > faults[0] / 2, faults  # so the next array faults its pages in again


def _numpy_default_huge_pages() -> bool:
    out = subprocess.run(
        [sys.executable, "-c", _HUGE_PAGES + "print(_get_madvise_hugepage())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip() == "True"


def test_zero_asks_nothing_of_the_c_library() -> None:
    assert keep_freed_memory(0) is False
