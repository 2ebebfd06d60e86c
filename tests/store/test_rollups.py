"""Continuous rollups: a coarse read from the rollups gives what the raw points give, after late and
revised writes too, on DST days in two zones; stale buckets are never read."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from gridpulse.model import KEYED_BATCH_SCHEMA, Quality, SeriesMeta
from gridpulse.store import open_store
from gridpulse.store.base import Agg, ReadingsQuery, Resolution, SeriesFilter, Store, WriteRequest
from gridpulse.timeutil import zone

# 2024-03-01 .. 2024-04-30: spring forward in Amsterdam (03-31) and New York (03-10)
T0 = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 61
FAR = datetime(2100, 1, 1, tzinfo=UTC)  # as_of far ahead: the same points, always read raw
ZONES = {"ams": "Europe/Amsterdam", "nyc": "America/New_York"}
INTERVALS = {"ams": timedelta(minutes=15), "nyc": None}


def _rows(entity: str, start: datetime, n: int, *, step: timedelta, value: Any) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "entity_kind": "meter",
                "entity_id": entity,
                "metric": "kwh",
                "ts": start + step * i,
                "value": value(i),
                "quality": int(Quality.ACTUAL),
            }
            for i in range(n)
        ],
        schema=KEYED_BATCH_SCHEMA,
    )


def _write(store: Store, *tables: pa.Table) -> None:
    meta = {t.column("entity_id")[0].as_py(): t for t in tables}
    store.write_group(
        [
            WriteRequest(
                list(tables),
                # nyc's interval is unknown: it keeps 15-minute rollups; ams's points are its own
                # (ams-2 is another meter like ams)
                lambda key: SeriesMeta(
                    unit="kWh",
                    interval=INTERVALS[key.entity_id.split("-")[0]],
                    tz=ZONES[key.entity_id.split("-")[0]],
                ),
            )
        ]
    )
    assert meta


def _filled(path: Path) -> Store:
    s = open_store(f"duckdb:///{path}")
    n = DAYS * 96
    # a missing stretch, null values and uneven values: buckets of every shape
    ams = _rows(
        "ams", T0, n, step=timedelta(minutes=15), value=lambda i: None if i % 97 == 5 else (i % 13) * 0.25
    )
    nyc = _rows("nyc", T0, n, step=timedelta(minutes=15), value=lambda i: math.sin(i / 7) + 1.5)
    nyc = nyc.filter(pa.array([not (400 <= i < 500) for i in range(n)]))
    _write(s, ams, nyc)
    return s


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Shared by the read-only tests: filled and refreshed once."""
    s = _filled(tmp_path_factory.mktemp("rollups") / "r.duckdb")
    s.refresh_rollups()
    yield s
    s.close()


@pytest.fixture
def fresh_store(tmp_path: Path) -> Any:
    s = _filled(tmp_path / "r.duckdb")
    yield s
    s.close()


def _sid(store: Store, entity: str) -> int:
    (series,) = store.list_series(SeriesFilter(entity_id=entity))
    return series.series_id


def _read(store: Store, q: ReadingsQuery) -> tuple[list[Any], list[Any], str]:
    explain: list[tuple[str, list[Any]]] = []
    t = store.read(q, explain=explain)
    return t.column("ts").to_pylist(), t.column("value").to_pylist(), explain[0][0]


def _same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(
        (x is None and y is None)
        or (x is not None and y is not None and math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9))
        for x, y in zip(a, b, strict=True)
    )


def _local_midnight(day: str, tz: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=zone(tz))


CASES = [
    (Resolution.MIN15, None),
    (Resolution.MIN30, None),
    (Resolution.HOUR, None),
    (Resolution.DAY, None),
    (Resolution.WEEK, None),
    (Resolution.MONTH, None),
    (Resolution.DAY, "UTC"),
    (Resolution.MONTH, "UTC"),
    (Resolution.HOUR, "UTC"),
]


