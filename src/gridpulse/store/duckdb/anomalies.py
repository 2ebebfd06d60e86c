"""Stored anomalies on DuckDB: the SQL behind DuckDBStore's write_anomalies, list_anomalies and
set_anomaly_status.

One row of `anomalies` (schema version 5) is one window of a series a detector flagged. A scan
that runs again over the same data finds the same windows: a finding that overlaps a stored row
of the same series, detector and kind updates that row (its window widened to cover both, its
score, severity, value and expected those of the new finding) and keeps its status, so an
acknowledged anomaly stays acknowledged and re-scans add no duplicates. Instants are naive UTC
in the table and aware UTC outside. The functions take a cursor; the store owns locking and
transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from gridpulse.errors import NotFound, QueryError, StoreError
from gridpulse.model import Anomaly, AnomalyStatus, Severity
from gridpulse.store.duckdb.instants import aware_utc, naive_utc

__all__ = ["SCHEMA_SINCE", "WriteCounts", "list_rows", "set_status", "upsert"]

#: the schema version that added the anomalies and validation tables (schema.py)
SCHEMA_SINCE = 5

_COLUMNS = (
    "anomaly_id, series_id, ts_start, ts_end, kind, score, severity, detector, model_version, "
    "value, expected, forecast_id, status, detected_at, updated_at"
)

#: (inserted, updated) rows of one write
WriteCounts = tuple[int, int]


def _from_row(row: Sequence[Any]) -> Anomaly:
    return Anomaly(
        anomaly_id=int(row[0]),
        series_id=int(row[1]),
        start=row[2].replace(tzinfo=UTC),
        end=row[3].replace(tzinfo=UTC),
        kind=row[4],
        score=float(row[5]),
        severity=Severity.parse(row[6]),
        detector=row[7],
        model_version=row[8],
        value=row[9],
        expected=row[10],
        forecast_id=None if row[11] is None else int(row[11]),
        status=AnomalyStatus(row[12]),
        detected_at=aware_utc(row[13]),
        updated_at=aware_utc(row[14]),
    )


def _table(anomalies: Sequence[Anomaly]) -> pa.Table:
    """The findings as an Arrow table in the column order of `anomalies` (without id and times)."""
    for a in anomalies:
        if not a.end > a.start:
            raise StoreError(f"anomaly of series {a.series_id} ends ({a.end}) before it starts ({a.start})")
    return pa.table(
        {
            "series_id": pa.array([a.series_id for a in anomalies], pa.int32()),
            "ts_start": pa.array(
                [naive_utc(a.start, "anomaly start", StoreError) for a in anomalies], pa.timestamp("us")
            ),
            "ts_end": pa.array(
                [naive_utc(a.end, "anomaly end", StoreError) for a in anomalies], pa.timestamp("us")
            ),
            "kind": pa.array([a.kind for a in anomalies], pa.string()),
            "score": pa.array([float(a.score) for a in anomalies], pa.float64()),
            "severity": pa.array([Severity(a.severity).label for a in anomalies], pa.string()),
            "detector": pa.array([a.detector for a in anomalies], pa.string()),
            "model_version": pa.array([a.model_version for a in anomalies], pa.string()),
            "value": pa.array([a.value for a in anomalies], pa.float64()),
            "expected": pa.array([a.expected for a in anomalies], pa.float64()),
            "forecast_id": pa.array([a.forecast_id for a in anomalies], pa.int64()),
            "status": pa.array([AnomalyStatus(a.status).value for a in anomalies], pa.string()),
        }
    )


def upsert(con: duckdb.DuckDBPyConnection, anomalies: Sequence[Anomaly], now: datetime) -> WriteCounts:
    """Store findings in the caller's transaction: new windows inserted (open, or the status they
    carry), windows overlapping a stored one of the same series, detector and kind merged into it.

    Args:
        now: aware instant used as detected_at of new rows and updated_at of changed ones.

    Returns:
        (inserted, merged): new rows, and stored rows the findings matched (changed where they differ).

    Raises:
        StoreError: an instant is naive or a window is empty.
    """
    if not anomalies:
        return 0, 0
    at = naive_utc(now, "now", StoreError)
    con.register("gp_found", _table(anomalies))
    try:
        # each finding's stored match: the oldest stored row of its series, detector and kind
        # whose window overlaps (or touches) it
        con.execute(
            """CREATE OR REPLACE TEMP TABLE gp_match AS
               SELECT f.*, (SELECT min(a.anomaly_id) FROM anomalies a
                            WHERE a.series_id = f.series_id AND a.detector = f.detector
                              AND a.kind = f.kind AND a.ts_start <= f.ts_end AND f.ts_start <= a.ts_end)
                      AS match_id
               FROM gp_found f"""
        )
    finally:
        con.unregister("gp_found")
    counts = con.execute(
        "SELECT count(*) FILTER (WHERE match_id IS NULL), count(DISTINCT match_id) FROM gp_match"
    ).fetchall()[0]
    con.execute(
        f"""INSERT INTO anomalies ({_COLUMNS})
            SELECT nextval('anomaly_id_seq'), series_id, ts_start, ts_end, kind, score, severity, detector,
                   model_version, value, expected, forecast_id, status, ?, ?
            FROM gp_match WHERE match_id IS NULL ORDER BY series_id, ts_start""",
        [at, at],
    ).fetchall()
    # several findings may match one stored row (a window that split in two): the highest score wins
    con.execute(
        """UPDATE anomalies SET
               ts_start = least(anomalies.ts_start, m.lo), ts_end = greatest(anomalies.ts_end, m.hi),
               score = m.score, severity = m.severity, model_version = m.model_version,
               value = m.value, expected = m.expected, forecast_id = m.forecast_id, updated_at = ?
           FROM (SELECT match_id, min(ts_start) AS lo, max(ts_end) AS hi,
                        arg_max(score, score) AS score, arg_max(severity, score) AS severity,
                        arg_max(model_version, score) AS model_version, arg_max(value, score) AS value,
                        arg_max(expected, score) AS expected, arg_max(forecast_id, score) AS forecast_id
                 FROM gp_match WHERE match_id IS NOT NULL GROUP BY match_id) m
           WHERE anomalies.anomaly_id = m.match_id
             AND (anomalies.ts_start <> least(anomalies.ts_start, m.lo)
                  OR anomalies.ts_end <> greatest(anomalies.ts_end, m.hi)
                  OR anomalies.score IS DISTINCT FROM m.score
                  OR anomalies.forecast_id IS DISTINCT FROM m.forecast_id)""",
        [at],
    ).fetchall()
    con.execute("DROP TABLE IF EXISTS gp_match")
    return int(counts[0]), int(counts[1])


def list_rows(
    con: duckdb.DuckDBPyConnection,
    series_ids: Sequence[int] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    since: datetime | None = None,
    min_severity: Severity | None = None,
    status: Sequence[AnomalyStatus] | None = None,
    detector: str | None = None,
    limit: int = 1000,
) -> list[Anomaly]:
    """Stored anomalies matching every filter given, newest window first (ts_start, then id).

    Args:
        start, end: aware instants; windows overlapping [start, end).
        since: aware instant; rows detected or updated at or after it (what is new to a watcher).
        min_severity: this severity or above.
        status: any of these statuses.

    Raises:
        QueryError: a naive instant or a negative limit.
    """
    if limit < 0:
        raise QueryError(f"limit={limit} is negative; give 0 or more")
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if series_ids is not None:
        where.append("series_id IN (SELECT unnest(?::INTEGER[]))")
        params.append([int(i) for i in series_ids])
    if start is not None:
        where.append("ts_end > ?")
        params.append(naive_utc(start, "start", QueryError))
    if end is not None:
        where.append("ts_start < ?")
        params.append(naive_utc(end, "end", QueryError))
    if since is not None:
        where.append("updated_at >= ?")
        params.append(naive_utc(since, "since", QueryError))
    if min_severity is not None:
        where.append("severity IN (SELECT unnest(?::VARCHAR[]))")
        params.append([s.label for s in Severity if s >= min_severity])
    if status is not None:
        where.append("status IN (SELECT unnest(?::VARCHAR[]))")
        params.append([AnomalyStatus(s).value for s in status])
    if detector is not None:
        where.append("detector = ?")
        params.append(detector)
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM anomalies WHERE {' AND '.join(where)} "
        "ORDER BY ts_start DESC, anomaly_id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [_from_row(r) for r in rows]


def set_status(
    con: duckdb.DuckDBPyConnection, anomaly_id: int, status: AnomalyStatus, now: datetime
) -> Anomaly:
    """Set one anomaly's status in the caller's transaction; returns it as stored.

    Raises:
        NotFound: no anomaly has that id.
    """
    rows = con.execute(
        f"UPDATE anomalies SET status = ?, updated_at = ? WHERE anomaly_id = ? RETURNING {_COLUMNS}",
        [AnomalyStatus(status).value, naive_utc(now, "now", StoreError), int(anomaly_id)],
    ).fetchall()
    if not rows:
        raise NotFound(f"anomaly {anomaly_id} does not exist; list them with GET /api/v1/anomalies")
    return _from_row(rows[0])
