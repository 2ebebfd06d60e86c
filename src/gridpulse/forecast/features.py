"""Features for direct multi-step forecasting, leak-free by construction.

One row per (origin, step ahead k): the target is the value of the interval starting at
origin + k steps. Every value feature is read from `past`, the series cut at the origin, so
nothing at or after the origin can reach a feature: the same-slot lags jump back whole days or
weeks until they land before the origin (k = 30 h ahead reads the same hour two days back, not
yesterday), and the rolling statistics end at the origin. Calendar features describe the target's
own interval, which is known in advance.

Values are standardised with the series' level and spread at the origin (mean and standard
deviation of its last week), so one global model serves meters of 1 kW and feeders of 10 MW, and
series that cross zero (net load, export, z-scored inputs) alike; predictions are mapped back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridpulse.forecast.calendar import CALENDAR_FEATURES, calendar_of
from gridpulse.forecast.history import F64, History

__all__ = ["FEATURE_NAMES", "FeatureRows", "feature_rows", "level_and_scale"]

_VALUE_FEATURES = (
    "step_ahead",
    "days_ahead",
    "lag_same_slot_day",
    "lag_same_slot_week",
    "lag_same_slot_2weeks",
    "mean_same_slot_4weeks",
    "mean_same_time_of_day_7days",
    "last_value",
    "mean_last_day",
    "mean_last_3days",
    "mean_last_week",
    "min_last_day",
    "max_last_day",
    "std_last_day",
)
_EXOG_FEATURES = ("last", "mean_last_day", "lag_same_slot_day")

#: Feature columns without exogenous series (those add `exog_<name>_<feature>` columns).
FEATURE_NAMES = _VALUE_FEATURES + CALENDAR_FEATURES


@dataclass(frozen=True)
class FeatureRows:
    """A feature matrix with, per row, where it came from.

    Attributes:
        x: features, one row per (origin, step), columns `names` (values standardised).
        y: the target standardised, (value - loc) / scale; NaN where unknown (the future, gaps).
        loc, scale: per row, the series' level and spread at the origin: a prediction p of y is
            loc + p * scale in the series' unit.
        origin: per row, grid index of the origin (first step forecast).
        step: per row, steps ahead (0 = the origin's own interval).
        names: column names of x.
    """

    x: npt.NDArray[np.float32]
    y: F64
    loc: F64
    scale: F64
    origin: npt.NDArray[np.int64]
    step: npt.NDArray[np.int64]
    names: tuple[str, ...]


def _gather(values: F64, idx: npt.NDArray[np.int64]) -> F64:
    """values[idx], NaN where idx falls outside."""
    ok = (idx >= 0) & (idx < len(values))
    out = np.full(idx.shape, np.nan)
    out[ok] = values[idx[ok]]
    return out


def _row_mean(m: F64) -> F64:
    """Mean of each row's non-NaN values; NaN for a row with none."""
    known = (~np.isnan(m)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: F64 = np.where(known > 0, np.nansum(m, axis=1) / np.maximum(known, 1), np.nan)
    return out


def _window_stats(values: F64, ends: npt.NDArray[np.int64], width: int) -> tuple[F64, F64, F64]:
    """Mean, std and count of the non-NaN values in [end - width, end) for each end.

    Each window is summed on its own (not as a difference of running sums over the whole
    history), so a feature does not change in its last bits with how much history came before.
    """
    idx = ends[:, None] - width + np.arange(width)[None, :]
    win = _gather(values, idx)
    ok = ~np.isnan(win)
    n = ok.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, win, 0.0).sum(axis=1) / n
        dev = np.where(ok, win - mean[:, None], 0.0)
        var = (dev * dev).sum(axis=1) / n
    return mean, np.sqrt(var), n


def _window_extremes(values: F64, ends: npt.NDArray[np.int64], width: int) -> tuple[F64, F64]:
    """Min and max of the non-NaN values in [end - width, end), NaN when there are none."""
    idx = ends[:, None] - width + np.arange(width)[None, :]
    win = _gather(values, idx)
    empty = np.isnan(win).all(axis=1)
    lo = np.where(np.isnan(win), np.inf, win).min(axis=1)
    hi = np.where(np.isnan(win), -np.inf, win).max(axis=1)
    return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)


def level_and_scale(past: F64, week: int) -> tuple[float, float]:
    """A series' level and spread at an origin: mean and standard deviation of its last week (of
    all it has, when the week is empty). A flat week takes the mean |value| as its spread, an
    all-zero one 1.0, so nothing divides by zero; (0, 1) when nothing is known."""
    tail = past[-week:]
    ok = tail[~np.isnan(tail)]
    if ok.size == 0:
        ok = past[~np.isnan(past)]
    if ok.size == 0:
        return 0.0, 1.0
    loc, spread = float(ok.mean()), float(ok.std())
    if spread <= 1e-9 * (abs(loc) + 1.0):
        spread = float(np.abs(ok).mean()) or 1.0
    return loc, spread


