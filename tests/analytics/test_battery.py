"""soc_daily, equivalent_full_cycles, time_below_threshold: hand-worked values, DST identities,
invariance, and pandas on the synthetic fleet's batteries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridpulse.analytics.base import AnalyticResult
from gridpulse.analytics.battery import equivalent_full_cycles, soc_daily, time_below_threshold
from gridpulse.demo import generate_fleet
from gridpulse.errors import QueryError
from tests.analytics.frames import frame, utc

M5, Q = timedelta(minutes=5), timedelta(minutes=15)


def test_soc_daily_hand_worked_with_ties_to_the_earliest_sample() -> None:
    # Amsterdam, June (UTC+2): samples 22:00Z on the 2nd belong to local 2024-06-03
    rows = frame(4, utc(2024, 6, 2, 22), timedelta(hours=6), [50.0, 20.0, 20.0, 80.0, 80.0, None])
    r = soc_daily(rows, tz="Europe/Amsterdam")
    got = r.table.to_pylist()
    assert [g["local_date"] for g in got] == [date(2024, 6, 3), date(2024, 6, 4)]
    first = got[0]
    assert (first["soc_min_pct"], first["soc_min_at"]) == (20.0, utc(2024, 6, 3, 4))
    assert (first["soc_max_pct"], first["soc_max_at"]) == (80.0, utc(2024, 6, 3, 16))
    assert first["samples"] == 4 and got[1]["samples"] == 1
    assert r.notes == ["1 null values skipped"]


def test_one_cycle_is_the_usable_capacity_discharged_once() -> None:
    # 2 h at 100 kW discharge = 200 kWh, then 1 h at 50 kW charge = 50 kWh (the last 5-minute
    # sample repeats the interval before it); capacity 200 kWh -> 1.0 cycle, charging not added
    rows = frame(1, utc(2024, 6, 3, 8), M5, [100.0] * 24 + [-50.0] * 12)
    r = equivalent_full_cycles(rows, capacity_kwh=200.0, tz="UTC")
    row = r.table.to_pylist()[0]
    assert row["discharged_kwh"] == pytest.approx(200.0)
    assert row["charged_kwh"] == pytest.approx(50.0)
    assert row["cycles"] == pytest.approx(1.0)
    assert r.table.column_names == [
        "series_id",
        "start",
        "local_date",
        "discharged_kwh",
        "charged_kwh",
        "cycles",
        "covered_h",
        "gaps",
        "estimated_h",
        "estimated_share",
    ]
    with pytest.raises(QueryError, match="capacity_kwh"):
        equivalent_full_cycles(rows, capacity_kwh=0.0, tz="UTC")


def test_time_below_threshold_is_sample_and_hold() -> None:
    # every 15 min: 30, 15, 10, 25, 5 %: below 20 % from 00:15 to 00:45 and from 01:00 for
    # the 15 min the last sample holds: 0.75 h of 1.25 h covered
    rows = frame(1, utc(2024, 6, 3), Q, [30.0, 15.0, 10.0, 25.0, 5.0])
    row = time_below_threshold(rows, tz="UTC").table.to_pylist()[0]
    assert (row["below_h"], row["covered_h"], row["gaps"]) == (0.75, 1.25, 0)
    # 20 % itself is not below
    assert time_below_threshold(frame(1, utc(2024, 6, 3), Q, [20.0, 20.0]), tz="UTC").table[
        "below_h"
    ].to_pylist() == [0.0]


def test_time_below_holds_a_sample_at_most_max_gap() -> None:
    # 10 % at 00:00, next sample at 03:00: held for max_gap = 1 h, one gap
    rows = frame(1, utc(2024, 6, 3), timedelta(hours=3), [10.0, 50.0])
    r = time_below_threshold(rows, tz="UTC", max_gap=timedelta(hours=1))
    row = r.table.to_pylist()[0]
    assert (row["below_h"], row["gaps"]) == (1.0, 1)
    assert r.notes == ["1 gaps longer than 1:00:00 not bridged"]


@pytest.mark.parametrize(
    ("tz", "midnight", "hours"),
    [("Europe/Amsterdam", utc(2024, 10, 26, 22), 25), ("Australia/Sydney", utc(2024, 10, 5, 14), 23)],
)
def test_low_all_dst_day_is_23_or_25_hours_below(tz: str, midnight: datetime, hours: int) -> None:
    rows = frame(1, midnight, M5, [10.0] * (12 * hours))
    out = time_below_threshold(rows, tz=tz, threshold_pct=20).table
    assert out.column("below_h").to_pylist() == pytest.approx([hours])


def fleet_frames() -> tuple[pa.Table, pa.Table, list[str]]:
    """The demo fleet's battery power and SoC frames (Amsterdam, over the 2024-10-27 fall back)."""
    data = generate_fleet(end=utc(2024, 10, 31), days=7)
    table = pa.concat_tables(list(data.batches))
    table = table.filter(pc.equal(table["entity_kind"], "device"))
    ids = sorted(set(table["entity_id"].to_pylist()))

    def metric(name: str) -> pa.Table:
        t = table.filter(pc.equal(table["metric"], name))
        sid = pc.cast(pc.index_in(t["entity_id"], pa.array(ids)), pa.int32())
        return pa.table({"series_id": sid, "ts": t["ts"], "value": t["value"]})

    return metric("power_kw"), metric("StateOfChargePercentage"), ids


