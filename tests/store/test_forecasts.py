"""Stored forecasts: write_forecast, read_forecast and list_forecasts, and the schema that holds them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from gridpulse.errors import StoreError
from gridpulse.model import FORECAST_VALUES_SCHEMA, ForecastRun
from gridpulse.store import open_store
from gridpulse.store.base import Store
from gridpulse.store.duckdb.schema import MIGRATIONS, SCHEMA_VERSION

ORIGIN = datetime(2024, 3, 1, tzinfo=UTC)
STEPS = 24


def make_run(
    series_id: int = 1, *, model: str = "seasonal-naive", created_at: datetime | None = None
) -> ForecastRun:
    return ForecastRun(
        series_id=series_id,
        model=model,
        model_version="gridpulse test",
        step_s=3600,
        steps=STEPS,
        origin=ORIGIN,
        train_start=ORIGIN - timedelta(days=28),
        train_end=ORIGIN,
        created_at=created_at,
        params='{"season": 168}',
    )


def make_values(n: int = STEPS, *, level: float = 1.0) -> pa.Table:
    ts = [ORIGIN + timedelta(hours=i) for i in range(n)]
    mean = [level + i for i in range(n)]
    return pa.table(
        {
            "ts": ts,
            "mean": mean,
            "lo80": [m - 1 for m in mean],
            "hi80": [m + 1 for m in mean],
            "lo95": [m - 2 for m in mean],
            "hi95": [None if i == 0 else m + 2 for i, m in enumerate(mean)],  # a missing bound
        },
        schema=FORECAST_VALUES_SCHEMA,
    )


def at(hours: int) -> datetime:
    """An explicit created_at: hours after the origin."""
    return ORIGIN + timedelta(hours=hours)


def stored_counts(store: Store) -> tuple[int, int]:
    con = store._cursor()  # type: ignore[attr-defined]
    try:
        row = con.execute(
            "SELECT (SELECT count(*) FROM forecast_runs), (SELECT count(*) FROM forecast_values)"
        ).fetchall()
    finally:
        con.close()
    return int(row[0][0]), int(row[0][1])


def test_round_trip_keeps_values_and_makes_instants_aware_utc(store: Store) -> None:
    before = datetime.now(UTC)
    stored = store.write_forecast(make_run(), make_values())
    assert stored.forecast_id is not None
    assert stored.created_at is not None and before <= stored.created_at <= datetime.now(UTC)

    found = store.read_forecast(1)
    assert found is not None
    run, values = found
    assert run == stored
    assert run.params == '{"season": 168}'
    for ts in (run.origin, run.train_start, run.train_end, run.created_at):
        assert ts is not None and ts.utcoffset() == timedelta(0)
    assert run.origin == ORIGIN
    assert values.schema == FORECAST_VALUES_SCHEMA
    assert values.equals(make_values())


def test_values_in_another_zone_unit_and_order_of_columns_are_converted(store: Store) -> None:
    amsterdam = timezone(timedelta(hours=1))
    values = make_values()
    loose = pa.table(
        {
            "hi95": values.column("hi95").cast(pa.float32()),
            "ts": values.column("ts").cast(pa.timestamp("ns", tz="Europe/Amsterdam")),
            "mean": values.column("mean"),
            "lo80": values.column("lo80"),
            "hi80": values.column("hi80"),
            "lo95": values.column("lo95"),
            "step": list(range(STEPS)),  # not stored
        }
    )
    run = replace(make_run(), origin=ORIGIN.astimezone(amsterdam))
    stored = store.write_forecast(run, loose)
    assert stored.origin == ORIGIN and stored.origin.utcoffset() == timedelta(0)
    found = store.read_forecast(1)
    assert found is not None
    assert found[1].equals(values)


def test_the_newest_forecast_wins(store: Store) -> None:
    first = store.write_forecast(make_run(), make_values(level=1.0))
    second = store.write_forecast(make_run(), make_values(level=2.0))
    assert first.forecast_id is not None and second.forecast_id is not None
    assert second.forecast_id > first.forecast_id
    found = store.read_forecast(1)
    assert found is not None
    assert found[0].forecast_id == second.forecast_id
    assert found[1].column("mean")[0].as_py() == 2.0


def test_equal_created_at_is_settled_by_the_larger_id(store: Store) -> None:
    store.write_forecast(make_run(created_at=at(1)), make_values())
    later_id = store.write_forecast(make_run(created_at=at(1)), make_values()).forecast_id
    found = store.read_forecast(1)
    assert found is not None and found[0].forecast_id == later_id


def test_as_of_picks_the_forecast_current_then(store: Store) -> None:
    # written out of order: created_at, not the order of writing, decides
    late = store.write_forecast(make_run(created_at=at(10)), make_values(level=10.0))
    early = store.write_forecast(make_run(created_at=at(2)), make_values(level=2.0))

    def current(as_of: datetime) -> int | None:
        found = store.read_forecast(1, as_of=as_of)
        return None if found is None else found[0].forecast_id

    assert current(at(1)) is None
    assert current(at(2)) == early.forecast_id  # created at as_of counts
    assert current(at(9)) == early.forecast_id
    assert current(at(10)) == late.forecast_id
    assert current(at(10).astimezone(timezone(timedelta(hours=-5)))) == late.forecast_id
    found = store.read_forecast(1)
    assert found is not None and found[0].forecast_id == late.forecast_id


def test_model_filter(store: Store) -> None:
    naive_model = store.write_forecast(make_run(model="seasonal-naive", created_at=at(1)), make_values())
    gbm = store.write_forecast(make_run(model="lightgbm", created_at=at(2)), make_values())
    by_model = {m: store.read_forecast(1, model=m) for m in ("seasonal-naive", "lightgbm", "mstl")}
    assert by_model["seasonal-naive"] is not None
    assert by_model["seasonal-naive"][0].forecast_id == naive_model.forecast_id
    assert by_model["lightgbm"] is not None
    assert by_model["lightgbm"][0].forecast_id == gbm.forecast_id
    assert by_model["mstl"] is None
    found = store.read_forecast(1, model="seasonal-naive", as_of=at(1))
    assert found is not None and found[0].forecast_id == naive_model.forecast_id


def test_lookup_by_forecast_id(store: Store) -> None:
    old = store.write_forecast(make_run(), make_values(level=1.0))
    store.write_forecast(make_run(), make_values(level=2.0))
    other_series = store.write_forecast(make_run(series_id=2), make_values())
    found = store.read_forecast(1, forecast_id=old.forecast_id)
    assert found is not None
    assert found[0] == old
    assert found[1].column("mean")[0].as_py() == 1.0
    assert store.read_forecast(1, forecast_id=other_series.forecast_id) is None  # another series'


def test_none_when_there_is_no_forecast(store: Store) -> None:
    assert store.read_forecast(1) is None
    assert store.list_forecasts() == []
    store.write_forecast(make_run(series_id=1), make_values())
    assert store.read_forecast(2) is None
    assert store.read_forecast(1, forecast_id=12345) is None


def test_list_forecasts_newest_first_with_filters(store: Store) -> None:
    a = store.write_forecast(make_run(series_id=1, created_at=at(1)), make_values())
    b = store.write_forecast(make_run(series_id=2, model="lightgbm", created_at=at(3)), make_values())
    c = store.write_forecast(make_run(series_id=1, model="lightgbm", created_at=at(2)), make_values())

    def ids(runs: list[ForecastRun]) -> list[int | None]:
        return [r.forecast_id for r in runs]

    assert ids(store.list_forecasts()) == ids([b, c, a])
    assert ids(store.list_forecasts([1])) == ids([c, a])
    assert ids(store.list_forecasts([1, 2], model="lightgbm")) == ids([b, c])
    assert ids(store.list_forecasts(limit=1)) == ids([b])
    assert store.list_forecasts([]) == []
    assert store.list_forecasts()[0] == b


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (make_values().drop_columns(["lo80"]), "no column 'lo80'"),
        (make_values(STEPS - 1), "23 value rows but run.steps is 24"),
        (make_values().take([0, 2, 1, *range(3, STEPS)]), "strictly increasing: row 2"),
        (
            pa.concat_tables([make_values().slice(0, 1), make_values().slice(0, STEPS - 1)]),
            "strictly increasing: row 1",
        ),
        (
            make_values().set_column(0, "ts", make_values().column("ts").cast(pa.timestamp("us"))),
            "'ts' is timestamp",
        ),
        (make_values().set_column(1, "mean", pa.array(["x"] * STEPS)), "'mean' is string"),
    ],
    ids=["missing-column", "row-count", "unsorted-ts", "repeated-ts", "naive-ts", "text-mean"],
)
def test_bad_values_are_refused_naming_the_problem_and_store_nothing(
    store: Store, values: pa.Table, message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        store.write_forecast(make_run(), values)
    assert stored_counts(store) == (0, 0)
    assert store.read_forecast(1) is None


def test_a_bad_run_stores_nothing(store: Store) -> None:
    with pytest.raises(StoreError, match=r"forecast origin .* has no zone offset"):
        store.write_forecast(replace(make_run(), origin=datetime(2024, 3, 1)), make_values())
    with pytest.raises(StoreError, match="params is not JSON"):
        store.write_forecast(replace(make_run(), params="season=168"), make_values())
    assert stored_counts(store) == (0, 0)


def test_a_forecast_survives_closing_and_reopening(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 's.duckdb'}"
    s = open_store(url)
    stored = s.write_forecast(make_run(), make_values())
    s.close()
    s = open_store(url)
    found = s.read_forecast(1)
    assert found is not None
    assert found[0] == stored and found[1].equals(make_values())
    # the id sequence goes on after a restart
    again = s.write_forecast(make_run(), make_values())
    assert again.forecast_id is not None and stored.forecast_id is not None
    assert again.forecast_id > stored.forecast_id
    s.close()
    ro = open_store(url, read_only=True)
    assert [r.forecast_id for r in ro.list_forecasts()] == [again.forecast_id, stored.forecast_id]
    with pytest.raises(StoreError, match="read-only"):
        ro.write_forecast(make_run(), make_values())
    ro.close()


def _v3_store(path: Path) -> None:
    """A store as a gridpulse of schema version 3 left it, with one series in it."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
    for version, statements in MIGRATIONS:
        if version > 3:
            break
        for sql in statements:
            con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [version])
    con.execute(
        "INSERT INTO series (series_id, entity_kind, entity_id, metric, created_at) "
        "VALUES (nextval('series_id_seq'), 'meter', 'm-1', 'kwh', TIMESTAMP '2024-01-01')"
    )
    con.close()


