"""What routes need from the running app: settings, store, writer, token check."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from gridpulse.alerts.engine import AlertEngine
from gridpulse.api.auth import TokenCheck
from gridpulse.config import Settings
from gridpulse.errors import PayloadTooLarge
from gridpulse.ingest.ilp_tcp import LineProtocolServer
from gridpulse.ingest.writer import Writer
from gridpulse.jobs.periodic import Periodic
from gridpulse.store.base import Store

__all__ = ["AppState", "body_limit", "state"]


@dataclass
class AppState:
    settings: Settings
    store: Store
    writer: Writer
    auth: TokenCheck
    demo_status: str = "not requested"
    ilp: LineProtocolServer | None = None
    jobs: dict[str, Periodic] = field(default_factory=dict)
    #: the alert rules' engine; None when [alerts] enabled is false
    alerts: AlertEngine | None = None


def body_limit(request: Request, settings: Settings) -> int:
    """The body limit in bytes; raises PayloadTooLarge at once when Content-Length already exceeds it
    (a chunked body is counted while it streams)."""
    limit = settings.server.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    return limit


def state(request: Request) -> AppState:
    st: AppState = request.app.state.gridpulse
    return st
