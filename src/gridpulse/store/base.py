"""The Store protocol every backend implements, and the value types it speaks.

The rest of gridpulse talks to storage only through `Store`. Each backend owns its SQL under
`gridpulse.store.<backend>`. Writes come from one writer thread (`gridpulse.ingest.writer`);
reads may come from any thread and never block the writer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import pyarrow as pa

from gridpulse.model import (
    Anomaly,
    AnomalyStatus,
    ForecastCheck,
    ForecastRun,
    Series,
    SeriesKey,
    SeriesMeta,
    Severity,
    ValidationResult,
    WriteResult,
)
from gridpulse.store.groups import SeriesGroup
from gridpulse.store.retention import ExpiryPlan, ExpiryReport

__all__ = [
    "ALERT_STATES",
    "JOB_STATUSES",
    "OPEN_ALERT_STATES",
    "REFERENCE_KINDS",
    "Agg",
    "AlertRecord",
    "JobRun",
    "ReadingsQuery",
    "Resolution",
    "SeriesFilter",
    "SilenceRecord",
    "SourceMark",
    "Store",
    "StoreOptions",
    "WriteRequest",
]


class Resolution(enum.StrEnum):
    """Bucket widths a query can ask for. day, week and month are local to the query's zone."""

    RAW = "raw"
    MIN15 = "15min"
    MIN30 = "30min"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Agg(enum.StrEnum):
    """How the points of one bucket become one value."""

    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    FIRST = "first"
    LAST = "last"
    COUNT = "count"


@dataclass(frozen=True)
class SeriesFilter:
    """Which series: every given field must match; tags must all be present with those values."""

    entity_kind: str | None = None
    entity_id: str | None = None
    metric: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    series_ids: Sequence[int] | None = None


@dataclass(frozen=True)
class ReadingsQuery:
    """One series over [start, end), bucketed and aggregated, optionally as known at `as_of`.

    Attributes:
        series_id: the series to read.
        start, end: aware instants; end is exclusive. None means unbounded.
        resolution: bucket width; RAW returns every stored point.
        agg: aggregate per bucket (ignored for RAW).
        tz: IANA zone for local buckets (day, week, month; and hours in half-hour zones).
        as_of: aware instant; read what the store knew then. None reads the latest versions.
    """

    series_id: int
    start: datetime | None = None
    end: datetime | None = None
    resolution: Resolution = Resolution.RAW
    agg: Agg = Agg.AVG
    tz: str = "UTC"
    as_of: datetime | None = None


@dataclass
class WriteRequest:
    """One client write: its Arrow batches (KEYED_BATCH_SCHEMA or ENCODED_KEYED_BATCH_SCHEMA) and
    the metadata of new series.

    `batches` may be a generator reading a spill file; it is consumed once, inside the
    transaction that commits it. `rows`, when known, lets the writer size its commit groups.
    `route`, `source` and `received_at` only label the ingest metrics the writer keeps
    (gridpulse.metrics.INGEST_ROUTES; the configured source's name or ""; `time.monotonic()`
    when the rows were received, None: when they were submitted).
    """

    batches: Iterable[pa.Table]
    meta_for: Callable[[SeriesKey], SeriesMeta]
    rows: int | None = None
    route: str = "api"
    source: str = ""
    received_at: float | None = None


@dataclass(frozen=True)
class StoreOptions:
    """Tuning every backend receives; each uses what applies to it.

    Attributes:
        memory_limit: engine memory cap, e.g. "4GB"; empty for the engine's default.
        max_transaction_rows: rows one transaction may hold before the writer commits and goes on
            in a new one; bounds memory on very large requests (validated whole beforehand).
        read_only: open for reading only (the CLI while no server runs).
        keep_freed_mb: freed memory the process keeps for reuse (gridpulse.allocator), set
            process-wide when a store opens; 0 leaves the C library's defaults. [MiB]
    """

    memory_limit: str = ""
    max_transaction_rows: int = 1_000_000
    read_only: bool = False
    keep_freed_mb: int = 256


#: Reference tables and their id column.
REFERENCE_KINDS: dict[str, str] = {
    "organisations": "organisation_id",
    "sites": "site_id",
    "devices": "device_id",
    "channels": "channel_id",
    "meters": "meter_id",
    "plants": "plant_id",
    "feeders": "feeder_id",
    "meter_feeder_map": "meter_id",
}


