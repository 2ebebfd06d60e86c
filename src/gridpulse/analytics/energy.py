"""Energy per local period: from interval energy, from power samples, and from register reads.

Also the pieces every analytic in this package shares: reading a long frame into sorted numpy
arrays (`read_frame`), local calendar periods in an IANA zone (`local_periods`, `period_end_us`)
and runs of equal keys in sorted arrays (`segment_starts`).

Local periods are wall-clock periods of the zone: "hour", "day", "week" (ISO, starting Monday) and
"month". A period is named by the UTC instant of its local start (`start`) and the local date of
that start (`local_date`). A local day lasts 23 or 25 hours on DST change days; the repeated hour
of a fall-back night is two distinct "hour" periods with the same local wall time. A local start
that does not exist (a zone that springs forward at midnight) is the first instant after the gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.analytics.base import AnalyticResult
from gridpulse.errors import QueryError
from gridpulse.model import TS_TYPE
from gridpulse.timeutil import zone

__all__ = [
    "PERIODS",
    "Frame",
    "Period",
    "Periods",
    "consumption_from_register_kwh",
    "energy_from_power_kwh",
    "energy_kwh",
    "local_periods",
    "period_end_us",
    "read_frame",
    "segment_starts",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

Period = Literal["hour", "day", "week", "month"]
PERIODS: Final = ("hour", "day", "week", "month")
US_PER_H: Final = 3_600_000_000
_US_PER_DAY: Final = 24 * US_PER_H
#: A rollover needs the previous read in the top tenth of the register and the new one in the bottom.
_ROLLOVER_BAND: Final = 0.1


@dataclass(frozen=True)
class Frame:
    """A long frame as numpy arrays, sorted by (series_id, ts), null and NaN values dropped.

    Attributes:
        series_id: series of each row (int32).
        ts_us: UTC instant of each row. [µs since 1970-01-01]
        value: the non-null values. [unit of the series]
        nulls: rows dropped because their value was null or NaN.
    """

    series_id: I32
    ts_us: I64
    value: F64
    nulls: int


def read_frame(
    frame: pa.Table, *, series_id: str = "series_id", ts: str = "ts", value: str = "value"
) -> Frame:
    """The frame's rows as sorted numpy arrays, checked, nulls dropped.

    Args:
        frame: long table with a series id (integer), an aware timestamp and a numeric value column.
        series_id: name of the series id column.
        ts: name of the timestamp column: aware instants (any zone, truncated to µs).
        value: name of the value column (null and NaN values are dropped and counted).

    Returns:
        A Frame sorted by (series_id, ts).

    Raises:
        QueryError: a column is missing or of the wrong type, `ts` is naive, a series id or ts is
            null, or one series has two rows at one instant.
    """
    for name in (series_id, ts, value):
        if name not in frame.column_names:
            raise QueryError(
                f"the frame has no column {name!r} (it has {frame.column_names}): pass its name, "
                f"e.g. {'ts' if name == ts else 'value'}='...'"
            )
    ts_type = frame.schema.field(ts).type
    if not pa.types.is_timestamp(ts_type) or ts_type.tz is None:
        raise QueryError(
            f"column {ts!r} is {ts_type}, not aware timestamps: give it a zone, e.g. "
            "pc.assume_timezone(col, 'UTC') if the values are UTC"
        )
    sid_col, ts_col, val_col = frame.column(series_id), frame.column(ts), frame.column(value)
    if sid_col.null_count or ts_col.null_count:
        raise QueryError(f"columns {series_id!r} and {ts!r} must not hold nulls: drop those rows")
    try:
        sid = pc.cast(sid_col, pa.int32()).to_numpy()
        val = pc.cast(val_col, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise QueryError(f"columns {series_id!r} and {value!r} must be numeric: {exc}") from None
    t = _i64(pc.cast(ts_col, TS_TYPE, safe=False))
    if len(sid) > 1:
        same = sid[1:] == sid[:-1]
        ordered = bool(np.all((sid[1:] > sid[:-1]) | (same & (t[1:] >= t[:-1]))))
        if not ordered:
            order = np.lexsort((t, sid))
            sid, t, val = sid[order], t[order], val[order]
            same = sid[1:] == sid[:-1]
        dup = np.flatnonzero(same & (t[1:] == t[:-1]))
        if len(dup):
            raise QueryError(
                f"series {sid[dup[0]]} has two rows at {pa.scalar(int(t[dup[0]]), TS_TYPE)}: "
                "pass one value per (series_id, ts), e.g. the latest version"
            )
    keep = ~np.isnan(val)
    return Frame(sid[keep], t[keep].astype(np.int64), val[keep].astype(np.float64), int((~keep).sum()))


def _check(period: str, tz: str) -> None:
    """Raises QueryError for an unknown period or zone."""
    if period not in PERIODS:
        raise QueryError(f"period={period!r} is not one of {', '.join(PERIODS)}: pick one")
    zone(tz)


def _i64(arr: pa.Array | pa.ChunkedArray) -> I64:
    """Timestamps or integers as int64 numpy values."""
    out: I64 = np.asarray(pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    return out


def _offset_us(ts_us: I64, tz: str) -> I64:
    """The zone's UTC offset at each instant, looked up in the tz database. [µs]"""
    return _i64(pc.local_timestamp(pa.array(ts_us, pa.timestamp("us", tz=tz)))) - ts_us


