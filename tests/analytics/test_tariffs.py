"""Time-of-use tariffs: parsing from config tables, period matching, DST and holidays."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from gridpulse.analytics.tariffs import Tariff, parse_tariffs
from gridpulse.errors import ConfigError

NL_TOU: dict[str, Any] = {
    "tz": "Europe/Amsterdam",
    "holidays": "NL",
    "currency": "EUR",
    "periods": [
        {
            "name": "peak",
            "days": "weekday",
            "hours": "07:00-23:00",
            "price_per_kwh": 0.32,
            "months": [1, 2, 3, 10, 11, 12],
        },
        {"name": "offpeak", "days": "all", "hours": "00:00-24:00", "price_per_kwh": 0.21},
    ],
}


def nl() -> Tariff:
    return parse_tariffs({"nl-tou": copy.deepcopy(NL_TOU)})["nl-tou"]


def test_config_table_becomes_a_tariff_with_its_periods_in_order() -> None:
    tariff = nl()
    assert (tariff.name, tariff.tz, tariff.currency, tariff.holidays_country) == (
        "nl-tou",
        "Europe/Amsterdam",
        "EUR",
        "NL",
    )
    assert [p.name for p in tariff.periods] == ["peak", "offpeak"]
    assert tariff.periods[0].start_min == 7 * 60 and tariff.periods[0].end_min == 23 * 60
    assert tariff.periods[0].months == frozenset({1, 2, 3, 10, 11, 12})
    assert tariff.periods[1].months is None


def test_first_matching_period_wins_by_day_type_hours_and_month() -> None:
    # 2024-01-08 is a Monday, 2024-01-13 a Saturday, 2024-07-08 a Monday outside the peak months
    local = [
        datetime(2024, 1, 8, 6, 59),  # before peak starts
        datetime(2024, 1, 8, 7, 0),  # start is inclusive
        datetime(2024, 1, 8, 22, 59),
        datetime(2024, 1, 8, 23, 0),  # end is exclusive
        datetime(2024, 1, 13, 12, 0),  # Saturday
        datetime(2024, 7, 8, 12, 0),  # July: no peak period
    ]
    assert nl().period_of(local).to_pylist() == ["offpeak", "peak", "peak", "offpeak", "offpeak", "offpeak"]


def test_public_holiday_on_a_weekday_is_priced_as_a_weekend_day() -> None:
    # Christmas 2024 is a Wednesday; 2024-12-24 an ordinary Tuesday
    got = nl().period_of([datetime(2024, 12, 25, 12), datetime(2024, 12, 24, 12)]).to_pylist()
    assert got == ["offpeak", "peak"]


def test_holiday_period_wins_over_an_earlier_weekend_period_on_holidays() -> None:
    raw = copy.deepcopy(NL_TOU)
    raw["periods"] = [
        {"name": "weekend", "days": "weekend", "hours": "00:00-24:00", "price_per_kwh": 0.20},
        {"name": "holiday", "days": "holiday", "hours": "00:00-24:00", "price_per_kwh": 0.10},
        {
            "name": "normal",
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "hours": "00:00-24:00",
            "price_per_kwh": 0.30,
        },
    ]
    tariff = parse_tariffs({"t": raw})["t"]
    # 2024-12-25 Wednesday holiday; 2024-12-28 Saturday; 2024-12-27 Friday
    got = tariff.period_of([datetime(2024, 12, 25, 9), datetime(2024, 12, 28, 9), datetime(2024, 12, 27, 9)])
    assert got.to_pylist() == ["holiday", "weekend", "normal"]


def test_hours_across_midnight_and_day_lists() -> None:
    raw = {
        "tz": "Europe/Amsterdam",
        "currency": "EUR",
        "periods": [
            {"name": "night", "days": "all", "hours": "23:00-07:00", "price_per_kwh": 0.1},
            {"name": "early-week", "days": ["mon", "tue"], "hours": "07:00-23:00", "price_per_kwh": 0.3},
            {"name": "day", "days": "all", "hours": "07:00-00:00", "price_per_kwh": 0.2},
        ],
    }
    tariff = parse_tariffs({"t": raw})["t"]
    local = [
        datetime(2024, 1, 10, 23, 30),
        datetime(2024, 1, 11, 6, 45),
        datetime(2024, 1, 9, 8),
        datetime(2024, 1, 10, 8),
    ]
    assert tariff.period_of(local).to_pylist() == ["night", "night", "early-week", "day"]


def test_aware_instants_are_read_on_the_tariffs_wall_clock_across_dst() -> None:
    raw = {
        "tz": "Europe/Amsterdam",
        "currency": "EUR",
        "periods": [
            {"name": "two", "days": "all", "hours": "02:00-03:00", "price_per_kwh": 1.0},
            {"name": "rest", "days": "all", "hours": "00:00-24:00", "price_per_kwh": 0.1},
        ],
    }
    tariff = parse_tariffs({"t": raw})["t"]
    # fall back 2024-10-27: 00:00 UTC is 02:00 CEST and 01:00 UTC is 02:00 CET, both "two";
    # spring forward 2024-03-31: 01:00 UTC is 03:00 CEST, 00:30 UTC is 01:30 CET
    utc = [
        datetime(2024, 10, 27, 0, 15, tzinfo=UTC),
        datetime(2024, 10, 27, 1, 15, tzinfo=UTC),
        datetime(2024, 10, 27, 2, 0, tzinfo=UTC),
        datetime(2024, 3, 31, 1, 0, tzinfo=UTC),
        datetime(2024, 3, 31, 0, 30, tzinfo=UTC),
    ]
    assert tariff.period_of(pa.array(utc, pa.timestamp("us", "UTC"))).to_pylist() == [
        "two",
        "two",
        "rest",
        "rest",
        "rest",
    ]
    assert tariff.period_of(utc).to_pylist() == ["two", "two", "rest", "rest", "rest"]


def test_period_index_is_vectorised_over_a_year_of_quarter_hours() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    instants = pa.array(
        [start + timedelta(minutes=15 * i) for i in range(366 * 96)], pa.timestamp("us", "UTC")
    )
    index = nl().period_index(instants)
    assert len(index) == 366 * 96 and set(index.tolist()) == {0, 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"periods": [{}, {"hours": "25:00-26:00"}]},
            "tariffs.nl-tou.periods[1].hours='25:00-26:00' is not a time range",
        ),
        (
            {"periods": [{"hours": "07:00-07:00"}, {}]},
            "tariffs.nl-tou.periods[0].hours='07:00-07:00' is not a time range",
        ),
        ({"periods": [{}, {"hours": "7-23"}]}, "periods[1].hours='7-23' is not a time range"),
        ({"periods": [{}, {"days": "workday"}]}, "periods[1].days='workday' is not a day type"),
        (
            {"periods": [{}, {"days": ["mon", "funday"]}]},
            "periods[1].days=['mon', 'funday'] is not a day type",
        ),
        ({"periods": [{"months": [0, 13]}, {}]}, "periods[0].months=[0, 13] is not a list of months"),
        ({"periods": [{"price_per_kwh": "0.3"}, {}]}, "periods[0].price_per_kwh='0.3' is not a number"),
        ({"periods": [{"price_per_kWh": 0.3}, {}]}, "periods[0].price_per_kWh is not a known key"),
        ({"tz": "Europe/Amstrdam"}, "tariffs.nl-tou.tz='Europe/Amstrdam' is not an IANA time zone"),
        ({"holidays": "XX"}, "tariffs.nl-tou.holidays='XX'"),
        ({"currency": "euro"}, "tariffs.nl-tou.currency='euro' is not an ISO 4217 code"),
        ({"currency": None}, "tariffs.nl-tou.currency=None is missing"),
        ({"periods": []}, "tariffs.nl-tou.periods is missing or empty"),
        ({"colour": "red"}, "tariffs.nl-tou.colour is not a known key"),
    ],
)
def test_bad_config_names_the_key_and_value(change: dict[str, Any], message: str) -> None:
    raw = copy.deepcopy(NL_TOU)
    for key, value in change.items():
        if key == "periods" and value:
            for period, patch in zip(raw["periods"], value, strict=True):
                period.update(patch)
        elif value is None:
            del raw[key]
        else:
            raw[key] = value
    with pytest.raises(ConfigError) as err:
        parse_tariffs({"nl-tou": raw})
    assert message in str(err.value)


def test_a_local_hour_no_period_covers_is_refused_naming_it() -> None:
    raw = copy.deepcopy(NL_TOU)
    raw["periods"][1]["days"] = "weekday"
    with pytest.raises(ConfigError, match=r"tariffs.nl-tou.periods cover no price for sat 00:00 in month 1"):
        parse_tariffs({"nl-tou": raw})
    raw = copy.deepcopy(NL_TOU)
    raw["periods"][1]["hours"] = "00:00-23:00"
    with pytest.raises(ConfigError, match=r"cover no price for mon 23:00 in month 1"):
        parse_tariffs({"nl-tou": raw})


def test_holiday_period_without_a_holiday_country_is_refused() -> None:
    raw = copy.deepcopy(NL_TOU)
    del raw["holidays"]
    raw["periods"].insert(0, {"name": "h", "days": "holiday", "hours": "00:00-24:00", "price_per_kwh": 0.1})
    with pytest.raises(
        ConfigError, match=r"periods\[0\].days='holiday' but tariffs.nl-tou names no holidays"
    ):
        parse_tariffs({"nl-tou": raw})


def test_holiday_subdivision_is_used() -> None:
    raw = copy.deepcopy(NL_TOU)
    raw.update(tz="Australia/Sydney", holidays="AU", holidays_subdiv="NSW", currency="AUD")
    tariff = parse_tariffs({"au": raw})["au"]
    # Labour Day in NSW: Monday 2024-10-07 (it is in March in Victoria)
    assert tariff.period_of([datetime(2024, 10, 7, 12), datetime(2024, 3, 11, 12)]).to_pylist() == [
        "offpeak",
        "peak",
    ]
