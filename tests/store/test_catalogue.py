"""The in-memory series catalogue: what list_series answers from, loaded at open in one pass."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa

from gridpulse.model import KEYED_BATCH_SCHEMA, Series, SeriesKey, SeriesMeta
from gridpulse.store import open_store
from gridpulse.store.base import SeriesFilter, WriteRequest
from gridpulse.store.duckdb.catalogue import (
    SERIES_COLUMNS,
    SeriesCatalogue,
    series_from_columns,
    series_from_row,
)
from gridpulse.store.groups import SeriesIds


def _series(sid: int, kind: str, entity: str, metric: str, **kw: object) -> Series:
    return Series(sid, SeriesKey(kind, entity, metric), "kWh", timedelta(minutes=15), "UTC", {}, **kw)  # type: ignore[arg-type]


def test_entity_lookup_finds_exactly_that_entitys_series_of_every_kind() -> None:
    cat = SeriesCatalogue(
        [
            _series(1, "meter", "m-1", "kwh"),
            _series(2, "meter", "m-10", "kwh"),  # a longer id with the same prefix
            _series(3, "meter", "m-1", "kw"),
            _series(4, "device", "m-1", "soc"),  # another kind, the same id
            _series(5, "meter", "m-0", "kwh"),
            _series(6, "meter", "m-1x", "kwh"),
        ]
    )
    assert [s.series_id for s in cat.matching(SeriesFilter(entity_id="m-1"))] == [4, 3, 1]
    assert [s.series_id for s in cat.matching(SeriesFilter(entity_kind="meter", entity_id="m-1"))] == [3, 1]
    assert [s.series_id for s in cat.matching(SeriesFilter(entity_id="m-1", metric="kwh"))] == [1]
    assert cat.matching(SeriesFilter(entity_id="m-2")) == []
    assert cat.matching(SeriesFilter(entity_kind="plant", entity_id="m-1")) == []
    # series added later are found too, among the ones there
    cat.add([_series(7, "feeder", "m-1", "kw"), _series(8, "meter", "m-1", "a")])
    assert [s.series_id for s in cat.matching(SeriesFilter(entity_id="m-1"))] == [4, 7, 8, 3, 1]
    # and every filter agrees with a plain scan
    everything = cat.matching(SeriesFilter())
    for flt in (
        SeriesFilter(entity_id="m-10"),
        SeriesFilter(entity_kind="meter", entity_id="m-1x", metric="kwh"),
    ):
        scanned = [
            s
            for s in everything
            if s.key.entity_id == flt.entity_id
            and flt.entity_kind in (None, s.key.entity_kind)
            and flt.metric in (None, s.key.metric)
        ]
        assert cat.matching(flt) == scanned


def test_series_built_from_columns_equal_those_built_from_rows(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path / 'cat.duckdb'}")
    try:
        rows = [
            {
                "entity_kind": k,
                "entity_id": e,
                "metric": m,
                "ts": pa.scalar(0, pa.timestamp("us", tz="UTC")).as_py(),
                "value": 1.0,
                "quality": 0,
            }
            for k, e, m in (("meter", "m-2", "kwh"), ("meter", "m-1", "kwh"), ("device", "d-1", "soc"))
        ]
        metas = {
            "m-2": SeriesMeta(
                unit="kWh", interval=timedelta(minutes=15), tz="Europe/Amsterdam", tags={"feeder": "f-1"}
            ),
            "m-1": SeriesMeta(unit="kWh", interval=None, site_id="s-1"),
            "d-1": SeriesMeta(unit="%", interval=timedelta(seconds=1), device_id="d-1"),
        }
        table = pa.Table.from_pylist(rows, schema=KEYED_BATCH_SCHEMA)
        store.write_group([WriteRequest([table], lambda key: metas[key.entity_id])])
        con = store._cursor()  # type: ignore[attr-defined]
        try:
            by_row = [
                series_from_row(r)
                for r in con.execute(f"SELECT {SERIES_COLUMNS} FROM series ORDER BY series_id").fetchall()
            ]
            by_col = series_from_columns(
                con.sql(f"SELECT {SERIES_COLUMNS} FROM series ORDER BY series_id").to_arrow_table()
            )
        finally:
            con.close()
        assert by_col == by_row and len(by_col) == 3
        assert {s.key.entity_id: s.tags for s in by_col}["m-2"] == {"feeder": "f-1"}
    finally:
        store.close()
    # reopened, the catalogue (built from columns) answers as before
    again = open_store(f"duckdb:///{tmp_path / 'cat.duckdb'}", read_only=True)
    try:
        assert again.list_series() == sorted(by_row, key=lambda s: s.key)
        assert [s.key for s in again.list_series(SeriesFilter(entity_id="m-2"))] == [
            SeriesKey("meter", "m-2", "kwh")
        ]
    finally:
        again.close()


def test_a_group_and_its_facts_are_kept_until_a_series_is_added_or_changed() -> None:
    cat = SeriesCatalogue([_series(3, "meter", "m-3", "kwh"), _series(1, "meter", "m-1", "kwh")])
    meters = SeriesFilter(entity_kind="meter", metric="kwh")
    group = cat.group(meters)
    assert cat.group(meters) is group  # kept: its facts are worked out once
    assert group.ids.array.tolist() == [1, 3] and group.ids.runs == ([1, 3], [1, 3])
    assert (group.units, group.zones, group.coarsest_interval_s) == (("kWh",), frozenset({"UTC"}), 900)
    assert cat.zones_and_coarsest(group.ids) == (frozenset({"UTC"}), 900)
    assert cat.zones_and_coarsest([1, 3]) == (frozenset({"UTC"}), 900)
    # a series added to the group: a new group, with it
    cat.add([_series(2, "meter", "m-2", "kwh")])
    grown = cat.group(meters)
    assert grown is not group and [s.series_id for s in grown] == [1, 2, 3]
    assert grown.ids.array.tolist() == [1, 2, 3] and grown.ids.runs == ([1], [3])
    assert [s.series_id for s in cat.matching(meters)] == [1, 2, 3]
    # a series replaced with another unit, zone and interval: no fact of the old one survives
    changed = Series(3, SeriesKey("meter", "m-3", "kwh"), "Wh", timedelta(hours=1), "Europe/Amsterdam", {})
    cat.add([changed])
    again = cat.group(meters)
    assert again is not grown and again[2] is changed
    assert again.units == ("Wh", "kWh")
    assert again.zones == frozenset({"UTC", "Europe/Amsterdam"})
    assert again.intervals == frozenset({timedelta(minutes=15), timedelta(hours=1)})
    assert again.coarsest_interval_s == 3600
    assert cat.zones_and_coarsest([1, 3]) == (frozenset({"UTC", "Europe/Amsterdam"}), 3600)
    # a series without a nominal interval: no coarsest interval
    cat.add([Series(4, SeriesKey("meter", "m-4", "kwh"), "kWh", None, "UTC", {})])
    assert cat.group(meters).coarsest_interval_s is None


def test_series_ids_are_a_sorted_sequence_of_each_id_once() -> None:
    ids = SeriesIds([7, 3, 4, 3, 5, 10])
    assert list(ids) == [3, 4, 5, 7, 10] and len(ids) == 5
    assert ids[0] == 3 and ids[-1] == 10 and ids[1:3] == [4, 5]
    assert 7 in ids and 6 not in ids and "7" not in ids
    assert ids.runs == ([3, 7, 10], [5, 7, 10])
    assert len(SeriesIds([])) == 0 and SeriesIds([]).runs == ([], [])
    assert not ids.array.flags.writeable
