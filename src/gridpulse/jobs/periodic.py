"""A function run every N seconds, or on a crontab schedule, on a daemon thread while the server runs.

Errors are logged and counted, never fatal: the next run tries again. `stop` waits for a run in
progress to finish, so shutdown never cuts a refresh or an expiry in half (each is one
transaction anyway).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["Periodic"]

log = logging.getLogger(__name__)


class Periodic:
    """Calls `fn()` every `interval_s` seconds (first run after `first_delay_s`) until stopped;
    with `cron` (crontab text, UTC) at each time the schedule names instead. A run that outlasts
    its interval delays the next; runs of one Periodic never overlap (one thread)."""

    def __init__(
        self,
        name: str,
        interval_s: float,
        fn: Callable[[], Any],
        *,
        first_delay_s: float = 0.0,
        cron: str = "",
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self.cron = cron
        self._trigger: Any = None
        if cron:
            from apscheduler.triggers.cron import CronTrigger

            self._trigger = CronTrigger.from_crontab(cron, timezone="UTC")
        self.fn = fn
        self.first_delay_s = first_delay_s
        self.runs = 0
        self.failures = 0
        self.last_run_at: datetime | None = None
        self.last_result: Any = None
        self.last_error: str | None = None
        self.next_run_at: datetime | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"gridpulse-{name}", daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        """Counters for /api/v1/status."""
        return {
            "interval_s": self.interval_s,
            "cron": self.cron or None,
            "next_run_at": self.next_run_at.isoformat() if self.next_run_at else None,
            "runs": self.runs,
            "failures": self.failures,
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
            "last_error": self.last_error,
        }

    def _delay_s(self, started: float) -> float:
        """Seconds until the next run: the interval's rest, or until the cron schedule's next time."""
        now = datetime.now(UTC)
        if self._trigger is not None:
            self.next_run_at = self._trigger.get_next_fire_time(None, now)
            return max(0.0, (self.next_run_at - now).total_seconds()) if self.next_run_at else float("inf")
        delay = max(0.0, self.interval_s - (time.monotonic() - started))
        self.next_run_at = now + timedelta(seconds=delay)
        return delay

    def _loop(self) -> None:
        first = self._delay_s(time.monotonic()) if self._trigger is not None else self.first_delay_s
        if self._trigger is None:
            self.next_run_at = datetime.now(UTC) + timedelta(seconds=first)
        if self._stop.wait(first):
            return
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.last_result = self.fn()
                self.last_error = None
            except Exception as exc:
                self.failures += 1
                self.last_error = str(exc)
                log.exception("%s failed; trying again in %.0f s", self.name, self.interval_s)
            self.runs += 1
            self.last_run_at = datetime.now(UTC)
            self._stop.wait(self._delay_s(started))
