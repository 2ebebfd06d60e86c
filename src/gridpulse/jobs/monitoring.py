"""Forecast monitoring of stored series: live error of the stored forecasts against the actuals
that arrived, and drift of the recent values against each model's training window.

What GET /api/v1/forecasts/{series_id}/error and .../drift, `gridpulse forecast error | drift`
and the scheduled job `forecast-monitor` call (docs/forecasting.md, "Model monitoring").

- Actuals are the series on its forecast grid as the models were trained on it
  (`jobs.forecasts.step_values`: summed per step for energy units, averaged otherwise, a step with
  fewer readings than the interval promises left out).
- Each step is compared with the forecast that was current for it: of the stored runs with a
  step there, the latest origin (`Store.read_current_forecast`), i.e. the newest forecast made
  without knowing the step, at the shortest lead time the schedule gave.
- The recent window is the `[forecast] monitor_window_days` before the series' newest step.
- Drift compares the recent window with the training window of the series' newest stored run
  (`train_start`..`train_end`), for the series and for each exogenous input the run recorded.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

from gridpulse import metrics
from gridpulse.config import Settings
from gridpulse.errors import GridpulseError, NotFound
from gridpulse.forecast.history import F64, on_grid
from gridpulse.forecast.monitoring import (
    ErrorFigures,
    drift_level,
    error_by_day,
    error_figures,
    local_days,
    psi,
)
from gridpulse.jobs.forecasts import run_dict, selected_series, step_of_s, step_values
from gridpulse.model import ForecastCheck, ForecastRun, Series
from gridpulse.store.base import Agg, SeriesFilter, Store
from gridpulse.store.query import find_series
from gridpulse.timeutil import zone

__all__ = [
    "MEASURES",
    "MonitoringReport",
    "check_series",
    "drift_answer",
    "error_answer",
    "scheduled_monitoring",
]

log = logging.getLogger(__name__)

#: the measures of the gridpulse_forecast_live_error gauge
MEASURES = ("mae", "mape", "bias")
#: how each step's forecast is chosen, said in every error answer
FORECAST_CHOICE = "each step against the stored forecast with the latest origin at or before it"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US_PER_DAY = 86_400_000_000


def _utc(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


def _us(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


def _iso(us: int, tz: str) -> str:
    return _utc(us).astimezone(zone(tz)).isoformat()


def _name(s: Series) -> str:
    return f"{s.key.entity_kind}:{s.key.entity_id}/{s.key.metric}"


@dataclass(frozen=True)
class _Matched:
    """Actuals and the current forecast on one grid: one entry per step from start_us."""

    start_us: int
    step_s: int
    actual: F64
    mean: F64
    lo80: F64
    hi80: F64
    lo95: F64
    hi95: F64

    def ts_us(self) -> npt.NDArray[np.int64]:
        return self.start_us + np.arange(len(self.actual), dtype=np.int64) * self.step_s * 1_000_000

    def figures(self, sel: npt.NDArray[np.bool_], *, floor_pct: float) -> ErrorFigures:
        cols = (self.actual, self.mean, self.lo80, self.hi80, self.lo95, self.hi95)
        a, m, l80, h80, l95, h95 = (c[sel] for c in cols)
        return error_figures(a, m, l80, h80, l95, h95, mape_floor_pct=floor_pct)


def _stop_us(store: Store, s: Series, step_s: int) -> int | None:
    """End of the step holding the series' newest reading [µs UTC]; None when it has none."""
    newest = store.latest([s.series_id])
    if newest.num_rows == 0:
        return None
    step_us = step_s * 1_000_000
    last = int(newest.column("ts").cast(pa.int64())[0].as_py())
    return (last // step_us + 1) * step_us


def _matched(
    store: Store, s: Series, *, start_us: int, stop_us: int, step_s: int, model: str | None
) -> _Matched:
    """Actuals over [start_us, stop_us) (start floored to the grid) with the current forecast."""
    step_us = step_s * 1_000_000
    start_us = start_us // step_us * step_us
    grid_start, actual = step_values(store, s, start_us=start_us, stop_us=stop_us, step_s=step_s)
    fc = store.read_current_forecast(
        s.series_id, start=_utc(grid_start), end=_utc(stop_us), model=model, step_s=step_s
    )
    cols = {c: np.full(len(actual), np.nan) for c in ("mean", "lo80", "hi80", "lo95", "hi95")}
    if fc.num_rows:
        f_ts = fc.column("ts").cast(pa.int64()).to_numpy().astype(np.int64)
        idx = (f_ts - grid_start) // step_us
        on = ((f_ts - grid_start) % step_us == 0) & (idx >= 0) & (idx < len(actual))
        for c, arr in cols.items():
            arr[idx[on]] = fc.column(c).to_numpy(zero_copy_only=False).astype(np.float64)[on]
    return _Matched(grid_start, step_s, actual, **cols)


def _input_values(store: Store, s: Series, *, start_us: int, stop_us: int, step_s: int) -> F64:
    """An exogenous input on the grid, averaged per step, as the forecast job reads it."""
    frame = store.read_frame(
        [s.series_id], start=_utc(start_us), end=_utc(stop_us), resolution=step_of_s(step_s), agg=Agg.AVG
    )
    ts = frame.column("ts").cast(pa.int64()).to_numpy()
    values = frame.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    return on_grid(ts, values, step_s=step_s, start_us=start_us, end_us=stop_us)[1]


def _drift(
    store: Store, settings: Settings, s: Series, run: ForecastRun, *, recent_start_us: int, stop_us: int
) -> list[dict[str, Any]]:
    """PSI of the series' recent values, and of each exogenous input the run recorded, against
    the run's training window; one entry each, the series first."""
    fc = settings.forecast
    step_us = run.step_s * 1_000_000
    t0, t1 = _us(run.train_start) // step_us * step_us, _us(run.train_end)
    r0 = recent_start_us // step_us * step_us
    pairs: list[tuple[str, F64, F64]] = [
        (
            "value",
            step_values(store, s, start_us=t0, stop_us=t1, step_s=run.step_s)[1],
            step_values(store, s, start_us=r0, stop_us=stop_us, step_s=run.step_s)[1],
        )
    ]
    try:
        inputs = orjson.loads(run.params).get("exogenous") or []
    except (orjson.JSONDecodeError, AttributeError):
        inputs = []
    for sel in inputs:
        found = selected_series(store, [str(sel)])
        if len(found) != 1:
            log.warning(
                "forecast monitoring: input %r of forecast %s names %d series",
                sel,
                run.forecast_id,
                len(found),
            )
            continue
        x = found[0]
        pairs.append(
            (
                str(sel),
                _input_values(store, x, start_us=t0, stop_us=t1, step_s=run.step_s),
                _input_values(store, x, start_us=r0, stop_us=stop_us, step_s=run.step_s),
            )
        )
    out = []
    for name, train, recent in pairs:
        value = psi(train, recent, bins=fc.psi_bins)
        out.append(
            {
                "input": name,
                "psi": value,
                "level": drift_level(value, watch=fc.psi_watch, drift=fc.psi_drift),
                "training_values": int(np.count_nonzero(~np.isnan(train))),
                "recent_values": int(np.count_nonzero(~np.isnan(recent))),
            }
        )
    return out


def _largest(inputs: list[dict[str, Any]]) -> float | None:
    known = [i["psi"] for i in inputs if i["psi"] is not None]
    return max(known) if known else None


def check_series(
    store: Store, settings: Settings, s: Series, run: ForecastRun, *, now: datetime
) -> ForecastCheck:
    """One series' monitoring check: live error over the recent window and drift against the
    training window of `run` (its newest stored forecast). Figures that cannot be computed are
    None, with the reason in `detail`."""
    fc = settings.forecast
    stop = _stop_us(store, s, run.step_s)
    if stop is None:
        return ForecastCheck(
            s.series_id, now, now, now, forecast_id=run.forecast_id, detail={"reason": "no readings"}
        )
    start = stop - fc.monitor_window_days * _US_PER_DAY
    m = _matched(store, s, start_us=start, stop_us=stop, step_s=run.step_s, model=None)
    fig = m.figures(np.ones(len(m.actual), bool), floor_pct=fc.mape_floor_pct)
    inputs = _drift(store, settings, s, run, recent_start_us=start, stop_us=stop)
    largest = _largest(inputs)
    detail: dict[str, Any] = {
        "mape_steps": fig.mape_steps,
        "model": run.model,
        "level": drift_level(largest, watch=fc.psi_watch, drift=fc.psi_drift),
        "psi_inputs": {i["input"]: i["psi"] for i in inputs},
    }
    if fig.steps == 0:
        detail["reason"] = "no step of the window has both an actual and a stored forecast"
    return ForecastCheck(
        series_id=s.series_id,
        checked_at=now,
        window_start=_utc(m.start_us),
        window_end=_utc(stop),
        forecast_id=run.forecast_id,
        steps=fig.steps,
        mae=fig.mae,
        mape=fig.mape,
        bias=fig.bias,
        coverage80=fig.coverage80,
        coverage95=fig.coverage95,
        psi=largest,
        detail=detail,
    )


@dataclass
class MonitoringReport:
    """What one monitoring run did.

    Attributes:
        series: series with a stored forecast; checked: checks stored.
        drifting, watch: series whose PSI reads drift / watch.
        skipped: (series, reason) whose check failed.
    """

    series: int = 0
    checked: int = 0
    drifting: list[str] = field(default_factory=list)
    watch: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.checked,
            "failures": len(self.skipped),
            "status": "partial" if self.skipped and self.checked else ("failed" if self.skipped else "ok"),
            "series": self.series,
            "drifting": self.drifting,
            "watch": self.watch,
            "skipped": [{"series": n, "reason": r} for n, r in self.skipped],
        }


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _set_gauges(checks: list[ForecastCheck]) -> None:
    """The gauges of this run's checks; series no longer checked drop out."""
    metrics.FORECAST_LIVE_ERROR.clear()
    metrics.FORECAST_DRIFT_PSI.clear()
    for c in checks:
        sid = str(c.series_id)
        for measure in MEASURES:
            metrics.FORECAST_LIVE_ERROR.labels(series_id=sid, measure=measure).set(_nan(getattr(c, measure)))
        metrics.FORECAST_DRIFT_PSI.labels(series_id=sid).set(_nan(c.psi))


