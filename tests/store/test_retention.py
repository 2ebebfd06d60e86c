"""Retention: raw points expire in bulk on month boundaries, rollups survive them, a dry run deletes
nothing, and late rows into an expired month never rewrite its kept rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from gridpulse.errors import ConfigError
from gridpulse.model import KEYED_BATCH_SCHEMA, SeriesKey, SeriesMeta
from gridpulse.store import open_store
from gridpulse.store.base import Agg, ReadingsQuery, Resolution, SeriesFilter, Store, WriteRequest
from gridpulse.store.retention import RetentionPolicy, month_floor, plan_expiry

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2024, 4, 10, 12, tzinfo=UTC)
TZ = "Europe/Amsterdam"


def _write(store: Store, entity: str, start: datetime, n: int, value: float) -> None:
    rows = [
        {
            "entity_kind": "meter",
            "entity_id": entity,
            "metric": "kwh",
            "ts": start + timedelta(hours=i),
            "value": value,
            "quality": 0,
        }
        for i in range(n)
    ]
    table = pa.Table.from_pylist(rows, schema=KEYED_BATCH_SCHEMA)
    store.write_group([WriteRequest([table], lambda key: SeriesMeta(unit="kWh", tz=TZ))])


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = open_store(f"duckdb:///{tmp_path / 'ret.duckdb'}")
    _write(s, "m-1", T0, 24 * 100, 1.0)  # hourly, 2024-01-01 .. 2024-04-09
    s.refresh_rollups()
    yield s
    s.close()


def _monthly(store: Store, sid: int) -> dict[str, float]:
    t = store.read(ReadingsQuery(sid, resolution=Resolution.MONTH, agg=Agg.SUM, tz=TZ))
    return {
        ts.astimezone(UTC).isoformat(): v
        for ts, v in zip(t.column("ts").to_pylist(), t.column("value").to_pylist(), strict=True)
    }


def test_the_most_specific_rule_wins_and_bad_rules_are_named() -> None:
    p = RetentionPolicy(raw_days={"*": 730, "meter": 365, "meter/kw": 30}, rollup_days={"*": 3650})
    assert p.raw_days_for(SeriesKey("meter", "m-1", "kw")) == 30
    assert p.raw_days_for(SeriesKey("meter", "m-1", "kwh")) == 365
    assert p.raw_days_for(SeriesKey("plant", "p-1", "mw")) == 730
    assert p.rollup_days_for(SeriesKey("plant", "p-1", "mw")) == 3650
    with pytest.raises(ConfigError, match=r"retention.raw_days.meter=-1"):
        RetentionPolicy(raw_days={"meter": -1})
    with pytest.raises(ConfigError, match=r"rollup_days\.meter=10 is shorter"):
        RetentionPolicy(raw_days={"meter": 30}, rollup_days={"meter": 10})


def test_cutoffs_fall_on_the_earlier_month_start_of_local_and_utc() -> None:
    # 2024-03-15 in Amsterdam: the local month starts 2024-02-29 23:00 UTC, before 03-01 00:00 UTC
    assert month_floor(datetime(2024, 3, 15, tzinfo=UTC), TZ) == datetime(2024, 2, 29, 23, tzinfo=UTC)
    assert month_floor(datetime(2024, 3, 15, tzinfo=UTC), "America/New_York") == datetime(
        2024, 3, 1, tzinfo=UTC
    )


def test_dry_run_counts_and_deletes_nothing(store: Store) -> None:
    (s,) = store.list_series(SeriesFilter(entity_id="m-1"))
    plan = plan_expiry([s], RetentionPolicy(raw_days={"meter": 60}), NOW)
    # 60 days before 04-10 is 02-10: everything before the February month floor goes
    assert plan.raw_before[s.series_id] == datetime(2024, 1, 31, 23, tzinfo=UTC)
    report = store.expire(plan, dry_run=True)
    assert report.dry_run and report.points == {s.series_id: 31 * 24 - 1}
    assert store.stats()["points"] == 24 * 100


def test_expiry_deletes_raw_points_and_keeps_their_rollups(store: Store) -> None:
    (s,) = store.list_series(SeriesFilter(entity_id="m-1"))
    before = _monthly(store, s.series_id)
    report = store.expire(plan_expiry([s], RetentionPolicy(raw_days={"*": 60}), NOW))
    assert report.points == {s.series_id: 31 * 24 - 1}
    assert store.stats()["points"] == 24 * 100 - (31 * 24 - 1)
    raw = store.read(ReadingsQuery(s.series_id, end=datetime(2024, 1, 31, 23, tzinfo=UTC)))
    assert raw.num_rows == 0
    assert _monthly(store, s.series_id) == before  # January still answers, from its rollup
    # a late row into the expired month is stored, but never rewrites January's kept rollup
    _write(store, "m-1", datetime(2024, 1, 5, tzinfo=UTC), 1, 50.0)
    store.refresh_rollups()
    assert _monthly(store, s.series_id) == before


def test_rollups_expire_at_their_own_cutoff(store: Store) -> None:
    (s,) = store.list_series(SeriesFilter(entity_id="m-1"))
    report = store.expire(plan_expiry([s], RetentionPolicy(raw_days={"*": 30}, rollup_days={"*": 60}), NOW))
    assert report.rollup_rows[s.series_id] > 0
    months = _monthly(store, s.series_id)
    assert min(months) >= "2024-01-31T23:00:00+00:00"  # January's rollups went too
