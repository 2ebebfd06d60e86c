"""Small long frames for the analytics tests: one series on a regular grid, UTC instants."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa

__all__ = ["TS", "frame", "utc"]

TS = pa.timestamp("us", tz="UTC")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def frame(sid: int, start: datetime, step: timedelta, values: Sequence[float | None]) -> pa.Table:
    """`values` of series `sid` at start, start + step, ... [the values' unit]"""
    return pa.table(
        {
            "series_id": pa.array([sid] * len(values), pa.int32()),
            "ts": pa.array([start + i * step for i in range(len(values))], TS),
            "value": pa.array(values, pa.float64()),
        }
    )
