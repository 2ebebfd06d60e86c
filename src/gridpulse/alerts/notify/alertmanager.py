"""`alertmanager:<url>`: alerts posted to Prometheus Alertmanager's API v2 (`POST /api/v2/alerts`).

Each alert goes as Alertmanager expects it: labels (alertname = the rule, severity, the group's
labels), annotations (summary, value, series), startsAt, and endsAt once resolved. Alertmanager
takes a firing alert without endsAt as open until its resolve_timeout (5 min by default) passes
without it being sent again, so the scheduler re-sends open alerts (AlertEngine.resend_open).
Without an address, `alertmanager:` posts to [alerts] alertmanager_url.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from gridpulse.alerts.notify.base import AlertEvent, NotifyError, NotifyOptions
from gridpulse.alerts.notify.webhook import post_with_retries

__all__ = ["AlertmanagerNotifier", "alertmanager_alert"]


def alertmanager_alert(event: AlertEvent) -> dict[str, Any]:
    """One element of the list `POST /api/v2/alerts` takes (the postableAlert of its OpenAPI spec)."""
    a = event.alert
    labels = {k: str(v) for k, v in a.labels.items() if v is not None}
    labels.setdefault("alertname", a.rule)
    labels.setdefault("severity", a.severity)
    annotations = {"summary": a.summary, "series": ", ".join(a.series), "alert_id": str(a.alert_id)}
    if a.value is not None:
        annotations["value"] = f"{a.value:g}"
    out: dict[str, Any] = {"labels": labels, "annotations": annotations, "startsAt": a.started_at.isoformat()}
    if event.status == "resolved" and a.resolved_at is not None:
        out["endsAt"] = a.resolved_at.isoformat()
    return out


class AlertmanagerNotifier:
    """Posts each event to one Alertmanager."""

    def __init__(self, url: str, options: NotifyOptions) -> None:
        base = (url or options.alertmanager_url).rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise NotifyError(
                f"alertmanager target {url!r} has no http(s) URL: write alertmanager:http://host:9093 "
                "or set [alerts] alertmanager_url"
            )
        self.target = f"alertmanager:{base}"
        self.url = base + "/api/v2/alerts"
        self.options = options
        self._client = httpx.Client(timeout=options.timeout_s)

    def send(self, event: AlertEvent) -> None:
        body = orjson.dumps([alertmanager_alert(event)])
        post_with_retries(self._client, self.url, body, self.options, "alertmanager")

    def close(self) -> None:
        self._client.close()