@pytest.mark.parametrize("entity", ["ams", "nyc"])
@pytest.mark.parametrize(("resolution", "tz"), CASES)
@pytest.mark.parametrize("agg", list(Agg))
def test_rollup_read_equals_raw_read(
    store: Store, entity: str, resolution: Resolution, tz: str | None, agg: Agg
) -> None:
    zone_name = tz or ZONES[entity]
    # aligned on weeks and months in the query's zone: every bucket whole
    start = (
        _local_midnight("2024-03-04", zone_name)
        if resolution is Resolution.WEEK
        else _local_midnight("2024-03-01", zone_name)
    )
    end = (
        _local_midnight("2024-04-29", zone_name)
        if resolution is Resolution.WEEK
        else _local_midnight("2024-05-01", zone_name)
    )
    q = ReadingsQuery(_sid(store, entity), start=start, end=end, resolution=resolution, agg=agg, tz=zone_name)
    ts, values, sql = _read(store, q)
    raw_ts, raw_values, raw_sql = _read(
        store,
        ReadingsQuery(
            q.series_id, start=start, end=end, resolution=resolution, agg=agg, tz=zone_name, as_of=FAR
        ),
    )
    # 15-minute data keeps no 15-minute buckets: its points are them
    from_points = entity == "ams" and resolution in (Resolution.MIN15, Resolution.MIN30)
    assert ("rollups" in sql) is not from_points and "rollups" not in raw_sql
    assert ts == raw_ts
    assert _same(values, raw_values)
    if agg in (Agg.MIN, Agg.MAX):  # when the extreme first happened, from the rollups too
        at = store.read(q).column("at").to_pylist()
        raw_at = store.read(dataclasses.replace(q, as_of=FAR)).column("at").to_pylist()
        assert at == raw_at and len([a for a in at if a is not None]) == len(
            [v for v in values if v is not None]
        )


def test_days_of_23_and_25_hours_have_their_own_hours(store: Store) -> None:
    sid = _sid(store, "ams")
    start, end = (
        _local_midnight("2024-03-31", "Europe/Amsterdam"),
        _local_midnight("2024-04-01", "Europe/Amsterdam"),
    )
    ts, _, sql = _read(
        store,
        ReadingsQuery(
            sid, start=start, end=end, resolution=Resolution.HOUR, agg=Agg.COUNT, tz="Europe/Amsterdam"
        ),
    )
    assert "rollups" in sql and len(ts) == 23


def test_late_and_revised_rows_are_read_raw_until_refreshed_then_from_fresh_rollups(
    fresh_store: Store,
) -> None:
    store = fresh_store
    store.refresh_rollups()
    sid = _sid(store, "nyc")
    tz = ZONES["nyc"]
    start, end = _local_midnight("2024-03-01", tz), _local_midnight("2024-05-01", tz)
    q = ReadingsQuery(sid, start=start, end=end, resolution=Resolution.DAY, agg=Agg.SUM, tz=tz)
    before = _read(store, q)[1]
    # late rows fill part of the gap; one earlier value is revised
    late = _rows(
        "nyc", T0 + timedelta(minutes=15 * 400), 20, step=timedelta(minutes=15), value=lambda i: 10.0
    )
    revised = _rows(
        "nyc", T0 + timedelta(minutes=15 * 3), 1, step=timedelta(minutes=15), value=lambda i: 99.0
    )
    _write(store, late, revised)
    assert store.stats()["rollup_ranges_pending"] > 0
    ts, stale_view, _ = _read(store, q)
    raw = _read(
        store,
        ReadingsQuery(sid, start=start, end=end, resolution=Resolution.DAY, agg=Agg.SUM, tz=tz, as_of=FAR),
    )
    # the rollups still hold `before`: the stale series was read from its points
    assert _same(stale_view, raw[1]) and not _same(stale_view, before)
    stats = store.refresh_rollups()
    assert stats.ranges >= 1 and store.stats()["rollup_ranges_pending"] == 0
    ts2, fresh, sql2 = _read(store, q)
    assert "rollups" in sql2 and ts2 == ts and _same(fresh, raw[1])


