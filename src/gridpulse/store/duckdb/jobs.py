"""Job history and source state on DuckDB: the SQL behind DuckDBStore's job runs and watermarks
(schema version 7).

`job_runs` holds one row per run of a scheduled job (a poller, rollup refresh, retention, a
forecast): inserted as `running` when it starts, completed when it ends, so a run that a crash
cut short is still there and is marked `interrupted` at the next start. `source_state` holds, per
source and key (a vendor channel, or a series a source wrote), the watermark up to which its rows
are committed and when it last succeeded. Instants are naive UTC TIMESTAMPs, handed out aware.
The functions take a cursor; the store owns locking and transactions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from gridpulse.errors import QueryError, StoreError
from gridpulse.store.base import JOB_STATUSES, JobRun, SourceMark
from gridpulse.store.duckdb.instants import aware_utc, naive_utc

__all__ = [
    "SCHEMA_SINCE",
    "finish_run",
    "interrupt_running",
    "latest_runs",
    "list_marks",
    "list_runs",
    "prune_runs",
    "save_marks",
    "start_run",
]

#: the schema version that added job_runs and source_state (schema.py)
SCHEMA_SINCE = 7

_RUN_COLUMNS = "run_id, job, cause, started_at, ended_at, status, rows, rejects, failures, error, detail"


def _run(row: Sequence[Any]) -> JobRun:
    return JobRun(
        run_id=int(row[0]),
        job=str(row[1]),
        cause=str(row[2]),
        started_at=row[3].replace(tzinfo=UTC),
        ended_at=aware_utc(row[4]),
        status=str(row[5]),
        rows=None if row[6] is None else int(row[6]),
        rejects=None if row[7] is None else int(row[7]),
        failures=None if row[8] is None else int(row[8]),
        error=row[9],
        detail=dict(orjson.loads(row[10] or "{}")),
    )


def start_run(con: duckdb.DuckDBPyConnection, job: str, cause: str, started_at: datetime) -> int:
    row = con.execute(
        "INSERT INTO job_runs (run_id, job, cause, started_at, status) "
        "VALUES (nextval('job_run_id_seq'), ?, ?, ?, 'running') RETURNING run_id",
        [job, cause, naive_utc(started_at, "started_at")],
    ).fetchone()
    assert row is not None
    return int(row[0])


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    *,
    ended_at: datetime,
    status: str,
    rows: int | None,
    rejects: int | None,
    failures: int | None,
    error: str | None,
    detail: Mapping[str, Any],
) -> None:
    if status not in JOB_STATUSES or status == "running":
        raise QueryError(f"job run status {status!r} is not one of {', '.join(JOB_STATUSES[1:])}")
    found = con.execute(
        "UPDATE job_runs SET ended_at = ?, status = ?, rows = ?, rejects = ?, failures = ?, error = ?, "
        "detail = ? WHERE run_id = ? RETURNING run_id",
        [
            naive_utc(ended_at, "ended_at"),
            status,
            rows,
            rejects,
            failures,
            error,
            orjson.dumps(dict(detail), default=str, option=orjson.OPT_NON_STR_KEYS).decode(),
            run_id,
        ],
    ).fetchall()
    if not found:
        raise StoreError(f"job run {run_id} does not exist; start it with start_job_run first")


def interrupt_running(con: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Runs still `running` (the process that ran them is gone): `interrupted`, ended now."""
    rows = con.execute(
        "UPDATE job_runs SET status = 'interrupted', ended_at = ?, "
        "error = 'the server stopped during this run (crash or kill); its committed rows are kept' "
        "WHERE status = 'running' RETURNING run_id",
        [naive_utc(now, "now")],
    ).fetchall()
    return len(rows)


def list_runs(
    con: duckdb.DuckDBPyConnection, job: str | None, *, status: str | None, limit: int
) -> list[JobRun]:
    if limit < 0:
        raise QueryError(f"limit={limit} must be 0 or more")
    if status is not None and status not in JOB_STATUSES:
        raise QueryError(f"status={status!r} is not one of {', '.join(JOB_STATUSES)}")
    where, params = [], []
    if job is not None:
        where.append("job = ?")
        params.append(job)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    cond = f"WHERE {' AND '.join(where)}" if where else ""
    rows = con.execute(
        f"SELECT {_RUN_COLUMNS} FROM job_runs {cond} ORDER BY started_at DESC, run_id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [_run(r) for r in rows]


def latest_runs(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[JobRun, JobRun | None, int]]:
    """Per job: its newest run, its newest successful run, and how many runs in a row failed
    (counted back from the newest; `interrupted` counts as failed, `partial` does not)."""
    rows = con.execute(
        f"""WITH ranked AS (
              SELECT {_RUN_COLUMNS}, row_number() OVER (PARTITION BY job ORDER BY started_at DESC, run_id DESC) AS n
              FROM job_runs)
            SELECT {_RUN_COLUMNS}, n FROM ranked ORDER BY job, n"""
    ).fetchall()
    out: dict[str, tuple[JobRun, JobRun | None, int]] = {}
    streak_open: dict[str, bool] = {}
    for r in rows:
        run = _run(r[:-1])
        if run.job not in out:
            out[run.job] = (run, None, 0)
            streak_open[run.job] = True
        newest, ok, streak = out[run.job]
        if run.status == "running":
            continue
        if run.status in ("failed", "interrupted"):
            if streak_open[run.job]:
                streak += 1
        else:
            streak_open[run.job] = False
            if ok is None:
                ok = run
        out[run.job] = (newest, ok, streak)
    return out


def prune_runs(con: duckdb.DuckDBPyConnection, keep_per_job: int) -> int:
    """Delete all but the newest `keep_per_job` finished runs of each job."""
    rows = con.execute(
        """DELETE FROM job_runs WHERE run_id IN (
             SELECT run_id FROM (
               SELECT run_id, row_number() OVER (PARTITION BY job ORDER BY started_at DESC, run_id DESC) AS n
               FROM job_runs WHERE status <> 'running')
             WHERE n > ?) RETURNING run_id""",
        [keep_per_job],
    ).fetchall()
    return len(rows)


def save_marks(con: duckdb.DuckDBPyConnection, marks: Sequence[SourceMark]) -> int:
    if not marks:
        return 0
    con.executemany(
        "INSERT OR REPLACE INTO source_state (source, key, watermark, last_success_at, detail) VALUES (?, ?, ?, ?, ?)",
        [
            [
                m.source,
                m.key,
                None if m.watermark is None else naive_utc(m.watermark, f"watermark of {m.source}/{m.key}"),
                None if m.last_success_at is None else naive_utc(m.last_success_at, "last_success_at"),
                orjson.dumps(dict(m.detail), default=str, option=orjson.OPT_NON_STR_KEYS).decode(),
            ]
            for m in marks
        ],
    )
    return len(marks)


def list_marks(con: duckdb.DuckDBPyConnection, source: str | None) -> list[SourceMark]:
    cond, params = ("WHERE source = ?", [source]) if source is not None else ("", [])
    rows = con.execute(
        f"SELECT source, key, watermark, last_success_at, detail FROM source_state {cond} ORDER BY source, key",
        params,
    ).fetchall()
    return [
        SourceMark(
            source=str(r[0]),
            key=str(r[1]),
            watermark=aware_utc(r[2]),
            last_success_at=aware_utc(r[3]),
            detail=dict(orjson.loads(r[4] or "{}")),
        )
        for r in rows
    ]
