"""Demand: average power over fixed clock windows, its peak per local period, load factor, duration curve.

Demand over a window is the average power in it: the energy in the window divided by the time
the window's values cover. Windows are 15, 30 or 60 minutes aligned to the local clock (10:00,
10:15, ...), and each row falls in the window holding its `ts`, so rows must start on the clock
grid and the window must be a whole number of their intervals. Input is either interval energy
(`input_unit="kwh"`, the platform's meter series) or average power (`input_unit="kw"`), and each
row covers [ts, ts + interval), the interval being given or, per series, the smallest spacing
between its rows. A window with missing rows averages over the time it has (as resampling to the
window and taking the mean would); the notes count such windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.analytics.base import AnalyticResult
from gridpulse.analytics.estimated import UNITS as ESTIMATED_UNITS
from gridpulse.analytics.estimated import count_columns
from gridpulse.analytics.frames import (
    F64,
    I32,
    I64,
    as_int64,
    first_extreme,
    first_repeat,
    frame_arrays,
    interval_us,
    null_note,
    read_frame,
    row_interval_us,
    run_lengths,
    segment_starts,
    sort_order,
)
from gridpulse.analytics.periods import US_PER_H, Period, local_periods
from gridpulse.errors import QueryError
from gridpulse.model import TS_TYPE

__all__ = [
    "WINDOWS",
    "Windows",
    "load_duration_curve",
    "load_factor",
    "peak_demand_from_maxima_kw",
    "peak_demand_kw",
    "top_peaks",
    "top_rows",
    "window_demand",
]

#: The demand windows gridpulse computes.
WINDOWS: Final = (timedelta(minutes=15), timedelta(minutes=30), timedelta(minutes=60))
InputUnit = Literal["kwh", "kw"]


@dataclass(frozen=True)
class Windows:
    """Average demand per series and clock window, sorted by (series_id, start_us).

    Attributes:
        series_id: series of each window.
        start_us: UTC instant the window starts. [µs since 1970-01-01]
        demand_kw: average power over the time the window's rows cover. [kW]
        energy_kwh: energy of the window's rows. [kWh]
        covered_h: time the window's rows cover. [h]
        incomplete: windows whose rows cover less than the window.
        nulls: null values skipped.
        intervals: rows (non-null values) in each window.
        estimated: of them, estimates.
    """

    series_id: I32
    start_us: I64
    demand_kw: F64
    energy_kwh: F64
    covered_h: F64
    incomplete: int
    nulls: int
    intervals: I64
    estimated: I64


def window_demand(
    frame: pa.Table,
    *,
    window: timedelta,
    tz: str,
    input_unit: InputUnit,
    interval: timedelta | None,
    columns: tuple[str, str, str] = ("series_id", "ts", "value"),
    quality: str = "quality",
) -> Windows:
    """Average demand over each clock window that holds rows (see the module docstring).

    Args:
        frame: long frame of interval energy [kWh] or average power [kW].
        window: 15, 30 or 60 minutes. [timedelta]
        tz: IANA zone whose clock aligns the windows (it matters for zones at :30 or :45 offsets).
        input_unit: "kwh" or "kw".
        interval: the rows' interval, or None to take each series' smallest spacing.
        columns: names of the series id, timestamp and value columns.
        quality: name of the column of quality flags (absent: none estimated).

    Returns:
        Windows.

    Raises:
        QueryError: a window not in WINDOWS, an unknown unit, a window that is not a whole
            number of a series' intervals, or a bad frame.
    """
    if window not in WINDOWS:
        raise QueryError(f"window={window} is not 15, 30 or 60 minutes: pass timedelta(minutes=15|30|60)")
    if input_unit not in ("kwh", "kw"):
        raise QueryError(f"input_unit={input_unit!r} is not 'kwh' or 'kw': say what the values are")
    f = read_frame(frame, series_id=columns[0], ts=columns[1], value=columns[2], quality=quality)
    length = row_interval_us(f, interval)
    window_us = interval_us(window, "window")
    bad = np.flatnonzero(window_us % np.maximum(length, 1) != 0)
    if len(bad):
        raise QueryError(
            f"window={window} is not a whole number of series {f.series_id[bad[0]]}'s interval "
            f"{timedelta(microseconds=int(length[bad[0]]))}: pick a window that is, or pass interval="
        )
    energy = f.value if input_unit == "kwh" else f.value * length / US_PER_H
    hour = local_periods(f.ts_us, period="hour", tz=tz).start_us
    start = hour + (f.ts_us - hour) // window_us * window_us
    at = segment_starts(f.series_id, start)
    if len(at) == 0:
        empty = np.zeros(0)
        none = np.zeros(0, np.int64)
        return Windows(f.series_id, start, empty, empty, empty, 0, f.nulls, none, none)
    e = np.add.reduceat(energy, at)
    covered = np.add.reduceat(length, at)
    return Windows(
        f.series_id[at],
        start[at],
        e / (covered / US_PER_H),
        e,
        covered / US_PER_H,
        int((covered < window_us).sum()),
        f.nulls,
        run_lengths(at, len(f.ts_us)),
        np.add.reduceat(f.estimated, at).astype(np.int64),
    )


def _by_period(w: Windows, *, period: str, tz: str) -> tuple[I64, dict[str, pa.Array]]:
    """Where each run of a series' windows in one local period starts, and those periods' key columns.

    Returns:
        (run starts into the windows, {"series_id", "start", "local_date"} of each run).
    """
    p = local_periods(w.start_us, period=period, tz=tz)
    at = segment_starts(w.series_id, p.start_us)
    return at, {"series_id": pa.array(w.series_id[at], pa.int32()), **p.columns(at)}


def _period_peaks(
    frame: pa.Table,
    *,
    window: timedelta,
    tz: str,
    period: str,
    input_unit: InputUnit,
    interval: timedelta | None,
    columns: tuple[str, str, str],
    quality: str,
) -> tuple[Windows, I64, dict[str, pa.Array], F64, I64]:
    """The demand windows of the frame, where each local period's run of them starts, the
    period key columns, and each period's peak window demand [kW] with the index of its first
    window (ties: the earliest)."""
    w = window_demand(
        frame, window=window, tz=tz, input_unit=input_unit, interval=interval, columns=columns, quality=quality
    )
    at, keys = _by_period(w, period=period, tz=tz)
    peak, first = first_extreme(w.demand_kw, at, np.maximum)
    return w, at, keys, peak, first


def _notes(w: Windows) -> list[str]:
    notes = null_note(w.nulls)
    if w.incomplete:
        notes.append(f"{w.incomplete} windows not fully covered: averaged over the time they cover")
    return notes


def peak_demand_kw(
    frame: pa.Table,
    *,
    window: timedelta,
    tz: str,
    period: Period = "day",
    input_unit: InputUnit = "kwh",
    interval: timedelta | None = None,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    quality: str = "quality",
) -> AnalyticResult:
    """Peak demand per series and local period: the highest window-average power in the period.

    A window belongs to the local period holding its start. Ties go to the earliest window.

    Args:
        frame: long frame of interval energy [kWh] or average power [kW] (see `input_unit`).
        window: demand window, 15, 30 or 60 minutes aligned to the clock. [timedelta]
        tz: IANA zone of the site.
        period: "hour", "day", "week" (ISO, Monday) or "month".
        input_unit: "kwh" (window kW = kWh in the window / hours) or "kw" (time-weighted mean).
        interval: the rows' interval, or None for each series' smallest spacing. [timedelta]
        series_id: name of the series id column.
        ts: name of the timestamp column (interval start, aware).
        value: name of the value column. [kWh or kW]
        quality: name of the column of quality flags (absent: none estimated).

    Returns:
        series_id, start, local_date, peak_kw [kW], peak_at (UTC start of the peak window),
        windows (windows with data in the period), peak_estimated (the peak window holds an
        estimated value).

    Raises:
        QueryError: bad window, unit, period, zone or frame.
    """
    w, at, keys, peak, first = _period_peaks(
        frame, window=window, tz=tz, period=period, input_unit=input_unit, interval=interval,
        columns=(series_id, ts, value), quality=quality,
    )  # fmt: skip
    table = pa.table(
        {
            **keys,
            "peak_kw": pa.array(peak, pa.float64()),
            "peak_at": pa.array(w.start_us[first], TS_TYPE),
            "windows": pa.array(run_lengths(at, len(w.start_us)), pa.int64()),
            "peak_estimated": pa.array(w.estimated[first] > 0, pa.bool_()),
        }
    )
    return AnalyticResult(table, {"peak_kw": "kW"}, _notes(w))


def peak_demand_from_maxima_kw(
    frame: pa.Table,
    *,
    window: timedelta,
    interval: timedelta,
    tz: str,
    period: Period = "day",
    input_unit: InputUnit = "kwh",
    columns: tuple[str, ...] = ("series_id", "ts", "value", "at", "count", "nulls"),
    at_estimated: str = "at_estimated",
    top: int | None = None,
) -> AnalyticResult:
    """`peak_demand_kw` for rows whose interval is the window, from each period's largest row.

    With the interval equal to the window, every row is one whole window, so a period's peak
    window is its largest row: the store's MAX per local period (from the rollups) is enough,
    and years of meter data answer without reading a point. Same columns, values and notes as
    `peak_demand_kw` on the rows themselves.

    Args:
        frame: one row per series and local period, as `store.read_frame(..., agg=MAX)` gives:
            series id, period start (aware), the largest value [kWh or kW], when it first
            happened, values and null values in the period (`columns` names them in that order).
        window: demand window, 15, 30 or 60 minutes. [timedelta]
        interval: the rows' interval; must equal the window. [timedelta]
        tz: IANA zone of the site.
        period: the period the frame was bucketed by, in `tz`.
        input_unit: "kwh" (kW = kWh / window hours) or "kw".
        at_estimated: name of the column saying whether the largest value is an estimate
            (`store.read_frame` gives it; null where unknown).
        top: keep only the n highest peaks of each period, as `top_peaks` does (same rows, same
            order), picked before the result table is built; None: every row.

    Returns:
        series_id, start, local_date, peak_kw [kW], peak_at, windows, peak_estimated.

    Raises:
        QueryError: window not in WINDOWS or not the interval, an unknown unit, a bad frame,
            top below 1.
    """
    if window not in WINDOWS:
        raise QueryError(f"window={window} is not 15, 30 or 60 minutes: pass timedelta(minutes=15|30|60)")
    if interval != window:
        raise QueryError(f"interval={interval} is not the window {window}: use peak_demand_kw on the rows")
    if input_unit not in ("kwh", "kw"):
        raise QueryError(f"input_unit={input_unit!r} is not 'kwh' or 'kw': say what the values are")
    sid_col, ts_col, value_col, at_col, count_col, nulls_col = columns
    if at_estimated not in frame.column_names:
        raise QueryError(
            f"the frame has no column {at_estimated!r} (it has {frame.column_names}): read it with "
            "store.read_frame(..., agg=MAX), or pass at_estimated='<column name>'"
        )
    nulls = int(pc.sum(frame.column(nulls_col)).as_py() or 0)
    # the rows with a value (a period of null values has no peak), sorted by series and period:
    # numpy picks and orders them once and the frame's other columns are taken alike (the
    # store's rows come in order, so usually nothing moves: 1,000 rows 1.2 -> 0.5 ms)
    sid, ts_us, value, has = frame_arrays(frame, series_id=sid_col, ts=ts_col, value=value_col)
    rows = None if bool(has.all()) else np.flatnonzero(has)
    if rows is not None:
        sid, ts_us, value = sid[rows], ts_us[rows], value[rows]
    order = sort_order(sid, ts_us)
    if order is not None:
        sid, ts_us, value = sid[order], ts_us[order], value[order]
        rows = order if rows is None else rows[order]
    dup = first_repeat(sid, ts_us)
    if dup is not None:
        raise QueryError(
            f"series {sid[dup]} has two rows at {pa.scalar(int(ts_us[dup]), TS_TYPE)}: "
            "pass one value per (series_id, ts), e.g. the latest version"
        )
    periods = local_periods(ts_us, period=period, tz=tz)
    peak = value if input_unit == "kw" else value / (window / timedelta(hours=1))
    picked = None
    if top is not None:
        # "the ten highest each day" of a fleet: the rows are picked from numpy's arrays first,
        # so the table is built for n rows a period, not for every series
        picked = top_rows(periods.start_us, peak, sid, top)
        sid, peak = sid[picked], peak[picked]
        rows = picked if rows is None else rows[picked]
    kept = frame if rows is None else frame.take(rows)
    keys = {"series_id": pa.array(sid, pa.int32()), **periods.columns(picked)}
    table = pa.table(
        {
            **keys,
            "peak_kw": pa.array(peak, pa.float64()),
            "peak_at": _as_type(kept.column(at_col), TS_TYPE),
            "windows": _as_type(kept.column(count_col), pa.int64()),
            "peak_estimated": _as_type(kept.column(at_estimated), pa.bool_()),
        }
    )
    return AnalyticResult(table, {"peak_kw": "kW"}, null_note(nulls))


def _as_type(column: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    """The column cast to `to`, or itself when it is of that type already."""
    return column if column.type == to else column.cast(to)


def top_peaks(result: AnalyticResult, n: int) -> AnalyticResult:
    """The n highest peaks of each period of a peak demand result (ties: the lower series id
    first), in that order: "the ten meters with the highest demand each day".

    Raises:
        QueryError: n below 1.
    """
    if n < 1:
        raise QueryError(f"top={n} keeps nothing: pass 1 or more")
    t = result.table
    if t.num_rows == 0:
        return result
    peak_kw = t.column("peak_kw")
    if peak_kw.null_count:
        t = t.sort_by([("start", "ascending"), ("peak_kw", "descending"), ("series_id", "ascending")])
        kept = np.flatnonzero(_rank_in_period(as_int64(t.column("start"))) < n)
        return AnalyticResult(t.take(kept), result.units, result.notes)
    # numpy's lexsort of the three keys, then one take of the rows kept (Arrow's sort_by and a
    # filter took 0.4 ms for 1,000 rows)
    peak = np.asarray(pc.cast(peak_kw, pa.float64()).to_numpy(), np.float64)
    kept = top_rows(as_int64(t.column("start")), peak, as_int64(t.column("series_id")), n)
    return AnalyticResult(t.take(kept), result.units, result.notes)


def top_rows(start_us: I64, peak: F64, series_id: I32 | I64, n: int) -> I64:
    """Positions of the n highest peaks of each period, ordered by period, peak (highest first;
    NaN last, as Arrow's sort puts it) and series id (ties: the lower first).

    Args:
        start_us: each row's period start. [µs since 1970-01-01]
        peak: each row's peak, without nulls. [kW]
        series_id: each row's series id.
        n: how many to keep per period.

    Raises:
        QueryError: n below 1.
    """
    if n < 1:
        raise QueryError(f"top={n} keeps nothing: pass 1 or more")
    order = np.lexsort((series_id, -peak, start_us))
    return order[_rank_in_period(start_us[order]) < n].astype(np.int64)


def _rank_in_period(start_us: I64) -> I64:
    """Each row's place (0, 1, ...) within its period, for rows sorted by period start."""
    first = np.flatnonzero(np.r_[True, start_us[1:] != start_us[:-1]])
    return np.arange(len(start_us)) - np.repeat(first, np.diff(np.r_[first, len(start_us)]))


def load_factor(
    frame: pa.Table,
    *,
    window: timedelta,
    tz: str,
    period: Period = "day",
    input_unit: InputUnit = "kwh",
    interval: timedelta | None = None,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    quality: str = "quality",
) -> AnalyticResult:
    """Load factor per series and local period: average demand / peak window demand (0..1).

    Average demand is the period's energy over the time its rows cover (a period with missing
    rows is averaged over what it has); peak demand is as in `peak_demand_kw`. A flat load has
    load factor 1. A period whose peak is 0 kW or less has no load factor (null, with a note).

    Args:
        frame: long frame of interval energy [kWh] or average power [kW] (see `input_unit`).
        window: demand window, 15, 30 or 60 minutes. [timedelta]
        tz: IANA zone of the site.
        period: "hour", "day", "week" (ISO, Monday) or "month".
        input_unit: "kwh" or "kw".
        interval: the rows' interval, or None for each series' smallest spacing. [timedelta]
        series_id: name of the series id column.
        ts: name of the timestamp column (aware).
        value: name of the value column. [kWh or kW]
        quality: name of the column of quality flags (absent: none estimated).

    Returns:
        series_id, start, local_date, average_kw [kW], peak_kw [kW], load_factor [1], windows,
        estimated_intervals (estimates among the period's intervals), estimated_share [1],
        peak_estimated (the peak window holds an estimated value).

    Raises:
        QueryError: bad window, unit, period, zone or frame.
    """
    w, at, keys, peak, first = _period_peaks(
        frame, window=window, tz=tz, period=period, input_unit=input_unit, interval=interval,
        columns=(series_id, ts, value), quality=quality,
    )  # fmt: skip
    if len(at):
        average = np.add.reduceat(w.energy_kwh, at) / np.add.reduceat(w.covered_h, at)
        intervals, estimated = np.add.reduceat(w.intervals, at), np.add.reduceat(w.estimated, at)
    else:
        average = np.zeros(0)
        intervals = estimated = np.zeros(0, np.int64)
    no_peak = peak <= 0
    ratio = np.divide(average, peak, out=np.zeros(len(peak)), where=~no_peak)
    table = pa.table(
        {
            **keys,
            "average_kw": pa.array(average, pa.float64()),
            "peak_kw": pa.array(peak, pa.float64()),
            "load_factor": pa.array(ratio, pa.float64(), mask=no_peak),
            "windows": pa.array(run_lengths(at, len(w.start_us)), pa.int64()),
            **count_columns(estimated, intervals),
            "peak_estimated": pa.array(w.estimated[first] > 0, pa.bool_()),
        }
    )
    notes = _notes(w)
    if int(no_peak.sum()):
        notes.append(f"{int(no_peak.sum())} periods with a peak of 0 kW or less have no load factor")
    units = {"average_kw": "kW", "peak_kw": "kW", "load_factor": "1", **ESTIMATED_UNITS}
    return AnalyticResult(table, units, notes)


def load_duration_curve(
    frame: pa.Table,
    *,
    window: timedelta,
    points: int | None = None,
    tz: str = "UTC",
    input_unit: InputUnit = "kwh",
    interval: timedelta | None = None,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    quality: str = "quality",
) -> AnalyticResult:
    """Load duration curve per series: window demands sorted from highest, with the time at or above.

    For the window of rank r (1 = highest) among a series' n windows, `share` = r / n is the
    share of windows whose demand is at least this one's, and `hours` = r × window length.
    With `points`, the curve is read at shares k / points (k = 1..points): the demand at rank
    ceil(k × n / points), so every series has `points` rows (percentiles for 100).

    Args:
        frame: long frame of interval energy [kWh] or average power [kW] (see `input_unit`).
        window: demand window, 15, 30 or 60 minutes. [timedelta]
        points: rows per series, or None for one row per window.
        tz: IANA zone whose clock aligns the windows.
        input_unit: "kwh" or "kw".
        interval: the rows' interval, or None for each series' smallest spacing. [timedelta]
        series_id: name of the series id column.
        ts: name of the timestamp column (aware).
        value: name of the value column. [kWh or kW]
        quality: name of the column of quality flags (absent: none estimated).

    Returns:
        series_id, rank, demand_kw [kW], share [0..1], hours [h], estimated_intervals (estimates
        among the window's intervals), estimated_share [1].

    Raises:
        QueryError: points below 1, or bad window, unit, zone or frame.
    """
    if points is not None and points < 1:
        raise QueryError(f"points={points} must be at least 1, or None for every window")
    w = window_demand(
        frame,
        window=window,
        tz=tz,
        input_unit=input_unit,
        interval=interval,
        columns=(series_id, ts, value),
        quality=quality,
    )
    order = np.lexsort((-w.demand_kw, w.series_id))
    sid, demand = w.series_id[order], w.demand_kw[order]
    intervals, estimated = w.intervals[order], w.estimated[order]
    at = segment_starts(sid)
    count = run_lengths(at, len(sid))
    if points is None:
        rank = np.arange(len(sid)) - np.repeat(at, count) + 1
        n = np.repeat(count, count)
        pick = np.arange(len(sid))
        share = rank / np.maximum(n, 1)
    else:
        k = np.tile(np.arange(1, points + 1), len(at))
        n = np.repeat(count, points)
        rank = (k * n + points - 1) // points  # ceil(k n / points) in integers
        pick = np.repeat(at, points) + rank - 1
        share = k / points
    table = pa.table(
        {
            "series_id": pa.array(sid[pick], pa.int32()),
            "rank": pa.array(rank, pa.int64()),
            "demand_kw": pa.array(demand[pick], pa.float64()),
            "share": pa.array(share, pa.float64()),
            "hours": pa.array(rank * (window / timedelta(hours=1)), pa.float64()),
            **count_columns(estimated[pick], intervals[pick]),
        }
    )
    units = {"demand_kw": "kW", "share": "1", "hours": "h", **ESTIMATED_UNITS}
    return AnalyticResult(table, units, _notes(w))
