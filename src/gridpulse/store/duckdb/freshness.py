"""Whether a reader's snapshot can hold stale rollup ranges, known without a query.

A bucketed read asks `rollup_dirty` which series changed since the last refresh (store.py); in
the steady state of a dashboard the answer is "none", and asking cost 0.3-0.8 ms of a 3 ms
read. These counters answer it in memory, conservatively (when in doubt, the reader asks):

- every write transaction counts itself `started` before its BEGIN and `ended` after its
  COMMIT or ROLLBACK, so a commit a reader can see was counted as started before the reader
  began;
- a refresh reads `ended` before its own BEGIN (every transaction counted there committed before
  it, so the refresh handled its dirty ranges) and, once committed, publishes that count as
  `clean_at`;
- a reader reads `clean_at` before its BEGIN and `started` after it. Equal, no write started
  after the refresh began and every earlier one ended before it, and the refresh is visible to
  the reader: its snapshot has no dirty range.
"""

from __future__ import annotations

import threading

__all__ = ["RollupFreshness"]


class RollupFreshness:
    """The counters of the module docstring, for one store."""

    def __init__(self, *, clean: bool) -> None:
        """clean: whether `rollup_dirty` was empty when the store opened."""
        self._lock = threading.Lock()
        self._started = 0
        self._ended = 0
        self._clean_at = 0 if clean else -1

    def write_starting(self) -> None:
        """Before a write transaction's BEGIN."""
        with self._lock:
            self._started += 1

    def write_ended(self) -> None:
        """After its COMMIT or ROLLBACK."""
        with self._lock:
            self._ended += 1

    def refresh_starting(self) -> int:
        """Before a refresh's BEGIN: the mark to hand to refresh_committed."""
        with self._lock:
            return self._ended

    def refresh_committed(self, mark: int) -> None:
        with self._lock:
            self._clean_at = max(self._clean_at, mark)

    def reader_starting(self) -> int:
        """Before a reader's BEGIN: the mark to hand to clean_for."""
        with self._lock:
            return self._clean_at

    def clean_for(self, mark: int) -> bool:
        """After the reader's BEGIN: True when its snapshot surely has no dirty range."""
        with self._lock:
            return self._started == mark
