"""Feeder energy balance: the feeder-head measurement against the sum of the meters behind it.

losses_kwh = feeder_kwh - meters_kwh and losses_pct = 100 × losses_kwh / feeder_kwh: the share of
the energy entering at the head that no meter records (technical losses plus unmetered use and
meter error). A meter that has not reported makes the meters' sum short and the losses look
larger than they are, so each period says how many meters were expected and how many reported.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.analytics.base import AnalyticResult
from gridpulse.analytics.estimated import UNITS as ESTIMATED_UNITS
from gridpulse.analytics.estimated import count_columns
from gridpulse.analytics.frames import (
    F64,
    I64,
    Mask,
    first_repeat,
    frame_arrays,
    grid_count,
    instant_us,
    interval_us,
    row_estimates,
)
from gridpulse.analytics.periods import local_periods, period_end_us
from gridpulse.errors import QueryError
from gridpulse.model import TS_TYPE
from gridpulse.timeutil import zone

__all__ = ["PERIODS", "feeder_balance"]

#: The local periods `feeder_balance` groups by: hours of the local clock and local days.
PERIODS: Final = ("hour", "day")
_OPEN: Final = 2**62  # an open end of a mapping's validity [µs]


def _bounds(ts_us: I64, period: str, tz: str) -> tuple[I64, I64]:
    """The local period [start, end) holding each instant. [µs since 1970-01-01 UTC]"""
    start = local_periods(ts_us, period=period, tz=tz).start_us
    return start, period_end_us(start, period=period, tz=tz)


def feeder_balance(
    meter_frame: pa.Table,
    feeder_frame: pa.Table,
    mapping: Sequence[Mapping[str, Any]],
    *,
    tz: str,
    period: str = "hour",
    interval: timedelta = timedelta(minutes=15),
    entity_id: str = "entity_id",
    ts: str = "ts",
    value: str = "value",
    quality: str = "quality",
) -> AnalyticResult:
    """Feeder-head energy against the mapped meters' energy, and the losses, per feeder and period.

    A meter counts toward a feeder for the intervals starting inside a mapping row's
    [valid_from, valid_to), multiplied by its scaling_factor (a meter standing for two
    customers counts twice). A meter reports in a period when it has a non-null value in every
    grid interval of the period during which it is mapped. Hours are hours of the local clock;
    days are local days (23 or 25 hours on DST changes).

    Args:
        meter_frame: interval energy of the meters: entity_id (the meter id, string), ts (UTC
            instant of the interval start), value (energy in the interval) [kWh]. One series per
            meter: filter to the metric to balance before calling. Unmapped meters are ignored.
        feeder_frame: the same shape for the feeder heads; entity_id is the feeder id [kWh].
        mapping: rows like the store's `meter_feeder_map`: meter_id, feeder_id, scaling_factor
            (default 1.0), valid_from and valid_to (datetimes or None = open). Naive datetimes
            are UTC, as the store keeps them; aware ones are converted.
        tz: IANA zone of the hours and days.
        period: "hour" or "day" (keys of PERIODS).
        interval: the meters' and heads' grid step, to count the intervals a period needs. [duration]
        entity_id, ts, value: column names.
        quality: name of the column of quality flags in both frames (absent: none estimated).

    Returns:
        One row per mapped feeder and period with any data, by feeder then time: feeder_id,
        start [UTC instant], feeder_kwh [kWh], meters_kwh [kWh] (null when no meter sent data),
        losses_kwh [kWh], losses_pct [%] (null when feeder_kwh is null or 0), meters_expected
        (meters mapped in the period), meters_reporting, then feeder_estimated_intervals and
        feeder_estimated_share [1] (estimates among the head's intervals), and
        meters_estimated_intervals and meters_estimated_share [1] (among the meter intervals
        summed). Notes name meters that did not report (losses overstated there) and periods
        where the head itself misses intervals.

    Raises:
        QueryError: unknown zone or period, a bad interval, a bad mapping row (names its index
            and key), or a missing or mistyped column.
    """
    zone(tz)
    if period not in PERIODS:
        raise QueryError(f"period={period!r} is not supported: use one of {', '.join(PERIODS)}")
    iv = interval_us(interval)
    meter_ids, feeder_ids, m_meter, m_feeder, scale, vf, vt = _parse_mapping(mapping)
    names = (entity_id, ts, value, quality)
    mcode, mts, mval, mok, mest = _entity_frame(meter_frame, meter_ids, "meter_frame", *names)
    fcode, fts, fval, fok, fest = _entity_frame(feeder_frame, feeder_ids, "feeder_frame", *names)

    # one contribution per (mapping row, meter interval inside its validity)
    rows: list[I64] = []
    rows_j: list[I64] = []
    for j in range(len(m_meter)):
        a, b = np.searchsorted(mcode, [m_meter[j], m_meter[j] + 1])
        lo, hi = a + np.searchsorted(mts[a:b], [vf[j], vt[j]])
        rows.append(np.arange(lo, hi, dtype=np.int64))
        rows_j.append(np.full(hi - lo, j, np.int64))
    row, jj = np.concatenate([np.empty(0, np.int64), *rows]), np.concatenate([np.empty(0, np.int64), *rows_j])
    c_feeder, c_meter, c_ok = m_feeder[jj], mcode[row], mok[row]
    c_start, c_end = _bounds(mts[row], period, tz)
    f_start, f_end = _bounds(fts, period, tz)

    periods = (
        pa.table(
            {
                "f": np.concatenate([c_feeder, fcode]),
                "start": np.concatenate([c_start, f_start]),
                "end": np.concatenate([c_end, f_end]),
            }
        )
        .group_by(["f", "start"], use_threads=False)
        .aggregate([("end", "max")])
        .sort_by([("f", "ascending"), ("start", "ascending")])
    )
    p_f = np.asarray(periods.column("f").to_numpy(), np.int64)
    p_s = np.asarray(periods.column("start").to_numpy(), np.int64)
    p_e = np.asarray(periods.column("end_max").to_numpy(), np.int64)

    meters_kwh = _sum_into(p_f, p_s, c_feeder[c_ok], c_start[c_ok], (mval[row] * scale[jj])[c_ok])
    feeder_kwh = _sum_into(p_f, p_s, fcode[fok], f_start[fok], fval[fok])
    head_n = np.nan_to_num(_sum_into(p_f, p_s, fcode[fok], f_start[fok], np.ones(int(fok.sum()))))
    head_est = np.nan_to_num(_sum_into(p_f, p_s, fcode[fok], f_start[fok], fest[fok]))
    c_at = (p_f, p_s, c_feeder[c_ok], c_start[c_ok])
    meters_n = np.nan_to_num(_sum_into(*c_at, np.ones(int(c_ok.sum()))))
    meters_est = np.nan_to_num(_sum_into(*c_at, mest[row][c_ok]))
    expected, reporting, short = _meters_reporting(
        (p_f, p_s, p_e), (c_feeder[c_ok], c_meter[c_ok], c_start[c_ok]), (m_feeder, m_meter, vf, vt), iv
    )
    losses = feeder_kwh - meters_kwh
    pct = np.divide(100.0 * losses, feeder_kwh, out=np.full(len(losses), np.nan), where=feeder_kwh != 0)
    table = pa.table(
        {
            "feeder_id": pa.array(feeder_ids, pa.string()).take(pa.array(p_f)),
            "start": pa.array(p_s, pa.int64()).cast(TS_TYPE),
            "feeder_kwh": pa.array(feeder_kwh, pa.float64(), from_pandas=True),
            "meters_kwh": pa.array(meters_kwh, pa.float64(), from_pandas=True),
            "losses_kwh": pa.array(losses, pa.float64(), from_pandas=True),
            "losses_pct": pa.array(pct, pa.float64(), from_pandas=True),
            "meters_expected": pa.array(expected, pa.int64()),
            "meters_reporting": pa.array(reporting, pa.int64()),
            **{f"feeder_{k}": v for k, v in count_columns(head_est, head_n).items()},
            **{f"meters_{k}": v for k, v in count_columns(meters_est, meters_n).items()},
        }
    )
    notes = _notes(feeder_ids, meter_ids, p_f, short, head_n < np.ceil((p_e - p_s) / iv), period)
    units = {"feeder_kwh": "kWh", "meters_kwh": "kWh", "losses_kwh": "kWh", "losses_pct": "%"}
    share = ESTIMATED_UNITS["estimated_share"]
    units |= {"feeder_estimated_share": share, "meters_estimated_share": share}
    return AnalyticResult(table, units=units, notes=notes)


def _sum_into(p_f: I64, p_s: I64, f: I64, start: I64, val: F64) -> F64:
    """Sum `val` into the sorted periods (p_f, p_s); NaN where a period has no value."""
    pos = _period_pos(p_f, p_s, f, start)
    out = np.bincount(pos, weights=val, minlength=len(p_f))
    seen = np.bincount(pos, minlength=len(p_f)) > 0
    return np.where(seen, out, np.nan)


def _period_pos(p_f: I64, p_s: I64, f: I64, start: I64) -> I64:
    """Row of each (feeder, start) in the periods sorted by feeder then start (all present)."""
    first = np.searchsorted(p_f, f, side="left")
    last = np.searchsorted(p_f, f, side="right")
    pos = np.empty(len(f), np.int64)
    for code in np.unique(f):
        here = f == code
        a, b = first[here][0], last[here][0]
        pos[here] = a + np.searchsorted(p_s[a:b], start[here])
    return pos


def _meters_reporting(
    p: tuple[I64, I64, I64], c: tuple[I64, I64, I64], m: tuple[I64, I64, I64, I64], iv: int
) -> tuple[I64, I64, dict[tuple[int, int], int]]:
    """Per period, meters mapped and meters with every mapped interval; and periods short per meter.

    Args:
        p: periods (feeder code, start, end), sorted by feeder then start. [µs]
        c: valid contributions (feeder code, meter code, period start). [µs]
        m: mapping rows (feeder code, meter code, valid_from, valid_to). [µs]
        iv: grid step. [µs]
    """
    p_f, p_s, p_e = p
    c_f, c_m, c_start = c
    m_f, m_m, vf, vt = m
    expected = np.zeros(len(p_f), np.int64)
    reporting = np.zeros(len(p_f), np.int64)
    short: dict[tuple[int, int], int] = {}
    # contributions sorted by (feeder, meter), so each pair below is one slice, not a scan
    n_meters = int(max(m_m.max(initial=0), c_m.max(initial=0))) + 1
    key = c_f * n_meters + c_m
    order = np.argsort(key, kind="stable")
    key, c_start = key[order], c_start[order]
    for f, meter in sorted({(int(a), int(b)) for a, b in zip(m_f, m_m, strict=True)}):
        a, b = np.searchsorted(p_f, [f, f + 1])
        starts, ends = p_s[a:b], p_e[a:b]
        need = np.zeros(b - a, np.int64)
        for j in np.flatnonzero((m_f == f) & (m_m == meter)):
            lo, hi = np.maximum(starts, vf[j]), np.minimum(ends, vt[j])
            need += grid_count(lo, hi, iv)
        # contributions are one per (mapping row, instant): rows were checked unique per meter
        lo, hi = np.searchsorted(key, [f * n_meters + meter, f * n_meters + meter + 1])
        received = np.bincount(np.searchsorted(starts, c_start[lo:hi]), minlength=b - a)[: b - a]
        mapped = need > 0
        expected[a:b] += mapped
        reporting[a:b] += mapped & (received >= need)
        missing = int((mapped & (received < need)).sum())
        if missing:
            short[(f, meter)] = missing
    return expected, reporting, short


def _notes(
    feeder_ids: list[str],
    meter_ids: list[str],
    p_f: I64,
    short: dict[tuple[int, int], int],
    head_short: Mask,
    period: str,
) -> list[str]:
    notes: list[str] = []
    for f, name in enumerate(feeder_ids):
        total = int((p_f == f).sum())
        missing = sorted(((n, meter_ids[m]) for (ff, m), n in short.items() if ff == f), reverse=True)
        if missing:
            listed = ", ".join(f"{m} in {n}" for n, m in missing[:5]) + (", ..." if len(missing) > 5 else "")
            notes.append(
                f"{name}: {len(missing)} meters missed intervals in some of the {total} {period}s "
                f"({listed}): meters_kwh is short there, so losses are overstated"
            )
        head = int((head_short & (p_f == f)).sum())
        if head:
            notes.append(
                f"{name}: the head misses intervals in {head} of {total} {period}s: losses are understated there"
            )
    return notes


def _entity_frame(
    frame: pa.Table, ids: list[str], name: str, entity_id: str, ts: str, value: str, quality: str
) -> tuple[I64, I64, F64, Mask, F64]:
    """Rows of `frame` whose entity is in `ids`, sorted by entity then time.

    Returns:
        (index into ids, instant [µs], value, has value, 1.0 where the value is an estimate).

    Raises:
        QueryError: a missing or mistyped column, or two rows for one entity and instant.
    """
    if not isinstance(frame, pa.Table) or entity_id not in frame.column_names:
        raise QueryError(f"{name} needs an {entity_id!r} column with the meter or feeder id: add it")
    column = frame.column(entity_id)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise QueryError(f"{name} column {entity_id!r} is {column.type}, not a string id")
    index = pc.index_in(column.cast(pa.string()), value_set=pa.array(ids, pa.string()))
    keep = pc.is_valid(index)
    coded = pa.table(
        {
            "series_id": index.filter(keep),
            "ts": frame.column(ts).filter(keep),
            "value": frame.column(value).filter(keep),
            **({"quality": frame.column(quality).filter(keep)} if quality in frame.column_names else {}),
        }
        if ts in frame.column_names and value in frame.column_names
        else {"series_id": index}
    )
    try:
        sid, ts_us, val, ok = frame_arrays(coded)
        est = row_estimates(coded).astype(np.float64)
    except QueryError as exc:
        raise QueryError(f"{name}: {exc}") from None
    order = np.lexsort((ts_us, sid))
    code: I64 = sid[order].astype(np.int64)
    ts_us, val, ok, est = ts_us[order], val[order], ok[order], est[order]
    dup = first_repeat(code, ts_us)
    if dup is not None:
        at = pa.scalar(int(ts_us[dup]), TS_TYPE).as_py().isoformat()
        raise QueryError(
            f"{name} has two rows for {ids[code[dup]]} at {at}: pass one value per entity and instant"
        )
    return code, ts_us, val, ok, est


def _parse_mapping(
    mapping: Sequence[Mapping[str, Any]],
) -> tuple[list[str], list[str], I64, I64, F64, I64, I64]:
    """Meter ids, feeder ids, and per row: meter code, feeder code, scale, valid_from, valid_to [µs]."""
    if not mapping:
        raise QueryError("mapping is empty: pass the meter_feeder_map rows of the feeders to balance")
    meters: dict[str, int] = {}
    feeders: dict[str, int] = {}
    m_meter, m_feeder, scale, vf, vt = [], [], [], [], []
    for i, row in enumerate(mapping):
        meter, feeder = row.get("meter_id"), row.get("feeder_id")
        if not isinstance(meter, str) or not isinstance(feeder, str):
            raise QueryError(f"mapping[{i}] needs string meter_id and feeder_id, got {meter!r}, {feeder!r}")
        factor = row.get("scaling_factor")
        factor = 1.0 if factor is None else factor
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not np.isfinite(factor):
            raise QueryError(f"mapping[{i}].scaling_factor={factor!r} is not a number: use e.g. 1.0")
        m_meter.append(meters.setdefault(meter, len(meters)))
        m_feeder.append(feeders.setdefault(feeder, len(feeders)))
        scale.append(float(factor))
        vf.append(_bound(row.get("valid_from"), f"mapping[{i}].valid_from", -_OPEN))
        vt.append(_bound(row.get("valid_to"), f"mapping[{i}].valid_to", _OPEN))
        if vt[-1] <= vf[-1]:
            raise QueryError(f"mapping[{i}]: valid_to is not after valid_from: fix or drop the row")
    _check_no_overlap(m_meter, m_feeder, vf, vt, list(meters))
    return (
        list(meters),
        list(feeders),
        np.array(m_meter, np.int64),
        np.array(m_feeder, np.int64),
        np.array(scale, np.float64),
        np.array(vf, np.int64),
        np.array(vt, np.int64),
    )


def _bound(value: Any, param: str, open_end: int) -> int:
    if value is None:
        return open_end
    if not isinstance(value, datetime):
        raise QueryError(f"{param}={value!r} is not a datetime or None")
    # the store keeps validity as naive UTC
    return instant_us(value if value.tzinfo else value.replace(tzinfo=UTC), param)


def _check_no_overlap(
    m_meter: list[int], m_feeder: list[int], vf: list[int], vt: list[int], meters: list[str]
) -> None:
    """Raises QueryError when one meter is mapped to one feeder twice at the same time."""
    spans: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for m, f, a, b in zip(m_meter, m_feeder, vf, vt, strict=True):
        spans.setdefault((m, f), []).append((a, b))
    for (m, _f), rows in spans.items():
        rows.sort()
        if any(nxt[0] < prev[1] for prev, nxt in itertools.pairwise(rows)):
            raise QueryError(
                f"mapping maps meter {meters[m]} to one feeder twice over overlapping validity: fix the rows"
            )
