"""GET /api/v1/analytics: the analyses and their parameters; GET /api/v1/analytics/{name}: run one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gridpulse.analyses import answer, answer_csv, listing, run
from gridpulse.analyses.base import RESERVED_PARAMS
from gridpulse.analyses.params import parse_flag
from gridpulse.analyses.render import answer_arrow
from gridpulse.api.deps import state
from gridpulse.api.query_docs import QueryDoc, query_params
from gridpulse.api.responses import JSON
from gridpulse.errors import QueryError
from gridpulse.export import ARROW_STREAM

__all__ = ["router", "serve_analysis"]

router = APIRouter(prefix="/api/v1", tags=["analytics"])

_FORMATS = ("json", "csv", "arrow")


@router.get("/analytics", summary="List the analyses and their parameters")
def list_analyses(request: Request) -> JSON:
    st = state(request)
    st.auth.check(request, "read")
    return JSON(listing())


_DOCUMENTED = query_params(
    QueryDoc("explain", "add the SQL the store ran, with its parameters", kind="boolean", default=False),
    QueryDoc(
        "format",
        "json, csv (the rows only) or arrow (an Arrow IPC stream of the table; the rest of the JSON "
        "answer is in its schema metadata under 'gridpulse')",
        default="json",
    ),
)


# a sync route: FastAPI runs it in a worker thread, so store reads never block the event loop
@router.get("/analytics/{name}", summary="Run one analysis", openapi_extra=_DOCUMENTED)
def run_analysis(request: Request, name: str) -> Response:
    """Parameters besides explain and format are the analysis' own: GET /api/v1/analytics lists them."""
    return serve_analysis(request)  # which reads `name` (declared here for /docs) from the path


def serve_analysis(request: Request) -> Response:
    """GET /api/v1/analytics/{name}, its parameters read from the request: the FastAPI route above
    and the plain route of api/hot_routes.py both answer with it."""
    st = state(request)
    st.auth.check(request, "read")
    query = request.query_params
    explain = parse_flag(query.get("explain", "false"), "explain")
    format = query.get("format", "json")
    if format not in _FORMATS:
        raise QueryError(f"format={format!r} is not one of {', '.join(_FORMATS)}")
    if explain and format == "csv":
        raise QueryError("explain=true needs format=json (CSV holds the rows only): drop one of them")
    params: dict[str, str] = {}
    # every query parameter but the route's own goes to the analysis
    for key, value in query.multi_items():
        if key in RESERVED_PARAMS:
            continue
        if key in params:
            raise QueryError(f"{key} is given twice: give it once")
        params[key] = value
    done = run(st.store, st.settings, request.path_params["name"], params)
    if format == "arrow":
        return Response(answer_arrow(done, explain=explain), media_type=ARROW_STREAM)
    body = answer(done, explain=explain)
    if format == "csv":
        return Response(answer_csv(body), media_type="text/csv")
    return JSON(body)
