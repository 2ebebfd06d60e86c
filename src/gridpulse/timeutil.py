"""Parsing instants from users and formatting them back in their zone.

A naive timestamp is never taken as UTC silently: it needs a zone from the caller.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.errors import QueryError

__all__ = ["fixed_offset_us", "format_ts", "offsets_minutes", "parse_instant", "zone"]


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`. Raises QueryError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise QueryError(
            f"tz={name!r} is not an IANA time zone (e.g. Europe/Amsterdam, America/New_York)"
        ) from None


@functools.lru_cache(maxsize=256)
def offsets_minutes(tz: str) -> frozenset[float]:
    """Every UTC offset (minutes) the zone has had from 1970 to 2100, sampled weekly: computed
    once per zone, so planning a read costs nothing (sampling each read's range took 2.6 ms)."""
    info = zone(tz)
    t, hi, step = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC), timedelta(days=7)
    found: set[float] = set()
    while t <= hi:
        found.add((t.astimezone(info).utcoffset() or timedelta()).total_seconds() / 60)
        t += step
    return frozenset(found)


def fixed_offset_us(tz: str) -> int | None:
    """The zone's one UTC offset when it has had only one since 1970 (UTC, Etc/GMT-2), else None. [µs]

    Wall-clock arithmetic in such a zone is one addition: no lookup per instant."""
    offsets = offsets_minutes(tz)
    return int(next(iter(offsets)) * 60_000_000) if len(offsets) == 1 else None


def parse_instant(value: str, *, tz: str | None, param: str) -> datetime:
    """An aware instant from ISO 8601 text; dates and naive times are read in `tz`.

    Args:
        value: e.g. "2024-03-31T00:00:00+01:00", "2024-03-31T00:00:00Z", "2024-03-31".
        tz: IANA zone for naive values; None rejects them.
        param: the parameter name, for the error message.

    Raises:
        QueryError: unparseable, or naive with no zone given.
    """
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            raise QueryError(f"{param}={value!r} is not an ISO 8601 date or timestamp") from None
    if parsed.tzinfo is None:
        if tz is None:
            raise QueryError(f"{param}={value!r} has no zone offset: add Z or +01:00, or pass tz=")
        z = zone(tz)
        parsed = parsed.replace(tzinfo=z)
        # a wall time that does not exist (spring forward) or exists twice is refused, not guessed
        if parsed.astimezone(ZoneInfo("UTC")).astimezone(z).replace(tzinfo=None) != parsed.replace(
            tzinfo=None
        ):
            raise QueryError(f"{param}={value!r} does not exist in {tz} (DST gap): give an offset")
    return parsed


def format_ts(arr: pa.Array | pa.ChunkedArray, tz: str) -> pa.Array | pa.ChunkedArray:
    """UTC instants -> ISO 8601 strings in `tz` with a colon offset, e.g. 2024-03-31T00:00:00+01:00
    (microseconds only when there are some: 2024-03-31T00:00:00.250000+01:00).

    Arrow's cast of the local wall clock to text, then the offset joined from the few distinct
    ones: 30,000 instants in 6 ms where strftime("%z") took 90 ms.
    """
    utc = arr.cast(pa.timestamp("us", tz="UTC"))
    wall = pc.local_timestamp(utc.cast(pa.timestamp("us", tz=tz)))  # naive local wall clock
    wall_us = np.asarray(wall.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), np.int64)
    utc_us = np.asarray(utc.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), np.int64)
    text = wall.cast(pa.string())  # "YYYY-MM-DD HH:MM:SS.ffffff"
    whole = wall_us % 1_000_000 == 0
    if whole.any():  # whole seconds without ".000000"
        seconds = wall.cast(pa.timestamp("s"), safe=False).cast(pa.string())
        text = pc.if_else(pa.array(whole), seconds, text)
    text = pc.utf8_replace_slice(text, 10, 11, "T")
    offsets, which = np.unique(wall_us - utc_us, return_inverse=True)
    suffixes = pa.array([_offset_text(int(o)) for o in offsets], pa.string())
    return pc.binary_join_element_wise(text, suffixes.take(pa.array(which.reshape(-1))), "")


def _offset_text(offset_us: int) -> str:
    """A UTC offset as ISO 8601 "+HH:MM" (seconds of old local mean times dropped, as %z does)."""
    minutes = abs(offset_us) // 60_000_000
    return f"{'-' if offset_us < 0 else '+'}{minutes // 60:02d}:{minutes % 60:02d}"
