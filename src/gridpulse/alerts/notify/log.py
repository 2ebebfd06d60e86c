"""`log:`: each event as one line of the `gridpulse.alerts` logger (warning when firing, info when
resolved); `log:error` or another level name logs firing alerts at that level."""

from __future__ import annotations

import logging

import orjson

from gridpulse.alerts.notify.base import AlertEvent, NotifyError, NotifyOptions

__all__ = ["LogNotifier"]

log = logging.getLogger("gridpulse.alerts")


class LogNotifier:
    """Logs each event; never fails."""

    def __init__(self, address: str, options: NotifyOptions) -> None:
        level = logging.getLevelName((address or "warning").upper())
        if not isinstance(level, int):
            raise NotifyError(f"log target level {address!r} is not a logging level such as warning or error")
        self.target = f"log:{address}"
        self.level = level

    def send(self, event: AlertEvent) -> None:
        a = event.alert
        level = self.level if event.status == "firing" else logging.INFO
        log.log(
            level,
            "alert %s %s: %s [%s] value=%s series=%s %s",
            a.alert_id,
            event.status,
            a.rule,
            a.summary,
            a.value,
            ",".join(a.series),
            orjson.dumps(dict(a.labels)).decode(),
        )

    def close(self) -> None:
        return None