#: Where an alert stands: firing (notified), acknowledged (someone is on it), silenced (firing,
#: but a silence held back its notifications), resolved (the condition cleared; history).
ALERT_STATES = ("firing", "acknowledged", "silenced", "resolved")
#: the states of an alert whose condition still holds
OPEN_ALERT_STATES = ("firing", "acknowledged", "silenced")


@dataclass(frozen=True)
class AlertRecord:
    """One alert: a rule's group of series from firing to resolved (gridpulse.alerts).

    Attributes:
        rule: the rule's name.
        kind: the rule's kind (threshold, rate, nodata, anomaly, validation).
        group_key: the group's labels as text, e.g. "site_id=ams" ("" for one group per rule).
        state: one of ALERT_STATES.
        severity: the rule's severity (info, warning, critical).
        started_at: aware UTC instant the alert fired.
        series: names (`kind:entity/metric`) of the series that met the condition while it was open.
        summary: the condition in words.
        labels: rule, group labels and severity, as sent to Alertmanager.
        value: the reading that fired it (its unit: the series'), None when none (no data).
        value_ts: aware UTC instant of that reading.
        resolved_at, updated_at, acknowledged_at: aware UTC instants (None when not yet).
        acknowledged_by: who acknowledged it.
        silence_id: the silence that held back its notifications.
        notifications_sent: deliveries that succeeded (firing and resolved, every target).
        alert_id: assigned by the store; None before it is stored.
    """

    rule: str
    kind: str
    group_key: str
    state: str
    severity: str
    started_at: datetime
    series: tuple[str, ...] = ()
    summary: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float | None = None
    value_ts: datetime | None = None
    resolved_at: datetime | None = None
    updated_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    silence_id: int | None = None
    notifications_sent: int = 0
    alert_id: int | None = None


@dataclass(frozen=True)
class SilenceRecord:
    """A silence: alerts of matching rules and series notify nobody from starts_at until `until`.

    Attributes:
        rule: glob on rule names ("" matches every rule).
        series: glob on series names such as `device:b-*/StateOfChargePercentage` ("" matches all).
        starts_at, until: aware UTC instants; until is exclusive.
        created_by, comment: who made it and why.
        created_at: aware UTC instant (set by the store when None).
        silence_id: assigned by the store; None before it is stored.
    """

    rule: str
    series: str
    starts_at: datetime
    until: datetime
    created_by: str = ""
    comment: str = ""
    created_at: datetime | None = None
    silence_id: int | None = None


#: a job run's status: running (not ended yet), ok, partial (some parts failed, the rest is
#: committed), failed, interrupted (the server stopped or crashed during it)
JOB_STATUSES = ("running", "ok", "partial", "failed", "interrupted")


