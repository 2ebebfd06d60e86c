"""Forecasts of stored series: read each series' history onto a grid, fit, predict, store.

What `POST /api/v1/forecasts/run`, `gridpulse forecast run` and the scheduled job call. A
forecast starts at the first step after the series' newest complete step (its origin) and
covers `[forecast] horizon_days` at `[forecast] resolution`; every series given to one run is
trained together (the lightgbm model is global across them).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from gridpulse.config import Settings
from gridpulse.errors import NotFound, QueryError
from gridpulse.export import with_local_ts
from gridpulse.forecast import LEVELS, BacktestResult, History, Model, backtest, make_model, on_grid
from gridpulse.forecast.history import F64
from gridpulse.forecast.result import floored_like
from gridpulse.model import ForecastRun, Series
from gridpulse.store.base import Agg, Resolution, SeriesFilter, Store
from gridpulse.store.query import default_agg, find_series
from gridpulse.timeutil import parse_instant, zone

__all__ = [
    "ForecastOutcome",
    "backtest_series",
    "forecast_answer",
    "forecast_head",
    "histories_from_store",
    "model_for",
    "run_dict",
    "run_forecasts",
    "scheduled_forecasts",
    "selected_series",
    "step_values",
    "stored_forecast",
]

log = logging.getLogger(__name__)

_STEPS = {"hour": (3600, Resolution.HOUR), "30min": (1800, Resolution.MIN30)}


@dataclass
class ForecastOutcome:
    """What one forecast run did: the forecasts stored, the series left out and why, seconds spent."""

    runs: list[ForecastRun] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    fit_s: float = 0.0
    predict_s: float = 0.0


def _utc(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def _us(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def selected_series(store: Store, selectors: Sequence[str]) -> list[Series]:
    """Series named by `[forecast] series` selectors: 'kind/metric' or 'kind:entity/metric'."""
    found: dict[int, Series] = {}
    for sel in selectors:
        head, _, metric = sel.partition("/")
        kind, _, entity = head.partition(":")
        flt = SeriesFilter(entity_kind=kind or None, entity_id=entity or None, metric=metric or None)
        for s in store.list_series(flt):
            found[s.series_id] = s
    return sorted(found.values(), key=lambda s: s.series_id)


def step_of(settings: Settings) -> tuple[int, Resolution]:
    """Seconds per forecast step and the store resolution that reads it."""
    return _STEPS[settings.forecast.resolution]


def histories_from_store(
    store: Store,
    series: Sequence[Series],
    settings: Settings,
    *,
    end: datetime | None = None,
    history_days: int | None = None,
) -> tuple[list[History], list[tuple[str, str]]]:
    """Each series' history on the forecast grid, up to its newest complete step (before `end`).

    A step is complete when it holds as many readings as the series' interval promises (four
    15-minute reads in an hour); an incomplete step counts as missing, so a half-arrived hour
    never trains or starts a forecast as a low value. Energy units are summed per step, the rest
    averaged (as every bucketed read does).

    Returns:
        (histories, skipped): series with no data or an interval coarser than the step are
        skipped with the reason.
    """
    step_s, _ = step_of(settings)
    days = history_days or settings.forecast.history_days
    fc = settings.forecast
    out: list[History] = []
    skipped: list[tuple[str, str]] = []
    by_agg: dict[Any, list[Series]] = {}
    for s in series:
        interval_s = int(s.interval.total_seconds()) if s.interval else None
        if interval_s and interval_s > step_s:
            skipped.append((str(s.key), f"its interval ({interval_s} s) is coarser than the forecast step ({step_s} s)"))
            continue
        by_agg.setdefault(default_agg(s.unit), []).append(s)
    newest = store.latest([s.series_id for s in series]) if series else None
    newest_us = (
        dict(zip(newest.column("series_id").to_pylist(), newest.column("ts").cast("int64").to_pylist(), strict=True))
        if newest is not None
        else {}
    )
    step_us = step_s * 1_000_000
    for group in by_agg.values():
        for s in group:
            last = newest_us.get(s.series_id)
            if last is None:
                skipped.append((str(s.key), "no readings"))
                continue
            stop_us = (last // step_us + 1) * step_us
            if end is not None:
                stop_us = min(stop_us, _us(end) // step_us * step_us)
            start_us = stop_us - days * 86_400_000_000
            grid_start, grid = step_values(store, s, start_us=start_us, stop_us=stop_us, step_s=step_s)
            # end at the newest complete step: a forecast starts after what is known
            known = np.flatnonzero(~np.isnan(grid))
            if known.size == 0:
                skipped.append((str(s.key), f"no complete {fc.resolution} step in the last {days} days"))
                continue
            grid = grid[known[0] : known[-1] + 1]
            out.append(
                History(
                    str(s.key),
                    grid_start + int(known[0]) * step_us,
                    step_s,
                    grid,
                    tz=s.tz,
                    holidays=fc.holidays or None,
                    holidays_subdiv=fc.holidays_subdiv or None,
                    series_id=s.series_id,
                )
            )
    if fc.exogenous and out:
        out = _with_exogenous(store, out, fc.exogenous)
    return out, skipped


def step_values(store: Store, s: Series, *, start_us: int, stop_us: int, step_s: int) -> tuple[int, F64]:
    """The series' values on the forecast grid over [start_us, stop_us), as a forecast is trained
    on and scored against: summed per step for energy units, averaged otherwise, NaN for a step
    with fewer readings than the series' interval promises (a half-arrived hour is no low value).

    Returns:
        (start of the grid [µs UTC], one value per step, in the series' unit).
    """
    frame = store.read_frame(
        [s.series_id],
        start=_utc(start_us),
        end=_utc(stop_us),
        resolution=step_of_s(step_s),
        agg=default_agg(s.unit),
    )
    ts = frame.column("ts").cast("int64").to_numpy()
    values = frame.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    if s.interval:
        per_step = max(step_s // int(s.interval.total_seconds()), 1)
        count = frame.column("count").to_numpy(zero_copy_only=False)
        values = np.where(count >= per_step, values, np.nan)
    return on_grid(ts, values, step_s=step_s, start_us=start_us, end_us=stop_us)


def _with_exogenous(store: Store, histories: list[History], selectors: Sequence[str]) -> list[History]:
    """The histories with each `[forecast] exogenous` series (e.g. a site's temperature) on
    their grids, averaged per step, NaN where it has nothing. Models read them only before
    each forecast's origin, like the target.

    Raises:
        QueryError: a selector names no series, or several.
    """
    step_s = histories[0].step_s
    step_us = step_s * 1_000_000
    lo, hi = min(h.start_us for h in histories), max(h.end_us for h in histories)
    grids: dict[str, tuple[int, F64]] = {}
    for sel in selectors:
        found = selected_series(store, [sel])
        if len(found) != 1:
            names = ", ".join(str(x.key) for x in found[:5]) or "none"
            raise QueryError(f"forecast.exogenous: {sel!r} must name one series, it names {names}")
        frame = store.read_frame(
            [found[0].series_id], start=_utc(lo), end=_utc(hi), resolution=step_of_s(step_s), agg=Agg.AVG
        )
        ts = frame.column("ts").cast("int64").to_numpy()
        values = frame.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
        grids[sel] = on_grid(ts, values, step_s=step_s, start_us=lo, end_us=hi)
    out = []
    for h in histories:
        first = (h.start_us - lo) // step_us
        exog = {sel: grid[first : first + len(h.values)] for sel, (_, grid) in grids.items()}
        out.append(replace(h, exog=exog))
    return out


def step_of_s(step_s: int) -> Resolution:
    """The store resolution that reads steps of `step_s` seconds."""
    return next(res for s, res in _STEPS.values() if s == step_s)


def model_for(settings: Settings, name: str | None = None) -> Model:
    """The model `name` (default `[forecast] model`) set up for the configured horizon."""
    chosen = name or settings.forecast.model
    if chosen in ("lightgbm", "linear", "ensemble"):  # the models that learn a horizon
        return make_model(chosen, horizon_hours=settings.forecast.horizon_days * 24)
    try:
        return make_model(chosen)
    except ValueError as exc:
        raise QueryError(str(exc)) from None


def run_forecasts(
    store: Store, settings: Settings, series: Sequence[Series], *, model: str | None = None
) -> ForecastOutcome:
    """Forecast `series` from their newest complete step and store one forecast each.

    Raises:
        QueryError: unknown model, or no series with enough history (the reasons listed).
    """
    fitted = model_for(settings, model)
    step_s, _ = step_of(settings)
    steps = settings.forecast.horizon_days * 86_400 // step_s
    histories, skipped = histories_from_store(store, series, settings)
    week = 7 * 86_400 // step_s
    enough = [h for h in histories if np.count_nonzero(~np.isnan(h.values)) >= 2 * week]
    skipped += [(h.name, "less than two weeks of history") for h in histories if h not in enough]
    outcome = ForecastOutcome(skipped=skipped)
    if not enough:
        reasons = "; ".join(f"{n}: {r}" for n, r in skipped) or "no series selected"
        raise QueryError(f"nothing to forecast: {reasons}")
    t0 = time.perf_counter()
    fitted.fit(enough)
    t1 = time.perf_counter()
    forecasts = fitted.predict(enough, steps)
    outcome.fit_s, outcome.predict_s = t1 - t0, time.perf_counter() - t1
    # the inputs besides the series' own history, so monitoring can measure their drift too
    noted = fitted.params()
    if settings.forecast.exogenous:
        noted = {**noted, "exogenous": list(settings.forecast.exogenous)}
    version, params = fitted.version(), json.dumps(noted)
    for h, raw in zip(enough, forecasts, strict=True):
        assert h.series_id is not None
        fc = floored_like(raw, h.values)
        run = ForecastRun(
            series_id=h.series_id,
            model=fitted.name,
            model_version=version,
            step_s=step_s,
            steps=steps,
            origin=_utc(fc.origin_us),
            train_start=_utc(h.start_us),
            train_end=_utc(h.end_us),
            params=params,
        )
        outcome.runs.append(store.write_forecast(run, fc.to_table()))
    log.info(
        "forecast %s: %d series stored, %d skipped, fit %.1f s, predict %.1f s",
        fitted.name, len(outcome.runs), len(skipped), outcome.fit_s, outcome.predict_s,
    )
    return outcome


def scheduled_forecasts(store: Store, settings: Settings) -> ForecastOutcome:
    """The scheduled job: forecast every series `[forecast] series` selects."""
    series = selected_series(store, settings.forecast.series)
    if not series:
        log.warning("forecast: [forecast] series %s selects no stored series", settings.forecast.series)
        return ForecastOutcome()
    return run_forecasts(store, settings, series)


def backtest_series(
    store: Store,
    settings: Settings,
    series: Sequence[Series],
    *,
    model: str | None = None,
    origins: int = 4,
    stride_days: int | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of a model on stored series (see `gridpulse.forecast.backtest`).

    Raises:
        QueryError: no series with data, or too little history for one origin.
    """
    histories, skipped = histories_from_store(store, series, settings)
    if not histories:
        raise QueryError("nothing to backtest: " + ("; ".join(f"{n}: {r}" for n, r in skipped) or "no series"))
    step_s, _ = step_of(settings)
    steps = settings.forecast.horizon_days * 86_400 // step_s
    # histories of one run share the grid's phase, but not their ends: cut them to a common end
    end = min(h.end_us for h in histories)
    histories = [h.until(end) for h in histories]
    stride = (stride_days * 86_400 // step_s) if stride_days else steps
    try:
        return backtest(model_for(settings, model), histories, steps=steps, origins=origins, stride_steps=stride)
    except ValueError as exc:
        raise QueryError(str(exc)) from None


# -------------------------------------------------------------------------------- answers
def _instant(ts: datetime | None, tz: str) -> str | None:
    return ts.astimezone(zone(tz)).isoformat() if ts is not None else None


def run_dict(run: ForecastRun, tz: str) -> dict[str, Any]:
    """A stored run's metadata, instants as ISO 8601 in `tz` and params parsed from its JSON."""
    return {
        "forecast_id": run.forecast_id,
        "model": run.model,
        "model_version": run.model_version,
        "step_s": run.step_s,
        "steps": run.steps,
        "origin": _instant(run.origin, tz),
        "train_start": _instant(run.train_start, tz),
        "train_end": _instant(run.train_end, tz),
        "created_at": _instant(run.created_at, tz),
        "params": orjson.loads(run.params),
    }


def forecast_head(s: Series, run: ForecastRun, tz: str) -> dict[str, Any]:
    """Everything of a stored forecast's answer but its rows (the metadata of an Arrow answer)."""
    return {"series": s.as_dict(), "unit": s.unit, "tz": tz, "forecast": run_dict(run, tz), "levels": list(LEVELS)}


def forecast_answer(s: Series, run: ForecastRun, values: pa.Table, tz: str) -> dict[str, Any]:
    """The JSON answer of GET /api/v1/forecasts (and of POST .../run): the series, unit, zone,
    the run's metadata, the interval levels and one row per step (ts in `tz`)."""
    return {**forecast_head(s, run, tz), "rows": with_local_ts(values, tz).to_pylist()}


def stored_forecast(
    store: Store,
    *,
    series: int | None = None,
    entity: str | None = None,
    kind: str | None = None,
    metric: str | None = None,
    model: str | None = None,
    as_of: str | None = None,
    forecast_id: int | None = None,
    tz: str | None = None,
) -> tuple[Series, ForecastRun, pa.Table, str]:
    """The stored forecast GET /api/v1/forecasts and `gridpulse forecast show` answer with: the
    newest of the named series (of `model`, current at `as_of`, or exactly `forecast_id`).

    Returns:
        (series, run, values, zone the answer is in: `tz`, else the series' own).

    Raises:
        NotFound: no such series, or no stored forecast matching (the filters named).
        QueryError: a bad zone or as_of.
    """
    s = find_series(store, series=series, entity=entity, kind=kind, metric=metric)
    out_tz = tz or s.tz or "UTC"
    zone(out_tz)
    when = parse_instant(as_of, tz=tz, param="as_of") if as_of else None
    found = store.read_forecast(s.series_id, model=model, as_of=when, forecast_id=forecast_id)
    if found is None:
        filters = [
            f"{k} {v!r}" for k, v in (("model", model), ("as_of", as_of), ("forecast_id", forecast_id)) if v is not None
        ]
        raise NotFound(
            f"no stored forecast of {s.key}"
            + (f" with {', '.join(filters)}" if filters else "")
            + "; make one with POST /api/v1/forecasts/run"
        )
    return s, found[0], found[1], out_tz