def scheduled_monitoring(
    store: Store, settings: Settings, *, now: datetime | None = None
) -> MonitoringReport:
    """The scheduled job: check every series with a stored forecast, store the checks (dropping
    those older than `[forecast] monitor_keep_days`) and set the gridpulse_forecast_* gauges.
    A series whose check fails is logged and skipped; the others are stored."""
    now = now or datetime.now(UTC)
    runs = {r.series_id: r for r in store.newest_forecasts()}
    report = MonitoringReport(series=len(runs))
    catalogue = store.list_series(SeriesFilter(series_ids=sorted(runs))) if runs else []
    checks: list[ForecastCheck] = []
    for s in catalogue:
        try:
            c = check_series(store, settings, s, runs[s.series_id], now=now)
        except GridpulseError as exc:
            log.warning("forecast monitoring of %s failed: %s", _name(s), exc)
            report.skipped.append((_name(s), str(exc)))
            continue
        checks.append(c)
        level = c.detail.get("level")
        if level == "drift":
            report.drifting.append(_name(s))
        elif level == "watch":
            report.watch.append(_name(s))
    keep = now - timedelta(days=settings.forecast.monitor_keep_days)
    report.checked = store.write_forecast_checks(checks, keep_since=keep)
    _set_gauges(checks)
    log.info(
        "forecast monitoring: %d series checked, %d drifting, %d to watch, %d failed",
        report.checked, len(report.drifting), len(report.watch), len(report.skipped),
    )  # fmt: skip
    return report