@dataclass(frozen=True)
class JobRun:
    """One run of a scheduled job (gridpulse.jobs), as the job history keeps it.

    Attributes:
        job: the job's name (`rollups`, `source:eniscope`, ...).
        cause: what started it: schedule, manual, misfire (a cron time missed while down).
        started_at, ended_at: aware UTC instants; ended_at None while running.
        status: one of JOB_STATUSES.
        rows: rows (points) the run wrote or handled, when the job reports a count. [rows]
        rejects: rows it rejected as invalid. [rows]
        failures: parts that failed while the rest went on (vendor channels, files). [count]
        error: what went wrong, for failed, partial and interrupted runs.
        detail: the job's own report (per-channel counts, files moved...).
        run_id: assigned by the store.
    """

    job: str
    cause: str
    started_at: datetime
    status: str
    ended_at: datetime | None = None
    rows: int | None = None
    rejects: int | None = None
    failures: int | None = None
    error: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    run_id: int | None = None

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end, None while running. [s]"""
        return None if self.ended_at is None else (self.ended_at - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "job": self.job,
            "cause": self.cause,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration_s": self.duration_s,
            "status": self.status,
            "rows": self.rows,
            "rejects": self.rejects,
            "failures": self.failures,
            "error": self.error,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True)
class SourceMark:
    """Where a source stands for one key: a vendor channel, or a series it writes.

    Attributes:
        source: the source's name from `[[sources]]`.
        key: the channel id, or the series name (`kind:entity/metric`).
        watermark: aware UTC instant of the newest reading committed for the key; the next run
            asks from there (less the overlap). None: nothing committed yet.
        last_success_at: aware UTC instant the key was last fetched without error.
        detail: what else the source keeps (last error of the key, its rows last run...).
    """

    source: str
    key: str
    watermark: datetime | None = None
    last_success_at: datetime | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


class Store(Protocol):
    """What gridpulse needs from a storage backend."""

    url: str

    def close(self) -> None:
        """Flush and release the store (checkpoint, close connections)."""

    # --- writing (called from the single writer thread) ---
    def write_group(self, requests: Iterable[WriteRequest]) -> list[WriteResult]:
        """Commit several requests in one transaction and return one result per request.

        `requests` may still be arriving (a generator): each is written as it comes, the commit
        follows the last.

        Raises:
            StoreError: the transaction failed; nothing of any request is stored.
        """

    def upsert_reference(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert or replace reference rows of `kind` (see REFERENCE_KINDS) by id; returns rows written."""

    def set_meta(self, key: str, value: str) -> None:
        """Store a small key/value fact about the store (e.g. that demo data was loaded)."""

    def write_forecast(self, run: ForecastRun, values: pa.Table) -> ForecastRun:
        """Store one forecast run and its steps in one transaction; returns the run as stored, with
        forecast_id and created_at (now, UTC, when None) filled in and its instants aware UTC.

        `values` has FORECAST_VALUES_SCHEMA's columns (others are ignored): one row per step,
        run.steps of them, ts strictly increasing. Timestamps in another unit or zone and
        narrower numbers are converted.

        Raises:
            StoreError: the store is read-only, a column is missing or of the wrong type, the row
                count is not run.steps, ts is not strictly increasing, or the write failed;
                nothing is stored.
        """

    # --- reading (any thread) ---
    def get_meta(self, key: str) -> str | None:
        """The value stored by set_meta, or None."""

    def list_series(self, flt: SeriesFilter | None = None) -> list[Series]:
        """Series matching the filter, ordered by entity kind, entity id and metric."""

    def series_group(self, flt: SeriesFilter | None = None) -> SeriesGroup:
        """`list_series` as a SeriesGroup, whose facts (ids, units, zones, intervals) a read
        plans by: for a group filter the same object until a series is added or changed."""

    def read(self, query: ReadingsQuery, *, explain: list[tuple[str, list[Any]]] | None = None) -> pa.Table:
        """Points or buckets of one series: columns ts (UTC), value, and for RAW quality and version;
        buckets also count (values in the bucket), nulls (null values left out) and estimated
        (non-null values that are estimates, quality 1: a part of count), and MIN and MAX buckets
        `at` (when the extreme first happened) and `at_estimated` (whether the value there is an
        estimate). With `explain`, the SQL and its parameters are appended to it."""

    def read_frame(
        self,
        series_ids: Sequence[int],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        resolution: Resolution = Resolution.RAW,
        agg: Agg = Agg.AVG,
        tz: str = "UTC",
        explain: list[tuple[str, list[Any]]] | None = None,
    ) -> pa.Table:
        """Points or buckets of several series over [start, end) as one long frame, the shape
        analytics take: series_id, ts (UTC), value, and quality (RAW) or count, nulls and estimated
        (buckets: values, null values and estimated non-null values in each); MIN and MAX buckets
        also have `at`, when the extreme first happened (UTC), and `at_estimated`, whether the
        value there is an estimate. Ordered by series and time. Buckets follow local wall time
        in `tz` as `read` does."""

    def read_totals(
        self,
        series_ids: Sequence[int],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        resolution: Resolution = Resolution.RAW,
        agg: Agg = Agg.SUM,
        tz: str = "UTC",
        groups: Mapping[int, int] | None = None,
        explain: list[tuple[str, list[Any]]] | None = None,
    ) -> pa.Table:
        """Sums over groups of series, computed by the store: per group and bucket, the sum of
        each series' `agg` bucket as `read_frame` would give it (a fleet's or site's hourly kWh);
        with RAW, the sum of the series' values at each instant.

        Columns: group (int32; 0 when `groups` is None), ts (UTC), value (None when no series
        had a value), count (values behind it), series (series with a value), nulls (null
        values left out), estimated (non-null values that are estimates). Ordered by group and time.

        Args:
            groups: series id -> group number; series not in it are left out. None: one group 0.
        """

    def latest(self, series_ids: Sequence[int] | None = None) -> pa.Table:
        """The newest point per series: series_id, ts (UTC), value, quality, inserted_at."""

    def read_forecast(
        self,
        series_id: int,
        *,
        model: str | None = None,
        as_of: datetime | None = None,
        forecast_id: int | None = None,
    ) -> tuple[ForecastRun, pa.Table] | None:
        """The newest stored forecast of the series (largest created_at, then largest forecast_id)
        and its steps ordered by ts, in FORECAST_VALUES_SCHEMA; None when there is none.

        Args:
            model: only runs of this model.
            as_of: aware instant; only runs created at or before it (the forecast current then).
            forecast_id: exactly this run (None if it is of another series or filtered out).

        Raises:
            QueryError: as_of is naive.
        """

    def list_forecasts(
        self, series_ids: Sequence[int] | None = None, *, model: str | None = None, limit: int = 100
    ) -> list[ForecastRun]:
        """Stored forecast runs of the series (all when None), optionally of one model, newest
        first (created_at, then forecast_id), at most `limit` of them; instants aware UTC.

        Raises:
            QueryError: limit is negative.
        """

    def newest_forecasts(
        self, series_ids: Sequence[int] | None = None, *, model: str | None = None
    ) -> list[ForecastRun]:
        """The newest stored run (created_at, then forecast_id) of each series that has one, of
        the given series (all when None), optionally of one model; ordered by series id."""

    def read_current_forecast(
        self,
        series_id: int,
        *,
        start: datetime,
        end: datetime,
        model: str | None = None,
        step_s: int | None = None,
    ) -> pa.Table:
        """Each stored forecast step of the series in [start, end) from the run that was current
        for it: of the runs with a step there (of `model`, of steps of `step_s` seconds, when
        given), the latest origin, then the newest run. Columns ts, forecast_id, origin (UTC),
        mean, lo80, hi80, lo95, hi95; ordered by ts; empty when no run covers the range.

        Raises:
            QueryError: start or end is naive.
        """

    def write_forecast_checks(self, checks: Sequence[ForecastCheck], *, keep_since: datetime | None = None) -> int:
        """Store one monitoring run's checks in one transaction, deleting the checks made before
        `keep_since` (None: none) in it; returns the checks stored.

        Raises:
            StoreError: the store is read-only, an instant is naive or a detail is not JSON.
        """

    def list_forecast_checks(
        self,
        series_ids: Sequence[int] | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        newest: bool = False,
    ) -> list[ForecastCheck]:
        """Stored monitoring checks of the series (all when None) made in [since, until], ordered
        by series and checked_at; with `newest`, only each series' newest of them.

        Raises:
            QueryError: a naive instant.
        """

    def read_superseded(
        self, series_ids: Sequence[int], *, start: datetime | None = None, end: datetime | None = None
    ) -> pa.Table:
        """The superseded versions of points of the series with ts in [start, end): series_id, ts
        (UTC), value, version, quality, superseded_at (UTC), ordered by series, ts and version.
        The current version of each point is what `read_frame` gives."""

    # --- anomalies and validation (gridpulse.anomaly, gridpulse.quality, alert rules) ---
    def write_anomalies(self, anomalies: Sequence[Anomaly]) -> tuple[int, int]:
        """Store detector findings in one transaction; returns (inserted, merged into a stored row).

        A finding overlapping a stored anomaly of the same series, detector and kind updates
        that row (window widened, score and severity replaced) and keeps its status: re-scans
        of the same data add nothing new.

        Raises:
            StoreError: the store is read-only, an instant is naive or a window is empty.
        """

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
        """Stored anomalies matching every filter given, newest window first.

        Args:
            start, end: aware instants; anomalies whose window overlaps [start, end).
            since: aware instant; anomalies detected or updated at or after it (for alert rules:
                what is new since the last evaluation).
            min_severity: this severity or above.
            status: any of these statuses (e.g. [AnomalyStatus.OPEN]).
            detector: "zscore" or "residual".

        Raises:
            QueryError: a naive instant or a negative limit.
        """

    def set_anomaly_status(self, anomaly_id: int, status: AnomalyStatus) -> Anomaly:
        """Set an anomaly's status (open, acknowledged, dismissed); returns it as stored.

        Raises:
            NotFound: no such anomaly.
            StoreError: the store is read-only.
        """

    def write_validation(
        self, series_ids: Sequence[int], first_day: date, last_day: date, results: Sequence[ValidationResult]
    ) -> int:
        """Replace the validation results of the series on local days [first_day, last_day] by
        `results` in one transaction; returns the rows written.

        Raises:
            StoreError: the store is read-only, or a result is outside those series and days.
        """

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
        """Stored validation results, ordered by series, day and rule.

        Args:
            start_day, end_day: local days, both inclusive.
            status: "pass" or "fail" (for alert rules: status="fail").
            since: aware instant; results checked at or after it.

        Raises:
            QueryError: a naive instant, an unknown status or a negative limit.
        """

    def list_reference(self, kind: str) -> list[dict[str, Any]]:
        """All rows of one reference table."""

    def stats(self) -> dict[str, int]:
        """Counts for the overview: series, points, superseded versions, rollup ranges pending."""

    # --- retention ---
    def expire(self, plan: ExpiryPlan, *, dry_run: bool = False) -> ExpiryReport:
        """Delete raw points (and their superseded versions) and rollup rows before the plan's
        cutoffs, in one transaction, after refreshing the rollups; with dry_run only count them.
        Rollups of expired raw points are kept until their own cutoff.

        Raises:
            StoreError: nothing was deleted.
        """

    # --- rollups (any thread; one refresh at a time) ---
    def refresh_rollups(self) -> Any:
        """Recompute the rollup buckets that commits since the last refresh made stale.

        Bucketed reads use the rollups only where nothing is stale, so reads are exact whenever
        this runs; it makes coarse reads fast again. Returns the backend's refresh statistics.
        """

    # --- alerting (gridpulse.alerts; writes take the writer's lock, as forecasts do) ---
    def list_alert_rules(self) -> list[dict[str, Any]]:
        """The alert rules made through the API (each as its JSON spec), ordered by name."""

    def save_alert_rule(self, name: str, spec: Mapping[str, Any]) -> None:
        """Store a rule made through the API.

        Raises:
            QueryError: a rule of that name is stored already (delete it first).
            StoreError: the store is read-only or the write failed.
        """

    def delete_alert_rule(self, name: str) -> bool:
        """Delete a stored rule; returns whether one was there. Its alerts stay as history."""

    def save_alerts(
        self,
        records: Sequence[AlertRecord],
        events: Sequence[Sequence[tuple[str, Mapping[str, Any]]]] = (),
    ) -> list[AlertRecord]:
        """Insert alerts without an alert_id and replace those with one, in one transaction, with
        events[i] (name, detail) appended to the history of records[i] at now; returns the
        records as stored (alert_id and updated_at filled in, instants aware UTC).

        Raises:
            StoreError: the store is read-only, an instant is naive, or the write failed.
        """

    def list_alerts(
        self,
        *,
        states: Sequence[str] | None = None,
        rule: str | None = None,
        alert_id: int | None = None,
        limit: int = 100,
    ) -> list[AlertRecord]:
        """Stored alerts matching every filter given, newest first (started_at, then alert_id).

        Raises:
            QueryError: an unknown state or a negative limit.
        """

    def alert_history(self, alert_id: int) -> list[dict[str, Any]]:
        """The events of one alert in order: at (aware UTC), event, detail (a dict)."""

    def count_alerts(self) -> dict[str, int]:
        """How many stored alerts are in each state: every one of ALERT_STATES, 0 when none."""

    def save_silence(self, silence: SilenceRecord) -> SilenceRecord:
        """Store a silence; returns it with silence_id and created_at filled in.

        Raises:
            StoreError: the store is read-only, an instant is naive, or the write failed.
        """

    def list_silences(self, *, active_at: datetime | None = None) -> list[SilenceRecord]:
        """Stored silences, or only those in force at `active_at` (aware), newest first."""

    def start_job_run(self, job: str, cause: str, started_at: datetime) -> int:
        """Record that a run of `job` started (status running); returns its run_id.

        Raises:
            StoreError: the store is read-only, the instant is naive, or the write failed.
        """

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
        """Complete a started run; with keep_per_job, older finished runs of every job beyond
        that many are deleted in the same transaction.

        Raises:
            QueryError: an unknown status.
            StoreError: no such run, a naive instant, or the write failed.
        """

    def interrupt_job_runs(self, now: datetime) -> int:
        """Mark runs left `running` by a process that is gone as `interrupted`; returns how many."""

    def list_job_runs(
        self, job: str | None = None, *, status: str | None = None, limit: int = 100
    ) -> list[JobRun]:
        """Runs of one job (or all), newest first.

        Raises:
            QueryError: an unknown status or a negative limit.
        """

    def latest_job_runs(self) -> dict[str, tuple[JobRun, JobRun | None, int]]:
        """Per job name: its newest run, its newest run that did not fail, and how many of its
        newest runs failed in a row (failed or interrupted; a partial run ends the streak)."""

    def save_source_marks(self, marks: Sequence[SourceMark]) -> int:
        """Insert or replace source marks by (source, key), in one transaction; returns how many.

        Raises:
            StoreError: the store is read-only, an instant is naive, or the write failed.
        """

    def source_marks(self, source: str | None = None) -> list[SourceMark]:
        """The marks of one source (or all), by source and key."""
