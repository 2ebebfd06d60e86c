"""summarise: hand-worked group statistics, groups, identities with energy_kwh, invariance, and
pandas on the synthetic fleet's meters."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridpulse.analytics.energy import energy_kwh
from gridpulse.analytics.periods import Period
from gridpulse.analytics.summary import summarise
from gridpulse.demo import generate_fleet
from gridpulse.errors import QueryError
from tests.analytics.frames import frame, utc

Q = timedelta(minutes=15)


def test_hand_worked_two_meters_one_day() -> None:
    # meter 1: 1, 2, 3, 4 kWh; meter 2: 4, 1, None, 2 kWh at 00:00..00:45 UTC.
    # sums per instant 5, 3, 3, 6: total 17, average 17 / 4 = 4.25, peak 6 at 00:45,
    # minimum 3 first at 00:15; 7 values summed. Meter 2's 00:45 read (in the peak) is an
    # estimate, and so is its null at 00:30, which holds no value: 1 of the 7 values estimated
    start = utc(2024, 6, 3)
    rows = pa.concat_tables(
        [frame(1, start, Q, [1.0, 2.0, 3.0, 4.0]), frame(2, start, Q, [4.0, 1.0, None, 2.0])]
    )
    rows = rows.append_column("quality", pa.array([0, 0, 0, 0, 0, 0, 1, 1], pa.int8()))
    r = summarise(rows, period="day", tz="UTC")
    assert r.table.to_pylist() == [
        {
            "group": "all",
            "start": start,
            "local_date": date(2024, 6, 3),
            "total_kwh": 17.0,
            "average_kwh": 4.25,
            "peak_kwh": 6.0,
            "peak_at": utc(2024, 6, 3, 0, 45),
            "minimum_kwh": 3.0,
            "minimum_at": utc(2024, 6, 3, 0, 15),
            "intervals": 4,
            "values": 7,
            "estimated_values": 1,
            "estimated_share": 1 / 7,
            "peak_estimated": True,
            "minimum_estimated": False,
        }
    ]
    assert r.units == {
        "total_kwh": "kWh",
        "average_kwh": "kWh",
        "peak_kwh": "kWh",
        "minimum_kwh": "kWh",
        "estimated_share": "1",
    }
    assert r.notes == ["1 null values skipped"]


def test_groups_from_series_info_and_a_group_alone_equals_among_others() -> None:
    rng = np.random.default_rng(11)
    start = utc(2024, 10, 26, 22)
    parts = {sid: frame(sid, start, Q, [float(x) for x in rng.random(96 * 3)]) for sid in (1, 2, 3, 4)}
    info = {1: "site-a", 2: "site-b", 3: "site-a", 4: "site-b"}
    both = summarise(
        pa.concat_tables(list(parts.values())[::-1]), period="day", tz="Europe/Amsterdam", series_info=info
    ).table
    a_only = summarise(pa.concat_tables([parts[1], parts[3]]), period="day", tz="Europe/Amsterdam").table
    mine = both.filter(pc.equal(both["group"], "site-a"))
    assert mine.drop_columns(["group"]).equals(a_only.drop_columns(["group"]))
    assert set(both.column("group").to_pylist()) == {"site-a", "site-b"}
    # the fall-back day holds 100 quarter-hours
    assert mine.column("intervals").to_pylist()[:2] == [100, 96]
    with pytest.raises(QueryError, match=r"series \[4\]"):
        summarise(pa.concat_tables([parts[1], parts[4]]), period="day", tz="UTC", series_info={1: "a"})


def test_total_is_the_sum_of_each_series_energy_and_chunks_add_up() -> None:
    rng = np.random.default_rng(12)
    start = utc(2024, 3, 29, 23)
    rows = pa.concat_tables(
        [frame(sid, start, Q, [float(x) for x in rng.random(96 * 4)]) for sid in (1, 2, 3)]
    )
    periods: tuple[Period, ...] = ("day", "week", "month")
    for period in periods:
        total = summarise(rows, period=period, tz="Europe/Amsterdam").table
        each = energy_kwh(rows, period=period, tz="Europe/Amsterdam").table.to_pandas()
        by_start = each.groupby("start")["energy_kwh"].sum()
        np.testing.assert_allclose(total.column("total_kwh").to_numpy(), by_start.to_numpy(), rtol=1e-12)
    mw = summarise(rows, period="day", tz="UTC", unit="MW").table
    assert "peak_mw" in mw.column_names
    with pytest.raises(QueryError, match="unit"):
        summarise(rows, period="day", tz="UTC", unit="%")


def test_fleet_meters_daily_summary_matches_pandas() -> None:
    data = generate_fleet(end=utc(2024, 11, 1), days=10)
    table = pa.concat_tables(list(data.batches))
    table = table.filter(pc.and_(pc.equal(table["entity_kind"], "meter"), pc.equal(table["metric"], "kwh")))
    ids = sorted(set(table["entity_id"].to_pylist()))
    sid = pc.cast(pc.index_in(table["entity_id"], pa.array(ids)), pa.int32())
    rows = pa.table({"series_id": sid, "ts": table["ts"], "value": table["value"]})
    tz = "Europe/Amsterdam"
    out = summarise(rows, period="day", tz=tz).table.to_pandas()
    # independent: the site's load per instant (nulls skipped), then per local date
    df = rows.to_pandas()
    site = df.groupby("ts")["value"].sum(min_count=1).dropna()
    daily = site.groupby(site.index.tz_convert(tz).date)
    np.testing.assert_allclose(out["total_kwh"].to_numpy(), daily.sum().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(out["peak_kwh"].to_numpy(), daily.max().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(out["minimum_kwh"].to_numpy(), daily.min().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(out["average_kwh"].to_numpy(), daily.mean().to_numpy(), rtol=1e-12)
    assert list(out["peak_at"]) == list(daily.idxmax())
    assert out.loc[out["local_date"] == date(2024, 10, 27), "intervals"].item() == 100