def _wall_us(ts_us: I64, tz: str) -> I64:
    """Local wall-clock times in `tz` of UTC instants. [µs since 1970-01-01, local]"""
    if len(ts_us) == 0:
        return ts_us
    # the offset rarely changes: look it up at both ends of each run of one UTC day, and per
    # instant only on days where the two differ (about two days a year); 5x faster on big frames
    day = ts_us // _US_PER_DAY
    new = np.r_[True, day[1:] != day[:-1]]
    first = day[new] * _US_PER_DAY
    at_start, at_end = _offset_us(first, tz), _offset_us(first + _US_PER_DAY - 1, tz)
    run = np.cumsum(new) - 1
    offset = at_start[run]
    mixed = (at_start != at_end)[run]
    offset[mixed] = _offset_us(ts_us[mixed], tz)
    out: I64 = ts_us + offset
    return out


def _wall_floor(wall: I64, period: str) -> I64:
    """The wall-clock start of the local period holding each wall time. [µs, local]"""
    if period == "hour":
        return wall - wall % US_PER_H
    if period == "day":
        return wall - wall % _US_PER_DAY
    if period == "week":
        days = wall // _US_PER_DAY
        return (days - (days + 3) % 7) * _US_PER_DAY  # 1970-01-01 was a Thursday
    months = wall.astype("datetime64[us]").astype("datetime64[M]")
    out: I64 = months.astype("datetime64[us]").astype(np.int64)
    return out


def _wall_next(wall_start: I64, period: str) -> I64:
    """The wall-clock start of the following local period. [µs, local]"""
    if period == "month":
        months = wall_start.astype("datetime64[us]").astype("datetime64[M]") + 1
        out: I64 = months.astype("datetime64[us]").astype(np.int64)
        return out
    step = {"hour": US_PER_H, "day": _US_PER_DAY, "week": 7 * _US_PER_DAY}[period]
    return wall_start + step


def _to_utc(wall: I64, tz: str) -> I64:
    """UTC instants of local wall times: the first of a repeated time, the first after a skipped one."""
    if len(wall) == 0:
        return wall
    # period starts come in long runs of equal values: convert each run once
    new = np.r_[True, wall[1:] != wall[:-1]]
    run: I64 = np.cumsum(new) - 1
    utc = pc.assume_timezone(
        pa.array(wall[new], pa.timestamp("us")), timezone=tz, ambiguous="earliest", nonexistent="latest"
    )
    return _i64(utc)[run]


@dataclass(frozen=True)
class Periods:
    """The local period of each instant.

    Attributes:
        start_us: UTC instant of the period's local start. [µs since 1970-01-01]
        local_days: local date of the period's start. [days since 1970-01-01]
    """

    start_us: I64
    local_days: I32


