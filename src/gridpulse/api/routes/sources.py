"""GET /api/v1/sources: ingestion health per `[[sources]]` table.

Per source: its schedule, last run (rows, rejects, failures, duration, error), last success,
failed runs in a row and whether that makes it `failing`; per key (a vendor channel, or a series
the source wrote) the watermark reached, its freshness (seconds since the newest committed
reading) and its last success.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from gridpulse.api.deps import state
from gridpulse.api.responses import JSON
from gridpulse.jobs.sources import source_health

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["jobs"])


@router.get("/sources", summary="Ingestion health per source: last runs, failures, freshness per series")
async def list_sources(request: Request) -> JSON:
    st = state(request)
    st.auth.check(request, "read")
    specs, runners = getattr(request.app.state, "gridpulse_sources", ([], {}))
    rows: list[dict[str, Any]] = await run_in_threadpool(source_health, st.store, specs, runners)
    return JSON({"sources": rows})
