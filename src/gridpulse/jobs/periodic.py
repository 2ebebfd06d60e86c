"""A function run every N seconds, or on a crontab schedule, on a daemon thread while the server runs.

Errors are logged and counted, never fatal: the next run tries again. Runs of one job never
overlap: the scheduled loop and `run_now` (a run asked for through the API or CLI) share one lock,
and a scheduled time that comes while a run is still going is skipped, not queued (as
APScheduler's max_instances=1). `stop` waits for a run in progress to finish, so shutdown never
cuts a refresh or an expiry in half (each is one transaction anyway); `on_stop` lets a long run
(a poller walking a vendor's channels) know it should end early, between channels.

With a history attached (`attach`), every run is recorded in the store's job_runs table, and a
cron job whose time passed while the server was down runs once right away when that time is
within `misfire_grace_s` (missed times further back are skipped, and several missed times run
once: coalesced, as APScheduler's defaults do).

A job may be held back (`hold`): while the predicate says so, a scheduled run waits, re-checking
every HOLD_POLL_S, for at most `max_hold_s` past its time, then runs anyway. The rollup refresh
waits this way while a bulk load commits rows fast: both want the same cores, and the refresh
would redo buckets the load is still filling. Runs asked for by hand are never held.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from gridpulse import metrics
from gridpulse.errors import GridpulseError
from gridpulse.jobs.history import JobHistory, outcome
from gridpulse.store.base import JobRun

__all__ = ["HOLD_POLL_S", "JobBusy", "Periodic"]

log = logging.getLogger(__name__)

#: How often a held run asks again whether it may go. [s]
HOLD_POLL_S = 0.25


class JobBusy(GridpulseError):
    """A run of this job is already going; runs of one job never overlap."""


class Periodic:
    """Calls `fn()` every `interval_s` seconds (first run after `first_delay_s`) until stopped;
    with `cron` (crontab text, UTC) at each time the schedule names instead. A run that outlasts
    its interval delays the next; runs of one Periodic never overlap."""

    def __init__(
        self,
        name: str,
        interval_s: float,
        fn: Callable[[], Any],
        *,
        first_delay_s: float = 0.0,
        cron: str = "",
        on_stop: Callable[[], None] | None = None,
        hold: Callable[[], bool] | None = None,
        max_hold_s: float = 0.0,
    ) -> None:
        self.name = name
        #: the name runs are recorded under (the key of the server's job table; `attach` sets it)
        self.job = name
        self.interval_s = interval_s
        self.cron = cron
        self._trigger: Any = None
        if cron:
            from apscheduler.triggers.cron import CronTrigger

            self._trigger = CronTrigger.from_crontab(cron, timezone="UTC")
        self.fn = fn
        self.first_delay_s = first_delay_s
        self.on_stop = on_stop
        self.hold = hold
        self.max_hold_s = max_hold_s
        #: scheduled runs that waited for `hold` to clear (or for max_hold_s)
        self.held = 0
        self.runs = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.skipped = 0
        self.last_run_at: datetime | None = None
        self.last_result: Any = None
        self.last_error: str | None = None
        self.last_status: str | None = None
        self.last_run: JobRun | None = None
        self.next_run_at: datetime | None = None
        self.running_since: datetime | None = None
        self.history: JobHistory | None = None
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._wake_cause = "schedule"
        self._thread = threading.Thread(target=self._loop, name=f"gridpulse-{name}", daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Stop scheduling, tell a run in progress to end (on_stop), and wait up to `timeout`
        seconds for it. [s]"""
        self._stop.set()
        self._wake.set()
        if self.on_stop is not None:
            try:
                self.on_stop()
            except Exception:
                log.exception("stopping job %s", self.job)
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("job %s still running after %.0f s; its run will show as interrupted", self.job, timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def attach(self, history: JobHistory, *, job: str | None = None, misfire_grace_s: float = 0.0) -> Periodic:
        """Record every run in `history` under `job` (default: the name); a cron job whose last
        scheduled time passed unrun while the server was down, less than `misfire_grace_s` ago,
        runs once now. [s]"""
        self.history = history
        if job:
            self.job = job
        # the failed series exists at 0 from the start, so a first failure is an increase
        # Prometheus sees (rate() and increase() miss a series that is born at 1)
        metrics.JOB_RUNS.labels(self.job, "failed")
        if self._trigger is not None and misfire_grace_s > 0:
            missed = self.missed_fire_time(history.last_started(self.job), datetime.now(UTC))
            if missed is not None:
                late_s = (datetime.now(UTC) - missed).total_seconds()
                if late_s <= misfire_grace_s:
                    log.info("job %s missed its run at %s while down; running it now", self.job, missed.isoformat())
                    self.trigger("misfire")
                else:
                    log.warning(
                        "job %s missed its run at %s, %.0f s ago (more than the %.0f s grace): skipped",
                        self.job, missed.isoformat(), late_s, misfire_grace_s,
                    )
        return self

    def missed_fire_time(self, last_started: datetime | None, now: datetime) -> datetime | None:
        """The newest time the cron schedule named after `last_started` and up to `now`, or None
        (no schedule, never ran, or nothing missed)."""
        if self._trigger is None or last_started is None:
            return None
        fire = self._trigger.get_next_fire_time(None, last_started + timedelta(seconds=1))
        if fire is None or fire > now:
            return None
        newest: datetime = fire
        while True:  # coalesce: several missed times make one run, dated by the newest
            nxt = self._trigger.get_next_fire_time(newest, newest + timedelta(seconds=1))
            if nxt is None or nxt > now:
                return newest
            newest = nxt

    def trigger(self, cause: str = "manual") -> None:
        """Ask the job's own thread to run now (returns at once; a run in progress is not doubled)."""
        self._wake_cause = cause
        self._wake.set()

    def status(self) -> dict[str, Any]:
        """Counters for /api/v1/status and /api/v1/jobs."""
        return {
            "interval_s": self.interval_s,
            "cron": self.cron or None,
            "next_run_at": self.next_run_at.isoformat() if self.next_run_at else None,
            "runs": self.runs,
            "failures": self.failures,
            "consecutive_failures": self.consecutive_failures,
            "skipped_while_running": self.skipped,
            "held": self.held,
            "running_since": self.running_since.isoformat() if self.running_since else None,
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
            "last_status": self.last_status,
            "last_error": self.last_error,
        }

    # ------------------------------------------------------------------ running
    def run_now(self, cause: str = "manual") -> JobRun:
        """Run the job on the calling thread now and return how it went.

        Raises:
            JobBusy: a run of this job is going (scheduled or asked for); nothing was started.
        """
        if not self._run_lock.acquire(blocking=False):
            since = self.running_since.isoformat() if self.running_since else "just now"
            raise JobBusy(f"job {self.job} is running (since {since}); wait for it to end and ask again")
        try:
            return self._execute(cause)
        finally:
            self._run_lock.release()

    def _execute(self, cause: str) -> JobRun:
        """One run, recorded; the caller holds the run lock."""
        started_at = datetime.now(UTC)
        self.running_since = started_at
        run_id = self.history.started(self.job, cause, started_at) if self.history else None
        result: Any = None
        error: BaseException | None = None
        try:
            result = self.fn()
        except Exception as exc:
            error = exc
            log.exception("%s failed; trying again at its next scheduled time", self.job)
        ended_at = datetime.now(UTC)
        run = outcome(self.job, cause, started_at, ended_at, result, error)
        if run_id is not None:
            run = dataclasses.replace(run, run_id=run_id)
        if self.history is not None:
            self.history.finished(run_id, run)
        self.runs += 1
        self.last_result = result
        self.last_run = run
        self.last_status = run.status
        self.last_error = run.error
        self.last_run_at = ended_at
        self.running_since = None
        if run.status in ("failed", "interrupted"):
            self.failures += 1
            self.consecutive_failures += 1
        else:
            self.consecutive_failures = 0
            metrics.JOB_LAST_SUCCESS.labels(self.job).set(ended_at.timestamp())
        metrics.JOB_RUNS.labels(self.job, run.status).inc()
        metrics.JOB_RUN_SECONDS.labels(self.job).observe(run.duration_s or 0.0)
        return run

    def _delay_s(self, started: float) -> float:
        """Seconds until the next run: the interval's rest, or until the cron schedule's next time."""
        now = datetime.now(UTC)
        if self._trigger is not None:
            self.next_run_at = self._trigger.get_next_fire_time(None, now)
            return max(0.0, (self.next_run_at - now).total_seconds()) if self.next_run_at else float("inf")
        delay = max(0.0, self.interval_s - (time.monotonic() - started))
        self.next_run_at = now + timedelta(seconds=delay)
        return delay

    def _held(self) -> bool:
        """Wait while `hold()` says so, at most max_hold_s; True when a stop or a run asked for
        by hand ended the wait early."""
        if self.hold is None or self.max_hold_s <= 0 or not self._asks_hold():
            return False
        self.held += 1
        metrics.JOB_HELD_RUNS.labels(self.job).inc()
        metrics.JOB_HOLDING.labels(self.job).set(1)
        log.debug("job %s held back (hold predicate true); at most %.0f s", self.job, self.max_hold_s)
        deadline = time.monotonic() + self.max_hold_s
        try:
            while time.monotonic() < deadline:
                if self._wake.wait(min(HOLD_POLL_S, max(deadline - time.monotonic(), 0.0))):
                    return True
                if not self._asks_hold():
                    break
            return False
        finally:
            metrics.JOB_HOLDING.labels(self.job).set(0)

    def _asks_hold(self) -> bool:
        assert self.hold is not None
        try:
            return bool(self.hold())
        except Exception:  # a broken predicate must not stop the job
            log.exception("job %s: hold predicate failed; running", self.job)
            return False

    def _loop(self) -> None:
        delay = self._delay_s(time.monotonic()) if self._trigger is not None else self.first_delay_s
        if self._trigger is None:
            self.next_run_at = datetime.now(UTC) + timedelta(seconds=delay)
        while True:
            # wait() on a timeout longer than threading's limit fails; a cron far away is re-checked daily
            self._wake.wait(min(delay, 86_400.0))
            if self._stop.is_set():
                return
            cause = "schedule"
            if self._wake.is_set():
                self._wake.clear()
                cause = self._wake_cause
            elif self._trigger is not None and self.next_run_at and datetime.now(UTC) < self.next_run_at:
                delay = self._delay_s(time.monotonic())  # a long wait woke early: not yet time
                continue
            if cause == "schedule" and self._held():
                if self._stop.is_set():
                    return
                self._wake.clear()
                cause = self._wake_cause
            started = time.monotonic()
            if self._run_lock.acquire(blocking=False):
                try:
                    self._execute(cause)
                finally:
                    self._run_lock.release()
            else:
                self.skipped += 1
                log.info("job %s is still running (asked for by hand); its scheduled run is skipped", self.job)
            delay = self._delay_s(started)
