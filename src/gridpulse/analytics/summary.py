"""Summary of a group of series per local period: total, average, peak and minimum of their sum.

A group is every series handed in (all meters of a site or an organisation), or, with
`series_info`, the groups it names. The group's value at an instant is the sum of its series'
values there; the period's statistics are over those sums. Series of one group should share an
interval and its grid (15-minute meters with 15-minute meters), or the sums mix unlike instants.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.analytics.base import AnalyticResult
from gridpulse.analytics.estimated import UNITS as ESTIMATED_UNITS
from gridpulse.analytics.estimated import count_columns
from gridpulse.analytics.frames import (
    I32,
    I64,
    first_extreme,
    null_note,
    read_frame,
    run_lengths,
    segment_starts,
)
from gridpulse.analytics.periods import Period, local_periods
from gridpulse.errors import QueryError
from gridpulse.model import TS_TYPE

__all__ = ["summarise"]


def summarise(
    frame: pa.Table,
    *,
    period: Period,
    tz: str,
    unit: str = "kWh",
    series_info: Mapping[int, str] | None = None,
    series_id: str = "series_id",
    ts: str = "ts",
    value: str = "value",
    count: str | None = None,
    nulls: str | None = None,
    quality: str = "quality",
    estimated: str | None = None,
) -> AnalyticResult:
    """Total, average, peak and minimum of a group's summed values per local period.

    total is the sum of every value in the period (energy for an energy unit); average, peak
    and minimum are over the group's sums at each instant (average = total / intervals). Ties
    for peak and minimum go to the earliest instant. A series missing at an instant simply adds
    nothing there: compare `values` with intervals × series to spot it.

    Args:
        frame: long frame of the group's series, all in `unit`.
        period: "hour", "day", "week" (ISO, Monday) or "month", on the wall clock of `tz`.
        tz: IANA zone of the site or organisation.
        unit: the values' unit, e.g. "kWh"; it names the columns ("kWh" -> total_kwh).
        series_info: series id -> group name; None puts every series in group "all".
        series_id: name of the series id column.
        ts: name of the timestamp column (aware).
        value: name of the value column. [unit]
        count: name of a column holding how many values each row already sums, for a frame of
            sums the store made (`store.read_totals` at RAW: one row per group and instant);
            None: each row is one value.
        nulls: with `count`, name of a column counting the null values each row left out (for
            the notes).
        quality: name of the column of quality flags of a frame of values (absent: none
            estimated).
        estimated: with `count`, name of a column counting each row's estimated values.

    Returns:
        group, start, local_date, total_<unit>, average_<unit>, peak_<unit>, peak_at,
        minimum_<unit>, minimum_at, intervals (instants with a value), values (values summed),
        estimated_values (of them, estimates), estimated_share [1], peak_estimated and
        minimum_estimated (the sum at the peak or minimum instant holds an estimate).

    Raises:
        QueryError: a unit that cannot name a column, a series missing from series_info,
            unknown period or zone, bad frame.
    """
    suffix = re.sub(r"[^a-z0-9]+", "_", unit.lower()).strip("_")
    if not suffix:
        raise QueryError(f"unit={unit!r} cannot name a column: pass e.g. 'kWh' or 'MW'")
    skipped = int(pc.sum(frame.column(nulls)).as_py() or 0) if count is not None and nulls is not None else 0
    if count is not None:  # an instant where no series had a value has no sum, as a null value
        frame = frame.filter(pc.is_valid(frame.column(value)))
    f = read_frame(frame, series_id=series_id, ts=ts, value=value, quality=quality, estimated=estimated)
    names, group = _groups(f.series_id, series_info)
    order = np.lexsort((f.ts_us, group))
    group, t, v, e = group[order], f.ts_us[order], f.value[order], f.estimated[order]
    inst = segment_starts(group, t)
    if count is None:
        counts = run_lengths(inst, len(t))
    else:
        per_row = read_frame(frame, series_id=series_id, ts=ts, value=count).value[order]  # same order
        counts = np.add.reduceat(per_row, inst).astype(np.int64) if len(inst) else per_row.astype(np.int64)
    group, t = group[inst], t[inst]
    summed = np.add.reduceat(v, inst) if len(inst) else v
    est = np.add.reduceat(e, inst) if len(inst) else e
    p = local_periods(t, period=period, tz=tz)
    at = segment_starts(group, p.start_us)
    peak, peak_i = first_extreme(summed, at, np.maximum)
    low, low_i = first_extreme(summed, at, np.minimum)
    if len(at):
        total = np.add.reduceat(summed, at)
        values = np.add.reduceat(counts, at)
        estimated_values = np.add.reduceat(est, at)
    else:
        total, values, estimated_values = summed, counts, est
    intervals = run_lengths(at, len(t))
    table = pa.table(
        {
            "group": pa.array(np.asarray(names, dtype=object)[group[at]], pa.string()),
            **p.columns(at),
            f"total_{suffix}": pa.array(total, pa.float64()),
            f"average_{suffix}": pa.array(total / np.maximum(intervals, 1), pa.float64()),
            f"peak_{suffix}": pa.array(peak, pa.float64()),
            "peak_at": pa.array(t[peak_i], TS_TYPE),
            f"minimum_{suffix}": pa.array(low, pa.float64()),
            "minimum_at": pa.array(t[low_i], TS_TYPE),
            "intervals": pa.array(intervals, pa.int64()),
            "values": pa.array(values, pa.int64()),
            **count_columns(estimated_values, values, "values"),
            "peak_estimated": pa.array(est[peak_i] > 0, pa.bool_()),
            "minimum_estimated": pa.array(est[low_i] > 0, pa.bool_()),
        }
    )
    units = {f"{stat}_{suffix}": unit for stat in ("total", "average", "peak", "minimum")}
    return AnalyticResult(table, {**units, **ESTIMATED_UNITS}, null_note(f.nulls + skipped))


def _groups(sid: I32, series_info: Mapping[int, str] | None) -> tuple[list[str], I64]:
    """Group names in order and each row's index into them."""
    if series_info is None:
        return ["all"], np.zeros(len(sid), np.int64)
    names = sorted(set(series_info.values()))
    index = {name: i for i, name in enumerate(names)}
    ids = np.unique(sid)
    missing = [int(s) for s in ids if int(s) not in series_info]
    if missing:
        raise QueryError(f"series {missing[:5]} are not in series_info: add them or drop them from the frame")
    code = np.asarray([index[series_info[int(s)]] for s in ids], np.int64)
    out: I64 = code[np.searchsorted(ids, sid)]
    return names, out
