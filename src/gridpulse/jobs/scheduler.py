"""The server's job table: history attached to every job, what GET /api/v1/jobs shows, and the
jobs `gridpulse run-job` can run without a server.

Every scheduled job is a `Periodic` (jobs/periodic.py), keyed by its name in the server's job
table (`rollups`, `retention`, `forecasts`, `alerts`, `source:<name>`...). `attach_history`
records their runs in the store's job_runs table under that name and applies misfire handling.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gridpulse.config import Settings
from gridpulse.errors import NotFound
from gridpulse.ingest.writer import Writer
from gridpulse.jobs.history import JobHistory
from gridpulse.jobs.periodic import Periodic
from gridpulse.store.base import Store

__all__ = ["attach_history", "find_job", "job_table", "local_jobs"]


def attach_history(jobs: Mapping[str, Periodic], store: Store, settings: Settings) -> JobHistory:
    """Record every job's runs under its key; a cron job that missed its time while the server
    was down (within [jobs] misfire_grace_s) runs once now."""
    history = JobHistory(store, keep_per_job=settings.jobs.keep_runs)
    for key, job in jobs.items():
        if job.history is None:
            job.attach(history, job=key, misfire_grace_s=settings.jobs.misfire_grace_s)
    return history


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def job_table(jobs: Mapping[str, Periodic], store: Store) -> list[dict[str, Any]]:
    """One row per job: schedule, next run, the last run (from the history, so it survives
    restarts), its status, and the failure streak. Jobs that ran before but are no longer
    scheduled are listed too, with `scheduled: false`."""
    latest = store.latest_job_runs()
    rows = []
    for name in sorted(set(jobs) | set(latest)):
        job = jobs.get(name)
        newest, ok, streak = latest.get(name, (None, None, 0))
        rows.append(
            {
                "name": name,
                "scheduled": job is not None,
                "interval_s": (job.interval_s or None) if job is not None else None,
                "cron": (job.cron or None) if job is not None else None,
                "next_run_at": _iso(job.next_run_at) if job is not None else None,
                "running_since": _iso(job.running_since) if job is not None else None,
                "last_run": newest.as_dict() if newest is not None else None,
                "last_status": newest.status if newest is not None else None,
                "last_success_at": _iso(ok.ended_at) if ok is not None else None,
                "consecutive_failures": streak,
                "runs_since_start": job.runs if job is not None else 0,
                "skipped_while_running": job.skipped if job is not None else 0,
            }
        )
    return rows


def local_jobs(settings: Settings, store: Store, writer: Writer) -> dict[str, Periodic]:
    """The jobs `gridpulse run-job` runs in process when no server holds the store (not started):
    rollups, retention, forecasts, forecast monitoring and the pollers of `[[sources]]`."""
    from gridpulse.jobs.forecasts import scheduled_forecasts
    from gridpulse.jobs.maintenance import expire_old_data, refresh_rollups
    from gridpulse.jobs.monitoring import scheduled_monitoring
    from gridpulse.jobs.sources import make_source_jobs

    jobs = {
        "rollups": Periodic("rollups", 0, lambda: refresh_rollups(store)),
        "retention": Periodic("retention", 0, lambda: expire_old_data(store, settings)),
        "forecasts": Periodic("forecasts", 0, lambda: scheduled_forecasts(store, settings)),
        "forecast-monitor": Periodic("forecast-monitor", 0, lambda: scheduled_monitoring(store, settings)),
    }
    source_jobs, _ = make_source_jobs(settings, store, writer, start=False)
    jobs.update(source_jobs)
    return jobs


def find_job(jobs: Mapping[str, Periodic], name: str) -> Periodic:
    """The job called `name`.

    Raises:
        NotFound: naming the jobs there are.
    """
    job = jobs.get(name)
    if job is None:
        raise NotFound(f"no job {name!r}; jobs: {', '.join(sorted(jobs)) or 'none'}")
    return job
