"""Energy cost per tariff period and the average local day, across DST in two zones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridpulse.analytics.tariffs import Tariff, parse_tariffs
from gridpulse.analytics.tou import average_day_profile, tou_energy_cost
from gridpulse.datasets import load_ausgrid_solar_home_c12
from gridpulse.errors import QueryError

Q = timedelta(minutes=15)


def frame(
    start: datetime, values: Sequence[float | None], *, step: timedelta = Q, series_id: int = 1
) -> pa.Table:
    """One series on a regular UTC grid from `start`."""
    ts = [start.astimezone(UTC) + i * step for i in range(len(values))]
    return pa.table(
        {
            "series_id": pa.array([series_id] * len(values), pa.int32()),
            "ts": pa.array(ts, pa.timestamp("us", "UTC")),
            "value": pa.array(values, pa.float64()),
        }
    )


def local_day(day: date, tz: str) -> tuple[datetime, int]:
    """UTC start of a local day and how many quarter-hours it has."""
    z = ZoneInfo(tz)
    a = datetime(day.year, day.month, day.day, tzinfo=z).astimezone(UTC)
    nxt = day + timedelta(days=1)
    b = datetime(nxt.year, nxt.month, nxt.day, tzinfo=z).astimezone(UTC)
    return a, (b - a) // Q


def tariff(tz: str, periods: list[dict[str, Any]], **extra: Any) -> Tariff:
    return parse_tariffs({"t": {"tz": tz, "currency": "EUR", "periods": periods, **extra}})["t"]


NL = tariff(
    "Europe/Amsterdam",
    [
        {"name": "peak", "days": "weekday", "hours": "07:00-23:00", "price_per_kwh": 0.32},
        {"name": "offpeak", "days": "all", "hours": "00:00-24:00", "price_per_kwh": 0.21},
    ],
    holidays="NL",
)


def rows(result: Any, *cols: str) -> list[tuple[Any, ...]]:
    table = result.table
    return list(zip(*(table.column(c).to_pylist() for c in cols), strict=True))


# ------------------------------------------------------------------------------- tou_energy_cost
def test_hand_worked_cost_of_four_hours_on_a_monday() -> None:
    # Monday 2024-01-08 06:00-10:00 CET = 05:00-09:00 UTC, hourly 1, 2, 3, 4 kWh:
    # 06:00 is offpeak (1 kWh × 0.21 = 0.21 EUR), 07:00-10:00 peak (9 kWh × 0.32 = 2.88 EUR)
    result = tou_energy_cost(
        frame(datetime(2024, 1, 8, 5, tzinfo=UTC), [1, 2, 3, 4], step=timedelta(hours=1)), tariff=NL
    )
    got = rows(result, "series_id", "period", "energy_kwh", "cost", "price_per_kwh")
    assert got == [
        (1, "peak", 9.0, pytest.approx(2.88), 0.32),
        (1, "offpeak", 1.0, pytest.approx(0.21), 0.21),
    ]
    assert result.units == {
        "energy_kwh": "kWh",
        "cost": "EUR",
        "price_per_kwh": "EUR/kWh",
        "estimated_share": "1",
    }
    assert result.sql == []


def test_one_period_tariff_prices_everything_at_its_price() -> None:
    flat = tariff(
        "Europe/Amsterdam", [{"name": "flat", "days": "all", "hours": "00:00-24:00", "price_per_kwh": 0.25}]
    )
    values = np.random.default_rng(1).uniform(0, 2, 96 * 40)
    result = tou_energy_cost(
        frame(datetime(2024, 3, 1, tzinfo=UTC), values.tolist()), tariff=flat, by_day=True
    )
    assert set(result.table.column("period").to_pylist()) == {"flat"}
    assert pc.sum(result.table.column("energy_kwh")).as_py() == pytest.approx(values.sum())
    assert pc.sum(result.table.column("cost")).as_py() == pytest.approx(0.25 * values.sum())


def test_null_values_are_left_out_and_noted() -> None:
    result = tou_energy_cost(frame(datetime(2024, 1, 8, 5, tzinfo=UTC), [1, None, 3]), tariff=NL)
    assert pc.sum(result.table.column("energy_kwh")).as_py() == 4.0
    assert result.notes == ["1 intervals with a null value are left out (no energy, no cost)"]


def test_public_holiday_is_priced_offpeak() -> None:
    # Christmas 2024 (Wednesday) 12:00 CET = 11:00 UTC
    result = tou_energy_cost(frame(datetime(2024, 12, 25, 11, tzinfo=UTC), [1.0]), tariff=NL)
    assert rows(result, "period") == [("offpeak",)]


TWO_AM = [
    {"name": "two", "days": "all", "hours": "02:00-03:00", "price_per_kwh": 1.0},
    {"name": "one", "days": "all", "hours": "01:00-02:00", "price_per_kwh": 0.5},
    {"name": "rest", "days": "all", "hours": "00:00-24:00", "price_per_kwh": 0.1},
]


@pytest.mark.parametrize(
    ("tz", "day", "quarters", "two", "one"),
    [
        # Amsterdam fall back: 02:00-03:00 twice (8 quarter-hours read 02:xx); spring forward: none
        ("Europe/Amsterdam", date(2024, 10, 27), 100, 8, 4),
        ("Europe/Amsterdam", date(2024, 3, 31), 92, 0, 4),
        # New York falls back at 02:00 EDT to 01:00 EST (01:xx twice), springs from 02:00 to 03:00
        ("America/New_York", date(2024, 11, 3), 100, 4, 8),
        ("America/New_York", date(2024, 3, 10), 92, 0, 4),
    ],
)
def test_dst_days_are_priced_by_the_wall_clock(tz: str, day: date, quarters: int, two: int, one: int) -> None:
    start, n = local_day(day, tz)
    assert n == quarters
    result = tou_energy_cost(frame(start, [1.0] * n), tariff=tariff(tz, TWO_AM), by_day=True)
    energy = {
        p: e for _, d, p, e in rows(result, "series_id", "local_date", "period", "energy_kwh") if d == day
    }
    assert energy.get("two", 0.0) == two and energy.get("one", 0.0) == one
    assert sum(energy.values()) == quarters
    assert set(result.table.column("local_date").to_pylist()) == {day}


def test_a_series_alone_equals_the_same_series_among_many() -> None:
    rng = np.random.default_rng(7)
    start = datetime(2024, 10, 20, tzinfo=UTC)
    many = pa.concat_tables(
        [frame(start, rng.uniform(0, 1, 96 * 14).tolist(), series_id=s) for s in (3, 1, 2)]
    )
    alone = many.filter(pc.equal(many.column("series_id"), 2))
    whole = tou_energy_cost(many, tariff=NL, by_day=True).table
    assert whole.filter(pc.equal(whole.column("series_id"), 2)).equals(
        tou_energy_cost(alone, tariff=NL, by_day=True).table
    )


def test_chunked_by_local_day_equals_whole() -> None:
    values = np.random.default_rng(3).uniform(0, 1, 96 * 10).tolist()
    data = frame(datetime(2024, 10, 22, 22, tzinfo=UTC), values)
    whole = tou_energy_cost(data, tariff=NL, by_day=True).table
    cut = datetime(2024, 10, 26, 22, tzinfo=UTC)  # local midnight of 2024-10-27 (CEST)
    parts = [
        data.filter(pc.less(data.column("ts"), cut)),
        data.filter(pc.greater_equal(data.column("ts"), cut)),
    ]
    chunked = pa.concat_tables([tou_energy_cost(p, tariff=NL, by_day=True).table for p in parts])
    assert chunked.equals(whole)


def test_naive_ts_column_is_refused_naming_it() -> None:
    bad = pa.table(
        {"series_id": pa.array([1], pa.int32()), "ts": pa.array([datetime(2024, 1, 1)]), "value": [1.0]}
    )
    with pytest.raises(QueryError, match=r"column 'ts' is timestamp.*aware"):
        tou_energy_cost(bad, tariff=NL)
    with pytest.raises(QueryError, match="frame has no column 'kwh'"):
        tou_energy_cost(frame(datetime(2024, 1, 1, tzinfo=UTC), [1.0]), tariff=NL, value="kwh")


# ---------------------------------------------------------------------------- average_day_profile
def test_hand_worked_weekday_and_weekend_profile() -> None:
    # UTC zone, hourly: Mon 2024-01-08 all 1 kWh, Tue all 3 kWh, Sat 2024-01-13 all 5 kWh.
    # weekday mean per slot (1 + 3) / 2 = 2 over 2 days; weekend 5 over 1 day.
    data = pa.concat_tables(
        [
            frame(datetime(2024, 1, 8, tzinfo=UTC), [1.0] * 24 + [3.0] * 24, step=timedelta(hours=1)),
            frame(datetime(2024, 1, 13, tzinfo=UTC), [5.0] * 24, step=timedelta(hours=1)),
        ]
    )
    result = average_day_profile(data, tz="UTC")
    got = rows(result, "day_type", "slot", "local_time", "energy_kwh", "days")
    assert got[:2] == [("weekday", 0, "00:00", 2.0, 2), ("weekday", 1, "01:00", 2.0, 2)]
    assert got[24:26] == [("weekend", 0, "00:00", 5.0, 1), ("weekend", 1, "01:00", 5.0, 1)]
    assert len(got) == 48 and result.units["energy_kwh"] == "kWh"


def test_quarter_hour_slots_sum_finer_intervals() -> None:
    # 5-minute values 1 kWh: each quarter-hour slot holds 3 kWh; 96 slots on one day
    data = frame(datetime(2024, 1, 8, tzinfo=UTC), [1.0] * 288, step=timedelta(minutes=5))
    result = average_day_profile(data, tz="UTC", points=96, day_types=("all",))
    assert result.table.num_rows == 96
    assert set(result.table.column("energy_kwh").to_pylist()) == {3.0}
    assert result.table.column("local_time").to_pylist()[:3] == ["00:00", "00:15", "00:30"]


def test_fall_back_day_averages_its_two_repeated_hours() -> None:
    # Sunday 2024-10-27 Amsterdam: 100 quarter-hours of 1 kWh, except the second 02:xx hour
    # (01:00-02:00 UTC, CET) at 3 kWh: slot 02 = mean(4, 12) = 8 kWh over 1 day, every other slot 4.
    start, n = local_day(date(2024, 10, 27), "Europe/Amsterdam")
    ts = [start + i * Q for i in range(n)]
    values = [
        3.0 if datetime(2024, 10, 27, 1, tzinfo=UTC) <= t < datetime(2024, 10, 27, 2, tzinfo=UTC) else 1.0
        for t in ts
    ]
    result = average_day_profile(frame(start, values), tz="Europe/Amsterdam", day_types=("weekend",))
    got = {slot: (e, d) for slot, e, d in rows(result, "slot", "energy_kwh", "days")}
    assert len(got) == 24 and got[2] == (8.0, 1) and got[1] == (4.0, 1) and got[3] == (4.0, 1)


@pytest.mark.parametrize(
    ("tz", "day", "missing_slot"),
    [
        ("Europe/Amsterdam", date(2024, 3, 31), 2),
        ("Australia/Sydney", date(2024, 10, 6), 2),  # spring forward 02:00 -> 03:00 AEDT
        ("Australia/Sydney", date(2024, 4, 7), None),  # fall back 03:00 AEDT -> 02:00 AEST: 02:xx twice
    ],
)
def test_dst_days_contribute_their_real_hours_only(tz: str, day: date, missing_slot: int | None) -> None:
    # the DST day (a Sunday) and the Sunday before it, 1 kWh per quarter-hour
    frames = []
    for d in (day - timedelta(days=7), day):
        start, n = local_day(d, tz)
        frames.append(frame(start, [1.0] * n))
    result = average_day_profile(pa.concat_tables(frames), tz=tz, day_types=("weekend", "sun", "weekday"))
    got = {(k, slot): (e, n) for k, slot, e, n in rows(result, "day_type", "slot", "energy_kwh", "days")}
    assert not any(k == "weekday" for k, _ in got)
    for slot in range(24):
        # a real hour holds 4 kWh, and a repeated one averages two 4 kWh hours
        assert got[("sun", slot)] == (4.0, 1 if slot == missing_slot else 2)
        assert got[("weekend", slot)] == got[("sun", slot)]


def test_holidays_join_the_weekend_and_the_holiday_day_type() -> None:
    # Wednesday 2024-12-25 (Christmas) and Thursday 2024-12-19, 1 and 2 kWh per hour, UTC zone
    data = pa.concat_tables(
        [
            frame(datetime(2024, 12, 25, tzinfo=UTC), [1.0] * 24, step=timedelta(hours=1)),
            frame(datetime(2024, 12, 19, tzinfo=UTC), [2.0] * 24, step=timedelta(hours=1)),
        ]
    )
    for holidays in ("NL", [date(2024, 12, 25)]):
        result = average_day_profile(
            data, tz="UTC", day_types=("weekday", "weekend", "holiday"), holidays=holidays
        )
        first = {
            k: (e, n) for k, slot, e, n in rows(result, "day_type", "slot", "energy_kwh", "days") if slot == 0
        }
        assert first == {"weekday": (2.0, 1), "weekend": (1.0, 1), "holiday": (1.0, 1)}


def test_profile_of_a_series_alone_equals_it_among_many() -> None:
    rng = np.random.default_rng(11)
    start = datetime(2024, 10, 14, tzinfo=UTC)
    many = pa.concat_tables([frame(start, rng.uniform(0, 1, 96 * 21).tolist(), series_id=s) for s in (5, 9)])
    whole = average_day_profile(many, tz="Europe/Amsterdam").table
    alone = average_day_profile(
        many.filter(pc.equal(many.column("series_id"), 9)), tz="Europe/Amsterdam"
    ).table
    assert whole.filter(pc.equal(whole.column("series_id"), 9)).equals(alone)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"points": 48}, "points=48 is not supported"),
        ({"day_types": ("weekday", "workday")}, "day_types=.* has an unknown entry"),
        ({"tz": "Mars/Olympus"}, "tz='Mars/Olympus' is not an IANA time zone"),
        ({"holidays": "XX"}, "holidays='XX' is not a country code"),
    ],
)
def test_bad_profile_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"tz": "UTC", **kwargs}
    with pytest.raises(QueryError, match=message):
        average_day_profile(frame(datetime(2024, 1, 8, tzinfo=UTC), [1.0]), **args)


def test_ausgrid_household_profile_matches_pandas(shared_datasets: Path) -> None:
    """An independent pandas computation of the household's average day, by local hour."""
    dataset = load_ausgrid_solar_home_c12(shared_datasets / "ausgrid_solar_home_c12")
    points = pa.concat_tables(list(dataset.batches))
    points = points.filter(pc.equal(points.column("metric"), "consumption_kw"))
    # average power over a half hour [kW] x 0.5 h = energy [kWh]
    energy = pc.multiply(points.column("value"), 0.5)
    data = pa.table(
        {"series_id": pa.array([1] * points.num_rows, pa.int32()), "ts": points.column("ts"), "value": energy}
    )
    got = average_day_profile(data, tz="Australia/Sydney").table.to_pandas()

    df = pd.DataFrame({"ts": points.column("ts").to_pandas(), "kwh": energy.to_pandas()}).dropna()
    local = df["ts"].dt.tz_convert("Australia/Sydney")
    df["date"], df["hour"], df["offset"] = local.dt.date, local.dt.hour, local.map(lambda t: t.utcoffset())
    real_hours = df.groupby(["date", "hour", "offset"])["kwh"].sum().reset_index()
    per_day = real_hours.groupby(["date", "hour"])["kwh"].mean().reset_index()
    per_day["day_type"] = np.where(pd.to_datetime(per_day["date"]).dt.day_of_week < 5, "weekday", "weekend")
    want = per_day.groupby(["day_type", "hour"])["kwh"].agg(["mean", "count"]).reset_index()

    assert len(got) == len(want) == 48
    np.testing.assert_allclose(got["energy_kwh"], want["mean"], rtol=1e-12)
    np.testing.assert_array_equal(got["days"], want["count"])
    assert list(got["day_type"]) == list(want["day_type"]) and list(got["slot"]) == list(want["hour"])
    # 366 days from Friday 2011-07-01 to Saturday 2012-06-30: 52 weeks and a Friday and Saturday,
    # so 105 weekend days; the 02:00 slot lacks the spring-forward Sunday 2011-10-02
    assert got.loc[got["slot"] == 0, "days"].sum() == 366
    assert got.loc[(got["slot"] == 2) & (got["day_type"] == "weekend"), "days"].item() == 105 - 1
