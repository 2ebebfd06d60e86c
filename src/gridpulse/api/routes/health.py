"""Liveness and readiness. The landing page at `/` is the dashboard (gridpulse.web)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gridpulse import __version__
from gridpulse.api.deps import state
from gridpulse.api.responses import JSON

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> JSON:
    return JSON({"status": "ok", "version": __version__})


@router.get("/readyz", summary="The store answers and the writer runs")
def readyz(request: Request) -> JSON:
    st = state(request)
    st.store.get_meta("schema")
    return JSON({"status": "ready", "demo": st.demo_status})
