"""A group of series and the facts every read of it plans by, worked out once per group.

An analysis of a fleet asks the same questions of its 1,000 catalogue rows on every call: their
ids (sorted, in runs of consecutive ids for the SQL), their units, zones and nominal intervals.
Walking the Series objects for each of them cost a cold call (after a garbage collection, as a
benchmark harness or a busy server leaves the caches) about 0.1-0.2 ms per walk, several walks
per analysis. The store's catalogue keeps one `SeriesGroup` per group filter until a series is
added or changed, so the facts are worked out once and each call reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any, TypeVar, overload

import numpy as np
import numpy.typing as npt

from gridpulse.model import Series

__all__ = ["SeriesGroup", "SeriesIds", "as_group"]

T = TypeVar("T")


class SeriesIds(Sequence[int]):
    """Series ids sorted ascending, each once, read-only, with their runs of consecutive ids.

    What a group hands the store to read by: the store takes it as any sequence of ids, but
    skips sorting it and finding its runs again. `zones` and `coarsest_interval_s` are the
    group's (None: not known here, the store looks them up in its catalogue).
    """

    __slots__ = ("array", "coarsest_interval_s", "runs", "zones")

    def __init__(
        self,
        ids: Iterable[int] | npt.NDArray[np.int64],
        *,
        zones: frozenset[str] | None = None,
        coarsest_interval_s: int | None = None,
    ) -> None:
        source = ids if isinstance(ids, np.ndarray) else np.fromiter(ids, dtype=np.int64)
        array = np.unique(source.astype(np.int64, copy=False))
        array.flags.writeable = False
        self.array: npt.NDArray[np.int64] = array
        cut = np.flatnonzero(np.diff(array) != 1) + 1  # a run starts at 0 and at every cut
        if array.size:
            los, his = array[np.r_[0, cut]].tolist(), array[np.r_[cut - 1, array.size - 1]].tolist()
        else:
            los, his = [], []
        #: (first ids, last ids) of the runs of consecutive ids
        self.runs: tuple[list[int], list[int]] = (los, his)
        self.zones = zones
        self.coarsest_interval_s = coarsest_interval_s

    def __len__(self) -> int:
        return int(self.array.size)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> list[int]: ...
    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, slice):
            return list(self.array[index].tolist())
        return int(self.array[index])

    def __iter__(self) -> Iterator[int]:
        return iter(self.array.tolist())

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | np.integer):
            return False
        i = int(np.searchsorted(self.array, value))
        return i < self.array.size and int(self.array[i]) == value

    def __repr__(self) -> str:
        return f"SeriesIds({self.array.tolist()!r})"


class SeriesGroup(tuple[Series, ...]):
    """Series (in the order given: the catalogue's) and facts about all of them, each worked out
    on first use and kept. A tuple, so it cannot change under its facts; the catalogue hands out
    a new group once a series is added or changed."""

    @cached_property
    def ids(self) -> SeriesIds:
        """The series' ids, sorted, with the zones and coarsest interval the store plans by."""
        return SeriesIds(
            np.fromiter((s.series_id for s in self), dtype=np.int64, count=len(self)),
            zones=self.zones,
            coarsest_interval_s=self.coarsest_interval_s,
        )

    @cached_property
    def units(self) -> tuple[str, ...]:
        """The distinct units, as stored, sorted."""
        return tuple(sorted({s.unit for s in self}))

    @cached_property
    def zones(self) -> frozenset[str]:
        """The distinct zones (an empty one included, as stored)."""
        return frozenset(s.tz for s in self)

    @cached_property
    def intervals(self) -> frozenset[timedelta | None]:
        """The distinct nominal intervals (None: a series without one)."""
        return frozenset(s.interval for s in self)

    @cached_property
    def coarsest_interval_s(self) -> int | None:
        """The largest nominal interval in seconds; None when a series has none, or no series."""
        if not self or None in self.intervals:
            return None
        return max(int(i.total_seconds()) for i in self.intervals if i is not None)

    def kept(self, key: str, compute: Callable[[SeriesGroup], T]) -> T:
        """`compute(self)`, worked out on the first call with this key and kept with the group:
        for what a caller derives from the series (an answer's name columns) and would otherwise
        work out again on every call. Two threads may both compute it once; either is kept."""
        memo: dict[str, Any] = self.__dict__.setdefault("_kept", {})
        if key not in memo:
            memo[key] = compute(self)
        found: T = memo[key]
        return found


def as_group(series: Sequence[Series]) -> SeriesGroup:
    """The series as a SeriesGroup: itself when it is one (its facts already known)."""
    return series if isinstance(series, SeriesGroup) else SeriesGroup(series)