def test_unaligned_range_and_as_of_read_the_points(store: Store) -> None:
    sid = _sid(store, "ams")
    q = ReadingsQuery(sid, start=T0 + timedelta(minutes=7), resolution=Resolution.HOUR, agg=Agg.SUM, tz="UTC")
    assert "rollups" not in _read(store, q)[2]
    q2 = ReadingsQuery(sid, resolution=Resolution.DAY, agg=Agg.SUM, tz="Asia/Kolkata")  # not the series' zone
    assert "rollups" not in _read(store, q2)[2]


def test_frame_reads_use_rollups_and_match_raw(store: Store) -> None:
    ids = [_sid(store, "ams"), _sid(store, "nyc")]
    explain: list[tuple[str, list[Any]]] = []
    frame = store.read_frame(ids, resolution=Resolution.HOUR, agg=Agg.AVG, tz="UTC", explain=explain)
    assert "rollups" in explain[0][0]
    for sid in ids:
        part = frame.filter(pa.compute.equal(frame.column("series_id"), sid))
        raw = store.read(ReadingsQuery(sid, resolution=Resolution.HOUR, agg=Agg.AVG, tz="UTC", as_of=FAR))
        assert part.column("ts").to_pylist() == raw.column("ts").to_pylist()
        assert _same(part.column("value").to_pylist(), raw.column("value").to_pylist())
        assert part.column("count").to_pylist() == raw.column("count").to_pylist()


def test_frame_read_takes_stale_series_from_points_and_the_rest_from_rollups(fresh_store: Store) -> None:
    store = fresh_store
    store.refresh_rollups()
    ids = [_sid(store, "ams"), _sid(store, "nyc")]
    revised = _rows(
        "nyc", T0 + timedelta(minutes=15 * 3), 1, step=timedelta(minutes=15), value=lambda i: 99.0
    )
    _write(store, revised)
    assert store.stats()["rollup_ranges_pending"] == 1  # nyc's day is stale, ams's rollups are fresh
    explain: list[tuple[str, list[Any]]] = []
    frame = store.read_frame(ids, resolution=Resolution.DAY, agg=Agg.SUM, tz="UTC", explain=explain)
    assert "FROM rollups" in explain[0][0] and "FROM points" in explain[0][0]
    for sid in ids:
        part = frame.filter(pa.compute.equal(frame.column("series_id"), sid))
        raw = store.read(ReadingsQuery(sid, resolution=Resolution.DAY, agg=Agg.SUM, tz="UTC", as_of=FAR))
        assert part.column("ts").to_pylist() == raw.column("ts").to_pylist()
        assert _same(part.column("value").to_pylist(), raw.column("value").to_pylist())
        assert part.column("count").to_pylist() == raw.column("count").to_pylist()


def test_refresh_with_nothing_dirty_does_nothing(fresh_store: Store) -> None:
    assert fresh_store.stats()["rollup_ranges_pending"] == 2  # one commit of two series: a range each
    fresh_store.refresh_rollups()
    assert fresh_store.refresh_rollups().ranges == 0


# ------------------------------------------------------------------------------ read_totals
def _raw_sums(store: Store, ids: list[int], bucket: Any) -> dict[datetime, tuple[float | None, int, int]]:
    """Independent of the store's SQL: raw points summed in Python per bucket(ts)."""
    out: dict[datetime, list[Any]] = {}
    for sid in ids:
        per: dict[datetime, list[Any]] = {}
        raw = store.read(ReadingsQuery(sid))
        for ts, value in zip(raw.column("ts").to_pylist(), raw.column("value").to_pylist(), strict=True):
            acc = per.setdefault(bucket(ts), [None, 0])
            if value is not None:
                acc[0] = (acc[0] or 0.0) + value
                acc[1] += 1
        for b, (total, count) in per.items():
            row = out.setdefault(b, [None, 0, 0])
            if total is not None:
                row[0] = (row[0] or 0.0) + total
                row[2] += 1
            row[1] += count
    return {b: (v[0], v[1], v[2]) for b, v in sorted(out.items())}


