"""The `[[sources]]` as scheduled jobs: one `source:<name>` job per enabled source.

A subscriber (MQTT) connects when its job is made and listens all the time; its scheduled run
reports what arrived since the last one. A poller fetches on each run. Either way each run's
SourceReport (rows, rejects, failures, duration) lands in the job history, and a source whose
runs fail `failure_alert_after` times in a row is reported as failing: an error in the log and
`failing: true` in GET /api/v1/sources until a run succeeds. The alert is not raised from here:
the alert engine's source rules (`source-failing`, alerts/source_failures.py) read the same
streak from the job history at each scheduled evaluation, so it survives restarts and needs no
call from the runner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gridpulse import metrics
from gridpulse.config import Settings
from gridpulse.errors import GridpulseError
from gridpulse.ingest.writer import Writer
from gridpulse.jobs.periodic import Periodic
from gridpulse.sources import Source, SourceContext, SourceReport, SourceSpec, build_source, parse_sources
from gridpulse.store.base import Store

__all__ = ["SourceRunner", "ingest_route", "make_source_jobs", "source_health"]

log = logging.getLogger(__name__)

#: The ingest metrics' route label of a source type: subscribers that push have their own.
_ROUTE_OF_TYPE = {"mqtt": "mqtt"}


def ingest_route(spec: SourceSpec) -> str:
    """The `route` label of the ingest metrics for what `spec`'s source writes: mqtt or source."""
    return _ROUTE_OF_TYPE.get(spec.type, "source")


@dataclass
class SourceRunner:
    """One configured source and what its runs need."""

    spec: SourceSpec
    source: Source
    ctx: SourceContext
    alert_after: int
    streak: int = 0
    failing: bool = False
    started: bool = False
    start_error: str | None = None
    reports: list[SourceReport] = field(default_factory=list)

    def start(self) -> None:
        try:
            self.source.start(self.ctx)
            self.started = True
        except GridpulseError as exc:
            self.start_error = str(exc)
            log.error("%s could not start: %s", self.spec.where, exc)

    def run(self) -> SourceReport:
        """One run; the streak of failed runs decides `failing`."""
        if self.start_error and not self.started:
            report = SourceReport(fatal=True)
            report.fail(f"the source could not start: {self.start_error}")
        else:
            report = self.source.run(self.ctx)
        self._count(report)
        if report.status == "failed":
            self.streak += 1
            if self.streak >= self.alert_after and not self.failing:
                self.failing = True
                message = report.error or "failed"
                log.error("%s has failed %d runs in a row: %s", self.spec.job, self.streak, message)
        else:
            if self.failing:
                log.info("%s works again after %d failed runs", self.spec.job, self.streak)
            self.streak = 0
            self.failing = False
        metrics.SOURCE_FAILED_RUNS_IN_A_ROW.labels(self.spec.name).set(self.streak)
        return report

    def _count(self, report: SourceReport) -> None:
        """The run's numbers into the Prometheus metrics, with each key's newest reading."""
        name = self.spec.name
        metrics.SOURCE_ROWS.labels(name).inc(report.rows)
        metrics.SOURCE_REJECTS.labels(name).inc(report.rejects)
        if report.rejects:
            metrics.INGEST_REJECTS.labels(ingest_route(self.spec)).inc(report.rejects)
        metrics.SOURCE_FAILURES.labels(name).inc(report.failures)
        try:
            for m in self.ctx.store.source_marks(name):
                if m.watermark is not None and not m.key.startswith("_"):
                    metrics.SOURCE_SERIES_NEWEST.labels(name, m.key).set(m.watermark.timestamp())
        except GridpulseError as exc:
            log.warning("reading the watermarks of %s for the metrics: %s", self.spec.job, exc)

    def stop(self) -> None:
        self.ctx.stop.set()
        try:
            self.source.close()
        except Exception:
            log.exception("closing %s", self.spec.where)


def make_source_jobs(
    settings: Settings,
    store: Store,
    writer: Writer,
    *,
    first_delay_s: float = 1.0,
    start: bool = True,
) -> tuple[dict[str, Periodic], dict[str, SourceRunner]]:
    """A job (not yet started) and a runner per enabled `[[sources]]` table.

    Subscribers connect here (with `start`; without, a subscriber's run says it listens only
    inside the server). Failure streaks continue from the job history, so a source that
    was failing before a restart is still failing after it.

    Raises:
        ConfigError: a source table is bad (names the table and key).
    """
    jobs: dict[str, Periodic] = {}
    runners: dict[str, SourceRunner] = {}
    specs = [s for s in parse_sources(settings.sources) if s.enabled]
    if not specs:
        return jobs, runners
    latest = store.latest_job_runs()
    for spec in specs:
        runner = SourceRunner(
            spec,
            build_source(spec),
            # every request the source writes is labelled with it for the ingest metrics
            SourceContext(store, writer.tagged(ingest_route(spec), source=spec.name), settings),
            spec.failure_alert_after or settings.jobs.failure_alert_after,
        )
        if spec.job in latest:
            runner.streak = latest[spec.job][2]
            runner.failing = runner.streak >= runner.alert_after
        if start:
            runner.start()
        jobs[spec.job] = Periodic(
            spec.job, spec.interval_s, runner.run, first_delay_s=first_delay_s, cron=spec.cron, on_stop=runner.stop
        )
        runners[spec.job] = runner
    return jobs, runners


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def source_health(
    store: Store, specs: list[SourceSpec], runners: dict[str, SourceRunner], *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per source: schedule, last run and last success, failure streak, and per key (vendor
    channel or series) its watermark, freshness and last success.

    freshness_s is now minus the newest committed reading of the key. [s]
    """
    now = now or datetime.now(UTC)
    latest = store.latest_job_runs()
    marks_by_source: dict[str, list[Any]] = {}
    for m in store.source_marks():
        marks_by_source.setdefault(m.source, []).append(m)
    out = []
    for spec in specs:
        newest, ok, streak = latest.get(spec.job, (None, None, 0))
        runner = runners.get(spec.job)
        keys = []
        for m in marks_by_source.get(spec.name, []):
            if m.key.startswith("_"):
                continue
            keys.append(
                {
                    "key": m.key,
                    "kind": m.detail.get("kind"),
                    "watermark": _iso(m.watermark),
                    "freshness_s": None if m.watermark is None else round((now - m.watermark).total_seconds(), 3),
                    "last_success_at": _iso(m.last_success_at),
                    "last_error": m.detail.get("last_error"),
                }
            )
        alert_after = runner.alert_after if runner else 0
        out.append(
            {
                "name": spec.name,
                "type": spec.type,
                "job": spec.job,
                "enabled": spec.enabled,
                "interval_s": spec.interval_s or None,
                "cron": spec.cron or None,
                "last_run": newest.as_dict() if newest is not None else None,
                "last_success_at": _iso(ok.ended_at) if ok is not None else None,
                "consecutive_failures": streak,
                "failure_alert_after": alert_after or None,
                "failing": bool(runner.failing) if runner else bool(alert_after and streak >= alert_after),
                "keys": keys,
            }
        )
    return out
