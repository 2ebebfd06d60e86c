"""What a notifier is handed (AlertEvent) and what it is (Notifier), and the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gridpulse.errors import GridpulseError
from gridpulse.store.base import AlertRecord

__all__ = ["AlertEvent", "Notifier", "NotifyError", "NotifyOptions"]


class NotifyError(GridpulseError):
    """A notification could not be delivered (after its retries); says where and why."""


@dataclass(frozen=True)
class NotifyOptions:
    """How deliveries behave.

    Attributes:
        timeout_s: per HTTP attempt. [s]
        attempts: tries per delivery, the first included.
        backoff_s: wait before the second try, doubling after each failure (capped at 30 s). [s]
        alertmanager_url: where `alertmanager:` targets without an address post.
    """

    timeout_s: float = 5.0
    attempts: int = 4
    backoff_s: float = 0.5
    alertmanager_url: str = ""


@dataclass(frozen=True)
class AlertEvent:
    """One thing to tell: an alert fired or resolved.

    Attributes:
        status: "firing" or "resolved".
        alert: the alert as it stands (alert_id set).
        rule: the rule as a dict (Rule.as_dict()).
        at: aware UTC instant the evaluator decided it.
    """

    status: str
    alert: AlertRecord
    rule: dict[str, Any]
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        """The JSON a webhook receives."""
        a = self.alert
        return {
            "status": self.status,
            "alert_id": a.alert_id,
            "rule": a.rule,
            "kind": a.kind,
            "severity": a.severity,
            "summary": a.summary,
            "group": a.group_key,
            "labels": dict(a.labels),
            "series": list(a.series),
            "value": a.value,
            "value_ts": a.value_ts.isoformat() if a.value_ts else None,
            "started_at": a.started_at.isoformat(),
            "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
            "state": a.state,
            "at": self.at.isoformat(),
            "definition": self.rule,
        }


class Notifier(Protocol):
    """A channel: `send` delivers one event or raises NotifyError (retries happen inside)."""

    target: str

    def send(self, event: AlertEvent) -> None:
        """Deliver the event.

        Raises:
            NotifyError: it could not be delivered after the configured attempts.
        """

    def close(self) -> None:
        """Release connections."""
