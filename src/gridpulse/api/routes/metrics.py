"""GET /metrics: gridpulse's Prometheus metrics (gridpulse.metrics.REGISTRY) in the text format.

Behind the read scope when tokens are configured (Prometheus sends one with `authorization:` in
its scrape config), open otherwise, like every read route. The alerts-by-state gauge is read
from the store at each scrape (one small GROUP BY), so it is what the store holds now, whoever
changed the alerts (the engine, an acknowledgement, a silence).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from gridpulse.api.deps import state
from gridpulse.errors import GridpulseError
from gridpulse.metrics import ALERTS, REGISTRY
from gridpulse.store.base import Store

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


def _refresh_alerts(store: Store) -> None:
    """Set gridpulse_alerts{state} from the store; on a store error keep the last values (and say so)."""
    try:
        counts = store.count_alerts()
    except GridpulseError as exc:
        log.warning("counting alerts for /metrics failed; gridpulse_alerts keeps its last values: %s", exc)
        return
    for alert_state, n in counts.items():
        ALERTS.labels(alert_state).set(n)


@router.get("/metrics", summary="Prometheus metrics: ingest, HTTP, alerts, job and source runs, freshness")
def metrics(request: Request) -> Response:
    st = state(request)
    st.auth.check(request, "read")
    _refresh_alerts(st.store)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
