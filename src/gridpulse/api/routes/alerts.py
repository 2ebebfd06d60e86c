"""Alert rules, alerts, acknowledgements and silences.

- GET /api/v1/alerts/rules, POST /api/v1/alerts/rules (a rule as JSON), DELETE
  /api/v1/alerts/rules/{name} (rules from the config file are read-only);
- GET /api/v1/alerts (filters: state, e.g. `open` or `firing,acknowledged`; rule; limit),
  GET /api/v1/alerts/{id} (with its history), POST /api/v1/alerts/{id}/ack;
- GET /api/v1/alerts/silences, POST /api/v1/alerts/silences (rule and/or series glob, until or
  duration).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from gridpulse.alerts.engine import AlertEngine
from gridpulse.alerts.records import alert_dict, parse_silence, parse_states, silence_dict
from gridpulse.api.deps import state
from gridpulse.api.responses import JSON
from gridpulse.errors import NotFound, QueryError

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["alerts"])

_MAX_BODY = 1024 * 1024


def _engine(request: Request) -> AlertEngine:
    engine = state(request).alerts
    if engine is None:
        raise QueryError("alerting is off on this server: set [alerts] enabled = true and restart")
    return engine


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise QueryError(f"the body is {len(raw)} bytes; an alert request is at most {_MAX_BODY}")
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise QueryError(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise QueryError(f"the body is a JSON {type(body).__name__}; send an object")
    return body


@router.get("/alerts/rules", summary="Alert rules (from the config file and made through the API)")
def list_rules(request: Request) -> JSON:
    state(request).auth.check(request, "read")
    return JSON({"rules": [r.as_dict() for r in _engine(request).rules()]})


@router.post("/alerts/rules", summary="Add an alert rule", status_code=201)
async def add_rule(request: Request) -> JSON:
    state(request).auth.check(request, "write")
    engine = _engine(request)
    body = await _body(request)
    rule = await run_in_threadpool(engine.add_rule, body)
    return JSON(rule.as_dict(), status_code=201)


@router.delete("/alerts/rules/{name}", summary="Delete an alert rule made through the API")
async def delete_rule(request: Request, name: str) -> JSON:
    state(request).auth.check(request, "write")
    resolved = await run_in_threadpool(_engine(request).delete_rule, name)
    return JSON({"deleted": name, "resolved": [alert_dict(r) for r in resolved]})


@router.get("/alerts/silences", summary="Silences")
def list_silences(
    request: Request, active: bool = Query(False, description="only those in force now")
) -> JSON:
    st = state(request)
    st.auth.check(request, "read")
    found = st.store.list_silences(active_at=datetime.now(UTC) if active else None)
    return JSON({"silences": [silence_dict(s) for s in found]})


@router.post(
    "/alerts/silences", summary="Silence alerts of a rule and/or series glob until a time", status_code=201
)
async def add_silence(request: Request) -> JSON:
    state(request).auth.check(request, "write")
    engine = _engine(request)
    silence = parse_silence(await _body(request))
    stored, quieted = await run_in_threadpool(engine.silence, silence)
    return JSON({**silence_dict(stored), "silenced": [alert_dict(r) for r in quieted]}, status_code=201)


@router.get("/alerts", summary="Alerts, newest first")
def list_alerts(
    request: Request,
    state_: str | None = Query(
        None, alias="state", description="open, or states such as firing,acknowledged"
    ),
    rule: str | None = Query(None, description="only alerts of this rule"),
    limit: int = Query(100, ge=0, le=10_000),
) -> JSON:
    st = state(request)
    st.auth.check(request, "read")
    found = st.store.list_alerts(states=parse_states(state_), rule=rule, limit=limit)
    return JSON({"alerts": [alert_dict(r) for r in found]})


@router.get("/alerts/{alert_id}", summary="One alert and its history")
def get_alert(request: Request, alert_id: int) -> JSON:
    st = state(request)
    st.auth.check(request, "read")
    found = st.store.list_alerts(alert_id=alert_id, limit=1)
    if not found:
        raise NotFound(f"no alert {alert_id}; GET /api/v1/alerts lists them")
    return JSON({**alert_dict(found[0]), "history": st.store.alert_history(alert_id)})


@router.post("/alerts/{alert_id}/ack", summary="Acknowledge an open alert")
async def acknowledge(request: Request, alert_id: int) -> JSON:
    state(request).auth.check(request, "write")
    body = await _body(request)
    by = body.get("by") or request.query_params.get("by") or "api"
    if not isinstance(by, str):
        raise QueryError(f"by={by!r} is not a text")
    rec = await run_in_threadpool(_engine(request).acknowledge, alert_id, by)
    return JSON(alert_dict(rec))
