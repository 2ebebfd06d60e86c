"""Stored forecasts on DuckDB: the SQL behind DuckDBStore's write_forecast, read_forecast and
list_forecasts.

A run is one row of `forecast_runs` and its steps are rows of `forecast_values` with its id (schema
version 4). Runs are never updated; a newer forecast is a new run, and readers pick the newest
(largest created_at, then largest id). As everywhere in the store, instants are kept as naive UTC
TIMESTAMPs and handed out aware. The functions take a cursor; the store owns locking and
transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.errors import QueryError, StoreError
from gridpulse.model import FORECAST_VALUES_SCHEMA, TS_TYPE, ForecastRun
from gridpulse.store.duckdb.instants import naive_utc
from gridpulse.store.prepare import NAIVE_TS

__all__ = [
    "CURRENT_VALUES_SCHEMA",
    "SCHEMA_SINCE",
    "current_values",
    "expire",
    "insert",
    "list_runs",
    "newest",
    "newest_per_series",
    "prepare_values",
]

#: the schema version that added the forecast tables (schema.py): a read-only store older than
#: this is not migrated and has none
SCHEMA_SINCE = 4

#: the columns of `forecast_runs` a ForecastRun is built from, in _run_from_row's order
_RUN_COLUMNS = (
    "forecast_id, series_id, model, model_version, step_s, steps, origin, train_start, train_end, "
    "created_at, params"
)
_VALUE_COLUMNS = ", ".join(FORECAST_VALUES_SCHEMA.names)
#: what current_values answers: each step's value from the run current for it, and that run
CURRENT_VALUES_SCHEMA = pa.schema(
    [FORECAST_VALUES_SCHEMA.field("ts"), ("forecast_id", pa.int64()), ("origin", TS_TYPE),
     *(FORECAST_VALUES_SCHEMA.field(c) for c in ("mean", "lo80", "hi80", "lo95", "hi95"))]
)  # fmt: skip


def _values_column(values: pa.Table, field: pa.Field) -> pa.ChunkedArray:
    """One column of `values` as FORECAST_VALUES_SCHEMA has it, with ts naive UTC for storage.

    Timestamps in any unit and zone are converted (the instant is kept), numbers widened to
    float64; a naive ts is refused, as the store never guesses a zone."""
    if field.name not in values.column_names:
        raise StoreError(
            f"forecast values have no column {field.name!r}; expected {', '.join(FORECAST_VALUES_SCHEMA.names)}"
        )
    col = values.column(field.name)
    if field.name == "ts":
        if not pa.types.is_timestamp(col.type) or col.type.tz is None:
            raise StoreError(f"forecast values column 'ts' is {col.type}; expected {TS_TYPE} (aware)")
        if col.null_count:
            raise StoreError(f"forecast values column 'ts' has {col.null_count} null(s)")
    elif not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or pa.types.is_null(col.type)):
        raise StoreError(f"forecast values column {field.name!r} is {col.type}; expected {field.type}")
    try:
        cast = pc.cast(col, field.type)
    except pa.ArrowInvalid as exc:  # a ts finer than a microsecond, an integer beyond float64's
        raise StoreError(f"forecast values column {field.name!r} does not fit {field.type}: {exc}") from exc
    return cast.cast(NAIVE_TS) if field.name == "ts" else cast


def prepare_values(run: ForecastRun, values: pa.Table) -> pa.Table:
    """The steps of `run` checked and in FORECAST_VALUES_SCHEMA's columns, ts naive UTC [µs].

    Other columns are left out. Checked before any transaction, so a bad forecast stores nothing.

    Raises:
        StoreError: a column is missing or of the wrong type, the row count is not run.steps,
            or ts is not strictly increasing.
    """
    table = pa.table(
        [_values_column(values, f) for f in FORECAST_VALUES_SCHEMA], names=FORECAST_VALUES_SCHEMA.names
    )
    if table.num_rows != run.steps:
        raise StoreError(f"forecast has {table.num_rows} value rows but run.steps is {run.steps}")
    ts = np.asarray(table.column("ts").cast(pa.int64()).to_numpy())
    bad = np.flatnonzero(ts[1:] <= ts[:-1])
    if bad.size:
        i = int(bad[0]) + 1
        when = [t.replace(tzinfo=UTC).isoformat() for t in table.column("ts")[i - 1 : i + 1].to_pylist()]
        raise StoreError(
            f"forecast values' ts must be strictly increasing: row {i} ({when[1]}) is not after "
            f"row {i - 1} ({when[0]}), rows counted from 0"
        )
    return table


def _run_from_row(row: Sequence[Any]) -> ForecastRun:
    """A ForecastRun from one row of _RUN_COLUMNS, its instants made aware UTC."""
    return ForecastRun(
        forecast_id=int(row[0]),
        series_id=int(row[1]),
        model=row[2],
        model_version=row[3],
        step_s=int(row[4]),
        steps=int(row[5]),
        origin=row[6].replace(tzinfo=UTC),
        train_start=row[7].replace(tzinfo=UTC),
        train_end=row[8].replace(tzinfo=UTC),
        created_at=row[9].replace(tzinfo=UTC),
        params=row[10],
    )


def insert(con: duckdb.DuckDBPyConnection, run: ForecastRun, values: pa.Table, now: datetime) -> ForecastRun:
    """Insert the run and its prepared values (prepare_values) in the caller's transaction.

    Args:
        now: aware instant used as created_at when the run has none.

    Returns:
        The run as stored: forecast_id and created_at filled in, instants aware UTC.

    Raises:
        StoreError: an instant of the run is naive, or params is not JSON text.
    """
    try:
        orjson.loads(run.params)
    except orjson.JSONDecodeError as exc:
        raise StoreError(f"forecast params is not JSON text: {exc}") from exc
    given = {
        "origin": run.origin,
        "train_start": run.train_start,
        "train_end": run.train_end,
        "created_at": run.created_at if run.created_at is not None else now,
    }
    instants = {name: naive_utc(ts, f"forecast {name}", StoreError) for name, ts in given.items()}
    row = con.execute(
        """INSERT INTO forecast_runs (forecast_id, series_id, model, model_version, step_s, steps,
                  origin, train_start, train_end, created_at, params)
           VALUES (nextval('forecast_id_seq'), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           RETURNING forecast_id""",
        [run.series_id, run.model, run.model_version, run.step_s, run.steps, *instants.values(), run.params],
    ).fetchall()
    forecast_id = int(row[0][0])
    con.register("gp_forecast_values", values)
    try:
        con.execute(
            f"INSERT INTO forecast_values (forecast_id, {_VALUE_COLUMNS}) "
            f"SELECT ?, {_VALUE_COLUMNS} FROM gp_forecast_values",
            [forecast_id],
        ).fetchall()
    finally:
        con.unregister("gp_forecast_values")
    aware = {name: ts.replace(tzinfo=UTC) for name, ts in instants.items()}
    return replace(
        run,
        forecast_id=forecast_id,
        origin=aware["origin"],
        train_start=aware["train_start"],
        train_end=aware["train_end"],
        created_at=aware["created_at"],
    )


def newest(
    con: duckdb.DuckDBPyConnection,
    series_id: int,
    *,
    model: str | None = None,
    as_of: datetime | None = None,
    forecast_id: int | None = None,
) -> tuple[ForecastRun, pa.Table] | None:
    """The newest run of the series matching the filters, and its values ordered by ts
    (FORECAST_VALUES_SCHEMA); None when none matches. Run it in one transaction, so run and
    values come from one snapshot.

    Raises:
        QueryError: as_of is naive.
    """
    where: list[str] = ["series_id = ?"]
    params: list[Any] = [series_id]
    if model is not None:
        where.append("model = ?")
        params.append(model)
    if as_of is not None:
        where.append("created_at <= ?")
        params.append(naive_utc(as_of, "as_of", QueryError))
    if forecast_id is not None:
        where.append("forecast_id = ?")
        params.append(forecast_id)
    rows = con.execute(
        f"SELECT {_RUN_COLUMNS} FROM forecast_runs WHERE {' AND '.join(where)} "
        "ORDER BY created_at DESC, forecast_id DESC LIMIT 1",
        params,
    ).fetchall()
    if not rows:
        return None
    run = _run_from_row(rows[0])
    values = con.sql(
        f"SELECT {_VALUE_COLUMNS} FROM forecast_values WHERE forecast_id = ? ORDER BY ts",
        params=[run.forecast_id],
    ).to_arrow_table()
    return run, values.cast(FORECAST_VALUES_SCHEMA)  # naive UTC ts made aware: a change of type only


def _runs_where(series_ids: Sequence[int] | None, model: str | None) -> tuple[list[str], list[Any]]:
    """Conditions on forecast_runs (and their parameters): of these series (all when None), of
    this model (any when None)."""
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if series_ids is not None:
        where.append("series_id IN (SELECT unnest(?::INTEGER[]))")
        params.append([int(i) for i in series_ids])
    if model is not None:
        where.append("model = ?")
        params.append(model)
    return where, params


def newest_per_series(
    con: duckdb.DuckDBPyConnection, series_ids: Sequence[int] | None = None, *, model: str | None = None
) -> list[ForecastRun]:
    """The newest run (largest created_at, then forecast_id) of each series that has one (of the
    given series; all when None), optionally of one model, ordered by series id."""
    where, params = _runs_where(series_ids, model)
    rows = con.execute(
        f"SELECT {_RUN_COLUMNS} FROM forecast_runs WHERE {' AND '.join(where)} "
        "QUALIFY row_number() OVER (PARTITION BY series_id ORDER BY created_at DESC, forecast_id DESC) = 1 "
        "ORDER BY series_id",
        params,
    ).fetchall()
    return [_run_from_row(r) for r in rows]


def current_values(
    con: duckdb.DuckDBPyConnection,
    series_id: int,
    *,
    start: datetime,
    end: datetime,
    model: str | None = None,
    step_s: int | None = None,
) -> pa.Table:
    """For each forecast step in [start, end) of the series, the value of the run that was current
    for it: of the runs with a step there (every step of a run is at or after its origin), the one
    with the latest origin, then the newest (created_at, forecast_id). That run saw nothing at or
    after its origin, so the value is a genuine out-of-sample forecast, made with the most data a
    forecast of that step could have had. `model` and `step_s` narrow the runs considered.

    Returns:
        CURRENT_VALUES_SCHEMA rows ordered by ts (ts and origin naive UTC cast to aware).

    Raises:
        QueryError: start or end is naive.
    """
    lo, hi = naive_utc(start, "start", QueryError), naive_utc(end, "end", QueryError)
    # the runs reaching into the range first: the values are probed for those runs only
    params: list[Any] = [series_id, hi, lo]
    which = ""
    if model is not None:
        which += " AND model = ?"
        params.append(model)
    if step_s is not None:
        which += " AND step_s = ?"
        params.append(step_s)
    params += [lo, hi]
    table = con.sql(
        f"""WITH r AS (
                SELECT forecast_id, origin, created_at FROM forecast_runs
                WHERE series_id = ? AND origin < ? AND origin + to_seconds(step_s * steps) > ? {which})
            SELECT v.ts, r.forecast_id, r.origin, v.mean, v.lo80, v.hi80, v.lo95, v.hi95
            FROM forecast_values v JOIN r USING (forecast_id)
            WHERE v.ts >= ? AND v.ts < ?
            QUALIFY row_number() OVER (
                PARTITION BY v.ts ORDER BY r.origin DESC, r.created_at DESC, r.forecast_id DESC) = 1
            ORDER BY v.ts""",
        params=params,
    ).to_arrow_table()
    return table.cast(CURRENT_VALUES_SCHEMA)


def list_runs(
    con: duckdb.DuckDBPyConnection,
    series_ids: Sequence[int] | None = None,
    *,
    model: str | None = None,
    limit: int = 100,
) -> list[ForecastRun]:
    """Runs of the series (all series when None), optionally of one model, newest first, at most
    `limit` of them.

    Raises:
        QueryError: limit is negative.
    """
    if limit < 0:
        raise QueryError(f"limit={limit} is negative; give 0 or more")
    where, params = _runs_where(series_ids, model)
    rows = con.execute(
        f"SELECT {_RUN_COLUMNS} FROM forecast_runs WHERE {' AND '.join(where)} "
        "ORDER BY created_at DESC, forecast_id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [_run_from_row(r) for r in rows]


def expire(con: duckdb.DuckDBPyConnection, before: datetime, *, dry_run: bool) -> tuple[int, int]:
    """Delete (dry run: count) the runs made before `before` and their values, in the caller's
    transaction; each series and model's newest run stays whatever its age, since it is the
    forecast the API serves. Works on a read-only store for a dry run (no temporary tables).

    Returns:
        (runs, values) removed or, dry run, that would be.
    """
    cutoff = naive_utc(before, "forecast retention cutoff", StoreError)
    expired = f"SELECT forecast_id FROM ({_RANKED_RUNS}) WHERE created_at < ? AND newness > 1"
    runs = int(con.execute(f"SELECT count(*) FROM ({expired})", [cutoff]).fetchall()[0][0])
    if not runs:
        return 0, 0
    values = int(
        con.execute(
            f"SELECT count(*) FROM forecast_values WHERE forecast_id IN ({expired})", [cutoff]
        ).fetchall()[0][0]
    )
    if not dry_run:
        # values first: the runs table is what names the expired ids
        for table in ("forecast_values", "forecast_runs"):
            con.execute(f"DELETE FROM {table} WHERE forecast_id IN ({expired})", [cutoff]).fetchall()
    return runs, values


#: every run with its rank among its series and model's runs, 1 for the newest
_RANKED_RUNS = """SELECT forecast_id, created_at,
       row_number() OVER (PARTITION BY series_id, model ORDER BY created_at DESC, forecast_id DESC) AS newness
FROM forecast_runs"""
