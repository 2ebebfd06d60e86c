"""POST /ingest/<route> (JSON array) and /ingest/<route>/ndjson, in the seeds' row shapes.

A 2xx is sent only after every accepted row is committed.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from gridpulse.api.deps import AppState, body_limit, state
from gridpulse.api.responses import JSON
from gridpulse.ingest import SHAPES, BodyFormat, OnError, ingest_stream
from gridpulse.ingest.split import JsonArraySplitter, NdjsonSplitter
from gridpulse.ingest.stream import json_parser, meta_for_shape, store_batch_rows
from gridpulse.timeutil import zone

__all__ = ["router"]

router = APIRouter(tags=["ingest"])


async def _ingest(request: Request, route: str, fmt: BodyFormat, on_error: OnError, tz: str | None) -> JSON:
    st: AppState = state(request)
    st.auth.check(request, "write:" + route)
    settings = st.settings
    limit = body_limit(request, settings)
    route_tz = tz or settings.ingest.timezones.get(route)
    if route_tz:
        zone(route_tz)
    shape = SHAPES[route]
    report = await ingest_stream(
        request.stream(),
        splitter=NdjsonSplitter(settings.ingest.batch_rows, blocks=True)
        if fmt is BodyFormat.NDJSON
        else JsonArraySplitter(settings.ingest.batch_rows),
        parse=json_parser(shape, route_tz),
        meta_for=meta_for_shape(shape, route_tz),
        writer=st.writer,
        spill_dir=settings.data_dir / "tmp",
        spill_bytes=settings.ingest.spill_bytes,
        max_body_bytes=limit,
        max_listed_rejects=settings.ingest.max_listed_rejects,
        on_error=on_error,
        store_batch_rows=store_batch_rows(settings),
        route=fmt.value,  # the metrics' route label: json or ndjson
    )
    return JSON(report.as_dict())


_ON_ERROR = Query(
    OnError.REJECT, description="reject: a bad row rejects the whole request; skip: store the good rows"
)
_TZ = Query(None, description="IANA zone for timestamps without an offset (otherwise they are rejected)")


def _add(route: str, summary: str) -> None:
    async def as_array(request: Request, on_error: OnError = _ON_ERROR, tz: str | None = _TZ) -> JSON:
        return await _ingest(request, route, BodyFormat.JSON_ARRAY, on_error, tz)

    async def as_ndjson(request: Request, on_error: OnError = _ON_ERROR, tz: str | None = _TZ) -> JSON:
        return await _ingest(request, route, BodyFormat.NDJSON, on_error, tz)

    fields = ", ".join(f'"{f}"' for f in SHAPES[route].fields)
    router.add_api_route(
        f"/ingest/{route}",
        as_array,
        methods=["POST"],
        summary=f"{summary} (JSON array)",
        description=f"Body: a JSON array of rows {{{fields}}}.",
    )
    router.add_api_route(
        f"/ingest/{route}/ndjson",
        as_ndjson,
        methods=["POST"],
        summary=f"{summary} (NDJSON)",
        description=f"Body: one JSON row {{{fields}}} per line. Streams with bounded memory.",
    )


for _route, _summary in [
    ("meter_usage", "Meter interval energy in kWh"),
    ("generation_output", "Plant output in MW"),
    ("telemetry", "Device telemetry, one metric per row"),
    ("readings", "Channel readings, one column per metric"),
]:
    _add(_route, _summary)
