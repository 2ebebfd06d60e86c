"""energy_kwh, energy_from_power_kwh, consumption_from_register_kwh: hand-worked values,
identities (DST days of 23 and 25 hours in three zones), invariance, and pandas on public data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridpulse.analytics.energy import (
    consumption_from_register_kwh,
    energy_from_power_kwh,
    energy_kwh,
)
from gridpulse.analytics.periods import local_periods
from gridpulse.datasets import load_ausgrid_solar_home_c12, load_pjm_hourly
from gridpulse.errors import QueryError
from tests.analytics.frames import utc

TS = pa.timestamp("us", tz="UTC")
Q = timedelta(minutes=15)


def frame(rows: Sequence[tuple[int, datetime, float | None]]) -> pa.Table:
    """A long frame from (series_id, ts, value) rows."""
    return pa.table(
        {
            "series_id": pa.array([r[0] for r in rows], pa.int32()),
            "ts": pa.array([r[1] for r in rows], TS),
            "value": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def regular(
    sid: int, start: datetime, step: timedelta, values: Sequence[float | None]
) -> list[tuple[int, datetime, float | None]]:
    return [(sid, start + i * step, v) for i, v in enumerate(values)]


# Local midnight of a DST change day as a UTC instant, and the hours of that local day.
DST_DAYS = [
    ("Europe/Amsterdam", utc(2024, 3, 30, 23), 23),  # 2024-03-31: 02:00 CET -> 03:00 CEST
    ("Europe/Amsterdam", utc(2024, 10, 26, 22), 25),  # 2024-10-27: 03:00 CEST -> 02:00 CET
    ("Australia/Sydney", utc(2024, 10, 5, 14), 23),  # 2024-10-06: 02:00 AEST -> 03:00 AEDT
    ("Australia/Sydney", utc(2024, 4, 6, 13), 25),  # 2024-04-07: 03:00 AEDT -> 02:00 AEST
    ("America/New_York", utc(2024, 3, 10, 5), 23),  # 2024-03-10: 02:00 EST -> 03:00 EDT
    ("America/New_York", utc(2024, 11, 3, 4), 25),  # 2024-11-03: 02:00 EDT -> 01:00 EST
]


# ----------------------------------------------------------------------------------- energy_kwh
@pytest.mark.parametrize(("tz", "midnight", "hours"), DST_DAYS)
def test_a_dst_day_holds_its_23_or_25_hours_of_energy(tz: str, midnight: datetime, hours: int) -> None:
    # 0.25 kWh every 15 minutes for three days from the local midnight of the DST day: the
    # first local day holds 4 x hours values = hours x 1 kWh, the next a plain 24 kWh
    rows = regular(1, midnight, Q, [0.25] * (4 * 72))
    out = energy_kwh(frame(rows), period="day", tz=tz).table
    assert out.column("energy_kwh").to_pylist()[:2] == [hours, 24.0]
    assert out.column("intervals").to_pylist()[:2] == [4 * hours, 96]
    assert out.column("start")[0].as_py() == midnight
    day = pd.Timestamp(midnight).tz_convert(tz).date()
    assert out.column("local_date").to_pylist()[:2] == [day, day + timedelta(days=1)]


@pytest.mark.parametrize(("tz", "midnight", "hours"), DST_DAYS)
def test_hour_periods_of_a_dst_day_are_23_or_25_with_the_repeated_hour_kept_apart(
    tz: str, midnight: datetime, hours: int
) -> None:
    rows = regular(1, midnight, Q, [0.25] * (4 * hours))
    out = energy_kwh(frame(rows), period="hour", tz=tz).table
    assert out.num_rows == hours
    assert out.column("energy_kwh").to_pylist() == [1.0] * hours
    starts = out.column("start").to_pylist()
    assert starts == [midnight + timedelta(hours=h) for h in range(hours)]
    assert set(out.column("local_date").to_pylist()) == {pd.Timestamp(midnight).tz_convert(tz).date()}


def test_hand_worked_day_sums_with_a_null_skipped_and_counted() -> None:
    # Amsterdam in January is UTC+1: 22:45Z is 23:45 on the 1st, 23:00Z is 00:00 on the 2nd
    rows = [
        (7, utc(2024, 1, 1, 22, 30), 1.5),
        (7, utc(2024, 1, 1, 22, 45), None),
        (7, utc(2024, 1, 1, 23, 0), 2.0),
        (7, utc(2024, 1, 1, 23, 15), 0.5),
    ]
    r = energy_kwh(frame(rows), period="day", tz="Europe/Amsterdam")
    assert r.table.to_pylist() == [
        {
            "series_id": 7,
            "start": utc(2023, 12, 31, 23),
            "local_date": date(2024, 1, 1),
            "energy_kwh": 1.5,
            "intervals": 1,
            "estimated_intervals": 0,  # no quality column: all actual
            "estimated_share": 0.0,
        },
        {
            "series_id": 7,
            "start": utc(2024, 1, 1, 23),
            "local_date": date(2024, 1, 2),
            "energy_kwh": 2.5,
            "intervals": 2,
            "estimated_intervals": 0,
            "estimated_share": 0.0,
        },
    ]
    assert r.units == {"energy_kwh": "kWh", "estimated_share": "1"}
    assert r.notes == ["1 null values skipped"]


def test_week_starts_monday_and_month_at_local_midnight() -> None:
    # 2024-03-31 is a Sunday (week of Monday 2024-03-25); 2024-04-01 is a Monday
    rows = regular(1, utc(2024, 3, 30, 23), timedelta(hours=1), [1.0] * 48)
    week = energy_kwh(frame(rows), period="week", tz="Europe/Amsterdam").table
    assert week.column("local_date").to_pylist() == [date(2024, 3, 25), date(2024, 4, 1)]
    assert week.column("start").to_pylist() == [utc(2024, 3, 24, 23), utc(2024, 3, 31, 22)]
    assert week.column("energy_kwh").to_pylist() == [23.0, 25.0]  # 23-hour Sunday, then the rest
    month = energy_kwh(frame(rows), period="month", tz="Europe/Amsterdam").table
    assert month.column("local_date").to_pylist() == [date(2024, 3, 1), date(2024, 4, 1)]
    assert month.column("start").to_pylist() == [utc(2024, 2, 29, 23), utc(2024, 3, 31, 22)]


def test_a_month_of_hourly_values_has_the_hours_of_its_local_month() -> None:
    # March 2024 in Amsterdam: 31 x 24 - 1 = 743 hours; October 2024: 31 x 24 + 1 = 745
    rows = regular(1, utc(2024, 2, 29, 23), timedelta(hours=1), [1.0] * (743 + 30 * 24 + 745))
    out = energy_kwh(frame(rows), period="month", tz="Europe/Amsterdam").table
    assert out.column("energy_kwh").to_pylist()[:1] == [743.0]
    rows = regular(1, utc(2024, 9, 30, 22), timedelta(hours=1), [1.0] * 745)
    assert energy_kwh(frame(rows), period="month", tz="Europe/Amsterdam").table["energy_kwh"].to_pylist() == [
        745.0
    ]


def test_zone_springing_forward_at_midnight_starts_its_day_after_the_gap() -> None:
    # Santiago 2022-09-11: 00:00 -04 jumps to 01:00 -03 (04:00Z); the day has 23 hours
    rows = regular(1, utc(2022, 9, 11, 4), timedelta(hours=1), [1.0] * 23)
    out = energy_kwh(frame(rows), period="day", tz="America/Santiago").table
    assert out.to_pylist()[0]["start"] == utc(2022, 9, 11, 4)
    assert out.column("energy_kwh").to_pylist() == [23.0]


def test_a_series_alone_equals_the_same_series_among_many_and_unsorted_input_is_sorted() -> None:
    rng = np.random.default_rng(3)
    start = utc(2024, 10, 25, 22)
    series = {sid: [float(x) for x in rng.random(4 * 24 * 5)] for sid in (3, 1, 2)}
    rows = [row for sid, values in series.items() for row in regular(sid, start, Q, values)]
    whole = energy_kwh(frame(rows[::-1]), period="day", tz="Europe/Amsterdam").table
    alone = energy_kwh(frame(regular(2, start, Q, series[2])), period="day", tz="Europe/Amsterdam").table
    mine = whole.filter(pc.equal(whole["series_id"], 2))
    assert mine.column("energy_kwh").to_pylist() == pytest.approx(alone.column("energy_kwh").to_pylist())
    assert mine.drop_columns(["energy_kwh"]).equals(alone.drop_columns(["energy_kwh"]))
    assert whole.column("series_id").to_pylist() == sorted(whole.column("series_id").to_pylist())


def test_chunked_by_local_day_equals_whole() -> None:
    rng = np.random.default_rng(4)
    rows = regular(1, utc(2024, 3, 29, 23), Q, [float(x) for x in rng.random(4 * 24 * 4)])
    table = frame(rows)
    whole = energy_kwh(table, period="day", tz="Europe/Amsterdam").table
    # cut at the local midnights 2024-03-31 00:00 CET and 2024-04-01 00:00 CEST
    cuts = [utc(2024, 3, 30, 23), utc(2024, 3, 31, 22)]
    ts = table["ts"]
    chunks = [
        table.filter(pc.less(ts, pa.scalar(cuts[0], TS))),
        table.filter(
            pc.and_(pc.greater_equal(ts, pa.scalar(cuts[0], TS)), pc.less(ts, pa.scalar(cuts[1], TS)))
        ),
        table.filter(pc.greater_equal(ts, pa.scalar(cuts[1], TS))),
    ]
    parts = pa.concat_tables([energy_kwh(c, period="day", tz="Europe/Amsterdam").table for c in chunks])
    assert parts.equals(whole)


def test_bad_arguments_name_the_thing_and_the_fix() -> None:
    good = frame([(1, utc(2024, 1, 1), 1.0)])
    with pytest.raises(QueryError, match="period='fortnight'"):
        energy_kwh(good, period="fortnight", tz="UTC")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="tz='Mars/Olympus'"):
        energy_kwh(good, period="day", tz="Mars/Olympus")
    naive = good.set_column(1, "ts", pa.array([datetime(2024, 1, 1)], pa.timestamp("us")))
    with pytest.raises(QueryError, match=r"'ts'.*give it a zone"):
        energy_kwh(naive, period="day", tz="UTC")
    with pytest.raises(QueryError, match="no column 'when'"):
        energy_kwh(good, period="day", tz="UTC", ts="when")
    with pytest.raises(QueryError, match="one value per"):
        energy_kwh(frame([(1, utc(2024, 1, 1), 1.0), (1, utc(2024, 1, 1), 2.0)]), period="day", tz="UTC")


def test_an_empty_frame_gives_an_empty_table_with_the_columns() -> None:
    out = energy_kwh(frame([]), period="day", tz="UTC").table
    assert out.num_rows == 0
    assert out.column_names == [
        "series_id",
        "start",
        "local_date",
        "energy_kwh",
        "intervals",
        "estimated_intervals",
        "estimated_share",
    ]


def test_other_timestamp_units_and_zones_are_read_as_instants() -> None:
    rows = frame([(1, utc(2024, 1, 1, 12), 1.0)])
    ns = rows.set_column(1, "ts", rows["ts"].cast(pa.timestamp("ns", tz="Asia/Tokyo")))
    assert energy_kwh(ns, period="day", tz="UTC").table.equals(energy_kwh(rows, period="day", tz="UTC").table)


# ------------------------------------------------------------------------ energy_from_power_kwh
def test_trapezoid_and_interval_average_hand_worked() -> None:
    # samples 0, 6, 12 kW at 00:00, 00:10, 00:30 UTC.
    # instant: (0+6)/2 kW x 1/6 h + (6+12)/2 kW x 1/3 h = 0.5 + 3 = 3.5 kWh over 0.5 h.
    # interval average: 0 x 1/6 + 6 x 1/3 + 12 x 1/3 (the last repeats the 20 min before) = 6 kWh.
    rows = frame(
        [(1, utc(2024, 5, 1, 0, 0), 0.0), (1, utc(2024, 5, 1, 0, 10), 6.0), (1, utc(2024, 5, 1, 0, 30), 12.0)]
    )
    gap = timedelta(hours=1)
    inst = energy_from_power_kwh(rows, period="day", tz="UTC", max_gap=gap).table.to_pylist()
    assert inst[0]["energy_kwh"] == pytest.approx(3.5)
    assert inst[0]["covered_h"] == pytest.approx(0.5)
    avg = energy_from_power_kwh(rows, period="day", tz="UTC", max_gap=gap, samples="interval_average").table
    assert avg.column("energy_kwh").to_pylist() == pytest.approx([6.0])
    assert avg.column("covered_h").to_pylist() == pytest.approx([50 / 60])


def test_gaps_longer_than_max_gap_are_counted_and_not_bridged() -> None:
    # 4 kW at 10:00 and 10:15, then 2 h of silence, then 10:15 -> 12:15 and 12:30.
    # instant: 4 kW x 0.25 h twice = 2 kWh; interval average: the sample before the gap holds
    # max_gap = 30 min: 4 x (0.25 + 0.5 + 0.25 + 0.25) = 5 kWh
    rows = frame(
        [
            (1, utc(2024, 5, 1, 10, 0), 4.0),
            (1, utc(2024, 5, 1, 10, 15), 4.0),
            (1, utc(2024, 5, 1, 12, 15), 4.0),
            (1, utc(2024, 5, 1, 12, 30), 4.0),
        ]
    )
    gap = timedelta(minutes=30)
    r = energy_from_power_kwh(rows, period="day", tz="UTC", max_gap=gap)
    assert r.table.column("energy_kwh").to_pylist() == pytest.approx([2.0])
    assert r.table.column("gaps").to_pylist() == [1]
    assert r.notes == ["1 gaps longer than 0:30:00 not bridged"]
    avg = energy_from_power_kwh(rows, period="day", tz="UTC", max_gap=gap, samples="interval_average").table
    assert avg.column("energy_kwh").to_pylist() == pytest.approx([5.0])


def test_an_interval_over_period_boundaries_is_split_in_proportion_to_time() -> None:
    # 0 kW at 10:30 and 6 kW at 13:00 UTC: (0+6)/2 x 2.5 h = 7.5 kWh over 2.5 h, shared by time:
    # 10:30-11 gets 0.5/2.5 = 1.5 kWh, 11-12 and 12-13 get 3 kWh each
    rows = frame([(1, utc(2024, 5, 1, 10, 30), 0.0), (1, utc(2024, 5, 1, 13), 6.0)])
    out = energy_from_power_kwh(rows, period="hour", tz="UTC", max_gap=timedelta(hours=3)).table
    assert out.column("start").to_pylist() == [utc(2024, 5, 1, h) for h in (10, 11, 12)]
    assert out.column("energy_kwh").to_pylist() == pytest.approx([1.5, 3.0, 3.0])
    assert out.column("covered_h").to_pylist() == pytest.approx([0.5, 1.0, 1.0])


@pytest.mark.parametrize(("tz", "midnight", "hours"), DST_DAYS)
def test_integrated_constant_power_over_a_dst_day_gives_its_hours(
    tz: str, midnight: datetime, hours: int
) -> None:
    # 3 kW sampled every 5 minutes from local midnight to the next: 3 x hours kWh, split at midnight
    n = hours * 12 + 1
    rows = frame(regular(1, midnight, timedelta(minutes=5), [3.0] * n))
    out = energy_from_power_kwh(rows, period="day", tz=tz, max_gap=timedelta(minutes=10)).table
    assert out.column("energy_kwh").to_pylist() == pytest.approx([3.0 * hours])
    assert out.column("covered_h").to_pylist() == pytest.approx([hours])


def test_interval_average_of_regular_power_equals_summed_interval_energy() -> None:
    # identity: kW averaged over 15 minutes x 0.25 h is the interval's kWh
    rng = np.random.default_rng(5)
    kwh = [float(x) for x in rng.random(4 * 24 * 3)]
    start = utc(2024, 10, 25, 22)
    from_energy = energy_kwh(frame(regular(1, start, Q, kwh)), period="day", tz="Europe/Amsterdam").table
    power = frame(regular(1, start, Q, [4 * x for x in kwh]))
    from_power = energy_from_power_kwh(
        power, period="day", tz="Europe/Amsterdam", max_gap=Q, samples="interval_average"
    ).table
    assert from_power.column("energy_kwh").to_pylist() == pytest.approx(
        from_energy.column("energy_kwh").to_pylist()
    )
    # 72 hours from local midnight 2024-10-26: 24, then 25 (fall back), then 23 of 2024-10-28
    assert from_power.column("covered_h").to_pylist() == pytest.approx([24.0, 25.0, 23.0])


def test_power_arguments_are_checked() -> None:
    rows = frame([(1, utc(2024, 1, 1), 1.0)])
    with pytest.raises(QueryError, match="max_gap"):
        energy_from_power_kwh(rows, period="day", tz="UTC", max_gap=timedelta(0))
    with pytest.raises(QueryError, match="samples='mean'"):
        energy_from_power_kwh(rows, period="day", tz="UTC", max_gap=Q, samples="mean")  # type: ignore[arg-type]
    # a lone sample covers nothing: no row
    assert energy_from_power_kwh(rows, period="day", tz="UTC", max_gap=Q).table.num_rows == 0


# -------------------------------------------------------------------- consumption_from_register
def test_register_rollover_reset_and_decrease_hand_worked() -> None:
    t = [utc(2024, 1, 1, h) for h in range(8)]
    reads = [99_950.0, 99_990.0, 15.0, 40.0, 38.0, 12.0, None, 20.0]
    r = consumption_from_register_kwh(frame([(1, ts, v) for ts, v in zip(t, reads, strict=True)]))
    rows = r.table.to_pylist()
    # 99,990 -> 15: the register (next power of ten: 100,000) wrapped: 10 + 15 = 25 kWh.
    # 40 -> 38: a drop of 5 % is a decrease (-2 kWh); 38 -> 12: a drop of 68 % is a reset.
    # the null read at 06:00 is skipped: 12 -> 20 spans 05:00-07:00.
    assert [row["consumption_kwh"] for row in rows] == [40.0, 25.0, 25.0, -2.0, None, 8.0]
    assert [row["event"] for row in rows] == ["", "rollover", "", "decrease", "reset", ""]
    assert rows[-1]["start"] == t[5] and rows[-1]["ts"] == t[7]
    assert "1 null values skipped" in r.notes and "1 reset events" in r.notes


def test_register_rollover_at_a_given_maximum() -> None:
    # a 16-bit register: 65,530 -> 4 is 6 + 4 = 10 kWh; inferred (100,000) it would be a reset
    rows = frame([(1, utc(2024, 1, 1, 0), 65_530.0), (1, utc(2024, 1, 1, 1), 4.0)])
    given = consumption_from_register_kwh(rows, rollover_kwh=65_536).table
    assert given.column("consumption_kwh").to_pylist() == [10.0]
    assert given.column("event").to_pylist() == ["rollover"]
    assert consumption_from_register_kwh(rows).table.column("event").to_pylist() == ["reset"]
    with pytest.raises(QueryError, match="reset_drop_fraction"):
        consumption_from_register_kwh(rows, reset_drop_fraction=0)


def test_register_series_are_kept_apart() -> None:
    # the first read of series 2 is lower than the last of series 1: not a drop
    rows = frame(
        [
            (1, utc(2024, 1, 1, 0), 500.0),
            (1, utc(2024, 1, 1, 1), 510.0),
            (2, utc(2024, 1, 1, 0), 3.0),
            (2, utc(2024, 1, 1, 1), 4.0),
        ]
    )
    out = consumption_from_register_kwh(rows).table
    assert out.column("series_id").to_pylist() == [1, 2]
    assert out.column("consumption_kwh").to_pylist() == [10.0, 1.0]
    assert out.column("event").to_pylist() == ["", ""]


# ---------------------------------------------------------------------------- public datasets
def keyed_frame(batches: list[pa.Table], metric: str) -> tuple[pa.Table, list[str]]:
    """The dataset's points of one metric as a long frame, series ids 0.. by entity id."""
    table = pa.concat_tables(batches)
    table = table.filter(pc.equal(table["metric"], metric))
    ids = sorted(set(table["entity_id"].to_pylist()))
    sid = pc.index_in(table["entity_id"], pa.array(ids))
    return pa.table({"series_id": pc.cast(sid, pa.int32()), "ts": table["ts"], "value": table["value"]}), ids


