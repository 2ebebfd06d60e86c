"""Anomalies: what the detectors found, scans on demand, and the status people give them.

- GET /api/v1/anomalies: stored anomalies (filter by series, window, since, severity, status, detector);
- POST /api/v1/anomalies/scan: scan now and answer with what the scan found;
- PATCH /api/v1/anomalies/{anomaly_id}: set the status (open, acknowledged, dismissed).
"""

from __future__ import annotations

from datetime import datetime

import orjson
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gridpulse.api.deps import body_limit, state
from gridpulse.api.responses import JSON
from gridpulse.errors import PayloadTooLarge, QueryError
from gridpulse.jobs.anomalies import DETECTORS, anomalies_answer, scan_series
from gridpulse.model import AnomalyStatus, Severity
from gridpulse.store.query import pick_series
from gridpulse.timeutil import parse_instant, zone

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["anomalies"])

_SERIES = Query(None, description="series id (alternative to entity + metric)")
_ENTITY = Query(None, description="entity id, e.g. m-01, or kind:id; none: every series (of kind/metric)")
_KIND = Query(None, description="entity kind")
_METRIC = Query(None, description="metric")
_TZ = Query(
    None, description="IANA zone of naive start/end and of the answer's instants (default: each series' zone)"
)
_STATUSES = ", ".join(s.value for s in AnomalyStatus)


def _instant(text: str | None, tz: str | None, param: str) -> datetime | None:
    return parse_instant(text, tz=tz, param=param) if text else None


def _status(text: str) -> AnomalyStatus:
    try:
        return AnomalyStatus(text)
    except ValueError:
        raise QueryError(f"status={text!r} is not one of {_STATUSES}") from None


@router.get("/anomalies", summary="Stored anomalies")
def list_anomalies(
    request: Request,
    series: int | None = _SERIES,
    entity: str | None = _ENTITY,
    kind: str | None = _KIND,
    metric: str | None = _METRIC,
    start: str | None = Query(None, description="anomalies whose window ends after this instant"),
    end: str | None = Query(None, description="anomalies whose window starts before this instant"),
    since: str | None = Query(None, description="anomalies detected or updated at or after this instant"),
    min_severity: str | None = Query(None, description="info, warning or critical: this or above"),
    status: str | None = Query(None, description=f"comma-separated statuses: {_STATUSES}"),
    detector: str | None = Query(None, description=f"{', '.join(DETECTORS)}"),
    limit: int = Query(1000, ge=0, le=100_000, description="at most this many, newest window first"),
    tz: str | None = _TZ,
) -> Response:
    st = state(request)
    st.auth.check(request, "read")
    if tz:
        zone(tz)
    if detector is not None and detector not in DETECTORS:
        raise QueryError(f"detector={detector!r} is not one of {', '.join(DETECTORS)}")
    try:
        severity = Severity.parse(min_severity) if min_severity else None
    except ValueError as exc:
        raise QueryError(f"min_severity: {exc}") from None
    statuses = [_status(x.strip()) for x in status.split(",") if x.strip()] if status else None
    named = series is not None or entity or kind or metric
    chosen = pick_series(st.store, series=series, entity=entity, kind=kind, metric=metric) if named else None
    found = st.store.list_anomalies(
        [s.series_id for s in chosen] if chosen is not None else None,
        start=_instant(start, tz, "start"),
        end=_instant(end, tz, "end"),
        since=_instant(since, tz, "since"),
        min_severity=severity,
        status=statuses,
        detector=detector,
        limit=limit,
    )
    rows = anomalies_answer(st.store, found, tz)
    return JSON({"count": len(rows), "anomalies": rows})


@router.post("/anomalies/scan", summary="Scan series for anomalies now")
def scan(
    request: Request,
    series: int | None = _SERIES,
    entity: str | None = _ENTITY,
    kind: str | None = _KIND,
    metric: str | None = _METRIC,
    start: str | None = Query(
        None, description="first instant judged (default: [anomaly] lookback_hours before the newest read)"
    ),
    end: str | None = Query(
        None, description="end of the window judged, exclusive (default: after the newest read)"
    ),
    detector: str | None = Query(
        None, description=f"comma-separated detectors (default: [anomaly] detectors): {', '.join(DETECTORS)}"
    ),
    tz: str | None = _TZ,
) -> Response:
    """Scores the window of each series (default: every series with an interval) with the
    detectors, stores what they find (merged with what earlier scans found there) and answers
    with the report and the stored anomalies of the scanned windows."""
    st = state(request)
    st.auth.check(request, "write")
    if tz:
        zone(tz)
    named = series is not None or entity or kind or metric
    chosen = pick_series(st.store, series=series, entity=entity, kind=kind, metric=metric)
    if not named:
        chosen = [s for s in chosen if s.interval is not None]
    detectors = [d.strip() for d in detector.split(",") if d.strip()] if detector else None
    report = scan_series(
        st.store,
        st.settings,
        chosen,
        start=_instant(start, tz, "start"),
        end=_instant(end, tz, "end"),
        detectors=detectors,
    )
    return JSON({**report.as_dict(), "anomalies": anomalies_answer(st.store, report.anomalies, tz)})


@router.patch(
    "/anomalies/{anomaly_id}",
    summary="Set an anomaly's status",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "status": {"type": "string", "enum": [s.value for s in AnomalyStatus]}
                        },
                    }
                }
            },
        }
    },
)
async def set_status(
    request: Request,
    anomaly_id: int,
    status: str | None = Query(None, description=f'{_STATUSES} (or a JSON body {{"status": ...}})'),
) -> Response:
    st = state(request)
    st.auth.check(request, "write")
    limit = body_limit(request, st.settings)
    raw = await request.body()
    if len(raw) > limit:
        raise PayloadTooLarge(limit)
    if raw.strip():
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise QueryError(f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict) or set(body) - {"status"}:
            raise QueryError('the body must be an object such as {"status": "acknowledged"}')
        if status is not None and body.get("status") is not None:
            raise QueryError("status is given twice (query and body): give it once")
        status = body.get("status", status)
    if not isinstance(status, str):
        raise QueryError(f"give the new status: one of {_STATUSES}")
    updated = await run_in_threadpool(st.store.set_anomaly_status, anomaly_id, _status(status))
    rows = await run_in_threadpool(anomalies_answer, st.store, [updated], None)
    return JSON(rows[0])