def _as_dict(t: pa.Table) -> dict[datetime, tuple[float | None, int, int]]:
    cols = [t.column(c).to_pylist() for c in ("ts", "value", "count", "series")]
    return {ts: (v, c, n) for ts, v, c, n in zip(*cols, strict=True)}


def _close(
    a: dict[datetime, tuple[float | None, int, int]], b: dict[datetime, tuple[float | None, int, int]]
) -> None:
    assert list(a) == list(b)
    for k in a:
        assert a[k][1:] == b[k][1:], k
        assert _same([a[k][0]], [b[k][0]]), k


@pytest.mark.parametrize("resolution", [Resolution.RAW, Resolution.HOUR, Resolution.DAY])
def test_totals_sum_the_series_per_bucket_as_python_does(store: Store, resolution: Resolution) -> None:
    ids = [_sid(store, "ams"), _sid(store, "nyc")]
    width = {Resolution.RAW: None, Resolution.HOUR: 3600, Resolution.DAY: 86400}[resolution]

    def bucket(ts: datetime) -> datetime:
        if width is None:
            return ts
        epoch = int(ts.timestamp())
        return datetime.fromtimestamp(epoch - epoch % width, UTC)

    explain: list[tuple[str, list[Any]]] = []
    got = store.read_totals(ids, resolution=resolution, agg=Agg.SUM, tz="UTC", explain=explain)
    assert set(got.column("group").to_pylist()) == {0}
    _close(_as_dict(got), _raw_sums(store, ids, bucket))
    # ams and nyc are every meter's kWh: a fleet, whose totals are kept per bucket
    assert ("FROM rollup_fleet" in explain[0][0]) is (resolution is not Resolution.RAW)
    # one of them alone is no fleet: its buckets are summed from its rollups
    explain.clear()
    one = store.read_totals(ids[:1], resolution=resolution, agg=Agg.SUM, tz="UTC", explain=explain)
    _close(_as_dict(one), _raw_sums(store, ids[:1], bucket))
    assert ("FROM rollups" in explain[0][0]) is (resolution is not Resolution.RAW)


def test_totals_by_group_and_after_a_late_write(fresh_store: Store) -> None:
    store = fresh_store
    store.refresh_rollups()
    ams, nyc = _sid(store, "ams"), _sid(store, "nyc")
    _write(
        store,
        _rows("nyc", T0 + timedelta(minutes=15 * 3), 1, step=timedelta(minutes=15), value=lambda i: 99.0),
    )
    assert store.stats()["rollup_ranges_pending"] == 1  # nyc's range is stale, ams's rollups fresh
    got = store.read_totals([ams, nyc], resolution=Resolution.DAY, tz="UTC", groups={ams: 7, nyc: 3})
    assert got.column("group").to_pylist() == sorted(got.column("group").to_pylist())

    def day(ts: datetime) -> datetime:
        return datetime(ts.year, ts.month, ts.day, tzinfo=UTC)

    for sid, group in ((ams, 7), (nyc, 3)):
        part = got.filter(pa.compute.equal(got.column("group"), group))
        _close(_as_dict(part), _raw_sums(store, [sid], day))
    # series left out of `groups` are left out of the sums
    only = store.read_totals([ams, nyc], resolution=Resolution.DAY, tz="UTC", groups={ams: 1})
    assert set(only.column("group").to_pylist()) == {1}


# ------------------------------------------------------------------------------ fleet totals
def _utc_day(ts: datetime) -> datetime:
    return datetime(ts.year, ts.month, ts.day, tzinfo=UTC)


def _fleet_day_totals(store: Store, ids: list[int]) -> tuple[pa.Table, str]:
    explain: list[tuple[str, list[Any]]] = []
    got = store.read_totals(ids, resolution=Resolution.DAY, agg=Agg.SUM, tz="UTC", explain=explain)
    return got, explain[0][0]


