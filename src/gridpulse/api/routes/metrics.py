"""GET /metrics: gridpulse's Prometheus metrics (gridpulse.metrics.REGISTRY) in the text format.

Behind the read scope when tokens are configured (Prometheus sends one with `authorization:` in
its scrape config), open otherwise, like every read route.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from gridpulse.api.deps import state
from gridpulse.metrics import REGISTRY

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics: job runs, source runs, rows, rejects, freshness")
def metrics(request: Request) -> Response:
    state(request).auth.check(request, "read")
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