def test_fleet_batteries_match_pandas() -> None:
    power, soc, ids = fleet_frames()
    tz = "Europe/Amsterdam"
    capacity = {ids.index("battery-1"): 500.0, ids.index("battery-2"): 1000.0, ids.index("battery-3"): 200.0}
    p = power.to_pandas()
    p["day"] = p["ts"].dt.tz_convert(tz).dt.date
    # independent: 5-minute average kW x 1/12 h, discharge only, per local date / capacity
    p["out"] = p["value"].clip(lower=0) / 12
    expected = p.groupby(["series_id", "day"])["out"].sum()
    cycles = equivalent_full_cycles(power, capacity_kwh=capacity, tz=tz).table.to_pandas()
    np.testing.assert_allclose(cycles["discharged_kwh"].to_numpy(), expected.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(
        cycles["cycles"].to_numpy(),
        expected.to_numpy() / cycles["series_id"].map(capacity).to_numpy(),
        rtol=1e-9,
    )
    assert set(cycles.loc[cycles["local_date"] == date(2024, 10, 27), "covered_h"]) == {25.0}

    s = soc.to_pandas()
    s["day"] = s["ts"].dt.tz_convert(tz).dt.date
    grouped = s.groupby(["series_id", "day"])["value"]
    daily = soc_daily(soc, tz=tz).table.to_pandas()
    np.testing.assert_allclose(daily["soc_min_pct"].to_numpy(), grouped.min().to_numpy())
    np.testing.assert_allclose(daily["soc_max_pct"].to_numpy(), grouped.max().to_numpy())
    assert list(daily["soc_min_at"]) == list(s.loc[grouped.idxmin(), "ts"])
    assert list(daily["soc_max_at"]) == list(s.loc[grouped.idxmax(), "ts"])

    s["low"] = (s["value"] < 20) / 12  # each 5-minute sample held for 1/12 h
    below = time_below_threshold(soc, tz=tz).table.to_pandas()
    np.testing.assert_allclose(
        below["below_h"].to_numpy(), s.groupby(["series_id", "day"])["low"].sum().to_numpy(), atol=1e-9
    )
    # the fleet runs battery-3 below 20 % most nights (10-28 % overnight)
    assert below.loc[below["series_id"] == ids.index("battery-3"), "below_h"].sum() > 0


def test_a_battery_alone_equals_the_same_battery_among_many() -> None:
    power, soc, _ = fleet_frames()
    tz = "Europe/Amsterdam"
    runs: list[tuple[Callable[[pa.Table], AnalyticResult], pa.Table]] = [
        (lambda t: equivalent_full_cycles(t, capacity_kwh=300.0, tz=tz), power),
        (lambda t: time_below_threshold(t, tz=tz), soc),
        (lambda t: soc_daily(t, tz=tz), soc),
    ]
    for fn, table in runs:
        whole = fn(table).table
        alone = fn(table.filter(pc.equal(table["series_id"], 1))).table
        assert whole.filter(pc.equal(whole["series_id"], 1)).equals(alone)
