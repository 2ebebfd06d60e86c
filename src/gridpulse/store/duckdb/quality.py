"""Validation results and revision history on DuckDB: the SQL behind DuckDBStore's
write_validation, list_validation and read_superseded.

`validation_results` (schema version 5) holds one row per series, local day and rule. A check run
owns the days it covered: it replaces every row of its series on those days in one transaction, so
a day that passes now no longer shows an old failure. The functions take a cursor; the store owns
locking and transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from gridpulse.errors import QueryError, StoreError
from gridpulse.model import ValidationResult
from gridpulse.store.duckdb.instants import naive_utc

__all__ = ["STATUSES", "list_rows", "replace_days", "superseded_sql"]

_COLUMNS = "series_id, day, rule, status, count, expected, first_ts, detail, checked_at"
STATUSES = ("pass", "fail")


def replace_days(
    con: duckdb.DuckDBPyConnection,
    series_ids: Sequence[int],
    first_day: date,
    last_day: date,
    results: Sequence[ValidationResult],
    now: datetime,
) -> int:
    """Replace the rows of `series_ids` on local days [first_day, last_day] by `results`, in the
    caller's transaction; returns the rows written.

    Raises:
        StoreError: a result lies outside the days or series replaced, or has an unknown status.
    """
    ids = sorted({int(i) for i in series_ids})
    for r in results:
        if r.series_id not in ids or not first_day <= r.day <= last_day:
            raise StoreError(
                f"validation result of series {r.series_id} on {r.day} is outside the days "
                f"{first_day}..{last_day} of series {ids[:10]} being replaced"
            )
        if r.status not in STATUSES:
            raise StoreError(f"validation status {r.status!r} is not one of {', '.join(STATUSES)}")
    at = naive_utc(now, "now", StoreError)
    con.execute(
        "DELETE FROM validation_results WHERE series_id IN (SELECT unnest(?::INTEGER[])) AND day BETWEEN ? AND ?",
        [ids, first_day, last_day],
    ).fetchall()
    if not results:
        return 0
    table = pa.table(
        {
            "series_id": pa.array([r.series_id for r in results], pa.int32()),
            "day": pa.array([r.day for r in results], pa.date32()),
            "rule": pa.array([r.rule for r in results], pa.string()),
            "status": pa.array([r.status for r in results], pa.string()),
            "count": pa.array([int(r.count) for r in results], pa.int32()),
            "expected": pa.array([r.expected for r in results], pa.int32()),
            "first_ts": pa.array(
                [None if r.first_ts is None else naive_utc(r.first_ts, "first_ts", StoreError) for r in results],
                pa.timestamp("us"),
            ),
            "detail": pa.array([r.detail for r in results], pa.string()),
        }
    )
    con.register("gp_validation", table)
    try:
        con.execute(
            f"INSERT INTO validation_results ({_COLUMNS}) "
            "SELECT series_id, day, rule, status, count, expected, first_ts, detail, ? FROM gp_validation "
            "ORDER BY series_id, day, rule",
            [at],
        ).fetchall()
    finally:
        con.unregister("gp_validation")
    return len(results)


def list_rows(
    con: duckdb.DuckDBPyConnection,
    series_ids: Sequence[int] | None = None,
    *,
    start_day: date | None = None,
    end_day: date | None = None,
    rule: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    limit: int = 100_000,
) -> list[ValidationResult]:
    """Stored results matching every filter given, ordered by series, day and rule.

    Args:
        start_day, end_day: local days, both inclusive.
        since: aware instant; rows checked at or after it.

    Raises:
        QueryError: a naive `since`, an unknown status or a negative limit.
    """
    if limit < 0:
        raise QueryError(f"limit={limit} is negative; give 0 or more")
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if series_ids is not None:
        where.append("series_id IN (SELECT unnest(?::INTEGER[]))")
        params.append([int(i) for i in series_ids])
    if start_day is not None:
        where.append("day >= ?")
        params.append(start_day)
    if end_day is not None:
        where.append("day <= ?")
        params.append(end_day)
    if rule is not None:
        where.append("rule = ?")
        params.append(rule)
    if status is not None:
        if status not in STATUSES:
            raise QueryError(f"status={status!r} is not one of {', '.join(STATUSES)}")
        where.append("status = ?")
        params.append(status)
    if since is not None:
        where.append("checked_at >= ?")
        params.append(naive_utc(since, "since", QueryError))
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM validation_results WHERE {' AND '.join(where)} "
        "ORDER BY series_id, day, rule LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [
        ValidationResult(
            series_id=int(r[0]),
            day=r[1],
            rule=r[2],
            status=r[3],
            count=int(r[4]),
            expected=None if r[5] is None else int(r[5]),
            first_ts=None if r[6] is None else r[6].replace(tzinfo=UTC),
            detail=r[7],
            checked_at=r[8].replace(tzinfo=UTC),
        )
        for r in rows
    ]


def superseded_sql(
    ids_sql: str, id_params: list[Any], start: datetime | None, end: datetime | None
) -> tuple[str, list[Any]]:
    """The statement reading superseded versions (series_id, ts, value, version, quality,
    superseded_at) of the series `ids_sql` selects over [start, end), ordered by series and ts."""
    where = [ids_sql]
    params = list(id_params)
    if start is not None:
        where.append("ts >= ?")
        params.append(naive_utc(start, "start", QueryError))
    if end is not None:
        where.append("ts < ?")
        params.append(naive_utc(end, "end", QueryError))
    return (
        "SELECT series_id, ts, value, version, quality, superseded_at FROM points_history "
        f"WHERE {' AND '.join(where)} ORDER BY series_id, ts, version"
    ), params
