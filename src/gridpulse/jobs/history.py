"""The job history: every run of a scheduled job recorded in the store's `job_runs` table.

A run is recorded when it starts (status `running`) and completed when it ends, so a run that a
crash cut short stays visible; at the next start-up such runs become `interrupted`. What a job
function returns becomes the run's numbers: an int is its row count; a report (a dataclass, an
object with `as_dict`, or a dict) gives `rows`, `rejects` (or `rejected`), `failures`, `status`
and `error` when it has them, and is kept whole as the run's detail.

Recording never stops a job: a store that cannot take the record is logged and the job goes on.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from gridpulse.errors import GridpulseError
from gridpulse.store.base import JOB_STATUSES, JobRun, Store

__all__ = ["DEFAULT_KEEP_RUNS", "JobHistory", "outcome"]

log = logging.getLogger(__name__)

#: Finished runs kept per job; older ones are deleted as new ones finish. [runs]
DEFAULT_KEEP_RUNS = 1000
_MAX_ERROR_CHARS = 2000
_MAX_DETAIL_BYTES = 64 * 1024


def _as_mapping(result: Any) -> Mapping[str, Any] | None:
    if isinstance(result, Mapping):
        return result
    if hasattr(result, "as_dict") and callable(result.as_dict):
        found = result.as_dict()
        return found if isinstance(found, Mapping) else None
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return None


def _count(found: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = found.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def outcome(
    job: str, cause: str, started_at: datetime, ended_at: datetime, result: Any, exc: BaseException | None
) -> JobRun:
    """The JobRun a finished call makes: failed with the error when it raised, otherwise the
    status and counts its result reports (ok when it says nothing)."""
    if exc is not None:
        return JobRun(
            job, cause, started_at, "failed", ended_at=ended_at, error=(str(exc) or type(exc).__name__)[:_MAX_ERROR_CHARS]
        )
    if isinstance(result, int) and not isinstance(result, bool):
        return JobRun(job, cause, started_at, "ok", ended_at=ended_at, rows=result)
    found = _as_mapping(result)
    if found is None:
        return JobRun(job, cause, started_at, "ok", ended_at=ended_at)
    status = found.get("status")
    error = found.get("error")
    return JobRun(
        job,
        cause,
        started_at,
        status if status in JOB_STATUSES and status != "running" else "ok",
        ended_at=ended_at,
        rows=_count(found, "rows", "points"),
        rejects=_count(found, "rejects", "rejected", "rejected_count"),
        failures=_count(found, "failures"),
        error=str(error)[:_MAX_ERROR_CHARS] if error else None,
        detail=_bounded(found),
    )


def _bounded(found: Mapping[str, Any]) -> Mapping[str, Any]:
    """The report as the run's detail; one larger than _MAX_DETAIL_BYTES as JSON (a forecast of
    thousands of series) keeps only its scalar entries, so the history stays small."""
    try:
        size = len(orjson.dumps(found, default=str, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        size = _MAX_DETAIL_BYTES + 1
    if size <= _MAX_DETAIL_BYTES:
        return found
    scalars = {k: v for k, v in found.items() if isinstance(v, (int, float, str, bool)) or v is None}
    return {**scalars, "detail_truncated_bytes": size}


class JobHistory:
    """Records runs in a store; every method logs store errors instead of raising them."""

    def __init__(self, store: Store, *, keep_per_job: int = DEFAULT_KEEP_RUNS) -> None:
        self.store = store
        self.keep_per_job = keep_per_job

    def started(self, job: str, cause: str, at: datetime) -> int | None:
        """Record a start; returns the run's id, None when the store could not record it."""
        try:
            return self.store.start_job_run(job, cause, at)
        except GridpulseError as exc:
            log.warning("could not record the start of job %s: %s", job, exc)
            return None

    def finished(self, run_id: int | None, run: JobRun) -> None:
        if run_id is None:
            return
        try:
            self.store.finish_job_run(
                run_id,
                ended_at=run.ended_at or run.started_at,
                status=run.status,
                rows=run.rows,
                rejects=run.rejects,
                failures=run.failures,
                error=run.error,
                detail=run.detail,
                keep_per_job=self.keep_per_job,
            )
        except GridpulseError as exc:
            log.warning("could not record the end of job %s (run %s): %s", run.job, run_id, exc)

    def last_started(self, job: str) -> datetime | None:
        """When the newest recorded run of `job` started (aware UTC), None if it never ran."""
        try:
            runs = self.store.list_job_runs(job, limit=1)
        except GridpulseError as exc:
            log.warning("could not read the history of job %s: %s", job, exc)
            return None
        return runs[0].started_at if runs else None

    def interrupt_stale(self, now: datetime) -> int:
        """Mark runs a previous process left `running` as interrupted (call once at start-up)."""
        try:
            found = self.store.interrupt_job_runs(now)
        except GridpulseError as exc:
            log.warning("could not mark interrupted job runs: %s", exc)
            return 0
        if found:
            log.warning("%d job run(s) were cut short when the server last stopped; marked interrupted", found)
        return found
