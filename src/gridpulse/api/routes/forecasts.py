"""Forecasts of stored series: make one now, read the stored ones, list the runs, backtest a model.

- POST /api/v1/forecasts/run: forecast one series now and answer with the stored forecast;
- GET /api/v1/forecasts: the newest stored forecast of one series (or the one current at as_of);
- GET /api/v1/forecasts/runs: the stored runs, newest first;
- GET /api/v1/forecasts/backtest: a rolling-origin backtest of a model on stored series (nothing
  is stored; `gridpulse forecast backtest` goes through it while a server holds the store file);
- GET /api/v1/forecasts/{series_id}/error: live error of the stored forecasts against the
  actuals that arrived, per local day and over the recent window;
- GET /api/v1/forecasts/{series_id}/drift: PSI of the recent values (and recorded inputs)
  against the training window of the newest stored forecast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gridpulse.api.deps import body_limit, state
from gridpulse.api.responses import JSON
from gridpulse.config import Settings
from gridpulse.errors import NotFound, PayloadTooLarge, QueryError
from gridpulse.export import ARROW_STREAM, arrow_stream, to_csv
from gridpulse.forecast import LEVELS, MODELS, BacktestResult
from gridpulse.jobs.forecasts import (
    backtest_series,
    forecast_answer,
    forecast_head,
    run_dict,
    run_forecasts,
    stored_forecast,
)
from gridpulse.jobs.monitoring import drift_answer, error_answer
from gridpulse.model import ForecastRun, Series
from gridpulse.store.base import SeriesFilter, Store
from gridpulse.store.query import find_series, pick_series, series_filter
from gridpulse.timeutil import zone

__all__ = ["PLOT_SERIES", "backtest_answer", "backtest_selection", "router"]

router = APIRouter(prefix="/api/v1", tags=["forecasts"])

_FORMATS = ("json", "csv", "arrow")
#: what POST /api/v1/forecasts/run takes, as query parameters or as keys of a JSON object body
_RUN_PARAMS: dict[str, type] = {"series": int, "entity": str, "kind": str, "metric": str, "model": str, "tz": str}
#: series a backtest answer carries plot data for (the PNG shows as many)
PLOT_SERIES = 6

_SERIES = Query(None, description="series id (alternative to entity + metric)")
_ENTITY = Query(None, description="entity id, e.g. m-01, or kind:id such as meter:m-01")
_KIND = Query(None, description="entity kind when ids repeat across kinds")
_METRIC = Query(None, description="metric; optional when the entity has one")
_TZ = Query(None, description="IANA zone of the output times (default: the series' zone)")


def _model_name(model: str | None) -> str | None:
    """`model` when it is a known model (or None). Raises QueryError naming the models."""
    if model is not None and model not in MODELS:
        raise QueryError(f"model={model!r} is not one of {', '.join(MODELS)}")
    return model


def _render(s: Series, run: ForecastRun, values: pa.Table, tz: str, fmt: str, *, status: int = 200) -> Response:
    if fmt == "csv":
        return Response(to_csv(values, tz), status_code=status, media_type="text/csv")
    if fmt == "arrow":
        return Response(arrow_stream(values, forecast_head(s, run, tz)), status_code=status, media_type=ARROW_STREAM)
    return JSON(forecast_answer(s, run, values, tz), status_code=status)


def _format(fmt: str) -> str:
    if fmt not in _FORMATS:
        raise QueryError(f"format={fmt!r} is not one of {', '.join(_FORMATS)}")
    return fmt


def _run_params(query: Mapping[str, Any], raw: bytes) -> dict[str, Any]:
    """POST .../run parameters from the query string and a JSON object body, merged; a key given
    in both, an unknown key or a value of the wrong type is refused, naming it."""
    params = {k: v for k, v in query.items() if v is not None}
    if not raw.strip():
        return params
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise QueryError(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise QueryError(f"the body is a JSON {type(body).__name__}; send an object such as {{\"entity\": \"m-01\"}}")
    for key, value in body.items():
        if key not in _RUN_PARAMS:
            raise QueryError(f"body key {key!r} is not one of {', '.join(_RUN_PARAMS)}")
        if value is None:
            continue
        typ = _RUN_PARAMS[key]
        if not isinstance(value, typ) or isinstance(value, bool):
            raise QueryError(f"body key {key!r} is {value!r}; expected {'an integer' if typ is int else 'a string'}")
        if key in params:
            raise QueryError(f"{key} is given twice (query and body): give it once")
        params[key] = value
    return params


def _forecast_now(store: Store, settings: Settings, params: Mapping[str, Any]) -> tuple[Series, ForecastRun, pa.Table, str]:
    s = find_series(
        store, series=params.get("series"), entity=params.get("entity"), kind=params.get("kind"),
        metric=params.get("metric"),
    )
    tz = params.get("tz") or s.tz or "UTC"
    zone(tz)
    model = _model_name(params.get("model"))
    outcome = run_forecasts(store, settings, [s], model=model)
    (run,) = outcome.runs
    found = store.read_forecast(s.series_id, forecast_id=run.forecast_id)
    if found is None:  # only if it was removed in between
        raise NotFound(f"forecast {run.forecast_id} of {s.key} is gone")
    return s, found[0], found[1], tz


@router.post(
    "/forecasts/run",
    summary="Forecast one series now and store it",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "series": {"type": "integer"},
                            **{k: {"type": "string"} for k in ("entity", "kind", "metric", "model", "tz")},
                        },
                    }
                }
            },
        }
    },
)
async def run_forecast(
    request: Request,
    series: int | None = _SERIES,
    entity: str | None = _ENTITY,
    kind: str | None = _KIND,
    metric: str | None = _METRIC,
    model: str | None = Query(
        None, description=f"{', '.join(MODELS)} (default: [forecast] model)"
    ),
    tz: str | None = _TZ,
) -> Response:
    """Fits the model on the series' history up to its newest complete step, forecasts
    [forecast] horizon_days ahead, stores it and answers 201 with it as GET /api/v1/forecasts
    would. The parameters may instead be keys of a JSON object body."""
    st = state(request)
    st.auth.check(request, "write")
    limit = body_limit(request, st.settings)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # counted while it arrives: a chunked body has no length
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        parts.append(chunk)
    raw = b"".join(parts)
    query = {"series": series, "entity": entity, "kind": kind, "metric": metric, "model": model, "tz": tz}
    params = _run_params(query, raw)
    s, run, values, out_tz = await run_in_threadpool(_forecast_now, st.store, st.settings, params)
    return _render(s, run, values, out_tz, "json", status=201)


# sync routes: FastAPI runs them in a worker thread, so store reads never block the event loop
@router.get("/forecasts", summary="The stored forecast of one series")
def get_forecast(
    request: Request,
    series: int | None = _SERIES,
    entity: str | None = _ENTITY,
    kind: str | None = _KIND,
    metric: str | None = _METRIC,
    model: str | None = Query(None, description=f"only forecasts of this model: {', '.join(MODELS)}"),
    as_of: str | None = Query(
        None, description="the forecast current at this instant (the newest made at or before it)"
    ),
    forecast_id: int | None = Query(None, description="exactly this stored forecast"),
    tz: str | None = _TZ,
    format: str = Query(
        "json",
        description="json, csv (the rows only) or arrow (an Arrow IPC stream of the rows, instants UTC; "
        "the rest of the JSON answer is in its schema metadata under 'gridpulse')",
    ),
) -> Response:
    st = state(request)
    st.auth.check(request, "read")
    _format(format)
    _model_name(model)
    s, run, values, out_tz = stored_forecast(
        st.store, series=series, entity=entity, kind=kind, metric=metric, model=model, as_of=as_of,
        forecast_id=forecast_id, tz=tz,
    )
    return _render(s, run, values, out_tz, format)


@router.get("/forecasts/runs", summary="Stored forecast runs, newest first")
def list_runs(
    request: Request,
    entity: str | None = _ENTITY,
    kind: str | None = _KIND,
    metric: str | None = _METRIC,
    model: str | None = Query(None, description="only runs of this model"),
    limit: int = Query(100, ge=0, le=10_000, description="at most this many runs"),
    tz: str = Query("UTC", description="IANA zone of the output times"),
) -> JSON:
    st = state(request)
    st.auth.check(request, "read")
    zone(tz)
    _model_name(model)
    ids: list[int] | None = None
    catalogue: dict[int, Series] = {}
    if entity or kind or metric:
        catalogue = {s.series_id: s for s in st.store.list_series(series_filter(kind=kind, entity=entity, metric=metric))}
        ids = list(catalogue)
    runs = st.store.list_forecasts(ids, model=model, limit=limit) if ids is None or ids else []
    missing = sorted({r.series_id for r in runs} - set(catalogue))
    if missing:
        catalogue.update({s.series_id: s for s in st.store.list_series(SeriesFilter(series_ids=missing))})
    rows = []
    for r in runs:
        s = catalogue.get(r.series_id)
        names = (
            {"entity_kind": s.key.entity_kind, "entity_id": s.key.entity_id, "metric": s.key.metric, "unit": s.unit}
            if s is not None
            else {"entity_kind": None, "entity_id": None, "metric": None, "unit": None}
        )
        rows.append({"series_id": r.series_id, **names, **run_dict(r, tz)})
    return JSON({"count": len(rows), "tz": tz, "runs": rows})


def backtest_selection(
    store: Store,
    *,
    series: int | None = None,
    entity: str | None = None,
    kind: str | None = None,
    metric: str | None = None,
) -> list[Series]:
    """The series of a backtest: the one series entity (or series) names, or every series of
    `kind` and `metric`.

    Raises:
        QueryError: neither is given (or kind without metric); NotFound: nothing matches.
    """
    if series is None and not entity and not (kind and metric):
        raise QueryError("name the series: entity=<id> (with metric= when it has several), or kind= and metric=")
    return pick_series(store, series=series, entity=entity, kind=kind, metric=metric)


def _utc_iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).isoformat()


def _plot_data(result: BacktestResult) -> list[dict[str, Any]]:
    """For the first PLOT_SERIES series: the actuals from a week before the first origin to the
    end of the last forecast, and each origin's forecast, enough to draw the backtest's PNG."""
    names = list(dict.fromkeys(h.name for _, h, _ in result.forecasts))[:PLOT_SERIES]
    out: list[dict[str, Any]] = []
    step_us = result.step_s * 1_000_000
    for name in names:
        runs = [(oi, h, fc) for oi, h, fc in result.forecasts if h.name == name]
        h = runs[0][1]
        lo = max(h.start_us, min(fc.origin_us for _, _, fc in runs) - 7 * 86_400_000_000)
        hi = min(h.end_us, max(fc.origin_us for _, _, fc in runs) + result.steps * step_us)
        i, j = (lo - h.start_us) // step_us, (hi - h.start_us) // step_us  # origins are on the grid
        out.append(
            {
                "name": name,
                "tz": h.tz,
                "start": _utc_iso(h.start_us + i * step_us),
                "actual": h.values[i:j].tolist(),
                "forecasts": [
                    {
                        "origin_index": oi,
                        "origin": _utc_iso(fc.origin_us),
                        **{c: getattr(fc, c).tolist() for c in ("mean", "lo80", "hi80", "lo95", "hi95")},
                    }
                    for oi, _, fc in runs
                ],
            }
        )
    return out


def backtest_answer(
    result: BacktestResult, series: Sequence[Series], *, plot: bool = False
) -> dict[str, Any]:
    """The JSON answer of GET /api/v1/forecasts/backtest: model, steps, origins (UTC), accuracy
    per series and overall, seconds spent; with `plot` the data behind the PNG."""
    units = sorted({s.unit for s in series})
    body: dict[str, Any] = {
        "model": result.model,
        "params": result.params,
        "steps": result.steps,
        "step_s": result.step_s,
        "origins": [_utc_iso(o) for o in result.origins_us],
        "unit": units[0] if len(units) == 1 else None,
        "levels": list(LEVELS),
        "per_series": result.per_series,
        "overall": result.overall,
        "fit_s": result.fit_s,
        "predict_s": result.predict_s,
    }
    if plot:
        body["plot"] = _plot_data(result)
    return body


@router.get("/forecasts/backtest", summary="Rolling-origin backtest of a model on stored series")
def backtest(
    request: Request,
    series: int | None = _SERIES,
    entity: str | None = _ENTITY,
    kind: str | None = Query(None, description="entity kind; with metric and no entity: every such series"),
    metric: str | None = _METRIC,
    model: str | None = Query(None, description=f"{', '.join(MODELS)} (default: [forecast] model)"),
    origins: int = Query(4, ge=1, le=52, description="number of forecast origins"),
    stride_days: int | None = Query(
        None, ge=1, le=365, description="days between origins (default: the horizon, [forecast] horizon_days)"
    ),
    plot: bool = Query(
        False, description=f"add the actuals and each origin's forecast of the first {PLOT_SERIES} series"
    ),
) -> JSON:
    """Fits the model at each origin on what was known then and compares its forecast with what
    came: MAE, RMSE, MAPE %, sMAPE %, MASE and the coverage of the 80 % and 95 % intervals. Stores
    nothing."""
    st = state(request)
    st.auth.check(request, "read")
    _model_name(model)
    chosen = backtest_selection(st.store, series=series, entity=entity, kind=kind, metric=metric)
    result = backtest_series(st.store, st.settings, chosen, model=model, origins=origins, stride_days=stride_days)
    return JSON(backtest_answer(result, chosen, plot=plot))


_WINDOW_DAYS = Query(
    None, ge=1, le=90, description="days of the recent window, ending at the newest reading "
    "(default: [forecast] monitor_window_days)"
)


@router.get("/forecasts/{series_id}/error", summary="Live error of a series' stored forecasts")
def forecast_error(
    request: Request,
    series_id: int,
    days: int | None = Query(
        None, ge=1, le=366, description="local days ending with the newest reading (default: [forecast] "
        "monitor_period_days)"
    ),
    window_days: int | None = _WINDOW_DAYS,
    model: str | None = Query(None, description="only forecasts of this model (default: any)"),
    tz: str | None = _TZ,
) -> JSON:
    """Each actual step against the stored forecast current for it (of the runs with a step
    there, the latest origin: made without knowing it): MAE, MAPE % (near-zero actuals left out),
    bias (forecast - actual) and the coverage of the 80 % and 95 % intervals, per local day and
    over the recent window."""
    st = state(request)
    st.auth.check(request, "read")
    _model_name(model)
    return JSON(
        error_answer(st.store, st.settings, series_id, days=days, window_days=window_days, model=model, tz=tz)
    )


@router.get("/forecasts/{series_id}/drift", summary="Drift of a series' recent values from the training window")
def forecast_drift(
    request: Request,
    series_id: int,
    window_days: int | None = _WINDOW_DAYS,
    model: str | None = Query(None, description="the newest forecast of this model (default: any)"),
    tz: str | None = _TZ,
) -> JSON:
    """Population stability index of the recent window's values, and of each exogenous input the
    forecast recorded, against the training window of the newest stored forecast, on bins cut at
    the training window's quantiles; with its reading (stable, watch, drift)."""
    st = state(request)
    st.auth.check(request, "read")
    _model_name(model)
    return JSON(drift_answer(st.store, st.settings, series_id, window_days=window_days, model=model, tz=tz))
