"""GET /api/v1/readings: one series over a range, raw or bucketed, in any zone, as known at any time."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from gridpulse.api.deps import state
from gridpulse.errors import QueryError
from gridpulse.export import FORMATS, to_csv, to_json_chunks, to_parquet
from gridpulse.store.query import ReadingsRequest, read_readings, readings_head

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["query"])


@router.get("/readings", summary="Readings of one series")
def readings(
    request: Request,
    series: int | None = Query(None, description="series id (alternative to entity + metric)"),
    entity: str | None = Query(None, description="entity id, e.g. m-1, or kind:id such as meter:m-1"),
    kind: str | None = Query(None, description="entity kind when ids repeat across kinds"),
    metric: str | None = Query(None, description="metric; optional when the entity has one"),
    start: str | None = Query(None, description="inclusive; ISO 8601 with offset, or naive/date read in tz"),
    end: str | None = Query(None, description="exclusive; as start"),
    resolution: str = Query("raw", description="raw, 15min, 30min, hour, day, week or month"),
    agg: str | None = Query(
        None, description="sum, avg, min, max, first, last, count (default: sum for energy, avg otherwise)"
    ),
    tz: str | None = Query(
        None, description="IANA zone of buckets and output times (default: the series' zone)"
    ),
    as_of: str | None = Query(None, description="read what was known at this instant"),
    format: str = Query("json", description="json, csv or parquet"),
) -> Response:
    st = state(request)
    st.auth.check(request, "read")
    if format not in FORMATS:
        raise QueryError(f"format={format!r} is not one of {', '.join(FORMATS)}")
    req = ReadingsRequest(series, entity, kind, metric, start, end, resolution, agg, tz, as_of)
    s, q, table = read_readings(st.store, req)
    if format == "csv":
        return Response(to_csv(table, q.tz), media_type="text/csv")
    if format == "parquet":
        return Response(to_parquet(table, q.tz), media_type="application/vnd.apache.parquet")
    head = readings_head(s, q, req, count=table.num_rows)
    return StreamingResponse(to_json_chunks(head, table, q.tz), media_type="application/json")
