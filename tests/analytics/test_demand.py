"""peak_demand_kw, load_factor, load_duration_curve: hand-worked values, identities, invariance,
and pandas on the Ausgrid household."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridpulse.analytics.demand import (
    load_duration_curve,
    load_factor,
    peak_demand_from_maxima_kw,
    peak_demand_kw,
    top_peaks,
)
from gridpulse.datasets import load_ausgrid_solar_home_c12
from gridpulse.errors import QueryError
from tests.analytics.frames import frame, utc

Q = timedelta(minutes=15)
M15, M30, M60 = (timedelta(minutes=m) for m in (15, 30, 60))


def test_peak_over_15_30_and_60_minute_windows_hand_worked() -> None:
    # 1, 2, 3, 2 kWh in the quarter-hours from 10:00 UTC:
    # 15 min: 4, 8, 12, 8 kW -> 12 kW at 10:30; 30 min: 3/0.5 = 6, 5/0.5 = 10 kW -> 10 at 10:30;
    # 60 min: 8 kWh / 1 h = 8 kW at 10:00
    rows = frame(1, utc(2024, 6, 3, 10), Q, [1.0, 2.0, 3.0, 2.0])
    expected = {
        M15: (12.0, utc(2024, 6, 3, 10, 30), 4),
        M30: (10.0, utc(2024, 6, 3, 10, 30), 2),
        M60: (8.0, utc(2024, 6, 3, 10), 1),
    }
    for window, (kw, at, windows) in expected.items():
        row = peak_demand_kw(rows, window=window, tz="Europe/Amsterdam").table.to_pylist()[0]
        assert (row["peak_kw"], row["peak_at"], row["windows"]) == (kw, at, windows), window
        assert row["local_date"] == date(2024, 6, 3) and row["start"] == utc(2024, 6, 2, 22)


def test_kw_input_gives_the_same_peaks_as_kwh_input() -> None:
    rng = np.random.default_rng(1)
    kwh = [float(x) for x in rng.random(96 * 3)]
    start = utc(2024, 6, 2, 22)
    for window in (M15, M30, M60):
        a = peak_demand_kw(frame(1, start, Q, kwh), window=window, tz="Europe/Amsterdam").table
        b = peak_demand_kw(
            frame(1, start, Q, [4 * x for x in kwh]), window=window, tz="Europe/Amsterdam", input_unit="kw"
        ).table
        assert a.column("peak_kw").to_pylist() == pytest.approx(b.column("peak_kw").to_pylist())
        assert a.column("peak_at").equals(b.column("peak_at"))


def test_ties_go_to_the_earliest_window_and_missing_rows_average_over_what_is_there() -> None:
    # 2, 2 kWh at 10:00 and 10:15, nothing at 10:30, 1 kWh at 10:45 (and a null at 11:00):
    # the 30-min windows are 4 kWh / 0.5 h = 8 kW and 1 kWh / 0.25 h = 4 kW (covered time only)
    rows = frame(1, utc(2024, 6, 3, 10), Q, [2.0, 2.0, None, 1.0, None])
    r = peak_demand_kw(rows, window=M30, tz="UTC", interval=Q)
    assert r.table.column("peak_kw").to_pylist() == [8.0]
    assert r.notes == [
        "2 null values skipped",
        "1 windows not fully covered: averaged over the time they cover",
    ]
    flat = peak_demand_kw(frame(1, utc(2024, 6, 3, 10), Q, [1.0] * 8), window=M15, tz="UTC").table
    assert flat.column("peak_at").to_pylist() == [utc(2024, 6, 3, 10)]


@pytest.mark.parametrize(
    ("tz", "midnight", "hours"),
    [
        ("Europe/Amsterdam", utc(2024, 10, 26, 22), 25),
        ("Europe/Amsterdam", utc(2024, 3, 30, 23), 23),
        ("America/New_York", utc(2024, 11, 3, 4), 25),
        ("Australia/Sydney", utc(2024, 10, 5, 14), 23),
    ],
)
def test_a_dst_day_has_4_windows_per_hour_it_lasts(tz: str, midnight: datetime, hours: int) -> None:
    rows = frame(1, midnight, Q, [0.5] * (4 * hours))
    out = peak_demand_kw(rows, window=M15, tz=tz).table
    assert out.column("windows").to_pylist() == [4 * hours]
    lf = load_factor(rows, window=M60, tz=tz).table
    assert lf.column("windows").to_pylist() == [hours]
    assert lf.column("load_factor").to_pylist() == [1.0]  # identity: a flat load


def test_load_factor_hand_worked_and_zero_peak_is_null() -> None:
    # hourly kWh 1, 3, 2, 2 on one day: average 8 kWh / 4 h = 2 kW, peak 3 kW: 2/3
    rows = frame(1, utc(2024, 6, 3, 0), timedelta(hours=1), [1.0, 3.0, 2.0, 2.0])
    out = load_factor(rows, window=M60, tz="UTC").table.to_pylist()[0]
    assert (out["average_kw"], out["peak_kw"]) == (2.0, 3.0)
    assert out["load_factor"] == pytest.approx(2 / 3)
    dark = load_factor(frame(2, utc(2024, 6, 3, 0), timedelta(hours=1), [0.0] * 4), window=M60, tz="UTC")
    assert dark.table.column("load_factor").to_pylist() == [None]
    assert dark.notes == ["1 periods with a peak of 0 kW or less have no load factor"]


def test_load_duration_curve_hand_worked_and_resampled() -> None:
    # hourly kWh 1, 4, 2, 3: sorted 4, 3, 2, 1 kW; rank r of 4 is at or above for r/4 of the time
    rows = frame(1, utc(2024, 6, 3, 0), timedelta(hours=1), [1.0, 4.0, 2.0, 3.0])
    out = load_duration_curve(rows, window=M60).table.to_pydict()
    assert out["demand_kw"] == [4.0, 3.0, 2.0, 1.0]
    assert out["share"] == [0.25, 0.5, 0.75, 1.0]
    assert out["hours"] == [1.0, 2.0, 3.0, 4.0]
    # two points on four windows: shares 1/2 and 1 read ranks 2 and 4
    two = load_duration_curve(rows, window=M60, points=2).table.to_pydict()
    assert (two["rank"], two["demand_kw"], two["share"]) == ([2, 4], [3.0, 1.0], [0.5, 1.0])


def test_load_duration_curve_identity_its_mean_is_the_average_demand() -> None:
    rng = np.random.default_rng(2)
    kwh = [float(x) for x in rng.random(96 * 7)]
    rows = frame(1, utc(2024, 6, 2, 22), Q, kwh)
    curve = load_duration_curve(rows, window=M30).table
    assert np.mean(curve.column("demand_kw").to_numpy()) == pytest.approx(sum(kwh) / (7 * 24))
    assert curve.column("demand_kw").to_pylist() == sorted(
        curve.column("demand_kw").to_pylist(), reverse=True
    )
    hundred = load_duration_curve(rows, window=M30, points=100).table
    assert hundred.num_rows == 100 and hundred.column("share").to_pylist()[-1] == 1.0


def test_a_series_alone_equals_the_same_series_among_many() -> None:
    rng = np.random.default_rng(3)
    start = utc(2024, 3, 29, 23)
    parts = {sid: frame(sid, start, Q, [float(x) for x in rng.random(96 * 4)]) for sid in (5, 2, 9)}
    many = pa.concat_tables(list(parts.values()))
    for fn in (peak_demand_kw, load_factor):
        whole = fn(many, window=M30, tz="Europe/Amsterdam").table
        alone = fn(parts[2], window=M30, tz="Europe/Amsterdam").table
        assert whole.filter(pc.equal(whole["series_id"], 2)).equals(alone)
    whole = load_duration_curve(many, window=M30, points=10).table
    assert whole.filter(pc.equal(whole["series_id"], 2)).equals(
        load_duration_curve(parts[2], window=M30, points=10).table
    )


def test_bad_windows_and_units_are_refused_with_the_fix() -> None:
    hourly = frame(1, utc(2024, 6, 3), timedelta(hours=1), [1.0, 2.0])
    with pytest.raises(QueryError, match="not a whole number"):
        peak_demand_kw(hourly, window=M15, tz="UTC")
    with pytest.raises(QueryError, match="15, 30 or 60"):
        peak_demand_kw(hourly, window=timedelta(minutes=20), tz="UTC")
    with pytest.raises(QueryError, match="input_unit='mwh'"):
        peak_demand_kw(hourly, window=M60, tz="UTC", input_unit="mwh")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="one row"):
        peak_demand_kw(frame(1, utc(2024, 6, 3), Q, [1.0]), window=M60, tz="UTC")
    assert (
        peak_demand_kw(frame(1, utc(2024, 6, 3), Q, [1.0]), window=M60, tz="UTC", interval=Q).table.num_rows
        == 1
    )


def test_ausgrid_daily_peak_of_hourly_means_matches_pandas(shared_datasets: Path) -> None:
    data = load_ausgrid_solar_home_c12(shared_datasets / "ausgrid_solar_home_c12")
    table = pa.concat_tables(list(data.batches))
    table = table.filter(pc.equal(table["metric"], "consumption_kw"))
    kw = pa.table(
        {
            "series_id": pa.array(np.zeros(table.num_rows, np.int32)),
            "ts": table["ts"],
            "value": table["value"],
        }
    )
    tz = "Australia/Sydney"
    out = peak_demand_kw(kw, window=M60, tz=tz, input_unit="kw").table.to_pandas()
    # independent: local hourly means by resampling, then the largest per local date (first on ties)
    s = kw.to_pandas().set_index("ts")["value"].tz_convert(tz)
    hourly = s.resample("60min").mean().dropna()
    by_day = hourly.groupby(hourly.index.date)
    expected_peak = by_day.max()
    expected_at = by_day.idxmax().map(lambda t: t.tz_convert("UTC"))
    np.testing.assert_allclose(out["peak_kw"].to_numpy(), expected_peak.to_numpy(), rtol=1e-12)
    assert list(out["peak_at"]) == list(expected_at)
    assert list(out["windows"]) == list(by_day.size())
    # load duration curve: the same hourly means, sorted
    curve = load_duration_curve(kw, window=M60, tz=tz, input_unit="kw").table
    np.testing.assert_allclose(
        curve.column("demand_kw").to_numpy(), np.sort(hourly.to_numpy())[::-1], rtol=1e-12
    )
    assert isinstance(expected_at.iloc[0], pd.Timestamp)


def _maxima(rows: pa.Table, tz: str, period: str) -> pa.Table:
    """Per series and local period: largest value, when it first came, values, nulls and whether
    the largest value is an estimate (in Python, as a store's MAX buckets would be)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    out: dict[tuple[int, datetime], list[object]] = {}
    for r in rows.to_pylist():
        local = r["ts"].astimezone(zone)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        start = day if period == "day" else local.replace(minute=0, second=0, microsecond=0)
        # keyed in UTC: the two 02:00 hours of the fall-back night compare equal as local times
        acc = out.setdefault((r["series_id"], start.astimezone(UTC)), [None, None, 0, 0, None])
        if r["value"] is None:
            acc[3] += 1  # type: ignore[operator]
            continue
        acc[2] += 1  # type: ignore[operator]
        if acc[0] is None or r["value"] > acc[0]:  # strictly: ties keep the earliest
            acc[0], acc[1], acc[4] = r["value"], r["ts"], r.get("quality", 0) == 1
    keys = sorted(out)
    return pa.table(
        {
            "series_id": pa.array([k[0] for k in keys], pa.int32()),
            "ts": pa.array([k[1] for k in keys], pa.timestamp("us", tz="UTC")),
            "value": pa.array([out[k][0] for k in keys], pa.float64()),
            "at": pa.array([out[k][1] for k in keys], pa.timestamp("us", tz="UTC")),
            "count": pa.array([out[k][2] for k in keys], pa.int64()),
            "nulls": pa.array([out[k][3] for k in keys], pa.int64()),
            "at_estimated": pa.array([out[k][4] for k in keys], pa.bool_()),
        }
    )


@pytest.mark.parametrize("period", ["hour", "day"])
@pytest.mark.parametrize("unit", ["kwh", "kw"])
def test_peaks_from_period_maxima_equal_the_windows_of_the_rows(period: str, unit: str) -> None:
    # two series over Amsterdam's 25-hour fall-back day, with ties, nulls and an all-null hour
    values = [float((i * 7) % 11) for i in range(3 * 96)]
    values[10] = None  # type: ignore[call-overload]
    for i in range(40, 44):
        values[i] = None  # type: ignore[call-overload]
    rows = pa.concat_tables(
        [frame(1, utc(2024, 10, 25, 22), Q, values), frame(2, utc(2024, 10, 25, 22), Q, values[::-1])]
    )
    # every third interval an estimate: some peaks are estimated, some of their ties are not
    rows = rows.append_column("quality", pa.array([int(i % 3 == 0) for i in range(rows.num_rows)], pa.int8()))
    tz = "Europe/Amsterdam"
    want = peak_demand_kw(rows, window=M15, tz=tz, period=period, input_unit=unit, interval=Q)  # type: ignore[arg-type]
    got = peak_demand_from_maxima_kw(
        _maxima(rows, tz, period),
        window=M15,
        interval=Q,
        tz=tz,
        period=period,
        input_unit=unit,  # type: ignore[arg-type]
    )
    assert got.table.equals(want.table)
    assert got.notes == want.notes == ["10 null values skipped"]
    flags = got.table.column("peak_estimated").to_pylist()
    assert True in flags and False in flags
    if period == "hour":  # the fall-back day has 25 hours per series
        per_day = pc.value_counts(got.table.column("local_date")).to_pylist()
        assert {"values": date(2024, 10, 27), "counts": 50} in per_day


@pytest.mark.parametrize("period", ["hour", "day"])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_top_picked_from_maxima_equals_top_peaks_of_every_row(period: str, n: int) -> None:
    # four series over Amsterdam's fall-back day and the day after: equal peaks across series
    # (ties go to the lower id), a series with nothing in some periods, an all-null period
    tz = "Europe/Amsterdam"
    start = utc(2024, 10, 25, 22)
    series = []
    for sid in (4, 1, 3, 2):  # not in id order: the pick must not depend on the frame's order
        values: list[float | None] = [float((i * (sid + 2)) % 7) for i in range(2 * 100)]
        if sid == 3:
            values[:40] = [None] * 40
        series.append(frame(sid, start, Q, values))
    maxima = _maxima(pa.concat_tables(series), tz, period)
    every = peak_demand_from_maxima_kw(maxima, window=M15, interval=Q, tz=tz, period=period)
    got = peak_demand_from_maxima_kw(maxima, window=M15, interval=Q, tz=tz, period=period, top=n)
    want = top_peaks(every, n)
    assert got.table.equals(want.table)
    assert got.notes == want.notes == ["40 null values skipped"]
    per_period = pc.value_counts(got.table.column("start")).field("counts").to_pylist()
    assert max(per_period) == min(n, 4)  # 4 series
    assert len(per_period) == len(set(every.table.column("start").to_pylist()))
    with pytest.raises(QueryError, match="top=0 keeps nothing"):
        peak_demand_from_maxima_kw(maxima, window=M15, interval=Q, tz=tz, period=period, top=0)


def test_peaks_from_maxima_refuse_a_window_other_than_the_interval() -> None:
    rows = _maxima(frame(1, utc(2024, 6, 3), Q, [1.0, 2.0]), "UTC", "day")
    with pytest.raises(QueryError, match="interval=0:15:00 is not the window 0:30:00"):
        peak_demand_from_maxima_kw(rows, window=M30, interval=Q, tz="UTC")


def test_top_peaks_keeps_the_n_highest_of_each_period_ties_by_series() -> None:
    from gridpulse.analytics.base import AnalyticResult
    from gridpulse.analytics.demand import top_peaks

    d1, d2 = utc(2024, 6, 2, 22), utc(2024, 6, 3, 22)
    table = pa.table(
        {
            "series_id": pa.array([1, 2, 3, 4, 1, 2, 3], pa.int32()),
            "start": pa.array([d1, d1, d1, d1, d2, d2, d2], pa.timestamp("us", tz="UTC")),
            "peak_kw": [5.0, 9.0, 9.0, 1.0, 2.0, 3.0, 1.0],
        }
    )
    got = top_peaks(AnalyticResult(table, {"peak_kw": "kW"}, ["a note"]), 2)
    pairs = zip(got.table.column("series_id").to_pylist(), got.table.column("peak_kw").to_pylist(), strict=True)
    assert list(pairs) == [
        (2, 9.0),
        (3, 9.0),
        (2, 3.0),
        (1, 2.0),
    ]
    assert got.notes == ["a note"] and got.units == {"peak_kw": "kW"}
    with pytest.raises(QueryError, match="top=0 keeps nothing"):
        top_peaks(got, 0)
