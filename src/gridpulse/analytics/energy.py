"""Energy per local period: from interval energy, from power samples, and from register reads.

Periods are local calendar periods of the site's zone (`periods`): a local day lasts 23 or 25
hours on DST change days, and the repeated hour of a fall-back night is two "hour" periods.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.analytics.base import AnalyticResult
from gridpulse.analytics.estimated import HOURS_UNITS, count_columns, hours_columns
from gridpulse.analytics.estimated import UNITS as ESTIMATED_UNITS
from gridpulse.analytics.frames import (
    F64,
    I32,
    I64,
    interval_us,
    null_note,
    read_frame,
    run_lengths,
    segment_starts,
)
from gridpulse.analytics.periods import (
    US_PER_H,
    Period,
    Periods,
    check_period,
    local_periods,
    period_end_us,
)
from gridpulse.errors import QueryError
from gridpulse.model import TS_TYPE

__all__ = ["consumption_from_register_kwh", "energy_from_power_kwh", "energy_kwh"]

#: A rollover needs the previous read in the top tenth of the register and the new one in the bottom.
_ROLLOVER_BAND: Final = 0.1


def energy_kwh(
    frame: pa.Table,
    *,
    period: Period,
    tz: str,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    count: str | None = None,
    nulls: str | None = None,
    quality: str = "quality",
    estimated: str | None = None,
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
        count: name of a column holding how many intervals each row already sums, for a frame
            the store bucketed by `period` in `tz` (each row then is one period); None: each row
            is one interval.
        nulls: with `count`, name of a column counting the null values each row left out (for
            the notes, as a frame of intervals would have them).
        quality: name of the column of quality flags of a frame of intervals (absent: none
            estimated).
        estimated: with `count`, name of a column counting each row's estimated values.

    Returns:
        series_id, start (UTC instant of the local period start), local_date (date of the local
        start), energy_kwh [kWh], intervals (non-null values summed), estimated_intervals (of
        them, estimates), estimated_share [1]; notes count skipped nulls.

    Raises:
        QueryError: unknown period or zone, missing columns, naive ts, duplicate (series, ts).
    """
    check_period(period, tz)
    skipped = 0
    if count is not None:  # a bucket with no non-null value has no energy, as a run of nulls
        if nulls is not None:
            skipped = int(pc.sum(frame.column(nulls)).as_py() or 0)
        frame = frame.filter(pc.is_valid(frame.column(value)))
    f = read_frame(frame, series_id=series_id, ts=ts, value=value, quality=quality, estimated=estimated)
    p = local_periods(f.ts_us, period=period, tz=tz)
    at = segment_starts(f.series_id, p.start_us)
    energy = np.add.reduceat(f.value, at) if len(at) else f.value
    est = np.add.reduceat(f.estimated, at) if len(at) else f.estimated
    if count is not None:
        per_row = read_frame(frame, series_id=series_id, ts=ts, value=count).value  # same order
        intervals = np.add.reduceat(per_row, at).astype(np.int64) if len(at) else per_row.astype(np.int64)
    else:
        intervals = run_lengths(at, len(f.value))
    table = pa.table(
        {
            "series_id": pa.array(f.series_id[at], pa.int32()),
            **p.columns(at),
            "energy_kwh": pa.array(energy, pa.float64()),
            "intervals": pa.array(intervals, pa.int64()),
            **count_columns(est, intervals),
        }
    )
    table = table.sort_by([("series_id", "ascending"), ("start", "ascending")])
    return AnalyticResult(table, {"energy_kwh": "kWh", **ESTIMATED_UNITS}, null_note(f.nulls + skipped))


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
    quality: str = "quality",
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
    samples are dropped first, so they widen the interval around them. The time an estimated
    sample holds is estimated time ("instant": a trapezoid counts half for each estimated end).

    Args:
        frame: long frame of power samples. [kW]
        period: "hour", "day", "week" (ISO, Monday) or "month", on the wall clock of `tz`.
        tz: IANA zone of the site.
        max_gap: the longest interval between samples that is bridged. [timedelta]
        samples: "instant" or "interval_average", as above.
        series_id: name of the series id column.
        ts: name of the timestamp column (aware).
        value: name of the value column. [kW]
        quality: name of the column of quality flags (absent: none estimated).

    Returns:
        series_id, start, local_date, energy_kwh [kWh], covered_h (time bridged [h]), gaps
        (intervals longer than max_gap starting in the period), estimated_h (of covered_h, the
        time held by estimates [h]), estimated_share [1]; periods with no bridged time and no
        gap have no row.

    Raises:
        QueryError: unknown period, zone or samples, max_gap not positive, bad frame.
    """
    check_period(period, tz)
    if samples not in ("instant", "interval_average"):
        raise QueryError(f"samples={samples!r} is not 'instant' or 'interval_average': pick one")
    gap_us = interval_us(max_gap, "max_gap")
    f = read_frame(frame, series_id=series_id, ts=ts, value=value, quality=quality)
    sid, t, v = f.series_id, f.ts_us, f.value
    est = (f.estimated > 0).astype(np.float64)
    same = sid[1:] == sid[:-1]
    dt = np.where(same, t[1:] - t[:-1], -1)  # -1: no next sample in this series
    gap = dt > gap_us
    if samples == "instant":
        keep = same & ~gap
        a, b = t[:-1][keep], t[1:][keep]
        energy = (v[:-1][keep] + v[1:][keep]) / 2 * (b - a) / US_PER_H
        weight = (est[:-1][keep] + est[1:][keep]) / 2
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
        weight = est[keep]
    pieces = _split_by_period(who, a, b, energy, weight, period=period, tz=tz)
    at = t[:-1][gap]
    g = local_periods(at, period=period, tz=tz)
    zero = np.zeros(len(at), np.int64)
    gaps = _pieces(sid[:-1][gap], g, zero.astype(np.float64), zero, zero + 1, zero.astype(np.float64))
    keys = ["series_id", "start", "local_date"]
    sums = ("energy_kwh", "covered_us", "gaps", "estimated_us")
    table = (
        pa.concat_tables([pieces, gaps])
        .group_by(keys, use_threads=False)
        .aggregate([(c, "sum") for c in sums])
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
            **hours_columns(
                table.column("estimated_us_sum").to_numpy(), table.column("covered_us_sum").to_numpy()
            ),
        }
    )
    notes = null_note(f.nulls)
    if int(gap.sum()):
        notes.append(f"{int(gap.sum())} gaps longer than {max_gap} not bridged")
    return AnalyticResult(table, {"energy_kwh": "kWh", "covered_h": "h", **HOURS_UNITS}, notes)


def _pieces(sid: I32, p: Periods, energy: F64, covered_us: I64, gaps: I64, estimated_us: F64) -> pa.Table:
    """Rows to aggregate by (series_id, start, local_date)."""
    return pa.table(
        {
            "series_id": pa.array(sid, pa.int32()),
            **p.columns(),
            "energy_kwh": pa.array(energy, pa.float64()),
            "covered_us": pa.array(covered_us, pa.int64()),
            "gaps": pa.array(gaps, pa.int64()),
            "estimated_us": pa.array(estimated_us, pa.float64()),
        }
    )


def _split_by_period(sid: I32, a: I64, b: I64, energy: F64, weight: F64, *, period: str, tz: str) -> pa.Table:
    """Pieces of intervals [a, b) cut at local period boundaries, energy shared by time; each
    piece's estimated time is its time × the interval's estimated `weight` (0, 0.5 or 1)."""
    parts: list[pa.Table] = []
    while True:
        p = local_periods(a, period=period, tz=tz)
        end = period_end_us(p.start_us, period=period, tz=tz)
        cut = np.minimum(b, end)
        share = energy * ((cut - a) / np.maximum(b - a, 1))
        parts.append(_pieces(sid, p, share, cut - a, np.zeros(len(a), np.int64), weight * (cut - a)))
        more = b > end
        if not more.any():
            return pa.concat_tables(parts)
        sid, a, b, energy, weight = sid[more], end[more], b[more], (energy - share)[more], weight[more]


def consumption_from_register_kwh(
    frame: pa.Table,
    *,
    rollover_kwh: float | None = None,
    reset_drop_fraction: float = 0.5,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    quality: str = "quality",
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
        quality: name of the column of quality flags (absent: none estimated).

    Returns:
        series_id, start (the previous read's ts), ts (this read's ts; the interval is
        [start, ts)), consumption_kwh [kWh], event ("", "rollover", "reset", "decrease"),
        estimated (either read is an estimate); one row per read after the first of each series.

    Raises:
        QueryError: rollover_kwh not positive, reset_drop_fraction outside (0, 1], bad frame.
    """
    if rollover_kwh is not None and rollover_kwh <= 0:
        raise QueryError(f"rollover_kwh={rollover_kwh} must be positive (the register maximum), or None")
    if not 0 < reset_drop_fraction <= 1:
        raise QueryError(f"reset_drop_fraction={reset_drop_fraction} must be in (0, 1], e.g. 0.5")
    f = read_frame(frame, series_id=series_id, ts=ts, value=value, quality=quality)
    same = f.series_id[1:] == f.series_id[:-1]
    prev, cur = f.value[:-1][same], f.value[1:][same]
    est = f.estimated > 0
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
            "estimated": pa.array(est[:-1][same] | est[1:][same], pa.bool_()),
        }
    )
    notes = null_note(f.nulls)
    for name, mask in (("rollover", rollover), ("reset", reset), ("decrease", decrease)):
        if int(mask.sum()):
            notes.append(f"{int(mask.sum())} {name} events")
    if int(reset.sum()):
        notes.append("consumption across a reset is unknown (null): read the old meter's last register")
    return AnalyticResult(table, {"consumption_kwh": "kWh"}, notes)
