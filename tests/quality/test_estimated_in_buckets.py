"""Every bucketed read says how many of a bucket's values are estimates: the same from the points
and from the rollups (before and after a refresh), in UTC and local buckets, and in sums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from gridpulse.model import Quality
from gridpulse.store import open_store
from gridpulse.store.base import Agg, ReadingsQuery, Resolution, Store
from tests.quality.points import grid, write

T0 = datetime(2024, 3, 30, tzinfo=UTC)
AMS = "Europe/Amsterdam"


def _fill(store: Store) -> None:
    ts = grid(T0, 96 * 3)  # 30 March .. 1 April (UTC), across Amsterdam's spring-forward
    est = {5, 6, 7, 100, 101, 250}
    quality = [Quality.ESTIMATED if i in est else Quality.ACTUAL for i in range(len(ts))]
    write(store, "m-1", ts, [1.0] * len(ts), quality=quality, tz=AMS)
    write(store, "m-2", ts, [2.0] * len(ts), tz=AMS)


@pytest.mark.parametrize(
    ("resolution", "tz", "agg"),
    [
        (Resolution.HOUR, "UTC", Agg.SUM),
        (Resolution.MIN30, "UTC", Agg.AVG),
        (Resolution.DAY, "UTC", Agg.SUM),
        (Resolution.DAY, AMS, Agg.MAX),
        (Resolution.WEEK, AMS, Agg.SUM),
        (Resolution.HOUR, "Asia/Kolkata", Agg.MIN),
    ],
)
def test_estimated_counts_agree_from_points_and_from_rollups(
    store: Store, resolution: Resolution, tz: str, agg: Agg
) -> None:
    _fill(store)
    q = ReadingsQuery(1, start=T0, end=T0 + timedelta(days=3), resolution=resolution, agg=agg, tz=tz)
    if resolution is Resolution.WEEK:
        q = ReadingsQuery(1, resolution=resolution, agg=agg, tz=tz)
    before = store.read(q)
    store.refresh_rollups()
    after = store.read(q)
    assert "estimated" in before.column_names
    assert before.column("estimated").to_pylist() == after.column("estimated").to_pylist()
    assert sum(after.column("estimated").to_pylist()) == 6


def test_hourly_buckets_count_the_estimates_they_hold(store: Store) -> None:
    _fill(store)
    store.refresh_rollups()
    got = store.read(
        ReadingsQuery(1, start=T0, end=T0 + timedelta(hours=3), resolution=Resolution.HOUR, agg=Agg.SUM)
    )
    # 00:00-01:00 holds interval 0..3; 01:00-02:00 holds 4..7 (5, 6 and 7 estimated)
    assert got.column("estimated").to_pylist() == [0, 3, 0]
    assert got.column("count").to_pylist() == [4, 4, 4]


def test_local_day_buckets_on_a_dst_day(store: Store) -> None:
    _fill(store)
    store.refresh_rollups()
    days = store.read_frame([1, 2], resolution=Resolution.DAY, agg=Agg.SUM, tz=AMS)
    m1 = days.filter(pa.compute.equal(days.column("series_id"), 1))
    by_day = dict(zip(m1.column("ts").to_pylist(), m1.column("estimated").to_pylist(), strict=True))
    # indices 5-7 (30 March 01:15-01:45 UTC) and 100-101 (31 March 01:00-01:15 UTC: local 03:00, 03:15)
    # and 250 (1 April 14:30 UTC)
    assert by_day[datetime(2024, 3, 29, 23, tzinfo=UTC)] == 3
    assert by_day[datetime(2024, 3, 30, 23, tzinfo=UTC)] == 2
    assert by_day[datetime(2024, 3, 31, 22, tzinfo=UTC)] == 1
    m2 = days.filter(pa.compute.equal(days.column("series_id"), 2))
    assert set(m2.column("estimated").to_pylist()) == {0}


def test_sums_over_series_add_their_estimates(store: Store) -> None:
    _fill(store)
    for _ in range(2):  # from the points, then from the rollups
        totals = store.read_totals([1, 2], resolution=Resolution.DAY, agg=Agg.SUM, tz="UTC")
        assert totals.column("estimated").to_pylist() == [3, 2, 1]
        raw = store.read_totals([1, 2], start=T0, end=T0 + timedelta(hours=2))
        assert sum(raw.column("estimated").to_pylist()) == 3
        store.refresh_rollups()


def test_an_as_of_read_counts_the_estimates_known_then(store: Store) -> None:
    ts = grid(T0, 4)
    write(store, "m-1", [ts[0], ts[3]], [1.0, 4.0])
    write(store, "m-1", ts[1:3], [2.0, 3.0], quality=Quality.ESTIMATED)
    then = datetime.now(UTC)
    write(store, "m-1", ts[1:2], [2.5])  # a read replaces one estimate
    hour = ReadingsQuery(1, start=T0, end=T0 + timedelta(hours=1), resolution=Resolution.HOUR, agg=Agg.SUM)
    assert store.read(hour).column("estimated").to_pylist() == [1]
    old = ReadingsQuery(
        1, start=T0, end=T0 + timedelta(hours=1), resolution=Resolution.HOUR, agg=Agg.SUM, as_of=then
    )
    assert store.read(old).column("estimated").to_pylist() == [2]


def test_a_read_only_store_from_before_schema_8_reads_buckets_from_the_points(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'old.duckdb'}"
    store = open_store(url)
    _fill(store)
    store.refresh_rollups()
    store.close()
    # what a file from before schema version 8 looks like: rollups without the estimated column
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("ALTER TABLE rollups DROP COLUMN estimated")
    con.execute("DELETE FROM schema_version WHERE version >= 8")
    con.close()
    old = open_store(url, read_only=True)
    try:
        days = old.read(ReadingsQuery(1, resolution=Resolution.DAY, agg=Agg.SUM, tz="UTC"))
        assert days.column("estimated").to_pylist() == [3, 2, 1]
    finally:
        old.close()


def _as_schema_8(path: Path) -> None:
    """Make a store file look as schema version 8 left it: rollups without the extreme flags."""
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE rollups DROP COLUMN min_estimated")
    con.execute("ALTER TABLE rollups DROP COLUMN max_estimated")
    con.execute("DELETE FROM schema_version WHERE version >= 9")
    con.close()


def test_a_store_from_schema_8_rolls_up_again_with_the_flags_of_its_extremes(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    store = open_store(f"duckdb:///{path}")
    # rising values: each hour's maximum is its last quarter-hour, an estimate in hour 1 only
    ts = grid(T0, 12)
    quality = [Quality.ESTIMATED if i in (7, 9) else Quality.ACTUAL for i in range(12)]
    write(store, "m-1", ts, [float(i) for i in range(12)], quality=quality)
    store.refresh_rollups()
    store.close()
    _as_schema_8(path)
    q = ReadingsQuery(1, start=T0, end=T0 + timedelta(hours=3), resolution=Resolution.HOUR, agg=Agg.MAX)
    old = open_store(f"duckdb:///{path}", read_only=True)  # not migrated: buckets from the points
    try:
        from_points = old.read(q)
    finally:
        old.close()
    assert from_points.column("at_estimated").to_pylist() == [False, True, False]
    assert from_points.column("estimated").to_pylist() == [0, 1, 1]
    store = open_store(f"duckdb:///{path}")  # migrated: every series is dirty until the refresh
    try:
        assert store.read(q).equals(from_points)
        store.refresh_rollups()
        sql: list[tuple[str, list[object]]] = []
        assert store.read(q, explain=sql).equals(from_points)
        assert "FROM rollups" in sql[0][0]
    finally:
        store.close()