# -------------------------------------------------------------------------------- answers
def _newest_run(store: Store, s: Series, model: str | None) -> ForecastRun:
    found = store.newest_forecasts([s.series_id], model=model)
    if not found:
        which = f" of model {model!r}" if model else ""
        raise NotFound(f"no stored forecast{which} of {s.key}; make one with POST /api/v1/forecasts/run")
    return found[0]


def _stop_or_raise(store: Store, s: Series, step_s: int) -> int:
    stop = _stop_us(store, s, step_s)
    if stop is None:
        raise NotFound(f"series {s.key} has no readings to score its forecasts against")
    return stop


def _local_midnight_us(day: date, tz: str) -> int:
    return _us(datetime(day.year, day.month, day.day, tzinfo=zone(tz)).astimezone(UTC))


def error_answer(
    store: Store,
    settings: Settings,
    series_id: int,
    *,
    days: int | None = None,
    window_days: int | None = None,
    model: str | None = None,
    tz: str | None = None,
) -> dict[str, Any]:
    """The answer of GET /api/v1/forecasts/{series_id}/error: live error per local day over the
    `days` days ending with the series' newest reading (default `[forecast] monitor_period_days`),
    and over the recent window (`window_days`, default `monitor_window_days`).

    Raises:
        NotFound: no such series, no stored forecast of it (of `model`), or no readings.
        QueryError: an unknown zone.
    """
    fc = settings.forecast
    s = find_series(store, series=series_id)
    out_tz = tz or s.tz or "UTC"
    zone(out_tz)
    days = days or fc.monitor_period_days
    window = window_days or fc.monitor_window_days
    run = _newest_run(store, s, model)
    step_s = run.step_s
    stop = _stop_or_raise(store, s, step_s)
    last_day = date.fromordinal(
        date(1970, 1, 1).toordinal() + int(local_days(np.array([stop - 1]), out_tz)[0])
    )
    first_day = last_day - timedelta(days=days - 1)
    period_start = _local_midnight_us(first_day, out_tz)
    window_start = stop - window * _US_PER_DAY
    m = _matched(store, s, start_us=min(period_start, window_start), stop_us=stop, step_s=step_s, model=model)
    ts = m.ts_us()
    floor = fc.mape_floor_pct
    day = local_days(ts, out_tz)
    first = (first_day - date(1970, 1, 1)).days
    in_period = day >= first
    per_day = error_by_day(
        day[in_period], m.actual[in_period], m.mean[in_period], m.lo80[in_period], m.hi80[in_period],
        m.lo95[in_period], m.hi95[in_period], mape_floor_pct=floor,
    )  # fmt: skip
    recent = m.figures(ts >= window_start, floor_pct=floor)
    return {
        "series": s.as_dict(),
        "unit": s.unit,
        "tz": out_tz,
        "model": model,
        "step_s": step_s,
        "forecast_choice": FORECAST_CHOICE,
        "mape_floor_pct": floor,
        "window": {"days": window, "start": _iso(window_start, out_tz), "end": _iso(stop, out_tz),
                   **recent.as_dict()},
        "period": {"days": days, "start": _iso(period_start, out_tz), "end": _iso(stop, out_tz)},
        "days": [
            {"day": (date(1970, 1, 1) + timedelta(days=d)).isoformat(), **f.as_dict()} for d, f in per_day
        ],
    }  # fmt: skip


