"""Generation per local period: energy, capacity factor, peak output and hours producing.

Rows are interval values on a grid: average power or energy over [ts, ts + interval). The
interval is given or, per series, the smallest spacing between its rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Final, Literal

import numpy as np
import pyarrow as pa

from gridpulse.analytics.base import AnalyticResult
from gridpulse.analytics.estimated import UNITS as ESTIMATED_UNITS
from gridpulse.analytics.estimated import count_columns
from gridpulse.analytics.frames import (
    capacity_per_row,
    first_extreme,
    null_note,
    read_frame,
    row_interval_us,
    run_lengths,
    segment_starts,
)
from gridpulse.analytics.periods import US_PER_H, Period, local_periods, period_end_us
from gridpulse.errors import QueryError
from gridpulse.model import TS_TYPE

__all__ = ["GenerationUnit", "generation_summary"]

GenerationUnit = Literal["mw", "kw", "mwh", "kwh"]
#: Multiplier to MW or MWh, and whether the unit is energy (per interval) rather than power.
_UNITS: Final = {"mw": (1.0, False), "kw": (1e-3, False), "mwh": (1.0, True), "kwh": (1e-3, True)}


def generation_summary(
    frame: pa.Table,
    *,
    capacity_mw: float | Mapping[int, float],
    period: Period,
    tz: str,
    unit: GenerationUnit = "mw",
    interval: timedelta | None = None,
    producing_fraction: float = 0.01,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    quality: str = "quality",
) -> AnalyticResult:
    """Energy, capacity factor, peak output and hours producing per series and local period.

    capacity factor = energy / (capacity × hours in the local period), the hours of the whole
    period (23 or 25 on DST days) whether or not every interval has a value, so a period with
    missing rows comes out low; compare `intervals` with what the period should hold.
    A row is producing when its average power exceeds `producing_fraction` × capacity, which
    keeps inverter standby noise at night out of the hours producing.

    Args:
        frame: long frame of plant output, in `unit`.
        capacity_mw: nameplate capacity, one for all series or series id -> capacity. [MW]
        period: "hour", "day", "week" (ISO, Monday) or "month", on the wall clock of `tz`.
        tz: IANA zone of the plant.
        unit: "mw" or "kw" (average power over the interval), "mwh" or "kwh" (energy in it).
        interval: the rows' interval, or None for each series' smallest spacing. [timedelta]
        producing_fraction: share of capacity above which a row counts as producing. [1]
        series_id: name of the series id column.
        ts: name of the timestamp column (interval start, aware).
        value: name of the value column. [unit]
        quality: name of the column of quality flags (absent: none estimated).

    Returns:
        series_id, start, local_date, energy_mwh [MWh], capacity_factor [1], peak_mw [MW],
        peak_at (UTC start of the first interval at the peak), producing_h [h], period_h (hours
        of the local period) [h], intervals (non-null values), estimated_intervals (of them,
        estimates), estimated_share [1], peak_estimated (the peak interval is an estimate).

    Raises:
        QueryError: unknown unit, period or zone; a missing or non-positive capacity; bad frame.
    """
    if unit not in _UNITS:
        raise QueryError(f"unit={unit!r} is not one of {', '.join(_UNITS)}: say what the values are")
    if not 0 <= producing_fraction < 1:
        raise QueryError(f"producing_fraction={producing_fraction} must be in [0, 1), e.g. 0.01")
    f = read_frame(frame, series_id=series_id, ts=ts, value=value, quality=quality)
    capacity = capacity_per_row(f.series_id, capacity_mw, "capacity_mw")
    hours = row_interval_us(f, interval) / US_PER_H
    scale, is_energy = _UNITS[unit]
    energy = f.value * scale if is_energy else f.value * scale * hours
    power = energy / hours if is_energy else f.value * scale
    p = local_periods(f.ts_us, period=period, tz=tz)
    at = segment_starts(f.series_id, p.start_us)
    period_h = (period_end_us(p.start_us[at], period=period, tz=tz) - p.start_us[at]) / US_PER_H
    peak, first = first_extreme(power, at, np.maximum)
    intervals = run_lengths(at, len(f.ts_us))
    if len(at):
        energy_mwh = np.add.reduceat(energy, at)
        producing_h = np.add.reduceat(np.where(power > producing_fraction * capacity, hours, 0.0), at)
        estimated = np.add.reduceat(f.estimated, at)
    else:
        energy_mwh = producing_h = np.zeros(0)
        estimated = np.zeros(0, np.int64)
    table = pa.table(
        {
            "series_id": pa.array(f.series_id[at], pa.int32()),
            **p.columns(at),
            "energy_mwh": pa.array(energy_mwh, pa.float64()),
            "capacity_factor": pa.array(energy_mwh / (capacity[at] * period_h), pa.float64()),
            "peak_mw": pa.array(peak, pa.float64()),
            "peak_at": pa.array(f.ts_us[first], TS_TYPE),
            "producing_h": pa.array(producing_h, pa.float64()),
            "period_h": pa.array(period_h, pa.float64()),
            "intervals": pa.array(intervals, pa.int64()),
            **count_columns(estimated, intervals),
            "peak_estimated": pa.array(f.estimated[first] > 0, pa.bool_()),
        }
    )
    units = {
        "energy_mwh": "MWh",
        "capacity_factor": "1",
        "peak_mw": "MW",
        "producing_h": "h",
        "period_h": "h",
        **ESTIMATED_UNITS,
    }
    return AnalyticResult(table, units, null_note(f.nulls))
