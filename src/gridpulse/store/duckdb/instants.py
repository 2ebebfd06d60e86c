"""Instants between Python and the DuckDB tables, which hold naive TIMESTAMPs that are UTC.

Written once for every table module (forecasts, anomalies, validation, alerts, job runs): a naive
instant is refused naming the field, never taken for UTC silently.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gridpulse.errors import StoreError

__all__ = ["aware_utc", "naive_utc"]


def naive_utc(ts: datetime, what: str, error: type[Exception] = StoreError) -> datetime:
    """`ts` as the naive UTC a table holds.

    Raises:
        error: ts has no zone offset (the message names `what`).
    """
    if ts.tzinfo is None:
        raise error(f"{what} {ts.isoformat()} has no zone offset; give an aware UTC instant")
    return ts.astimezone(UTC).replace(tzinfo=None)


def aware_utc(ts: datetime | None) -> datetime | None:
    """A naive UTC value read from a table as an aware instant; None stays None."""
    return None if ts is None else ts.replace(tzinfo=UTC)
