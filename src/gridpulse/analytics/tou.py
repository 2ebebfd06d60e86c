"""Time-of-use views of interval energy: cost per tariff period, and the average local day.

Both work on the local wall clock of each interval's start in a zone, so daylight-saving days
come out as the clock on the wall shows them: on a fall-back day the repeated hour 02:00-03:00
is two different hours that both read 02:xx; on a spring-forward day there is no 02:xx at all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import date
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.analytics.base import AnalyticResult
from gridpulse.analytics.estimated import UNITS as ESTIMATED_UNITS
from gridpulse.analytics.estimated import count_columns
from gridpulse.analytics.frames import I64, Mask, as_int64, frame_arrays, group_sums, row_estimates
from gridpulse.analytics.periods import US_PER_DAY, US_PER_MIN, epoch_days, wall_clock_us, weekdays
from gridpulse.analytics.tariffs import DAY_NAMES, Tariff, holiday_days
from gridpulse.errors import QueryError
from gridpulse.timeutil import zone

__all__ = ["DAY_TYPES", "average_day_profile", "tou_energy_cost"]

#: Day types `average_day_profile` knows besides the day names "mon" .. "sun".
DAY_TYPES: Final = ("weekday", "weekend", "holiday", "all")


def tou_energy_cost(
    frame: pa.Table,
    *,
    tariff: Tariff,
    by_day: bool = False,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    quality: str = "quality",
) -> AnalyticResult:
    """Energy and its cost per tariff period and series (and local day), priced by `tariff`.

    Each interval's energy goes wholly to the period of the local wall-clock time of its start in
    the tariff's zone, so intervals should not be longer than the tariff's finest boundary (an
    hour starting 06:30 with a 07:00 boundary is priced at the 06:30 price). On the fall-back day
    both 02:00-03:00 hours are priced as 02:xx; holidays come from the tariff's country.
    cost = energy_kwh × price_per_kwh, summed over the intervals of the group.

    Args:
        frame: long frame of interval energy: series_id, ts (UTC instant of the interval start),
            value (energy in the interval) [kWh]; null values are left out.
        tariff: the tariff; its `tz` decides the local clock and, with by_day, the local date.
        by_day: also group by local date in the tariff's zone.
        series_id, ts, value: column names.
        quality: name of the column of quality flags (absent: none estimated).

    Returns:
        One row per series, [local_date,] and tariff period entry that has energy, in tariff order:
        series_id, [local_date,] period, energy_kwh [kWh], cost [tariff currency],
        price_per_kwh [currency/kWh], estimated_intervals (estimates among the intervals
        priced), estimated_share [1]. Two entries with the same name (a summer and a winter
        peak) give two rows.

    Raises:
        QueryError: a missing or mistyped column, or a time no period of a hand-built tariff covers.
    """
    sid, ts_us, val, valid = frame_arrays(frame, series_id=series_id, ts=ts, value=value)
    est = row_estimates(frame, quality=quality)[valid]
    sid, ts_us, val = sid[valid], ts_us[valid], val[valid]
    # every series shares one grid: classify each distinct instant once
    instants, inverse = np.unique(ts_us, return_inverse=True)
    wall_u = wall_clock_us(instants, tariff.tz)
    period_u = tariff.period_index_wall_us(wall_u)
    if (period_u < 0).any():
        raise QueryError(
            f"tariff {tariff.name!r} prices no period at some local times: add a catch-all period"
        )
    period_i = period_u[inverse]
    day_i = (wall_u // US_PER_DAY)[inverse] if by_day else np.zeros(len(sid), np.int64)
    (s_g, d_g, p_g), (energy, estimated), intervals = group_sums(
        [sid.astype(np.int64), day_i, period_i], [val, est]
    )
    price_of = np.array([p.price_per_kwh for p in tariff.periods], np.float64)
    columns: dict[str, pa.Array] = {"series_id": pa.array(s_g, pa.int64()).cast(pa.int32())}
    if by_day:
        columns["local_date"] = pa.array(d_g.astype(np.int32), pa.int32()).cast(pa.date32())
    names = pa.array([p.name for p in tariff.periods], pa.string()).take(pa.array(p_g))
    table = pa.table(
        {
            **columns,
            "period": names,
            "energy_kwh": pa.array(energy, pa.float64()),
            "cost": pa.array(energy * price_of[p_g], pa.float64()),
            "price_per_kwh": pa.array(price_of[p_g], pa.float64()),
            **count_columns(estimated, intervals),
        }
    )
    notes = []
    if not valid.all():
        notes.append(f"{int((~valid).sum())} intervals with a null value are left out (no energy, no cost)")
    units = {
        "energy_kwh": "kWh",
        "cost": tariff.currency,
        "price_per_kwh": f"{tariff.currency}/kWh",
        **ESTIMATED_UNITS,
    }
    return AnalyticResult(table, units=units, notes=notes)


def average_day_profile(
    frame: pa.Table,
    *,
    tz: str,
    points: int = 24,
    day_types: Sequence[str] = ("weekday", "weekend"),
    holidays: str | Collection[date] | None = None,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    nulls: str | None = None,
    count: str | None = None,
    quality: str = "quality",
    estimated: str | None = None,
) -> AnalyticResult:
    """The average energy per local time-of-day slot and day type, with the days averaged.

    Interval energy is first summed into slots of the local wall clock (24 hourly or 96
    quarter-hourly), per real slot: on a fall-back day the two 02:00 hours are two slots with the
    same local time, and their mean is that day's 02:00 value (so a 25-hour day counts as one day
    with 24 slot values). A spring-forward day has no 02:xx slot and does not count in that slot's
    `days`. Slots take whatever intervals arrived; check `coverage` first, since a slot with half
    its intervals counts as a low value. Day types: "weekday" (Mon-Fri), "weekend" (Sat, Sun),
    "holiday", "all", or a day name "mon" .. "sun"; a holiday is a weekend day and a "sun", never
    a "weekday" (as in tariffs).

    Args:
        frame: long frame of interval energy (series_id, ts as a UTC instant of the interval
            start, value) [kWh]; null values are left out.
        tz: IANA zone of the local clock and days.
        points: slots per day, 24 (hours) or 96 (quarter-hours).
        day_types: the day types to report, in output order.
        holidays: a country code of the `holidays` package ("NL"), or the holiday dates, or None.
        series_id, ts, value: column names.
        nulls: name of a column counting null values each row left out, for a frame the store
            already summed per hour (`read_frame(..., resolution=HOUR, agg=SUM)`, points=24:
            each hour bucket is one slot); None: each row is one interval.
        count: for such a frame, name of the column counting the intervals each row sums.
        quality: name of the column of quality flags of a frame of intervals (absent: none
            estimated).
        estimated: for a frame of sums, name of the column counting each row's estimated values.

    Returns:
        Rows by series, day type (in the order asked) and slot: series_id, day_type, slot
        (0-based), local_time ("HH:MM", slot start), energy_kwh (mean energy in the slot over the
        days that have it) [kWh], days (days averaged), estimated_intervals (estimates among the
        intervals behind the mean), estimated_share [1].

    Raises:
        QueryError: unknown zone, points not 24 or 96, an unknown day type, or a bad frame.
    """
    zone(tz)
    if points not in (24, 96):
        raise QueryError(f"points={points} is not supported: use 24 (hourly) or 96 (quarter-hourly)")
    unknown = [d for d in day_types if d not in DAY_TYPES and d not in DAY_NAMES]
    if unknown or not day_types:
        raise QueryError(
            f"day_types={list(day_types)!r} has an unknown entry: use {', '.join(DAY_TYPES)} or mon .. sun"
        )
    slot_us = US_PER_DAY // points
    sid, ts_us, val, valid = frame_arrays(frame, series_id=series_id, ts=ts, value=value)
    est = row_estimates(frame, quality=quality, estimated=estimated)
    n = _row_counts(frame, count)
    if not valid.all():
        sid, ts_us, val, est, n = sid[valid], ts_us[valid], val[valid], est[valid], n[valid]
    wall = wall_clock_us(ts_us, tz)
    # keys in slots, not µs, so they span little and group without a sort; the UTC offset
    # tells the two passes through a repeated hour apart
    (s_r, w_r, _off), (v_r, e_r, n_r), _n = group_sums(
        [sid.astype(np.int64), wall // slot_us, _offset_codes(wall - ts_us)], [val, est, n]
    )
    (s_d, w_d), (v_sum, e_d, n_d), n_real = group_sums([s_r, w_r], [v_r, e_r, n_r])
    v_d = v_sum / n_real
    day = w_d // points
    slot = w_d - day * points
    # day types per calendar day of the range, then looked up per row
    first_day = int(day.min()) if len(day) else 0
    days = np.arange(first_day, int(day.max()) + 1 if len(day) else 0, dtype=np.int64)
    is_holiday = np.isin(days, _holiday_set(holidays, days))
    weekday = np.where(is_holiday, DAY_NAMES.index("sun"), weekdays(days))
    out_s, out_k, out_slot, out_v, out_n, out_e, out_i = [], [], [], [], [], [], []
    for rank, kind in enumerate(day_types):
        on_day = _day_mask(kind, weekday, is_holiday)
        keys, columns = [s_d, slot], [v_d, e_d, n_d]
        if not on_day.all():
            pick = on_day[day - first_day]
            keys, columns = [k[pick] for k in keys], [c[pick] for c in columns]
        (s_k, slot_k), (total, e_k, i_k), days_k = group_sums(keys, columns)
        out_s.append(s_k)
        out_k.append(np.full(len(s_k), rank, np.int64))
        out_slot.append(slot_k)
        out_v.append(total / np.maximum(days_k, 1))
        out_n.append(days_k)
        out_e.append(e_k)
        out_i.append(i_k)
    order = np.lexsort((np.concatenate(out_slot), np.concatenate(out_k), np.concatenate(out_s)))
    kinds = pa.array(list(day_types), pa.string()).take(pa.array(np.concatenate(out_k)[order]))
    slots = np.concatenate(out_slot)[order]
    labels = [f"{m // 60:02d}:{m % 60:02d}" for m in range(0, 1440, slot_us // US_PER_MIN)]
    table = pa.table(
        {
            "series_id": pa.array(np.concatenate(out_s)[order], pa.int64()).cast(pa.int32()),
            "day_type": kinds,
            "slot": pa.array(slots, pa.int32()),
            "local_time": pa.array(labels, pa.string()).take(pa.array(slots)),
            "energy_kwh": pa.array(np.concatenate(out_v)[order], pa.float64()),
            "days": pa.array(np.concatenate(out_n)[order], pa.int64()),
            **count_columns(np.concatenate(out_e)[order], np.concatenate(out_i)[order]),
        }
    )
    left_out = int(pc.sum(frame.column(nulls)).as_py() or 0) if nulls is not None else int((~valid).sum())
    notes = [f"{left_out} null values left out"] if left_out else []
    return AnalyticResult(table, units={"energy_kwh": "kWh", "days": "days", **ESTIMATED_UNITS}, notes=notes)


def _offset_codes(offset_us: I64) -> I64:
    """UTC offsets numbered 0, 1, .. in steps of their greatest common difference (a zone with
    summer time: 0 and 1), so they widen a grouping key by a factor of 2, not 3.6e9."""
    if len(offset_us) == 0:
        return offset_us
    rel = offset_us - offset_us.min()
    step = int(np.gcd.reduce(rel))
    out: I64 = rel // step if step else rel
    return out


def _row_counts(frame: pa.Table, count: str | None) -> I64:
    """Intervals each row stands for: the `count` column of a frame of sums, else 1."""
    if count is None:
        return np.ones(frame.num_rows, np.int64)
    if count not in frame.column_names:
        raise QueryError(f"the frame has no column {count!r} (it has {frame.column_names}): pass count=None")
    return as_int64(frame.column(count).fill_null(0))


def _holiday_set(holidays: str | Collection[date] | None, days: I64) -> I64:
    """Holiday dates as days since 1970-01-01, from a country code or explicit dates."""
    if holidays is None:
        return np.empty(0, np.int64)
    if isinstance(holidays, str):
        try:
            return holiday_days(holidays, None, days)
        except NotImplementedError:
            raise QueryError(
                f"holidays={holidays!r} is not a country code of the holidays package (e.g. NL)"
            ) from None
    return epoch_days(holidays)


_DAY_MASKS: Final[dict[str, Callable[[I64, Mask], Mask]]] = {
    "all": lambda weekday, is_holiday: np.ones(len(weekday), np.bool_),
    "holiday": lambda weekday, is_holiday: is_holiday,
    "weekday": lambda weekday, is_holiday: weekday < 5,
    "weekend": lambda weekday, is_holiday: weekday >= 5,
}


def _day_mask(kind: str, weekday: I64, is_holiday: Mask) -> Mask:
    """Which days (weekday already Sunday on holidays) belong to the day type `kind`."""
    if kind in _DAY_MASKS:
        return _DAY_MASKS[kind](weekday, is_holiday)
    mask: Mask = weekday == DAY_NAMES.index(kind)
    return mask
