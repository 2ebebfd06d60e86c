"""GET /api/v1/analytics: the analyses and their parameters; GET /api/v1/analytics/{name}: run one."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from gridpulse.analyses import answer, answer_csv, listing, run
from gridpulse.analyses.base import RESERVED_PARAMS
from gridpulse.analyses.render import answer_arrow
from gridpulse.api.deps import state
from gridpulse.api.responses import JSON
from gridpulse.errors import QueryError
from gridpulse.export import ARROW_STREAM

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["analytics"])

_FORMATS = ("json", "csv", "arrow")


@router.get("/analytics", summary="List the analyses and their parameters")
def list_analyses(request: Request) -> JSON:
    st = state(request)
    st.auth.check(request, "read")
    return JSON(listing())


# a sync route: FastAPI runs it in a worker thread, so store reads never block the event loop
@router.get("/analytics/{name}", summary="Run one analysis")
def run_analysis(
    request: Request,
    name: str,
    explain: bool = Query(False, description="add the SQL the store ran, with its parameters"),
    format: str = Query(
        "json",
        description="json, csv (the rows only) or arrow (an Arrow IPC stream of the table; the rest of the "
        "JSON answer is in its schema metadata under 'gridpulse')",
    ),
) -> Response:
    """Parameters besides explain and format are the analysis' own: GET /api/v1/analytics lists them."""
    st = state(request)
    st.auth.check(request, "read")
    if format not in _FORMATS:
        raise QueryError(f"format={format!r} is not one of {', '.join(_FORMATS)}")
    if explain and format == "csv":
        raise QueryError("explain=true needs format=json (CSV holds the rows only): drop one of them")
    params: dict[str, str] = {}
    # every query parameter but the route's own goes to the analysis
    for key, value in request.query_params.multi_items():
        if key in RESERVED_PARAMS:
            continue
        if key in params:
            raise QueryError(f"{key} is given twice: give it once")
        params[key] = value
    done = run(st.store, st.settings, name, params)
    if format == "arrow":
        return Response(answer_arrow(done, explain=explain), media_type=ARROW_STREAM)
    body = answer(done, explain=explain)
    if format == "csv":
        return Response(answer_csv(body), media_type="text/csv")
    return JSON(body)