def local_periods(ts_us: I64, *, period: str, tz: str) -> Periods:
    """The local period (start instant and local date) holding each UTC instant.

    Args:
        ts_us: UTC instants. [µs since 1970-01-01]
        period: "hour", "day", "week" (ISO, Monday) or "month".
        tz: IANA zone whose wall clock defines the periods.

    Returns:
        Periods, one entry per instant.

    Raises:
        QueryError: unknown period or zone.
    """
    _check(period, tz)
    wall = _wall_us(ts_us, tz)
    floor = _wall_floor(wall, period)
    # an hour never spans an offset change, so its start is this instant minus the minutes past it;
    # that keeps the two 02:00 hours of a fall-back night apart
    start = ts_us - (wall - floor) if period == "hour" else _to_utc(floor, tz)
    return Periods(start.astype(np.int64), (floor // _US_PER_DAY).astype(np.int32))


def period_end_us(start_us: I64, *, period: str, tz: str) -> I64:
    """UTC instant where each local period ends (the next one's start): 23 or 25 h after for DST days.

    Args:
        start_us: UTC instants of local period starts, as from `local_periods`. [µs]
        period: "hour", "day", "week" or "month".
        tz: IANA zone.

    Returns:
        The end instants. [µs since 1970-01-01]
    """
    _check(period, tz)
    if period == "hour":
        return start_us + US_PER_H
    return _to_utc(_wall_next(_wall_floor(_wall_us(start_us, tz), period), period), tz)


def segment_starts(*keys: npt.NDArray[np.generic]) -> I64:
    """Indices where a run of equal key tuples starts, for arrays sorted by those keys."""
    n = len(keys[0])
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(change).astype(np.int64)


def _periods_table(sid: I32, start_us: I64, local_days: I32, **columns: pa.Array) -> pa.Table:
    """A result table keyed by (series_id, start, local_date), sorted."""
    table = pa.table(
        {
            "series_id": pa.array(sid, pa.int32()),
            "start": pa.array(start_us, TS_TYPE),
            "local_date": pa.array(local_days, pa.date32()),
            **columns,
        }
    )
    return table.sort_by([("series_id", "ascending"), ("start", "ascending")])


def _null_note(nulls: int) -> list[str]:
    return [f"{nulls} null values skipped"] if nulls else []


def energy_kwh(
    frame: pa.Table,
    *,
    period: Period,
    tz: str,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
) -> AnalyticResult:
    """Energy per series and local period, the sum of interval energy values.

    Each row's value is the energy over [ts, ts + interval) and belongs to the local period that
    holds its `ts` (interval data is on a grid that periods never split). A local day has 92, 96
    or 100 quarter-hours (23, 24 or 25 hours); a period with no non-null value has no row.

    Args:
        frame: long frame of interval energy. [kWh]
        period: "hour", "day", "week" (ISO, Monday) or "month", on the wall clock of `tz`.
        tz: IANA zone of the site.
        series_id: name of the series id column.
        ts: name of the timestamp column (interval start, aware).
        value: name of the value column. [kWh]

    Returns:
        series_id, start (UTC instant of the local period start), local_date (date of the local
        start), energy_kwh [kWh], intervals (non-null values summed); notes count skipped nulls.

    Raises:
        QueryError: unknown period or zone, missing columns, naive ts, duplicate (series, ts).
    """
    _check(period, tz)
    f = read_frame(frame, series_id=series_id, ts=ts, value=value)
    p = local_periods(f.ts_us, period=period, tz=tz)
    at = segment_starts(f.series_id, p.start_us)
    energy = np.add.reduceat(f.value, at) if len(at) else f.value
    table = _periods_table(
        f.series_id[at],
        p.start_us[at],
        p.local_days[at],
        energy_kwh=pa.array(energy, pa.float64()),
        intervals=pa.array(np.diff(np.r_[at, len(f.value)]), pa.int64()),
    )
    return AnalyticResult(table, {"energy_kwh": "kWh"}, _null_note(f.nulls))


def energy_from_power_kwh(
    frame: pa.Table,
    *,
    period: Period,
    tz: str,
    max_gap: timedelta,
    samples: Literal["instant", "interval_average"] = "instant",
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
) -> AnalyticResult:
    """Energy per series and local period by integrating power samples over time.

    Conventions (`samples`):

    - "instant": each value is the power at the instant `ts`; power varies linearly between two
      consecutive samples, so their interval holds (p0 + p1) / 2 × Δt (the trapezoid rule).
    - "interval_average": each value is the average power from `ts` to the next sample, so it
      holds p × Δt. The last sample of a series covers as long as the interval before it; a lone
      sample covers nothing.

    An interval longer than `max_gap` is a gap, counted in the period where it starts: with
    "instant" it adds no energy; with "interval_average" the sample covers `max_gap` only. An
    interval crossing a period boundary is split in proportion to the time on each side. Null
    samples are dropped first, so they widen the interval around them.

    Args:
        frame: long frame of power samples. [kW]
        period: "hour", "day", "week" (ISO, Monday) or "month", on the wall clock of `tz`.
        tz: IANA zone of the site.
        max_gap: the longest interval between samples that is bridged. [timedelta]
        samples: "instant" or "interval_average", as above.
        series_id: name of the series id column.
        ts: name of the timestamp column (aware).
        value: name of the value column. [kW]

    Returns:
        series_id, start, local_date, energy_kwh [kWh], covered_h (time bridged [h]), gaps
        (intervals longer than max_gap starting in the period); periods with no bridged time and
        no gap have no row.

    Raises:
        QueryError: unknown period, zone or samples, max_gap not positive, bad frame.
    """
    _check(period, tz)
    if samples not in ("instant", "interval_average"):
        raise QueryError(f"samples={samples!r} is not 'instant' or 'interval_average': pick one")
    if max_gap <= timedelta(0):
        raise QueryError(f"max_gap={max_gap} must be positive, e.g. timedelta(minutes=30)")
    f = read_frame(frame, series_id=series_id, ts=ts, value=value)
    gap_us = max_gap // timedelta(microseconds=1)
    sid, t, v = f.series_id, f.ts_us, f.value
    same = sid[1:] == sid[:-1]
    dt = np.where(same, t[1:] - t[:-1], -1)  # -1: no next sample in this series
    gap = dt > gap_us
    if samples == "instant":
        keep = same & ~gap
        a, b = t[:-1][keep], t[1:][keep]
        energy = (v[:-1][keep] + v[1:][keep]) / 2 * (b - a) / US_PER_H
        who = sid[:-1][keep]
    else:
        prev = np.r_[-1, dt] if len(t) else dt
        last = np.r_[dt, -1] if len(t) else dt
        # the last sample of a series repeats the interval before it
        length = np.minimum(np.where(last >= 0, last, np.maximum(prev, 0)), gap_us)
        keep = length > 0
        a, who = t[keep], sid[keep]
        b = a + length[keep]
        energy = v[keep] * (b - a) / US_PER_H
    pieces = _split_by_period(who, a, b, energy, period=period, tz=tz)
    at = t[:-1][gap]
    g = local_periods(at, period=period, tz=tz)
    zero = np.zeros(len(at), np.int64)
    gaps = _pieces(sid[:-1][gap], g, zero.astype(np.float64), zero, zero + 1)
    keys = ["series_id", "start", "local_date"]
    table = (
        pa.concat_tables([pieces, gaps])
        .group_by(keys, use_threads=False)
        .aggregate([("energy_kwh", "sum"), ("covered_us", "sum"), ("gaps", "sum")])
        .sort_by([("series_id", "ascending"), ("start", "ascending")])
    )
    # time is summed in whole µs so that a 25-hour day covers exactly 25.0 h
    covered = pc.divide(pc.cast(table.column("covered_us_sum"), pa.float64()), float(US_PER_H))
    table = pa.table(
        {
            **{k: table.column(k) for k in keys},
            "energy_kwh": table.column("energy_kwh_sum"),
            "covered_h": covered,
            "gaps": table.column("gaps_sum"),
        }
    )
    notes = _null_note(f.nulls)
    if int(gap.sum()):
        notes.append(f"{int(gap.sum())} gaps longer than {max_gap} not bridged")
    return AnalyticResult(table, {"energy_kwh": "kWh", "covered_h": "h"}, notes)


def _pieces(sid: I32, p: Periods, energy: F64, covered_us: I64, gaps: I64) -> pa.Table:
    """Rows to aggregate by (series_id, start, local_date)."""
    return pa.table(
        {
            "series_id": pa.array(sid, pa.int32()),
            "start": pa.array(p.start_us, TS_TYPE),
            "local_date": pa.array(p.local_days, pa.date32()),
            "energy_kwh": pa.array(energy, pa.float64()),
            "covered_us": pa.array(covered_us, pa.int64()),
            "gaps": pa.array(gaps, pa.int64()),
        }
    )


def _split_by_period(sid: I32, a: I64, b: I64, energy: F64, *, period: str, tz: str) -> pa.Table:
    """Pieces of intervals [a, b) cut at local period boundaries, energy shared by time."""
    parts: list[pa.Table] = []
    while True:
        p = local_periods(a, period=period, tz=tz)
        end = period_end_us(p.start_us, period=period, tz=tz)
        cut = np.minimum(b, end)
        share = energy * ((cut - a) / np.maximum(b - a, 1))
        parts.append(_pieces(sid, p, share, cut - a, np.zeros(len(a), np.int64)))
        more = b > end
        if not more.any():
            return pa.concat_tables(parts)
        sid, a, b, energy = sid[more], end[more], b[more], (energy - share)[more]


def consumption_from_register_kwh(
    frame: pa.Table,
    *,
    rollover_kwh: float | None = None,
    reset_drop_fraction: float = 0.5,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
) -> AnalyticResult:
    """Consumption per interval between consecutive cumulative register reads.

    consumption = read - previous read, except when the read is lower than the previous one:

    - "rollover": the register wrapped past its maximum M: the previous read is in the top 10 %
      of M and the new one in the bottom 10 %. consumption = M - previous + read. M is
      `rollover_kwh`, or else the next power of 10 above the previous read (99,990 -> 100,000).
    - "reset": otherwise, a drop of at least `reset_drop_fraction` of the previous read is a
      meter replacement or reset: the read starts a new register, consumption is null (unknown).
    - "decrease": a smaller drop (a corrected or estimated read) is kept as negative consumption,
      so that the consumptions still add up to the change of the register.

    Null reads are dropped: the interval runs from the last read before them.

    Args:
        frame: long frame of cumulative register reads. [kWh]
        rollover_kwh: the register's maximum (it reads 0 again there), or None to infer. [kWh]
        reset_drop_fraction: the share of the previous read a drop must reach to be a reset (0..1].
        series_id: name of the series id column.
        ts: name of the timestamp column (aware).
        value: name of the value column. [kWh]

    Returns:
        series_id, start (the previous read's ts), ts (this read's ts; the interval is
        [start, ts)), consumption_kwh [kWh], event ("", "rollover", "reset", "decrease");
        one row per read after the first of each series.

    Raises:
        QueryError: rollover_kwh not positive, reset_drop_fraction outside (0, 1], bad frame.
    """
    if rollover_kwh is not None and rollover_kwh <= 0:
        raise QueryError(f"rollover_kwh={rollover_kwh} must be positive (the register maximum), or None")
    if not 0 < reset_drop_fraction <= 1:
        raise QueryError(f"reset_drop_fraction={reset_drop_fraction} must be in (0, 1], e.g. 0.5")
    f = read_frame(frame, series_id=series_id, ts=ts, value=value)
    same = f.series_id[1:] == f.series_id[:-1]
    prev, cur = f.value[:-1][same], f.value[1:][same]
    diff = cur - prev
    drop = diff < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        inferred = 10.0 ** (np.floor(np.log10(np.where(prev > 0, prev, 1.0))) + 1)
    top = np.full(len(prev), rollover_kwh) if rollover_kwh is not None else inferred
    rollover = drop & (prev >= (1 - _ROLLOVER_BAND) * top) & (cur >= 0) & (cur < _ROLLOVER_BAND * top)
    reset = drop & ~rollover & (-diff >= reset_drop_fraction * np.abs(prev))
    decrease = drop & ~rollover & ~reset
    consumption = np.where(rollover, top - prev + cur, diff)
    code = rollover * 1 + reset * 2 + decrease * 3
    event = pa.array(["", "rollover", "reset", "decrease"]).take(pa.array(code, pa.int8()))
    table = pa.table(
        {
            "series_id": pa.array(f.series_id[1:][same], pa.int32()),
            "start": pa.array(f.ts_us[:-1][same], TS_TYPE),
            "ts": pa.array(f.ts_us[1:][same], TS_TYPE),
            "consumption_kwh": pa.array(consumption, pa.float64(), mask=reset),
            "event": event,
        }
    )
    notes = _null_note(f.nulls)
    for name, mask in (("rollover", rollover), ("reset", reset), ("decrease", decrease)):
        if int(mask.sum()):
            notes.append(f"{int(mask.sum())} {name} events")
    if int(reset.sum()):
        notes.append("consumption across a reset is unknown (null): read the old meter's last register")
    return AnalyticResult(table, {"consumption_kwh": "kWh"}, notes)
