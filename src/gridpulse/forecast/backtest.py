"""Rolling-origin backtests: fit on what was known at each origin, forecast, compare with what came.

Origins step back from the newest one that still has a whole horizon of actuals behind it, one
`stride` apart; at each, every history is cut at the origin (`History.until`), the model is
fitted on the cut histories and forecasts `steps` ahead. Accuracy pools all origins per series.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gridpulse.forecast.history import F64, History
from gridpulse.forecast.metrics import accuracy, naive_scale
from gridpulse.forecast.result import Forecast, floored_like

if TYPE_CHECKING:
    from gridpulse.forecast.models.base import Model

__all__ = ["BacktestResult", "backtest"]

METRICS = ("mae", "rmse", "mape", "smape", "mase", "coverage80", "coverage95")


@dataclass
class BacktestResult:
    """What a backtest found.

    Attributes:
        model: the model's name; params: its settings.
        steps: steps ahead per origin; step_s: seconds per step. [s]
        origins_us: the origins, oldest first. [µs UTC]
        per_series: one dict per series: name, n, and every metric in METRICS.
        overall: the mean over series of each metric (coverage pooled over every step).
        forecasts: (origin index, history, forecast) for plots.
        fit_s, predict_s: seconds spent fitting and predicting over all origins. [s]
    """

    model: str
    params: dict[str, Any]
    steps: int
    step_s: int
    origins_us: list[int]
    per_series: list[dict[str, Any]] = field(default_factory=list)
    overall: dict[str, float] = field(default_factory=dict)
    forecasts: list[tuple[int, History, Forecast]] = field(default_factory=list)
    fit_s: float = 0.0
    predict_s: float = 0.0


def _origins_us(histories: Sequence[History], steps: int, origins: int, stride_steps: int) -> list[int]:
    step_us = histories[0].step_us
    newest = min(h.end_us for h in histories) - steps * step_us
    newest -= (newest - histories[0].start_us) % step_us  # on the grid
    return [newest - i * stride_steps * step_us for i in reversed(range(origins))]


def backtest(
    model: Model,
    histories: Sequence[History],
    *,
    steps: int,
    origins: int = 4,
    stride_steps: int | None = None,
    min_history_steps: int | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of `model` over `histories` (all on one step size).

    Args:
        steps: steps ahead at each origin (168 for 7 days hourly).
        origins: number of origins.
        stride_steps: steps between origins; default `steps` (forecast windows that touch).
        min_history_steps: a history with fewer steps before an origin sits that origin out;
            default two weeks.

    Raises:
        ValueError: no histories, mixed step sizes, or too little data for one origin.
    """
    if not histories:
        raise ValueError("no series to backtest")
    if len({h.step_s for h in histories}) != 1:
        raise ValueError("every series of one backtest needs the same step; backtest them apart")
    step_s = histories[0].step_s
    day = histories[0].steps_per(86_400)
    floor = min_history_steps if min_history_steps is not None else 2 * histories[0].steps_per(7 * 86_400)
    result = BacktestResult(model.name, model.params(), steps, step_s, [])
    result.origins_us = _origins_us(histories, steps, origins, stride_steps or steps)
    pooled: dict[str, list[tuple[F64, Forecast, float]]] = {h.name: [] for h in histories}
    for oi, origin in enumerate(result.origins_us):
        cut = [h.until(origin) for h in histories]
        use = [(h, c) for h, c in zip(histories, cut, strict=True) if len(c.values) >= floor]
        if not use:
            continue
        t0 = time.perf_counter()
        model.fit([c for _, c in use])
        t1 = time.perf_counter()
        forecasts = model.predict([c for _, c in use], steps)
        result.fit_s += t1 - t0
        result.predict_s += time.perf_counter() - t1
        for (h, c), raw in zip(use, forecasts, strict=True):
            fc = floored_like(raw, c.values)
            i = h.index_of(origin)
            actual = np.full(steps, np.nan)
            got = h.values[i : i + steps]
            actual[: len(got)] = got
            pooled[h.name].append((actual, fc, naive_scale(c.values, day)))
            result.forecasts.append((oi, h, fc))
    if not any(pooled.values()):
        raise ValueError(f"no series has {floor} steps of history before the first origin")
    all_in80: list[F64] = []
    all_in95: list[F64] = []
    for name, parts in pooled.items():
        if not parts:
            continue
        cat = {c: np.concatenate([getattr(fc, c) for _, fc, _ in parts]) for c in ("mean", "lo80", "hi80", "lo95", "hi95")}
        actual = np.concatenate([a for a, _, _ in parts])
        scales = [s for _, _, s in parts if s == s]
        scale = float(np.mean(scales)) if scales else float("nan")
        row: dict[str, Any] = {"name": name, **accuracy(actual, **cat, scale=scale)}
        result.per_series.append(row)
        ok = ~(np.isnan(actual) | np.isnan(cat["mean"]))
        all_in80.append(((actual >= cat["lo80"]) & (actual <= cat["hi80"]))[ok])
        all_in95.append(((actual >= cat["lo95"]) & (actual <= cat["hi95"]))[ok])
    for m in METRICS:
        vals = np.array([r[m] for r in result.per_series], dtype=np.float64)
        vals = vals[~np.isnan(vals)]
        result.overall[m] = float(vals.mean()) if vals.size else float("nan")
    in80, in95 = np.concatenate(all_in80), np.concatenate(all_in95)
    result.overall["coverage80"] = float(in80.mean()) if in80.size else float("nan")
    result.overall["coverage95"] = float(in95.mean()) if in95.size else float("nan")
    return result