def test_fleet_totals_follow_late_writes_revisions_and_a_new_series(fresh_store: Store) -> None:
    store = fresh_store
    store.refresh_rollups()
    ams, nyc = _sid(store, "ams"), _sid(store, "nyc")
    # a late row into nyc's gap and a revision of an old value: stale until the refresh, so the
    # fleet is summed from rollups and points; then from its refreshed totals
    late = _rows("nyc", T0 + timedelta(minutes=15 * 450), 3, step=timedelta(minutes=15), value=lambda i: 7.0)
    revised = _rows("ams", T0 + timedelta(minutes=15 * 9), 1, step=timedelta(minutes=15), value=lambda i: 42.0)
    _write(store, late, revised)
    got, sql = _fleet_day_totals(store, [ams, nyc])
    assert "rollup_fleet" not in sql and "FROM points" in sql
    _close(_as_dict(got), _raw_sums(store, [ams, nyc], _utc_day))
    store.refresh_rollups()
    got, sql = _fleet_day_totals(store, [ams, nyc])
    assert "FROM rollup_fleet" in sql
    _close(_as_dict(got), _raw_sums(store, [ams, nyc], _utc_day))
    # a third meter joins the fleet: the two old ids are no longer all of it
    _write(store, _rows("ams-2", T0 + timedelta(days=3), 200, step=timedelta(minutes=15), value=lambda i: 0.5))
    store.refresh_rollups()
    new = _sid(store, "ams-2")
    got, sql = _fleet_day_totals(store, [ams, nyc])
    assert "rollup_fleet" not in sql
    _close(_as_dict(got), _raw_sums(store, [ams, nyc], _utc_day))
    got, sql = _fleet_day_totals(store, [ams, nyc, new])
    assert "FROM rollup_fleet" in sql
    _close(_as_dict(got), _raw_sums(store, [ams, nyc, new], _utc_day))
    # the same whole fleet given as one group of `groups`
    grouped = store.read_totals(
        [ams, nyc, new], resolution=Resolution.DAY, tz="UTC", groups={ams: 4, nyc: 4, new: 4}
    )
    assert set(grouped.column("group").to_pylist()) == {4}
    _close(_as_dict(grouped), _raw_sums(store, [ams, nyc, new], _utc_day))


def test_fleet_totals_of_kinds_and_metrics_are_apart(fresh_store: Store) -> None:
    store = fresh_store
    other = _rows("ams", T0, 96, step=timedelta(minutes=15), value=lambda i: 1000.0)
    other = other.set_column(other.schema.get_field_index("metric"), "metric", pa.array(["kvarh"] * 96))
    _write(store, other)
    store.refresh_rollups()
    ids = [_sid(store, "nyc"), *(s.series_id for s in store.list_series(SeriesFilter(entity_id="ams", metric="kwh")))]
    got, sql = _fleet_day_totals(store, ids)
    assert "FROM rollup_fleet" in sql
    _close(_as_dict(got), _raw_sums(store, ids, _utc_day))  # kvarh is not in the kWh totals


def test_fleet_totals_lose_what_retention_takes_from_the_rollups(tmp_path: Path) -> None:
    from gridpulse.store.retention import RetentionPolicy, plan_expiry

    store = _filled(tmp_path / "r.duckdb")
    try:
        store.refresh_rollups()
        ams, nyc = _sid(store, "ams"), _sid(store, "nyc")
        before, _ = _fleet_day_totals(store, [ams, nyc])
        # only ams's rollups before April go: the fleet's March days hold nyc's alone
        (s,) = store.list_series(SeriesFilter(entity_id="ams"))
        policy = RetentionPolicy(raw_days={"*": 20}, rollup_days={"*": 25})
        report = store.expire(plan_expiry([s], policy, datetime(2024, 4, 29, tzinfo=UTC)))
        assert report.rollup_rows[ams] > 0
        got, sql = _fleet_day_totals(store, [ams, nyc])
        assert "FROM rollup_fleet" in sql

        def day_sums(sid: int) -> dict[datetime, tuple[float | None, int, int]]:
            t = store.read_totals([sid], resolution=Resolution.DAY, tz="UTC")
            return _as_dict(t)

        want: dict[datetime, list[Any]] = {}
        for sid in (ams, nyc):
            for day, (value, count, series) in day_sums(sid).items():
                row = want.setdefault(day, [None, 0, 0])
                if value is not None:
                    row[0] = (row[0] or 0.0) + value
                row[1] += count
                row[2] += series
        _close(_as_dict(got), {d: (v[0], v[1], v[2]) for d, v in sorted(want.items())})
        assert _as_dict(got) != _as_dict(before)
    finally:
        store.close()


