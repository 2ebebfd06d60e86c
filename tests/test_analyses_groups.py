"""Analyses read a fleet through the catalogue's kept group (ids, units, zones, intervals worked
out once): a series added or changed after the group was kept must change the answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from gridpulse.analyses import run
from gridpulse.config import Settings, load_settings
from gridpulse.errors import QueryError
from gridpulse.model import KEYED_BATCH_SCHEMA, SeriesKey, SeriesMeta
from gridpulse.store import open_store
from gridpulse.store.base import Store, WriteRequest

_DAY = datetime(2024, 1, 15, tzinfo=UTC)
_Q4 = {
    "kind": "meter",
    "metric": "kwh",
    "window": "15min",
    "period": "day",
    "tz": "UTC",
    "start": "2024-01-15T00:00:00Z",
    "end": "2024-01-16T00:00:00Z",
}
_Q2 = {**_Q4, "period": "hour", "by": "all"}
del _Q2["window"]


def _write(store: Store, meter: str, kwh: float, meta: SeriesMeta) -> None:
    """A day of 15-minute readings of `kwh` each (the last one twice that: the day's peak)."""
    rows = [
        {
            "entity_kind": "meter",
            "entity_id": meter,
            "metric": "kwh",
            "ts": _DAY + timedelta(minutes=15 * i),
            "value": kwh * (2 if i == 95 else 1),
            "quality": 0,
        }
        for i in range(96)
    ]
    table = pa.Table.from_pylist(rows, schema=KEYED_BATCH_SCHEMA)

    def meta_for(key: SeriesKey) -> SeriesMeta:
        return meta

    store.write_group([WriteRequest([table], meta_for)])
    store.refresh_rollups()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = open_store(f"duckdb:///{tmp_path / 'groups.duckdb'}")
    try:
        yield st
    finally:
        st.close()


@pytest.fixture
def settings() -> Settings:
    return load_settings(env={})


_KWH = SeriesMeta(unit="kWh", interval=timedelta(minutes=15), tz="UTC")


def test_a_meter_added_after_the_group_was_kept_is_in_the_next_answer(
    store: Store, settings: Settings
) -> None:
    _write(store, "m-1", 1.0, _KWH)
    _write(store, "m-2", 2.0, _KWH)
    first = run(store, settings, "peak-demand", _Q4)
    assert first.result.table.column("peak_kw").to_pylist() == [8.0, 16.0]
    assert (
        run(store, settings, "energy", _Q2).result.table.column("energy_kwh").to_pylist()[-1] == 5.0 + 10.0
    )  # the 23:00 hour holds the peak
    _write(store, "m-3", 3.0, _KWH)
    again = run(store, settings, "peak-demand", {**_Q4, "top": "2"})
    assert [s.key.entity_id for s in again.series] == ["m-1", "m-2", "m-3"]
    assert again.result.table.column("peak_kw").to_pylist() == [24.0, 16.0]
    hours = run(store, settings, "energy", _Q2).result.table.column("energy_kwh").to_pylist()
    assert hours[0] == 4 * (1.0 + 2.0 + 3.0) and hours[-1] == 5.0 + 10.0 + 15.0


def test_a_meter_of_another_unit_or_zone_added_later_is_seen(store: Store, settings: Settings) -> None:
    _write(store, "m-1", 1.0, _KWH)
    run(store, settings, "peak-demand", _Q4)  # the group kept, one unit and zone
    _write(store, "m-2", 1.0, SeriesMeta(unit="Wh", interval=timedelta(minutes=15), tz="UTC"))
    with pytest.raises(QueryError, match="in kWh or kW"):
        run(store, settings, "peak-demand", _Q4)
    other = dict(_Q4)
    del other["tz"]  # the series' own zone, when they share one
    with pytest.raises(QueryError, match="in kWh or kW"):
        run(store, settings, "peak-demand", other)


def test_a_meter_in_another_zone_added_later_needs_tz(store: Store, settings: Settings) -> None:
    _write(store, "m-1", 1.0, _KWH)
    no_tz = {k: v for k, v in _Q4.items() if k != "tz"}
    assert run(store, settings, "peak-demand", no_tz).resolved["tz"] == "UTC"
    _write(store, "m-2", 1.0, SeriesMeta(unit="kWh", interval=timedelta(minutes=15), tz="Europe/Amsterdam"))
    with pytest.raises(QueryError, match="several zones"):
        run(store, settings, "peak-demand", no_tz)
