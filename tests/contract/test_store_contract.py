"""The Store contract: every backend passes the same tests (the `store` fixture is parametrised)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from gridpulse.model import KEYED_BATCH_SCHEMA, Quality, SeriesKey, SeriesMeta
from gridpulse.store.base import Agg, ReadingsQuery, Resolution, SeriesFilter, Store, WriteRequest

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def batch(rows: list[tuple[str, str, datetime, float | None]], *, kind: str = "meter", quality: int = 0) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"entity_kind": kind, "entity_id": e, "metric": m, "ts": t, "value": v, "quality": quality}
            for e, m, t, v in rows
        ],
        schema=KEYED_BATCH_SCHEMA,
    )


def write(store: Store, *tables: pa.Table, meta: SeriesMeta | None = None):  # type: ignore[no-untyped-def]
    (res,) = store.write_group([WriteRequest(list(tables), lambda key: meta or SeriesMeta(unit="kWh"))])
    return res


def sid(store: Store, entity: str, metric: str = "kwh") -> int:
    (s,) = store.list_series(SeriesFilter(entity_id=entity, metric=metric))
    return s.series_id


def raw(store: Store, series_id: int, **kw) -> list[tuple[datetime, float | None, int]]:  # type: ignore[no-untyped-def]
    t = store.read(ReadingsQuery(series_id, **kw))
    return list(zip(t.column("ts").to_pylist(), t.column("value").to_pylist(), t.column("version").to_pylist(), strict=True))


def test_first_write_creates_series_and_version_1(store: Store) -> None:
    res = write(store, batch([("m-1", "kwh", T0, 1.25), ("m-1", "kwh", T0 + timedelta(minutes=15), 1.10)]))
    assert (res.inserted, res.revised, res.unchanged, res.series_created) == (2, 0, 0, 1)
    s = sid(store, "m-1")
    assert raw(store, s) == [(T0, 1.25, 1), (T0 + timedelta(minutes=15), 1.10, 1)]


def test_resend_of_identical_rows_changes_nothing(store: Store) -> None:
    rows = [("m-1", "kwh", T0 + timedelta(minutes=15 * i), float(i)) for i in range(10)]
    write(store, batch(rows))
    res = write(store, batch(rows))
    assert (res.inserted, res.revised, res.unchanged) == (0, 0, 10)
    assert store.stats()["points"] == 10
    assert store.stats()["superseded_versions"] == 0


def test_changed_value_makes_version_2_and_as_of_returns_version_1(store: Store) -> None:
    write(store, batch([("m-1", "kwh", T0, 1.0), ("m-1", "kwh", T0 + timedelta(minutes=15), 2.0)]))
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    res = write(store, batch([("m-1", "kwh", T0, 1.5)]))
    assert (res.inserted, res.revised, res.unchanged) == (0, 1, 0)
    s = sid(store, "m-1")
    assert raw(store, s) == [(T0, 1.5, 2), (T0 + timedelta(minutes=15), 2.0, 1)]
    assert raw(store, s, as_of=between) == [(T0, 1.0, 1), (T0 + timedelta(minutes=15), 2.0, 1)]
    # a third version keeps both older ones reachable
    time.sleep(0.01)
    between2 = datetime.now(UTC)
    time.sleep(0.01)
    write(store, batch([("m-1", "kwh", T0, 1.75)]))
    assert raw(store, s)[0] == (T0, 1.75, 3)
    assert raw(store, s, as_of=between2)[0] == (T0, 1.5, 2)
    assert raw(store, s, as_of=between)[0] == (T0, 1.0, 1)


def test_as_of_before_first_write_sees_nothing(store: Store) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    write(store, batch([("m-1", "kwh", T0, 1.0)]))
    assert raw(store, sid(store, "m-1"), as_of=before) == []


def test_late_row_below_high_water_mark_is_inserted_once(store: Store) -> None:
    write(store, batch([("m-1", "kwh", T0 + timedelta(hours=5), 5.0)]))
    res = write(store, batch([("m-1", "kwh", T0, 1.0), ("m-1", "kwh", T0 + timedelta(hours=5), 5.0)]))
    assert (res.inserted, res.revised, res.unchanged) == (1, 0, 1)
    res = write(store, batch([("m-1", "kwh", T0, 1.0)]))
    assert (res.inserted, res.unchanged) == (0, 1)
    assert store.stats()["points"] == 2


def test_duplicates_inside_one_batch_keep_the_last_row(store: Store) -> None:
    res = write(store, batch([("m-1", "kwh", T0, 1.0), ("m-1", "kwh", T0, 2.0), ("m-1", "kwh", T0, 2.0)]))
    assert res.inserted == 1
    assert raw(store, sid(store, "m-1")) == [(T0, 2.0, 1)]


def test_null_values_are_stored_and_compared_as_values(store: Store) -> None:
    write(store, batch([("m-1", "kwh", T0, None)]))
    assert write(store, batch([("m-1", "kwh", T0, None)])).unchanged == 1
    res = write(store, batch([("m-1", "kwh", T0, 3.0)]))
    assert res.revised == 1
    assert raw(store, sid(store, "m-1")) == [(T0, 3.0, 2)]


def test_estimate_never_replaces_an_actual_read(store: Store) -> None:
    write(store, batch([("m-1", "kwh", T0, 1.0)]))
    res = write(store, batch([("m-1", "kwh", T0, 9.0)], quality=int(Quality.ESTIMATED)))
    assert (res.revised, res.unchanged) == (0, 1)
    assert raw(store, sid(store, "m-1")) == [(T0, 1.0, 1)]


def test_actual_read_replaces_an_estimate(store: Store) -> None:
    write(store, batch([("m-1", "kwh", T0, 9.0)], quality=int(Quality.ESTIMATED)))
    res = write(store, batch([("m-1", "kwh", T0, 1.0)]))
    assert res.revised == 1
    t = store.read(ReadingsQuery(sid(store, "m-1")))
    assert t.column("quality").to_pylist() == [int(Quality.ACTUAL)]


def test_group_of_requests_commits_with_one_result_each(store: Store) -> None:
    meta = lambda key: SeriesMeta(unit="kWh")  # noqa: E731
    results = store.write_group(
        [
            WriteRequest([batch([("m-1", "kwh", T0, 1.0)])], meta),
            WriteRequest([batch([("m-2", "kwh", T0, 2.0)]), batch([("m-2", "kwh", T0, 3.0)])], meta),
        ]
    )
    assert results[0].inserted == 1
    # the second batch of one request revises the first one's row
    assert (results[1].inserted, results[1].revised) == (1, 1)
    assert raw(store, sid(store, "m-2")) == [(T0, 3.0, 2)]


def test_failed_group_stores_nothing(store: Store) -> None:
    def boom(key: SeriesKey) -> SeriesMeta:
        raise RuntimeError("metadata lookup failed")

    good = WriteRequest([batch([("m-1", "kwh", T0, 1.0)])], lambda key: SeriesMeta())
    with pytest.raises(RuntimeError):
        store.write_group([good, WriteRequest([batch([("m-2", "kwh", T0, 1.0)])], boom)])
    assert store.stats() == {"series": 0, "points": 0, "superseded_versions": 0, "rollup_ranges_pending": 0}
    # and the caches did not keep the rolled-back series: writing again works
    assert write(store, batch([("m-1", "kwh", T0, 1.0)])).series_created == 1


def test_series_metadata_and_filters(store: Store) -> None:
    meta = SeriesMeta(unit="MW", interval=timedelta(minutes=15), tz="Europe/Amsterdam", tags={"fuel": "solar"},
                      organisation_id="org-1", site_id="site-1")
    write(store, batch([("plant-1", "mw", T0, 1.0)], kind="plant"), meta=meta)
    write(store, batch([("m-1", "kwh", T0, 1.0)]))
    (s,) = store.list_series(SeriesFilter(tags={"fuel": "solar"}))
    assert s.key == SeriesKey("plant", "plant-1", "mw")
    assert (s.unit, s.interval, s.tz, s.site_id) == ("MW", timedelta(minutes=15), "Europe/Amsterdam", "site-1")
    assert [x.key.entity_kind for x in store.list_series()] == ["meter", "plant"]
    assert store.list_series(SeriesFilter(entity_kind="feeder")) == []


def test_latest_returns_newest_point_per_series(store: Store) -> None:
    write(store, batch([("m-1", "kwh", T0, 1.0), ("m-1", "kwh", T0 + timedelta(hours=1), 2.0),
                        ("m-2", "kwh", T0, 7.0)]))
    rows = {r["series_id"]: (r["ts"], r["value"]) for r in store.latest().to_pylist()}
    assert rows[sid(store, "m-1")] == (T0 + timedelta(hours=1), 2.0)
    assert rows[sid(store, "m-2")] == (T0, 7.0)


def test_range_is_start_inclusive_end_exclusive(store: Store) -> None:
    write(store, batch([("m-1", "kwh", T0 + timedelta(minutes=15 * i), float(i)) for i in range(8)]))
    got = raw(store, sid(store, "m-1"), start=T0 + timedelta(minutes=15), end=T0 + timedelta(minutes=45))
    assert [v for _, v, _ in got] == [1.0, 2.0]


@pytest.mark.parametrize(
    ("agg", "expected"),
    [(Agg.SUM, 6.0), (Agg.AVG, 1.5), (Agg.MIN, 0.0), (Agg.MAX, 3.0), (Agg.FIRST, 0.0), (Agg.LAST, 3.0), (Agg.COUNT, 4.0)],
)
def test_hourly_aggregates(store: Store, agg: Agg, expected: float) -> None:
    write(store, batch([("m-1", "kwh", T0 + timedelta(minutes=15 * i), float(i)) for i in range(4)]))
    t = store.read(ReadingsQuery(sid(store, "m-1"), resolution=Resolution.HOUR, agg=agg))
    assert t.column("ts").to_pylist() == [T0]
    assert t.column("value").to_pylist() == [expected]


def test_reference_tables_upsert_by_id(store: Store) -> None:
    store.upsert_reference("meters", [{"meter_id": "m-1", "site_id": "s-1", "name": "Main", "serial": "X1"}])
    store.upsert_reference("meters", [{"meter_id": "m-1", "site_id": "s-1", "name": "Main incomer"}])
    (row,) = store.list_reference("meters")
    assert (row["meter_id"], row["name"]) == ("m-1", "Main incomer")
    store.upsert_reference(
        "meter_feeder_map",
        [{"meter_id": "m-1", "feeder_id": "f-1", "scaling_factor": 0.5, "valid_from": datetime(2024, 1, 1),
          "valid_to": None}],
    )
    (m,) = store.list_reference("meter_feeder_map")
    assert (m["feeder_id"], m["scaling_factor"]) == ("f-1", 0.5)


def test_meta_round_trip(store: Store) -> None:
    assert store.get_meta("demo:fleet") is None
    store.set_meta("demo:fleet", "yes")
    assert store.get_meta("demo:fleet") == "yes"


@pytest.mark.parametrize("resolution", [Resolution.RAW, Resolution.HOUR, Resolution.DAY])
def test_frame_of_several_series_equals_each_read_alone(store: Store, resolution: Resolution) -> None:
    # the spring-forward night in Amsterdam, so local buckets are not all the same length
    start = datetime(2024, 3, 30, 20, tzinfo=UTC)
    rows = [(e, "kwh", start + timedelta(minutes=15 * i), float(i % 7) + k) for k, e in enumerate(["a", "b"]) for i in range(60)]
    write(store, batch(rows))
    ids = [sid(store, "a"), sid(store, "b")]
    explain: list[tuple[str, list[object]]] = []
    frame = store.read_frame(
        ids, start=start + timedelta(hours=1), resolution=resolution, agg=Agg.SUM, tz="Europe/Amsterdam", explain=explain
    )
    assert len(explain) == 1 and "points" in explain[0][0]
    for series_id in ids:
        alone = store.read(
            ReadingsQuery(series_id, start=start + timedelta(hours=1), resolution=resolution, agg=Agg.SUM, tz="Europe/Amsterdam")
        )
        part = frame.filter(pc.equal(frame.column("series_id"), series_id))
        assert part.column("ts").to_pylist() == alone.column("ts").to_pylist()
        assert part.column("value").to_pylist() == alone.column("value").to_pylist()
