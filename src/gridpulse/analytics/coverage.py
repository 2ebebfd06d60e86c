"""Ingestion coverage: expected against received intervals per series and local day, and the gaps.

This is the daily ingestion coverage check of the storage design: for every series and local
day, how many intervals the grid holds, how many arrived with a value, and how many timestamps
arrived off the grid. The grid is every multiple of `interval` since 1970-01-01 00:00 UTC, so
the same instant is on or off the grid whatever range is asked for (chunked equals whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from gridpulse.analytics.base import AnalyticResult
from gridpulse.analytics.estimated import share
from gridpulse.analytics.frames import (
    I32,
    I64,
    Mask,
    frame_arrays,
    grid_count,
    instant_us,
    interval_us,
    row_estimates,
)
from gridpulse.analytics.periods import US_PER_DAY, local_midnights_us, wall_clock_us
from gridpulse.errors import QueryError
from gridpulse.model import TS_TYPE
from gridpulse.timeutil import zone

__all__ = ["coverage", "gaps"]


def coverage(
    frame: pa.Table,
    *,
    interval: timedelta,
    start: datetime,
    end: datetime,
    tz: str,
    series_ids: Sequence[int] | None = None,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    quality: str = "quality",
) -> AnalyticResult:
    """Expected, received and off-grid intervals per series and local day over [start, end).

    A local day expects the grid intervals that start inside it: 96 quarter-hours on a 24-hour
    day, 92 on a 23-hour (spring-forward) day, 100 on a 25-hour (fall-back) day. The first and
    last day count only the part inside [start, end). `received` counts distinct grid instants
    with a non-null value (a resent row counts once); `off_grid` counts distinct timestamps not on
    the grid. Rows outside the range are ignored. `estimated` counts the received intervals
    whose value is an estimate (gridpulse.quality): received - estimated arrived as actual or
    edited reads.

    Args:
        frame: long frame of interval values (series_id, ts as a UTC instant of the interval
            start, value).
        interval: the grid step, e.g. timedelta(minutes=15). [duration]
        start: aware first instant of the range. [instant]
        end: aware instant the range ends at (exclusive). [instant]
        tz: IANA zone whose local days the counts are grouped by.
        series_ids: the series to report, including ones with no row at all; default the
            series in the frame.
        series_id, ts, value: column names.
        quality: name of the column of quality flags (absent: none estimated).

    Returns:
        Rows per series and local day: series_id, local_date, expected, received, missing
        (expected - received), off_grid, coverage_pct (100 x received / expected; null for a day
        with no expected interval) [%], estimated (received intervals that are estimates),
        estimated_share (estimated / received; null when none received) [1].

    Raises:
        QueryError: a naive start or end, end not after start, a non-positive interval, an
            unknown zone, or a missing or mistyped column.
    """
    iv = interval_us(interval)
    lo, hi = _range(start, end)
    zone(tz)
    sid, ts_us, _val, valid = frame_arrays(frame, series_id=series_id, ts=ts, value=value)
    est = row_estimates(frame, quality=quality) > 0
    ids = _series_list(sid, series_ids)
    wall = wall_clock_us(np.array([lo, hi - 1], np.int64), tz)
    days = np.arange(wall[0] // US_PER_DAY, wall[1] // US_PER_DAY + 2, dtype=np.int64)
    bounds = np.clip(local_midnights_us(days, tz), lo, hi)
    expected = grid_count(bounds[:-1], bounds[1:], iv)

    inside = (ts_us >= lo) & (ts_us < hi) & np.isin(sid, ids)
    day_of = np.searchsorted(bounds, ts_us, side="right") - 1
    on_grid = ts_us % iv == 0
    received = _count_distinct(ids, sid, day_of, ts_us, inside & on_grid & valid, len(days) - 1)
    off_grid = _count_distinct(ids, sid, day_of, ts_us, inside & ~on_grid, len(days) - 1)
    estimated = _count_distinct(ids, sid, day_of, ts_us, inside & on_grid & valid & est, len(days) - 1)

    n_days = len(days) - 1
    exp = np.tile(expected, len(ids))
    rec = received.ravel()
    pct = np.divide(100.0 * rec, exp, out=np.zeros(len(exp)), where=exp > 0)
    table = pa.table(
        {
            "series_id": pa.array(np.repeat(ids, n_days), pa.int32()),
            "local_date": pa.array(np.tile(days[:-1], len(ids)).astype(np.int32), pa.int32()).cast(
                pa.date32()
            ),
            "expected": pa.array(exp, pa.int64()),
            "received": pa.array(rec, pa.int64()),
            "missing": pa.array(exp - rec, pa.int64()),
            "off_grid": pa.array(off_grid.ravel(), pa.int64()),
            "coverage_pct": pa.array(pct, pa.float64(), mask=exp == 0),
            "estimated": pa.array(estimated.ravel(), pa.int64()),
            "estimated_share": share(estimated.ravel(), rec),
        }
    )
    notes: list[str] = []
    if off_grid.sum():
        notes.append(
            f"{int(off_grid.sum())} timestamps are off the {interval} grid and not counted as received"
        )
    units = {"coverage_pct": "%", "expected": "intervals", "estimated_share": "1"}
    return AnalyticResult(table, units=units, notes=notes)


def gaps(
    frame: pa.Table,
    *,
    interval: timedelta,
    start: datetime,
    end: datetime,
    series_ids: Sequence[int] | None = None,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
) -> AnalyticResult:
    """The stretches of missing grid intervals per series over [start, end).

    An interval is missing when no row with a non-null value sits on its grid instant; off-grid
    rows do not fill it. A gap at the start or end of the range is reported like any other; a
    series with no row at all is one gap over the whole range (pass it in `series_ids`).

    Args:
        frame: long frame (series_id, ts as a UTC instant of the interval start, value).
        interval: the grid step. [duration]
        start: aware first instant of the range; grid instants from the first at or after it. [instant]
        end: aware instant the range ends at (exclusive). [instant]
        series_ids: the series to check; default the series in the frame.
        series_id, ts, value: column names.

    Returns:
        One row per gap, by series then time: series_id, gap_start (first missing interval
        start) [UTC instant], gap_end (start of the next present interval, or the end of the
        grid range: exclusive) [UTC instant], missing_intervals.

    Raises:
        QueryError: a naive start or end, end not after start, a non-positive interval, or a
            missing or mistyped column.
    """
    iv = interval_us(interval)
    lo, hi = _range(start, end)
    sid, ts_us, _val, valid = frame_arrays(frame, series_id=series_id, ts=ts, value=value)
    ids = _series_list(sid, series_ids)
    # the grid instants in [lo, hi) are first, first + iv, ..., up to stop (exclusive)
    first, stop = -(-lo // iv) * iv, -(-hi // iv) * iv
    keep = (ts_us >= lo) & (ts_us < hi) & (ts_us % iv == 0) & valid & np.isin(sid, ids)
    order = np.lexsort((ts_us[keep], sid[keep]))
    s_sorted, t_sorted = sid[keep][order], ts_us[keep][order]
    out_sid: list[I64] = []
    out_lo: list[I64] = []
    out_hi: list[I64] = []
    bounds = np.searchsorted(s_sorted, ids, side="left"), np.searchsorted(s_sorted, ids, side="right")
    for s, a, b in zip(ids, *bounds, strict=True):
        # sentinels one interval before the grid and at its end turn edge gaps into inner ones
        points = np.concatenate([[first - iv], np.unique(t_sorted[a:b]), [stop]])
        step = np.diff(points)
        at = np.flatnonzero(step > iv)
        out_sid.append(np.full(len(at), s, np.int64))
        out_lo.append(points[at] + iv)
        out_hi.append(points[at + 1])
    g_lo = np.concatenate([np.empty(0, np.int64), *out_lo])
    g_hi = np.concatenate([np.empty(0, np.int64), *out_hi])
    missing = (g_hi - g_lo) // iv
    table = pa.table(
        {
            "series_id": pa.array(np.concatenate([np.empty(0, np.int64), *out_sid]), pa.int64()).cast(
                pa.int32()
            ),
            "gap_start": pa.array(g_lo, pa.int64()).cast(TS_TYPE),
            "gap_end": pa.array(g_hi, pa.int64()).cast(TS_TYPE),
            "missing_intervals": pa.array(missing, pa.int64()),
        }
    )
    notes = (
        [f"{len(missing)} gaps, {int(missing.sum())} missing intervals of {interval}"] if len(missing) else []
    )
    return AnalyticResult(table, units={"missing_intervals": "intervals"}, notes=notes)


def _range(start: datetime, end: datetime) -> tuple[int, int]:
    lo, hi = instant_us(start, "start"), instant_us(end, "end")
    if hi <= lo:
        raise QueryError(f"end={end.isoformat()} is not after start={start.isoformat()}: swap or widen them")
    return lo, hi


def _series_list(sid: I32, series_ids: Sequence[int] | None) -> I64:
    chosen = np.unique(sid) if series_ids is None else np.unique(np.asarray(series_ids, np.int64))
    return np.asarray(chosen, np.int64)


def _count_distinct(ids: I64, sid: I32, day: I64, ts_us: I64, mask: Mask, n_days: int) -> I64:
    """Distinct instants per (series in `ids`, day), as an array of shape (len(ids), n_days)."""
    counts = np.zeros((len(ids), n_days), np.int64)
    if not mask.any():
        return counts
    row, t, d = np.searchsorted(ids, sid[mask]), ts_us[mask], day[mask]
    order = np.lexsort((t, row))
    row, t, d = row[order], t[order], d[order]
    # a (series, instant) pair sent twice counts once
    first = np.ones(len(t), np.bool_)
    first[1:] = (row[1:] != row[:-1]) | (t[1:] != t[:-1])
    flat = np.bincount(row[first] * n_days + d[first], minlength=len(ids) * n_days)
    return np.asarray(flat.reshape(len(ids), n_days), np.int64)