def test_pjm_daily_energy_in_new_york_matches_pandas(shared_datasets: Path) -> None:
    data = load_pjm_hourly(shared_datasets / "pjm_hourly")
    table, ids = keyed_frame(list(data.batches), "load_mw")
    aep = ids.index("AEP")
    table = table.filter(pc.equal(table["series_id"], aep))
    out = energy_kwh(table, period="day", tz="America/New_York").table.to_pandas()
    # independent: MW averaged over an hour is MWh; local date of each hour's start
    df = table.to_pandas()
    expected = df.groupby(df["ts"].dt.tz_convert("America/New_York").dt.date)["value"].agg(["sum", "count"])
    assert len(out) == len(expected)
    np.testing.assert_allclose(out["energy_kwh"].to_numpy(), expected["sum"].to_numpy(), rtol=1e-12)
    assert (out["intervals"].to_numpy() == expected["count"].to_numpy()).all()
    assert list(out["local_date"]) == list(expected.index)
    # README: 2015-11-01 lists 02:00 twice (25 hours); 2015-03-08 lacks 03:00 (23 hours)
    counts = dict(zip(out["local_date"], out["intervals"], strict=True))
    assert counts[date(2015, 11, 1)] == 25 and counts[date(2015, 3, 8)] == 23


def test_ausgrid_daily_energy_in_sydney_matches_pandas(shared_datasets: Path) -> None:
    data = load_ausgrid_solar_home_c12(shared_datasets / "ausgrid_solar_home_c12")
    table, _ = keyed_frame(list(data.batches), "consumption_kw")
    kwh = table.set_column(2, "value", pc.multiply(table["value"], 0.5))  # kW over 30 min -> kWh
    out = energy_kwh(kwh, period="day", tz="Australia/Sydney").table.to_pandas()
    df = kwh.to_pandas()
    expected = df.groupby(df["ts"].dt.tz_convert("Australia/Sydney").dt.date)["value"].sum()
    np.testing.assert_allclose(out["energy_kwh"].to_numpy(), expected.to_numpy(), rtol=1e-12)
    # README: about 5,900 kWh for the year; DST days hold 46 and 50 half-hours
    assert 5_800 < out["energy_kwh"].sum() < 6_000
    counts = dict(zip(out["local_date"], out["intervals"], strict=True))
    assert counts[date(2011, 10, 2)] == 46 and counts[date(2012, 4, 1)] == 50
    # the same energy by integrating the kW as interval averages (30 min apart)
    power = energy_from_power_kwh(
        table, period="day", tz="Australia/Sydney", max_gap=timedelta(minutes=30), samples="interval_average"
    ).table.to_pandas()
    np.testing.assert_allclose(power["energy_kwh"].to_numpy(), expected.to_numpy(), rtol=1e-9)


