"""Data quality (VEE): validation results per series and local day, and runs of the checks and
of estimation on demand.

- GET /api/v1/quality: stored results (filter by series, days, rule, status);
- POST /api/v1/quality/check: run the rules now and answer with the results;
- POST /api/v1/quality/estimate: estimate missing intervals now, written through the writer.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from gridpulse.api.deps import state
from gridpulse.api.responses import JSON
from gridpulse.errors import QueryError
from gridpulse.jobs.quality import check_series, estimate_series, parse_day, quality_rows
from gridpulse.model import WriteResult
from gridpulse.quality import RULES
from gridpulse.store.base import WriteRequest
from gridpulse.store.query import pick_series
from gridpulse.timeutil import zone

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["quality"])

_SERIES = Query(None, description="series id (alternative to entity + metric)")
_ENTITY = Query(None, description="entity id, e.g. m-01, or kind:id; none: every series (of kind/metric)")
_KIND = Query(None, description="entity kind")
_METRIC = Query(None, description="metric")
_START = Query(None, description="first local day, e.g. 2024-03-31 (inclusive)")
_END = Query(None, description="last local day (inclusive)")
_TZ = Query(None, description="IANA zone of the instants in the answer (default: each series' zone)")


def _check_status(status: str | None) -> None:
    if status is not None and status not in ("pass", "fail"):
        raise QueryError(f"status={status!r} is not pass or fail")


# sync routes: FastAPI runs them in a worker thread, so store reads never block the event loop
@router.get("/quality", summary="Validation results per series, local day and rule")
def get_quality(
    request: Request,
    series: int | None = _SERIES,
    entity: str | None = _ENTITY,
    kind: str | None = _KIND,
    metric: str | None = _METRIC,
    start: str | None = _START,
    end: str | None = _END,
    rule: str | None = Query(None, description=f"one rule: {', '.join(RULES)}"),
    status: str | None = Query(None, description="pass or fail"),
    tz: str | None = _TZ,
) -> Response:
    st = state(request)
    st.auth.check(request, "read")
    if rule is not None and rule not in RULES:
        raise QueryError(f"rule={rule!r} is not one of {', '.join(RULES)}")
    _check_status(status)
    if tz:
        zone(tz)
    chosen = pick_series(st.store, series=series, entity=entity, kind=kind, metric=metric)
    named = series is not None or entity or kind or metric
    results = st.store.list_validation(
        [s.series_id for s in chosen] if named else None,
        start_day=parse_day(start, "start"),
        end_day=parse_day(end, "end"),
        rule=rule,
        status=status,
    )
    rows = quality_rows(st.store, results, tz)
    return JSON({"rules": RULES, "count": len(rows), "rows": rows})


@router.post("/quality/check", summary="Run the validation rules now")
def run_check(
    request: Request,
    series: int | None = _SERIES,
    entity: str | None = _ENTITY,
    kind: str | None = _KIND,
    metric: str | None = _METRIC,
    start: str | None = _START,
    end: str | None = _END,
    tz: str | None = _TZ,
) -> Response:
    """Checks the series (default: all) on the local days (default: [quality] days ending today),
    stores the results in place of earlier ones for those days and answers with them."""
    st = state(request)
    st.auth.check(request, "write")
    if tz:
        zone(tz)
    chosen = pick_series(st.store, series=series, entity=entity, kind=kind, metric=metric)
    report = check_series(
        st.store, st.settings, chosen, first_day=parse_day(start, "start"), last_day=parse_day(end, "end")
    )
    return JSON({**report.as_dict(), "rules": RULES, "rows": quality_rows(st.store, report.results, tz)})


@router.post("/quality/estimate", summary="Estimate missing intervals now")
def run_estimate(
    request: Request,
    series: int | None = _SERIES,
    entity: str | None = _ENTITY,
    kind: str | None = _KIND,
    metric: str | None = _METRIC,
    start: str | None = _START,
    end: str | None = _END,
) -> Response:
    """Estimates the missing intervals of the series on the local days (linear for short gaps,
    like-day profile for long ones) and writes them with quality 1 (estimated) through the writer;
    an estimate never replaces a read."""
    st = state(request)
    st.auth.check(request, "write")
    chosen = pick_series(st.store, series=series, entity=entity, kind=kind, metric=metric)

    def submit(req: WriteRequest) -> WriteResult:
        return st.writer.submit(req).result()

    report = estimate_series(
        st.store,
        st.settings,
        chosen,
        submit,
        first_day=parse_day(start, "start"),
        last_day=parse_day(end, "end"),
    )
    return JSON(report.as_dict())
