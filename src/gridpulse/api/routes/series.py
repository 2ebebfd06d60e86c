"""The series catalogue, latest values, reference tables and store status."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from gridpulse.api.deps import state
from gridpulse.api.query_docs import QueryDoc, query_params
from gridpulse.api.responses import JSON
from gridpulse.errors import QueryError
from gridpulse.export import ARROW_STREAM, arrow_stream, series_names, with_local_ts, with_series_names
from gridpulse.store.base import REFERENCE_KINDS
from gridpulse.store.query import series_filter
from gridpulse.timeutil import zone

__all__ = ["router", "serve_latest"]

router = APIRouter(prefix="/api/v1", tags=["catalogue"])

_KIND = Query(None, description="entity kind: meter, plant, device, channel, feeder, ...")
_ENTITY = Query(None, description="entity id, or kind:id")
_METRIC = Query(None, description="metric name, e.g. kwh, mw, StateOfChargePercentage")
_TAG = Query(None, description="key:value, repeatable; all must match")


@router.get("/series", summary="List series")
def list_series(
    request: Request,
    kind: str | None = _KIND,
    entity: str | None = _ENTITY,
    metric: str | None = _METRIC,
    tag: list[str] | None = _TAG,
) -> JSON:
    st = state(request)
    st.auth.check(request, "read")
    found = st.store.list_series(series_filter(kind=kind, entity=entity, metric=metric, tags=tag))
    return JSON({"count": len(found), "series": [s.as_dict() for s in found]})


_LATEST_DOCUMENTED = query_params(
    QueryDoc("kind", _KIND.description or ""),
    QueryDoc("entity", _ENTITY.description or ""),
    QueryDoc("metric", _METRIC.description or ""),
    QueryDoc("tag", _TAG.description or "", repeatable=True),
    QueryDoc("tz", "IANA zone of the output times", default="UTC"),
    QueryDoc(
        "format",
        "json, or arrow: an Arrow IPC stream of the rows (instants UTC) with each series' entity_kind, "
        "entity_id and metric",
        default="json",
    ),
)


@router.get("/latest", summary="Newest point of each series", openapi_extra=_LATEST_DOCUMENTED)
def latest(request: Request) -> Response:
    return serve_latest(request)


def serve_latest(request: Request) -> Response:
    """GET /api/v1/latest, its parameters read from the request: the FastAPI route above and the
    plain route of api/hot_routes.py both answer with it."""
    st = state(request)
    st.auth.check(request, "read")
    query = request.query_params
    tz = query.get("tz", "UTC")
    zone(tz)
    format = query.get("format", "json")
    if format not in ("json", "arrow"):
        raise QueryError(f"format={format!r} is not one of json, arrow")
    wanted = series_filter(
        kind=query.get("kind"), entity=query.get("entity"), metric=query.get("metric"), tags=query.getlist("tag")
    )
    # the catalogue's group: its ids and name arrays are kept with it, not rebuilt per request
    group = st.store.series_group(wanted)
    table: pa.Table = st.store.latest(group.ids)
    if format == "arrow":
        names = group.kept("export.series_names", series_names)
        body = arrow_stream(with_series_names(table, names), {"count": table.num_rows})
        return Response(body, media_type=ARROW_STREAM)
    found = {s.series_id: s for s in group}
    rows = with_local_ts(table, tz).to_pylist()
    for row in rows:
        s = found[row["series_id"]]
        row.update(entity_kind=s.key.entity_kind, entity_id=s.key.entity_id, metric=s.key.metric, unit=s.unit)
    return JSON({"count": len(rows), "tz": tz, "latest": rows})


@router.get("/reference/{kind}", summary="Rows of a reference table")
def reference(request: Request, kind: str) -> JSON:
    st = state(request)
    st.auth.check(request, "read")
    return JSON({"kind": kind, "rows": st.store.list_reference(kind), "kinds": list(REFERENCE_KINDS)})


@router.get("/status", summary="Store counts and demo loading state")
def status(request: Request) -> JSON:
    st = state(request)
    st.auth.check(request, "read")
    ilp = dataclasses.asdict(st.ilp.stats) if st.ilp is not None else None
    return JSON(
        {
            "store": st.store.url,
            **st.store.stats(),
            "demo": st.demo_status,
            "commits": st.writer.commits,
            "line_protocol_tcp": ilp,
            "jobs": {name: job.status() for name, job in st.jobs.items()},
        }
    )
