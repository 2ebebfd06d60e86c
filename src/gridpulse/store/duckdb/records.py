"""Operational records on DuckDB: anomalies and validation results, forecast monitoring checks,
alert rules, alerts and silences, job runs and source watermarks. The methods of DuckDBStore that
keep them, as a mixin so store.py stays about points, rollups and forecasts; the SQL is in
anomalies.py, quality.py, monitoring.py, alerts.py and jobs.py beside it.

Each method is one transaction under the writer's lock (written while ingest runs, as forecasts
are) or one read on its own cursor. A read-only store is not migrated: one older than the tables
answers empty.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from gridpulse.errors import QueryError, StoreError
from gridpulse.model import Anomaly, AnomalyStatus, ForecastCheck, Severity, ValidationResult
from gridpulse.store.base import ALERT_STATES, AlertRecord, JobRun, SilenceRecord, SourceMark
from gridpulse.store.duckdb import alerts as alert_sql
from gridpulse.store.duckdb import anomalies as anomaly_sql
from gridpulse.store.duckdb import jobs as job_sql
from gridpulse.store.duckdb import monitoring as monitoring_sql
from gridpulse.store.duckdb import quality as quality_sql

__all__ = ["RecordKeeping"]


class RecordKeeping:
    """DuckDBStore's anomaly, validation, alert and job-history methods (see the module doc)."""

    # set by DuckDBStore.__init__
    _read_only: bool
    _write_lock: threading.Lock
    _has_quality: bool
    _has_alerts: bool
    _has_jobs: bool
    _has_checks: bool

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        raise NotImplementedError  # DuckDBStore's

    def _write_txn(self, what: str, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        """Run `fn` in one transaction under the writer's lock (these records are written while
        ingest runs, as forecasts are); driver errors become StoreError naming `what`."""
        if self._read_only:
            raise StoreError(f"this store was opened read-only: {what} needs the server or a writable store")
        with self._write_lock:
            con = self._cursor()
            try:
                con.execute("BEGIN")
                out = fn(con)
                con.execute("COMMIT")
                return out
            except BaseException as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if isinstance(exc, duckdb.Error):
                    raise StoreError(f"{what} failed, nothing of it was stored: {exc}") from exc
                raise
            finally:
                con.close()

    def _read_with(
        self,
        what: str,
        fn: Callable[[duckdb.DuckDBPyConnection], Any],
        *,
        available: bool = True,
        empty: Any = None,
    ) -> Any:
        """`fn` on a reader's cursor; `empty` when the store's schema has no such records yet (a
        read-only store is not migrated); driver errors become QueryError naming `what`."""
        if not available:
            return empty
        con = self._cursor()
        try:
            return fn(con)
        except duckdb.Error as exc:
            raise QueryError(f"{what} failed: {exc}") from exc
        finally:
            con.close()

    def write_anomalies(self, anomalies: Sequence[Anomaly]) -> tuple[int, int]:
        now = datetime.now(UTC)
        counts: tuple[int, int] = self._write_txn(
            "storing anomalies", lambda con: anomaly_sql.upsert(con, anomalies, now)
        )
        return counts

    def list_anomalies(
        self,
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
        if not self._has_quality:
            return []
        found: list[Anomaly] = self._read_with(
            "listing anomalies",
            lambda con: anomaly_sql.list_rows(
                con,
                series_ids,
                start=start,
                end=end,
                since=since,
                min_severity=min_severity,
                status=status,
                detector=detector,
                limit=limit,
            ),
        )
        return found

    def set_anomaly_status(self, anomaly_id: int, status: AnomalyStatus) -> Anomaly:
        now = datetime.now(UTC)
        found: Anomaly = self._write_txn(
            f"setting the status of anomaly {anomaly_id}",
            lambda con: anomaly_sql.set_status(con, anomaly_id, status, now),
        )
        return found

    def write_validation(
        self, series_ids: Sequence[int], first_day: date, last_day: date, results: Sequence[ValidationResult]
    ) -> int:
        now = datetime.now(UTC)
        written: int = self._write_txn(
            "storing validation results",
            lambda con: quality_sql.replace_days(con, series_ids, first_day, last_day, results, now),
        )
        return written

    def list_validation(
        self,
        series_ids: Sequence[int] | None = None,
        *,
        start_day: date | None = None,
        end_day: date | None = None,
        rule: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        limit: int = 100_000,
    ) -> list[ValidationResult]:
        if not self._has_quality:
            return []
        found: list[ValidationResult] = self._read_with(
            "listing validation results",
            lambda con: quality_sql.list_rows(
                con,
                series_ids,
                start_day=start_day,
                end_day=end_day,
                rule=rule,
                status=status,
                since=since,
                limit=limit,
            ),
        )
        return found

    # ------------------------------------------------------------------ forecast monitoring
    def write_forecast_checks(self, checks: Sequence[ForecastCheck], *, keep_since: datetime | None = None) -> int:
        written: int = self._write_txn(
            "storing forecast monitoring checks",
            lambda con: monitoring_sql.insert(con, checks, keep_since=keep_since),
        )
        return written

    def list_forecast_checks(
        self,
        series_ids: Sequence[int] | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        newest: bool = False,
    ) -> list[ForecastCheck]:
        found: list[ForecastCheck] = self._read_with(
            "listing forecast monitoring checks",
            lambda con: monitoring_sql.list_rows(con, series_ids, since=since, until=until, newest=newest),
            available=self._has_checks,
            empty=[],
        )
        return found

    # ------------------------------------------------------------------ alerting
    def list_alert_rules(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = self._read_with(
            "listing alert rules", alert_sql.list_rules, available=self._has_alerts, empty=[]
        )
        return rules

    def save_alert_rule(self, name: str, spec: Mapping[str, Any]) -> None:
        now = datetime.now(UTC)
        self._write_txn(
            f"storing alert rule {name!r}", lambda con: alert_sql.insert_rule(con, name, spec, now)
        )

    def delete_alert_rule(self, name: str) -> bool:
        return bool(
            self._write_txn(f"deleting alert rule {name!r}", lambda con: alert_sql.delete_rule(con, name))
        )

    def save_alerts(
        self,
        records: Sequence[AlertRecord],
        events: Sequence[Sequence[tuple[str, Mapping[str, Any]]]] = (),
    ) -> list[AlertRecord]:
        if not records:
            return []
        now = datetime.now(UTC)
        stored: list[AlertRecord] = self._write_txn(
            f"storing {len(records)} alert(s)", lambda con: alert_sql.save_alerts(con, records, events, now)
        )
        return stored

    def list_alerts(
        self,
        *,
        states: Sequence[str] | None = None,
        rule: str | None = None,
        alert_id: int | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        found: list[AlertRecord] = self._read_with(
            "listing alerts",
            lambda con: alert_sql.list_alerts(con, states=states, rule=rule, alert_id=alert_id, limit=limit),
            available=self._has_alerts,
            empty=[],
        )
        return found

    def alert_history(self, alert_id: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._read_with(
            f"reading the history of alert {alert_id}",
            lambda con: alert_sql.history(con, alert_id),
            available=self._has_alerts,
            empty=[],
        )
        return found

    def count_alerts(self) -> dict[str, int]:
        counts: dict[str, int] = self._read_with(
            "counting alerts", alert_sql.count_by_state, available=self._has_alerts, empty={}
        )
        return {state: counts.get(state, 0) for state in ALERT_STATES}

    def save_silence(self, silence: SilenceRecord) -> SilenceRecord:
        now = datetime.now(UTC)
        stored: SilenceRecord = self._write_txn(
            "storing a silence", lambda con: alert_sql.save_silence(con, silence, now)
        )
        return stored

    def list_silences(self, *, active_at: datetime | None = None) -> list[SilenceRecord]:
        found: list[SilenceRecord] = self._read_with(
            "listing silences",
            lambda con: alert_sql.list_silences(con, active_at=active_at),
            available=self._has_alerts,
            empty=[],
        )
        return found

    # ------------------------------------------------------------------ job history, source state
    def start_job_run(self, job: str, cause: str, started_at: datetime) -> int:
        run_id: int = self._write_txn(
            f"recording the start of job {job!r}", lambda con: job_sql.start_run(con, job, cause, started_at)
        )
        return run_id

    def finish_job_run(
        self,
        run_id: int,
        *,
        ended_at: datetime,
        status: str,
        rows: int | None = None,
        rejects: int | None = None,
        failures: int | None = None,
        error: str | None = None,
        detail: Mapping[str, Any] | None = None,
        keep_per_job: int = 0,
    ) -> None:
        def finish(con: duckdb.DuckDBPyConnection) -> None:
            job_sql.finish_run(
                con,
                run_id,
                ended_at=ended_at,
                status=status,
                rows=rows,
                rejects=rejects,
                failures=failures,
                error=error,
                detail=detail or {},
            )
            if keep_per_job:
                job_sql.prune_runs(con, keep_per_job)

        self._write_txn(f"recording the end of job run {run_id}", finish)

    def interrupt_job_runs(self, now: datetime) -> int:
        if self._read_only or not self._has_jobs:
            return 0
        found: int = self._write_txn(
            "marking interrupted job runs", lambda con: job_sql.interrupt_running(con, now)
        )
        return found

    def list_job_runs(
        self, job: str | None = None, *, status: str | None = None, limit: int = 100
    ) -> list[JobRun]:
        if not self._has_jobs:
            return []
        found: list[JobRun] = self._read_with(
            "listing job runs", lambda con: job_sql.list_runs(con, job, status=status, limit=limit)
        )
        return found

    def latest_job_runs(self) -> dict[str, tuple[JobRun, JobRun | None, int]]:
        if not self._has_jobs:
            return {}
        found: dict[str, tuple[JobRun, JobRun | None, int]] = self._read_with(
            "reading the newest job runs", job_sql.latest_runs
        )
        return found

    def save_source_marks(self, marks: Sequence[SourceMark]) -> int:
        if not marks:
            return 0
        saved: int = self._write_txn(
            f"storing {len(marks)} source watermark(s)", lambda con: job_sql.save_marks(con, marks)
        )
        return saved

    def source_marks(self, source: str | None = None) -> list[SourceMark]:
        if not self._has_jobs:
            return []
        found: list[SourceMark] = self._read_with(
            "reading source watermarks", lambda con: job_sql.list_marks(con, source)
        )
        return found