def drift_answer(
    store: Store,
    settings: Settings,
    series_id: int,
    *,
    window_days: int | None = None,
    model: str | None = None,
    tz: str | None = None,
) -> dict[str, Any]:
    """The answer of GET /api/v1/forecasts/{series_id}/drift: PSI of the recent window
    (`window_days`, default `[forecast] monitor_window_days`) of the series and of the inputs its
    newest stored forecast (of `model`) recorded, against that forecast's training window.

    Raises:
        NotFound: no such series, no stored forecast of it, or no readings.
        QueryError: an unknown zone.
    """
    fc = settings.forecast
    s = find_series(store, series=series_id)
    out_tz = tz or s.tz or "UTC"
    zone(out_tz)
    window = window_days or fc.monitor_window_days
    run = _newest_run(store, s, model)
    stop = _stop_or_raise(store, s, run.step_s)
    start = stop - window * _US_PER_DAY
    inputs = _drift(store, settings, s, run, recent_start_us=start, stop_us=stop)
    largest = _largest(inputs)
    return {
        "series": s.as_dict(),
        "unit": s.unit,
        "tz": out_tz,
        "forecast": run_dict(run, out_tz),
        "training": {"start": _iso(_us(run.train_start), out_tz), "end": _iso(_us(run.train_end), out_tz)},
        "recent": {"days": window, "start": _iso(start, out_tz), "end": _iso(stop, out_tz)},
        "bins": fc.psi_bins,
        "thresholds": {"watch": fc.psi_watch, "drift": fc.psi_drift},
        "psi": largest,
        "level": drift_level(largest, watch=fc.psi_watch, drift=fc.psi_drift),
        "inputs": inputs,
    }