def feature_rows(history: History, origins: npt.NDArray[np.int64], steps: int) -> FeatureRows:
    """Feature rows for every origin in `origins` and every step 0..steps-1 ahead.

    Args:
        history: the series; values at or after an origin are read only as that row's target.
        origins: grid indices of forecast origins (may equal len(history.values): the future).
        steps: steps ahead per origin (168 for 7 days hourly).

    Returns:
        FeatureRows, origin-major: row origin_i * steps + k.
    """
    day, week = history.steps_per(86_400), history.steps_per(7 * 86_400)
    values = history.values
    o = origins.astype(np.int64)
    k = np.arange(steps, dtype=np.int64)
    target = (o[:, None] + k[None, :]).ravel()
    oo = np.repeat(o, steps)
    kk = np.tile(k, len(o))

    # every value feature is computed on `values` truncated at its row's origin: an index at or
    # after the origin is masked to NaN below, so a bug in an offset can only lose data, never leak
    def before_origin(idx: npt.NDArray[np.int64]) -> F64:
        got = _gather(values, idx)
        got[idx >= oo] = np.nan
        return got

    back_days = kk // day + 1
    lag_day = before_origin(target - back_days * day)
    back_weeks = kk // week + 1
    lag_week = before_origin(target - back_weeks * week)
    lag_2weeks = before_origin(target - (back_weeks + 1) * week)
    same_slot = np.column_stack([before_origin(target - (back_weeks + j) * week) for j in range(4)])
    mean_same_slot = _row_mean(same_slot)
    # the last week's average day at the target's time of day: the newest 7 same-time values
    mean_time_of_day = _row_mean(np.column_stack([before_origin(target - (back_days + j) * day) for j in range(7)]))

    mean_day, std_day, _ = _window_stats(values, o, day)
    mean_3days, _, _ = _window_stats(values, o, 3 * day)
    mean_week, _, _ = _window_stats(values, o, week)
    min_day, max_day = _window_extremes(values, o, day)
    last = _gather(values, o - 1)
    level = np.array([level_and_scale(values[: max(0, int(x))], week) for x in o], dtype=np.float64).reshape(-1, 2)
    locs, scales = level[:, 0], level[:, 1]

    def std(v: F64, loc: F64, scale: F64) -> F64:
        return (v - loc) / scale

    levels = np.column_stack([last, mean_day, mean_3days, mean_week, min_day, max_day])
    per_origin = np.column_stack([std(levels, locs[:, None], scales[:, None]), std_day / scales])
    per_origin_rows = np.repeat(per_origin, steps, axis=0)
    row_loc, row_scale = np.repeat(locs, steps), np.repeat(scales, steps)
    cols: list[F64] = [
        kk.astype(np.float64),
        (kk // day).astype(np.float64),
        std(lag_day, row_loc, row_scale),
        std(lag_week, row_loc, row_scale),
        std(lag_2weeks, row_loc, row_scale),
        std(mean_same_slot, row_loc, row_scale),
        std(mean_time_of_day, row_loc, row_scale),
        *per_origin_rows.T,
    ]
    names = list(_VALUE_FEATURES)
    grid_end = int(max(len(values), int(target.max()) + 1 if target.size else 0))
    cal = calendar_of(
        history.grid_us(grid_end), tz=history.tz, holidays=history.holidays, subdiv=history.holidays_subdiv
    ).matrix()
    cols += list(cal[target].T)
    names += list(CALENDAR_FEATURES)
    for name, ex in sorted(history.exog.items()):
        ex_mean, _, _ = _window_stats(ex, o, day)
        ex_last = _gather(ex, o - 1)
        ex_lag = _gather(ex, target - back_days * day)
        ex_lag[(target - back_days * day) >= oo] = np.nan
        cols += [np.repeat(ex_last, steps), np.repeat(ex_mean, steps), ex_lag]
        safe = re.sub(r"[^0-9A-Za-z]+", "_", name)  # LightGBM refuses ":" and "/" in feature names
        names += [f"exog_{safe}_{f}" for f in _EXOG_FEATURES]

    y = std(_gather(values, target), row_loc, row_scale)
    return FeatureRows(
        x=np.column_stack(cols).astype(np.float32),
        y=y,
        loc=row_loc,
        scale=row_scale,
        origin=oo,
        step=kk,
        names=tuple(names),
    )
