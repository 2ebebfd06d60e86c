"""Batteries: daily state-of-charge range, equivalent full cycles, time spent at low charge.

State of charge is sampled at instants (`StateOfChargePercentage` [%]); battery power is the
average over each interval (`power_kw` [kW], positive = discharge). Both are integrated with
`energy.energy_from_power_kwh` and its "interval_average" convention: a sample holds until the
next one, for at most `max_gap`; a longer spacing is a gap, counted and not bridged beyond that.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.analytics.base import AnalyticResult
from gridpulse.analytics.energy import energy_from_power_kwh
from gridpulse.analytics.estimated import HOURS_UNITS, count_columns
from gridpulse.analytics.estimated import UNITS as ESTIMATED_UNITS
from gridpulse.analytics.frames import (
    capacity_per_row,
    first_extreme,
    null_note,
    read_frame,
    run_lengths,
    segment_starts,
)
from gridpulse.analytics.periods import Period, local_periods
from gridpulse.errors import QueryError
from gridpulse.model import TS_TYPE

__all__ = ["equivalent_full_cycles", "soc_daily", "time_below_threshold"]

_HOUR = timedelta(hours=1)


def soc_daily(
    frame: pa.Table,
    *,
    tz: str,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    quality: str = "quality",
) -> AnalyticResult:
    """Lowest and highest state of charge per series and local day, and when they were reached.

    Only the samples count (no interpolation between them); ties go to the earliest sample.

    Args:
        frame: long frame of state-of-charge samples. [%]
        tz: IANA zone of the battery's site.
        series_id: name of the series id column.
        ts: name of the timestamp column (sample instant, aware).
        value: name of the value column. [%]
        quality: name of the column of quality flags (absent: none estimated).

    Returns:
        series_id, start (UTC instant of local midnight), local_date, soc_min_pct [%],
        soc_max_pct [%], soc_min_at, soc_max_at (UTC instants), samples, estimated_samples (of
        them, estimates), estimated_share [1], soc_min_estimated, soc_max_estimated (the sample
        at the minimum or maximum is an estimate).

    Raises:
        QueryError: unknown zone, bad frame.
    """
    f = read_frame(frame, series_id=series_id, ts=ts, value=value, quality=quality)
    p = local_periods(f.ts_us, period="day", tz=tz)
    at = segment_starts(f.series_id, p.start_us)
    low, low_i = first_extreme(f.value, at, np.minimum)
    high, high_i = first_extreme(f.value, at, np.maximum)
    samples = run_lengths(at, len(f.ts_us))
    estimated = np.add.reduceat(f.estimated, at) if len(at) else np.zeros(0, np.int64)
    table = pa.table(
        {
            "series_id": pa.array(f.series_id[at], pa.int32()),
            **p.columns(at),
            "soc_min_pct": pa.array(low, pa.float64()),
            "soc_max_pct": pa.array(high, pa.float64()),
            "soc_min_at": pa.array(f.ts_us[low_i], TS_TYPE),
            "soc_max_at": pa.array(f.ts_us[high_i], TS_TYPE),
            "samples": pa.array(samples, pa.int64()),
            **count_columns(estimated, samples, "samples"),
            "soc_min_estimated": pa.array(f.estimated[low_i] > 0, pa.bool_()),
            "soc_max_estimated": pa.array(f.estimated[high_i] > 0, pa.bool_()),
        }
    )
    units = {"soc_min_pct": "%", "soc_max_pct": "%", **ESTIMATED_UNITS}
    return AnalyticResult(table, units, null_note(f.nulls))


def _held(
    frame: pa.Table,
    column: pa.ChunkedArray,
    *,
    period: Period,
    tz: str,
    max_gap: timedelta,
    names: tuple[str, str, str, str],
) -> AnalyticResult:
    """`column`, in place of the value column, held from each sample to the next, summed per period.

    Args:
        frame: long frame whose value column `column` replaces.
        column: the values to hold, e.g. power [kW] or a 0/1 indicator. [unit]
        period: as for `energy.energy_from_power_kwh`.
        tz: IANA zone of the site.
        max_gap: the longest spacing between samples that is bridged. [timedelta]
        names: the series id, timestamp, value and quality column names.

    Returns:
        As `energy.energy_from_power_kwh` with samples="interval_average": `energy_kwh` holds the
        sum of value × time held [unit × h], estimated_h the time held by estimated samples.
    """
    series_id, ts, value, quality = names
    return energy_from_power_kwh(
        frame.set_column(frame.column_names.index(value), value, column),
        period=period,
        tz=tz,
        max_gap=max_gap,
        samples="interval_average",
        series_id=series_id,
        ts=ts,
        value=value,
        quality=quality,
    )


def _clean(frame: pa.Table, value: str) -> pa.ChunkedArray:
    """The value column as float64 with NaN turned into null."""
    if value not in frame.column_names:
        raise QueryError(f"the frame has no column {value!r} (it has {frame.column_names}): pass value=")
    col = pc.cast(frame.column(value), pa.float64())
    return pc.if_else(pc.is_nan(col), pa.scalar(None, pa.float64()), col)


def equivalent_full_cycles(
    power_frame: pa.Table,
    *,
    capacity_kwh: float | Mapping[int, float],
    tz: str,
    period: Period = "day",
    max_gap: timedelta = _HOUR,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    quality: str = "quality",
) -> AnalyticResult:
    """Equivalent full cycles per series and local period: discharged energy / usable capacity.

    Convention: one cycle is discharging the usable capacity once, so cycles = discharge
    throughput [kWh] / capacity_kwh; charging is reported (`charged_kwh`) but not added, which
    keeps round-trip losses out of the count. Power is integrated as interval averages.

    Args:
        power_frame: long frame of battery power, average over each interval, positive =
            discharge. [kW]
        capacity_kwh: usable capacity, one for all series or series id -> capacity. [kWh]
        tz: IANA zone of the battery's site.
        period: "hour", "day", "week" (ISO, Monday) or "month".
        max_gap: the longest spacing between samples that is bridged. [timedelta]
        series_id: name of the series id column.
        ts: name of the timestamp column (interval start, aware).
        value: name of the value column. [kW]
        quality: name of the column of quality flags (absent: none estimated).

    Returns:
        series_id, start, local_date, discharged_kwh [kWh], charged_kwh [kWh], cycles [1],
        covered_h [h], gaps, estimated_h (of covered_h, held by estimated samples) [h],
        estimated_share [1].

    Raises:
        QueryError: a missing or non-positive capacity, unknown period or zone, bad frame.
    """
    power = _clean(power_frame, value)
    zero = pa.scalar(0.0, pa.float64())
    discharge = pc.if_else(pc.greater(power, 0), power, zero)
    charge = pc.if_else(pc.less(power, 0), pc.negate(power), zero)
    names = (series_id, ts, value, quality)
    out = _held(power_frame, discharge, period=period, tz=tz, max_gap=max_gap, names=names)
    charged = _held(power_frame, charge, period=period, tz=tz, max_gap=max_gap, names=names)
    charged_kwh = charged.table.column("energy_kwh")
    sid = out.table.column("series_id").to_numpy()
    discharged = out.table.column("energy_kwh").to_numpy()
    capacity = capacity_per_row(sid, capacity_kwh, "capacity_kwh")
    table = (
        out.table.rename_columns(
            ["series_id", "start", "local_date", "discharged_kwh", *out.table.column_names[4:]]
        )
        .add_column(4, "charged_kwh", charged_kwh)
        .add_column(5, "cycles", pa.array(discharged / capacity, pa.float64()))
    )
    units = {
        "discharged_kwh": "kWh",
        "charged_kwh": "kWh",
        "cycles": "1",
        "covered_h": "h",
        **HOURS_UNITS,
    }
    return AnalyticResult(table, units, out.notes)


def time_below_threshold(
    frame: pa.Table,
    *,
    threshold_pct: float = 20,
    tz: str,
    period: Period = "day",
    max_gap: timedelta = _HOUR,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    quality: str = "quality",
) -> AnalyticResult:
    """Hours per series and local period with the state of charge below a threshold.

    Each sample holds until the next (sample and hold), for at most `max_gap`; the last sample
    of a series holds as long as the spacing before it. Time is split between periods at
    their boundaries.

    Args:
        frame: long frame of state-of-charge samples. [%]
        threshold_pct: below this the battery counts as low (strictly below). [%]
        tz: IANA zone of the battery's site.
        period: "hour", "day", "week" (ISO, Monday) or "month".
        max_gap: the longest spacing between samples that is bridged. [timedelta]
        series_id: name of the series id column.
        ts: name of the timestamp column (sample instant, aware).
        value: name of the value column. [%]
        quality: name of the column of quality flags (absent: none estimated).

    Returns:
        series_id, start, local_date, below_h [h], covered_h (time with a held sample) [h], gaps,
        estimated_h (of covered_h, held by estimated samples) [h], estimated_share [1].

    Raises:
        QueryError: unknown period or zone, max_gap not positive, bad frame.
    """
    if not 0 <= threshold_pct <= 100:
        raise QueryError(f"threshold_pct={threshold_pct} must be a percentage (0..100)")
    below = pc.cast(pc.less(_clean(frame, value), threshold_pct), pa.float64())
    names = (series_id, ts, value, quality)
    out = _held(frame, below, period=period, tz=tz, max_gap=max_gap, names=names)
    # a 0/1 indicator integrated over time is the time it was 1
    table = out.table.rename_columns(
        ["series_id", "start", "local_date", "below_h", *out.table.column_names[4:]]
    )
    return AnalyticResult(table, {"below_h": "h", "covered_h": "h", **HOURS_UNITS}, out.notes)
