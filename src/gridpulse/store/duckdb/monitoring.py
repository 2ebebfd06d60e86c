"""Forecast monitoring results on DuckDB: the SQL behind DuckDBStore's write_forecast_checks and
list_forecast_checks.

`forecast_checks` (schema version 10) holds one row per series per monitoring run: live error
over the recent window and drift (gridpulse.jobs.monitoring). Rows are only inserted; a run also
deletes the rows older than the configured keep, in its transaction. Alert rules read the newest
row of each series, and the rows of the last `for` span for their for-duration. The functions
take a cursor; the store owns locking and transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import orjson

from gridpulse.errors import QueryError, StoreError
from gridpulse.model import ForecastCheck
from gridpulse.store.duckdb.instants import aware_utc, naive_utc

__all__ = ["SCHEMA_SINCE", "insert", "list_rows"]

#: the schema version that added the forecast_checks table (schema.py)
SCHEMA_SINCE = 10

_COLUMNS = (
    "series_id, checked_at, window_start, window_end, forecast_id, steps, mae, mape, bias, "
    "coverage80, coverage95, psi, detail"
)


def _row(c: ForecastCheck) -> list[Any]:
    return [
        c.series_id,
        naive_utc(c.checked_at, "forecast check checked_at", StoreError),
        naive_utc(c.window_start, "forecast check window_start", StoreError),
        naive_utc(c.window_end, "forecast check window_end", StoreError),
        c.forecast_id,
        c.steps,
        c.mae,
        c.mape,
        c.bias,
        c.coverage80,
        c.coverage95,
        c.psi,
        orjson.dumps(dict(c.detail), option=orjson.OPT_NON_STR_KEYS).decode(),
    ]


def insert(
    con: duckdb.DuckDBPyConnection, checks: Sequence[ForecastCheck], *, keep_since: datetime | None
) -> int:
    """Insert the checks in the caller's transaction, after deleting every row checked before
    `keep_since` (None: keep all); returns the rows inserted.

    Raises:
        StoreError: an instant is naive or a detail is not JSON-ready.
    """
    try:
        rows = [_row(c) for c in checks]
    except TypeError as exc:
        raise StoreError(f"a forecast check's detail is not JSON-ready: {exc}") from exc
    if keep_since is not None:
        con.execute(
            "DELETE FROM forecast_checks WHERE checked_at < ?",
            [naive_utc(keep_since, "keep_since", StoreError)],
        ).fetchall()
    if rows:
        marks = ", ".join("?" * 13)
        con.executemany(f"INSERT INTO forecast_checks ({_COLUMNS}) VALUES ({marks})", rows)
    return len(rows)


def _check(row: Sequence[Any]) -> ForecastCheck:
    checked_at, start, end = (aware_utc(t) for t in row[1:4])
    assert checked_at is not None and start is not None and end is not None
    return ForecastCheck(
        series_id=int(row[0]),
        checked_at=checked_at,
        window_start=start,
        window_end=end,
        forecast_id=None if row[4] is None else int(row[4]),
        steps=int(row[5]),
        mae=row[6],
        mape=row[7],
        bias=row[8],
        coverage80=row[9],
        coverage95=row[10],
        psi=row[11],
        detail=orjson.loads(row[12]),
    )


def list_rows(
    con: duckdb.DuckDBPyConnection,
    series_ids: Sequence[int] | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    newest: bool = False,
) -> list[ForecastCheck]:
    """Stored checks of the series (all when None) with checked_at in [since, until], ordered by
    series and checked_at; with `newest`, only the newest such check of each series.

    Raises:
        QueryError: since or until is naive.
    """
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if series_ids is not None:
        where.append("series_id IN (SELECT unnest(?::INTEGER[]))")
        params.append([int(i) for i in series_ids])
    if since is not None:
        where.append("checked_at >= ?")
        params.append(naive_utc(since, "since", QueryError))
    if until is not None:
        where.append("checked_at <= ?")
        params.append(naive_utc(until, "until", QueryError))
    qualify = (
        "QUALIFY row_number() OVER (PARTITION BY series_id ORDER BY checked_at DESC) = 1 " if newest else ""
    )
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM forecast_checks WHERE {' AND '.join(where)} {qualify}"
        "ORDER BY series_id, checked_at",
        params,
    ).fetchall()
    return [_check(r) for r in rows]