def test_register_built_from_public_data_gives_back_its_consumption(shared_datasets: Path) -> None:
    # a 1,000 kWh register accumulating Ausgrid's half-hourly kWh wraps about 6 times a year
    data = load_ausgrid_solar_home_c12(shared_datasets / "ausgrid_solar_home_c12")
    table, _ = keyed_frame(list(data.batches), "consumption_kw")
    kwh = table["value"].to_numpy() * 0.5
    register = np.r_[0.0, np.cumsum(kwh)] % 1_000  # read at each interval's start, and at the end
    ts = pc.cast(table["ts"], pa.int64()).to_numpy()
    reads = pa.table(
        {
            "series_id": pa.array(np.zeros(len(register), np.int32)),
            "ts": pa.array(np.r_[ts, ts[-1] + 1_800_000_000], TS),
            "value": register,
        }
    )
    out = consumption_from_register_kwh(reads).table
    events = out.column("event").to_pylist()
    assert events.count("rollover") == int(np.cumsum(kwh)[-1] // 1_000) and set(events) == {"", "rollover"}
    np.testing.assert_allclose(out.column("consumption_kwh").to_numpy(), kwh, atol=1e-9)


def test_local_periods_match_pandas_floor_in_three_zones() -> None:
    ts = np.arange(utc(2024, 1, 1).timestamp(), utc(2025, 1, 1).timestamp(), 3_600 * 7 + 60, dtype=np.int64)
    us = ts * 1_000_000
    for tz in ("Europe/Amsterdam", "Australia/Sydney", "America/New_York"):
        p = local_periods(us, period="day", tz=tz)
        local = pd.to_datetime(us, unit="us", utc=True).tz_convert(tz)
        expected = local.normalize().tz_convert("UTC").as_unit("us")
        assert (p.start_us == expected.asi8).all(), tz
