"""What routes need from the running app: settings, store, writer, token check."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from gridpulse.api.auth import TokenCheck
from gridpulse.config import Settings
from gridpulse.ingest.ilp_tcp import LineProtocolServer
from gridpulse.ingest.writer import Writer
from gridpulse.store.base import Store

__all__ = ["AppState", "state"]


@dataclass
class AppState:
    settings: Settings
    store: Store
    writer: Writer
    auth: TokenCheck
    demo_status: str = "not requested"
    ilp: LineProtocolServer | None = None


def state(request: Request) -> AppState:
    st: AppState = request.app.state.gridpulse
    return st