def test_a_store_of_schema_10_gets_its_fleet_totals_at_upgrade(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "r.duckdb"
    store = _filled(path)
    store.refresh_rollups()
    ids = [_sid(store, "ams"), _sid(store, "nyc")]
    store.close()
    con = duckdb.connect(str(path))  # as schema 10 left it: rollups, no fleet totals
    con.execute("DROP TABLE rollup_fleet")
    con.execute("DELETE FROM schema_version WHERE version = 11")
    con.close()
    ro = open_store(f"duckdb:///{path}", read_only=True)  # not migrated: totals from the rollups
    got, sql = _fleet_day_totals(ro, ids)
    assert "rollup_fleet" not in sql and "FROM rollups" in sql
    _close(_as_dict(got), _raw_sums(ro, ids, _utc_day))
    ro.close()
    store = open_store(f"duckdb:///{path}")
    try:
        got, sql = _fleet_day_totals(store, ids)
        assert "FROM rollup_fleet" in sql
        _close(_as_dict(got), _raw_sums(store, ids, _utc_day))
    finally:
        store.close()


# ------------------------------------------------------------------------------ analytics on buckets
def test_analytics_on_rollup_buckets_equal_them_on_the_points(store: Store) -> None:
    """Energy per day and the hourly profile from the rollups (with their null counts) are what
    the analytics give on the raw points, nulls noted the same."""
    from gridpulse.analytics.energy import energy_kwh
    from gridpulse.analytics.tou import average_day_profile

    ids = [_sid(store, "ams"), _sid(store, "nyc")]
    tz = ZONES["ams"]
    raw = store.read_frame(ids)
    explain: list[tuple[str, list[Any]]] = []
    # local days come from the rollups for series of that zone (nyc's are read from its points)
    days = store.read_frame(ids, resolution=Resolution.DAY, agg=Agg.SUM, tz=tz, explain=explain)
    hours = store.read_frame(ids, resolution=Resolution.HOUR, agg=Agg.SUM, tz=tz, explain=explain)
    assert "FROM rollups" not in explain[0][0] and "FROM rollups" in explain[1][0]
    ams_days = store.read_frame(ids[:1], resolution=Resolution.DAY, agg=Agg.SUM, tz=tz, explain=explain)
    assert "FROM rollups" in explain[2][0]
    days = pa.concat_tables([ams_days, days.filter(pa.compute.equal(days.column("series_id"), ids[1]))])
    want = energy_kwh(raw, period="day", tz=tz)
    got = energy_kwh(days, period="day", tz=tz, count="count", nulls="nulls")
    assert got.notes == want.notes and want.notes  # ams has null values
    assert got.table.drop_columns(["energy_kwh"]).equals(want.table.drop_columns(["energy_kwh"]))
    assert _same(got.table.column("energy_kwh").to_pylist(), want.table.column("energy_kwh").to_pylist())
    want = average_day_profile(raw, tz=tz, points=24, day_types=("weekday", "weekend"))
    got = average_day_profile(hours, tz=tz, points=24, day_types=("weekday", "weekend"), nulls="nulls")
    assert got.notes == want.notes and want.notes
    assert got.table.drop_columns(["energy_kwh"]).equals(want.table.drop_columns(["energy_kwh"]))
    assert _same(got.table.column("energy_kwh").to_pylist(), want.table.column("energy_kwh").to_pylist())
