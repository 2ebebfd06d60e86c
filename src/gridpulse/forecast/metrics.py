"""Forecast accuracy: MAE, RMSE, MAPE, sMAPE, MASE and interval coverage."""

from __future__ import annotations

import numpy as np

from gridpulse.forecast.history import F64

__all__ = ["accuracy", "naive_scale"]


def naive_scale(train: F64, season: int) -> float:
    """MASE's denominator: mean |y[t] - y[t - season]| of the seasonal naive forecast in the
    training data (NaN pairs skipped); NaN when there is no pair."""
    if len(train) <= season:
        return float("nan")
    d = np.abs(train[season:] - train[:-season])
    d = d[~np.isnan(d)]
    return float(d.mean()) if d.size else float("nan")


def accuracy(
    actual: F64, mean: F64, lo80: F64, hi80: F64, lo95: F64, hi95: F64, *, scale: float
) -> dict[str, float]:
    """Accuracy of forecasts against actuals (steps where either is NaN are left out).

    Args:
        scale: the MASE denominator (`naive_scale` of the training data).

    Returns:
        n, mae, rmse (series' unit), mape and smape [%] (MAPE skips zero actuals), mase, and
        coverage80 / coverage95: share of actuals inside each interval. [0..1]
    """
    ok = ~(np.isnan(actual) | np.isnan(mean))
    a, f = actual[ok], mean[ok]
    n = int(ok.sum())
    if n == 0:
        nan = float("nan")
        return {"n": 0, "mae": nan, "rmse": nan, "mape": nan, "smape": nan, "mase": nan,
                "coverage80": nan, "coverage95": nan}
    e = a - f
    mae = float(np.mean(np.abs(e)))
    nz = a != 0
    denom = np.abs(a) + np.abs(f)
    return {
        "n": n,
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(e * e))),
        "mape": float(np.mean(np.abs(e[nz] / a[nz])) * 100) if nz.any() else float("nan"),
        "smape": float(np.mean(np.where(denom > 0, 2 * np.abs(e) / np.where(denom > 0, denom, 1), 0)) * 100),
        "mase": mae / scale if scale and scale == scale else float("nan"),
        "coverage80": float(np.mean((a >= lo80[ok]) & (a <= hi80[ok]))),
        "coverage95": float(np.mean((a >= lo95[ok]) & (a <= hi95[ok]))),
    }
