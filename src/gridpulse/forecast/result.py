"""Forecast: one series' forecast from an origin, and prediction bounds from past errors."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from gridpulse.forecast.history import F64, US_PER_S
from gridpulse.model import FORECAST_VALUES_SCHEMA

__all__ = ["LEVELS", "Forecast", "HeldOut", "error_quantiles", "floored_like", "with_bounds"]

#: The central prediction intervals every model gives. [%]
LEVELS = (80, 95)
#: Error quantiles behind them: lower and upper bound of 80 % and of 95 %.
_QUANTILES = (0.025, 0.10, 0.90, 0.975)


@dataclass(frozen=True)
class Forecast:
    """One series' forecast: per step from the origin, the mean and the 80 % / 95 % bounds.

    Attributes:
        name: the history's name; series_id: its store id when known.
        origin_us: start of the first step. [µs UTC]
        step_s: seconds per step. [s]
        mean, lo80, hi80, lo95, hi95: one value per step, in the series' unit.
    """

    name: str
    origin_us: int
    step_s: int
    mean: F64
    lo80: F64
    hi80: F64
    lo95: F64
    hi95: F64
    series_id: int | None = None

    @property
    def steps(self) -> int:
        return len(self.mean)

    def ts_us(self) -> npt.NDArray[np.int64]:
        """Start of each step's interval. [µs UTC]"""
        return self.origin_us + np.arange(self.steps, dtype=np.int64) * self.step_s * US_PER_S

    def to_table(self) -> pa.Table:
        """The steps as FORECAST_VALUES_SCHEMA rows (what the store keeps)."""
        cols = [pa.array(self.ts_us()).cast(pa.timestamp("us")).cast(FORECAST_VALUES_SCHEMA.field("ts").type)]
        cols += [pa.array(getattr(self, c), pa.float64()) for c in ("mean", "lo80", "hi80", "lo95", "hi95")]
        return pa.Table.from_arrays(cols, schema=FORECAST_VALUES_SCHEMA)


@dataclass(frozen=True)
class HeldOut:
    """A fitted model's forecasts of origins whose targets its fit never saw: what its bounds
    come from, and what a blend of models is weighed on.

    Attributes:
        origin: grid index of each origin (its first step), oldest first.
        actual, mean: (origins, steps): what came and what was forecast, in the series' unit.
        spread: per origin, the series' spread at that origin (`features.level_and_scale`): errors
            are divided by it before their quantiles are taken. [series' unit]
    """

    origin: npt.NDArray[np.int64]
    actual: F64
    mean: F64
    spread: F64


def error_quantiles(errors: F64) -> F64:
    """The 2.5, 10, 90 and 97.5 % quantiles of forecast errors (actual - forecast), NaN ignored;
    zeros when there are no errors to learn from (then the bounds equal the mean)."""
    ok = errors[~np.isnan(errors)]
    if ok.size == 0:
        return np.zeros(len(_QUANTILES))
    return np.quantile(ok, _QUANTILES)


def with_bounds(
    name: str, origin_us: int, step_s: int, mean: F64, q: F64, *, series_id: int | None = None
) -> Forecast:
    """A Forecast whose bounds are mean + error quantiles `q`: one row of 4 for every step, or
    shape (steps, 4) for quantiles that change with the step ahead."""
    qq = np.broadcast_to(q, (len(mean), 4))
    return Forecast(
        name,
        origin_us,
        step_s,
        mean,
        lo80=mean + qq[:, 1],
        hi80=mean + qq[:, 2],
        lo95=mean + qq[:, 0],
        hi95=mean + qq[:, 3],
        series_id=series_id,
    )


def floored_like(forecast: Forecast, history: F64) -> Forecast:
    """The forecast with its mean and bounds raised to 0 when the history never went below 0:
    a meter that only consumes gets no negative kWh bound. A history with negative values
    (export, net load, temperatures) keeps its forecast as it is."""
    known = history[~np.isnan(history)]
    if known.size == 0 or float(known.min()) < 0:
        return forecast
    cols = ("mean", "lo80", "hi80", "lo95", "hi95")
    return replace(forecast, **{c: np.maximum(getattr(forecast, c), 0.0) for c in cols})
