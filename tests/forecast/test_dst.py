"""Horizons across DST: 7 days ahead is 168 hourly / 336 half-hourly steps, consecutive in UTC,
from an origin just before Europe/Amsterdam's spring-forward (2024-03-31 02:00 CET -> 03:00 CEST)
and fall-back (2024-10-27 03:00 CEST -> 02:00 CET); the calendar features of those steps read the
local wall clock, where the hour jumps 01 -> 03 in spring and 02 comes twice in autumn."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest

from gridpulse.forecast import Forecast, History, make_model
from gridpulse.forecast.calendar import calendar_of
from gridpulse.forecast.features import feature_rows
from gridpulse.model import FORECAST_VALUES_SCHEMA
from tests.forecast.series import HOUR, synthetic, us

TZ = "Europe/Amsterdam"
HALF_HOUR = 1800
# origins a couple of hours before the change: 23:00 CET on 03-30, 00:00 CEST on 10-27
SPRING = us(2024, 3, 30, 22)
AUTUMN = us(2024, 10, 26, 22)
STEPS = {HOUR: 168, HALF_HOUR: 336}
SMALL = {
    "seasonal-naive": {},
    "lightgbm": {"rounds": 30, "max_origins": 30, "threads": 1},
    "mstl": {"train_weeks": 3},
    "linear": {},
    "ensemble": {"lightgbm": {"rounds": 30, "max_origins": 30, "threads": 1}},
}


def history_until(origin_us: int, step_s: int) -> History:
    return synthetic("ams", weeks=4, step_s=step_s, end_us=origin_us, tz=TZ, seed=5)


def local_hours(ts_us: np.ndarray) -> list[float]:
    """Wall-clock hour of day in Amsterdam (fractional), worked out with zoneinfo."""
    zone = ZoneInfo(TZ)
    out = []
    for t in ts_us.tolist():
        local = datetime.fromtimestamp(t / 1e6, UTC).astimezone(zone)
        out.append(local.hour + local.minute / 60)
    return out


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("step_s", [HOUR, HALF_HOUR])
@pytest.mark.parametrize("origin_us", [SPRING, AUTUMN], ids=["spring-forward", "fall-back"])
def test_seven_days_across_dst_are_168_hourly_or_336_half_hourly_consecutive_utc_steps(
    name: str, step_s: int, origin_us: int
) -> None:
    h = history_until(origin_us, step_s)
    assert h.end_us == origin_us
    steps = h.steps_per(7 * 86_400)
    assert steps == STEPS[step_s]
    fc = make_model(name, **SMALL[name]).fit([h]).predict([h], steps)[0]
    assert fc.steps == steps
    assert fc.origin_us == origin_us
    ts = fc.ts_us()
    assert ts[0] == origin_us  # the first step is the origin's own interval
    assert set(np.diff(ts).tolist()) == {step_s * 1_000_000}
    assert ts[-1] + step_s * 1_000_000 - origin_us == 7 * 86_400 * 1_000_000  # 7 x 24 h of UTC
    assert np.isfinite(fc.mean).all()


@pytest.mark.parametrize("step_s", [HOUR, HALF_HOUR])
def test_spring_forward_steps_jump_from_01_to_03_local(step_s: int) -> None:
    h = history_until(SPRING, step_s)
    fc = make_model("seasonal-naive").predict([h], STEPS[step_s])[0]
    cal = calendar_of(fc.ts_us(), tz=TZ, holidays=None, subdiv=None)
    hours = cal.hour_of_day.tolist()
    assert hours == local_hours(fc.ts_us())
    per_hour = 3600 // step_s
    # 23:00 CET, 00:00, 01:00 (each `per_hour` steps) and then straight to 03:00 CEST
    expected_start = [23.0, 0.0, 1.0, 3.0, 4.0]
    assert hours[: 5 * per_hour : per_hour] == expected_start
    if step_s == HALF_HOUR:
        assert hours[:8] == [23.0, 23.5, 0.0, 0.5, 1.0, 1.5, 3.0, 3.5]
    # the local day 2024-03-31 has 23 hours of steps and no 02:xx at all
    on_day = (cal.month == 3) & (cal.day_of_year == 31 + 29 + 31)
    assert on_day.sum() == 23 * per_hour
    assert not any(2.0 <= x < 3.0 for x in cal.hour_of_day[on_day])
    assert (cal.weekday[on_day] == 6).all()  # a Sunday


@pytest.mark.parametrize("step_s", [HOUR, HALF_HOUR])
def test_fall_back_steps_repeat_02_local(step_s: int) -> None:
    h = history_until(AUTUMN, step_s)
    fc = make_model("seasonal-naive").predict([h], STEPS[step_s])[0]
    cal = calendar_of(fc.ts_us(), tz=TZ, holidays=None, subdiv=None)
    hours = cal.hour_of_day.tolist()
    assert hours == local_hours(fc.ts_us())
    per_hour = 3600 // step_s
    # 00:00 CEST, 01:00, 02:00 CEST, 02:00 again (CET), 03:00
    assert hours[: 5 * per_hour : per_hour] == [0.0, 1.0, 2.0, 2.0, 3.0]
    if step_s == HALF_HOUR:
        assert hours[4:10] == [2.0, 2.5, 2.0, 2.5, 3.0, 3.5]
    # the local day 2024-10-27 holds 25 hours of steps, 02:00 twice
    on_day = (cal.month == 10) & (cal.day_of_year == 274 + 27)
    assert (cal.weekday[on_day] == 6).all()  # a Sunday
    assert on_day.sum() == 25 * per_hour
    assert (cal.hour_of_day[on_day] == 2.0).sum() == 2


@pytest.mark.parametrize("step_s", [HOUR, HALF_HOUR])
@pytest.mark.parametrize("origin_us", [SPRING, AUTUMN], ids=["spring-forward", "fall-back"])
def test_forecast_rows_carry_the_wall_clock_calendar_of_their_own_step(step_s: int, origin_us: int) -> None:
    # the features of a forecast's rows (origin = len(values)) describe each target step
    h = history_until(origin_us, step_s)
    steps = STEPS[step_s]
    rows = feature_rows(h, np.array([len(h.values)], np.int64), steps)
    target_ts = origin_us + np.arange(steps, dtype=np.int64) * step_s * 1_000_000
    col = rows.names.index("hour_of_day")
    assert rows.x[:, col].tolist() == local_hours(target_ts)


@pytest.mark.parametrize("step_s", [HOUR, HALF_HOUR])
@pytest.mark.parametrize("origin_us", [SPRING, AUTUMN], ids=["spring-forward", "fall-back"])
def test_to_table_matches_the_forecast_values_schema(step_s: int, origin_us: int) -> None:
    h = history_until(origin_us, step_s)
    fc = make_model("seasonal-naive").predict([h], STEPS[step_s])[0]
    table = fc.to_table()
    assert table.schema.equals(FORECAST_VALUES_SCHEMA)
    assert table.num_rows == STEPS[step_s]
    ts = table.column("ts").to_pylist()
    assert ts[0] == datetime.fromtimestamp(origin_us / 1e6, UTC)
    assert all(b - a == ts[1] - ts[0] for a, b in itertools.pairwise(ts))
    assert table.column("mean").to_pylist() == fc.mean.tolist()
    assert table.column("hi95").to_pylist() == fc.hi95.tolist()


def test_to_table_of_a_hand_made_forecast() -> None:
    fc = Forecast(
        "x",
        us(2024, 3, 31, 0),
        HOUR,
        mean=np.array([1.0, 2.0]),
        lo80=np.array([0.5, 1.5]),
        hi80=np.array([1.5, 2.5]),
        lo95=np.array([0.0, 1.0]),
        hi95=np.array([2.0, 3.0]),
    )
    table = fc.to_table()
    assert table.schema.equals(FORECAST_VALUES_SCHEMA)
    assert table.column("ts").type == pa.timestamp("us", tz="UTC")
    assert table.to_pylist() == [
        {
            "ts": datetime(2024, 3, 31, 0, tzinfo=UTC),
            "mean": 1.0,
            "lo80": 0.5,
            "hi80": 1.5,
            "lo95": 0.0,
            "hi95": 2.0,
        },
        {
            "ts": datetime(2024, 3, 31, 1, tzinfo=UTC),
            "mean": 2.0,
            "lo80": 1.5,
            "hi80": 2.5,
            "lo95": 1.0,
            "hi95": 3.0,
        },
    ]