def test_a_v3_store_migrates_to_the_current_schema_and_takes_forecasts(tmp_path: Path) -> None:
    assert SCHEMA_VERSION >= 4
    path = tmp_path / "s.duckdb"
    _v3_store(path)
    s = open_store(f"duckdb:///{path}")
    assert [x.key.entity_id for x in s.list_series()] == ["m-1"]
    stored = s.write_forecast(make_run(), make_values())
    found = s.read_forecast(1)
    assert found is not None and found[0] == stored
    s.close()
    con = duckdb.connect(str(path))
    assert con.execute("SELECT max(version) FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    con.close()


def test_a_v3_store_opened_read_only_has_no_forecasts(tmp_path: Path) -> None:
    # read-only opens do not migrate: the forecast tables are not there, and that is no error
    path = tmp_path / "s.duckdb"
    _v3_store(path)
    ro = open_store(f"duckdb:///{path}", read_only=True)
    assert ro.read_forecast(1) is None
    assert ro.list_forecasts() == []
    ro.close()


def test_forecast_retention_removes_old_runs_but_keeps_each_series_and_models_newest(store: Store) -> None:
    from gridpulse.store.retention import ExpiryPlan

    for hours in (0, 24, 48):  # three daily runs of series 1's naive model
        store.write_forecast(make_run(1, created_at=at(hours)), make_values(level=hours))
    store.write_forecast(make_run(1, model="lightgbm", created_at=at(0)), make_values())  # alone: newest
    store.write_forecast(make_run(2, created_at=at(0)), make_values())  # another series' newest
    assert stored_counts(store) == (5, 5 * STEPS)
    cutoff = ExpiryPlan({}, {}, forecasts_before=at(36))

    dry = store.expire(cutoff, dry_run=True)
    assert (dry.forecast_runs, dry.forecast_values) == (2, 2 * STEPS)  # series 1's naive runs at 0 h and 24 h
    assert stored_counts(store) == (5, 5 * STEPS)

    report = store.expire(cutoff)
    assert (report.forecast_runs, report.forecast_values) == (2, 2 * STEPS)
    assert stored_counts(store) == (3, 3 * STEPS)
    newest = store.read_forecast(1, model="seasonal-naive")
    assert newest is not None and newest[0].created_at == at(48)
    assert store.read_forecast(1, model="seasonal-naive", as_of=at(30)) is None  # that run is gone
    assert store.read_forecast(1, model="lightgbm") is not None
    assert store.read_forecast(2) is not None
    # the newest runs are kept even when every run is past the cutoff
    assert store.expire(ExpiryPlan({}, {}, forecasts_before=at(1000))).forecast_runs == 0


def test_forecast_retention_follows_the_setting(store: Store) -> None:
    from gridpulse.config import Settings, load_settings
    from gridpulse.jobs.maintenance import expire_old_data

    store.write_forecast(make_run(1, created_at=at(0)), make_values())
    store.write_forecast(make_run(1, created_at=at(24)), make_values())
    now = at(24) + timedelta(days=10)
    assert Settings().retention.forecast_days == 90
    assert expire_old_data(store, Settings(), now=now).forecast_runs == 0  # 10 days old: kept
    week = load_settings(None, env={"GRIDPULSE_RETENTION_FORECAST_DAYS": "7"})
    assert expire_old_data(store, week, now=now).forecast_runs == 1
    assert stored_counts(store) == (1, STEPS)
