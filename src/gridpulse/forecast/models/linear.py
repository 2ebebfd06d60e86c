"""A linear direct multi-horizon model in the spirit of DLinear, fitted in closed form.

Strategy: direct multi-step, one linear map from the look-back window (default 336 hours) to
every step ahead at once. As DLinear (Zeng et al., "Are Transformers Effective for Time Series
Forecasting?", AAAI 2023) the window is split by a moving average (25 hours, the window's ends
repeated) into a trend and a remainder, each with its own weights; unlike DLinear the weights are
not learnt by gradient descent but solved by ridge least squares over every training window of
every series given to `fit` (a global model), from normal equations read off prefix sums of each
series' lagged products: no window is written out, memory is a (lookback + steps)² matrix and one
block of prefix sums per series, not the windows (1,000 series x a year hourly is 8.2 million
windows of 504 values), and a series costs (lookback + steps) x its length.

Normalisation per window: the window's last value is subtracted from its inputs and targets and
added back to the forecast (NLinear's trick), so a level shift moves the forecast with it; each
series is also divided by its own spread (standard deviation over its training windows) so that
a 10 MW feeder and a 1 kW meter weigh alike in the fit and share one intercept (a drift per step
ahead, in spreads).

The ridge strength is chosen on a time-ordered validation tail: the newest `validation_hours` of
origins of each series (at most a quarter of its windows), whose targets the first fit never
sees; then, with that strength, the weights are solved again on every window (`refit`). The first
fit's forecasts of the validation origins, one a day, give the bounds (per series and day ahead,
scaled by the series' spread at each origin, as the lightgbm model's) and, kept as `held_out`,
what the ensemble model weighs its members on.

Gaps: in training, gaps of at most `max_gap_hours` are filled linearly and windows (inputs or
targets) that still hold a gap are dropped. At forecast time every gap of the look-back window is
filled linearly (its ends with the nearest known value; a history shorter than the look-back is
extended back with its first value), because a forecast is needed anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from gridpulse.forecast.features import level_and_scale
from gridpulse.forecast.history import F64, History
from gridpulse.forecast.models.base import Model
from gridpulse.forecast.result import Forecast, HeldOut, error_quantiles, with_bounds

__all__ = ["LinearModel", "ma_matrix", "short_gaps_filled"]

#: ridge strengths tried, relative to the mean diagonal of the normal equations
RIDGE_GRID = tuple(float(10.0**e) for e in np.arange(-4.0, 3.01, 0.5))
#: lags per block of lagged-product prefix sums (a block of a year hourly is ~9 MB)
_LAG_BLOCK = 128


def ma_matrix(steps: int, kernel: int) -> F64:
    """The moving average of a window as a matrix A (trend = A @ window): each step averages the
    `kernel` steps centred on it, the window's first and last value repeated past its ends (as
    DLinear pads). `kernel` is odd."""
    half = kernel // 2
    a = np.zeros((steps, steps))
    rows = np.repeat(np.arange(steps), kernel)
    cols = np.clip(rows + np.tile(np.arange(-half, half + 1), steps), 0, steps - 1)
    np.add.at(a, (rows, cols), 1.0 / kernel)
    return a


def short_gaps_filled(values: F64, max_steps: int) -> F64:
    """`values` with each run of at most `max_steps` NaN between two known values filled
    linearly; longer runs and runs at either end stay NaN."""
    gap = np.isnan(values)
    if not gap.any() or gap.all() or max_steps <= 0:
        return values.copy()
    idx = np.arange(len(values))
    out: F64 = np.interp(idx, idx[~gap], values[~gap])
    # label each NaN run and measure it; runs touching an end are never filled
    starts = np.flatnonzero(gap & ~np.r_[False, gap[:-1]])
    ends = np.flatnonzero(gap & ~np.r_[gap[1:], False]) + 1
    for s, e in zip(starts, ends, strict=True):
        if e - s > max_steps or s == 0 or e == len(values):
            out[s:e] = np.nan
    return out


def _runs(origins: npt.NDArray[np.int64]) -> list[tuple[int, int]]:
    """Sorted origins as runs of consecutive ones: (first, last), both included."""
    if len(origins) == 0:
        return []
    breaks = np.flatnonzero(np.diff(origins) != 1)
    firsts = np.r_[origins[0], origins[breaks + 1]]
    lasts = np.r_[origins[breaks], origins[-1]]
    return [(int(a), int(b)) for a, b in zip(firsts, lasts, strict=True)]


def _window(values: F64, origin: int, steps: int) -> F64:
    """The `steps` values before `origin`, every gap filled linearly (ends: nearest value); the
    front of a history shorter than that takes its first value; an empty window takes the newest
    value before it. Raises ValueError when nothing before the origin is known."""
    w = np.full(steps, np.nan)
    got = values[max(0, origin - steps) : origin]
    w[steps - len(got) :] = got
    ok = ~np.isnan(w)
    if ok.all():
        return w
    if ok.any():
        idx = np.arange(steps)
        out: F64 = np.interp(idx, idx[ok], w[ok])
        return out
    known = np.flatnonzero(~np.isnan(values[:origin]))
    if known.size == 0:
        raise ValueError("no value before the origin to forecast from")
    return np.full(steps, values[known[-1]])


@dataclass
class _Normal:
    """Normal equations of windows in the (lookback + 1)-wide raw basis: G = X'X, B = X'Y, c = |Y|²."""

    g: F64
    b: F64
    c: float = 0.0
    n: int = 0

    def __iadd__(self, other: _Normal) -> _Normal:
        self.g += other.g
        self.b += other.b
        self.c += other.c
        self.n += other.n
        return self


class LinearModel(Model):
    """Ridge-fitted linear maps from the look-back window (trend and remainder) to every step ahead,
    one model for all series given to `fit`.

    Args:
        horizon_hours: how far ahead the model learns (168: 7 days); `predict` may ask less. [h]
        lookback_hours: the window each forecast reads, before its origin (DLinear: 336). [h]
        moving_average_hours: the moving average splitting trend from remainder (DLinear: 25). [h]
        ridge: a fixed ridge strength (relative to the mean diagonal of the normal equations);
            None chooses it from RIDGE_GRID on the validation tail.
        validation_hours: newest origins per series held out to choose the ridge strength and to
            calibrate the bounds (at most a quarter of the series' windows). [h]
        history_days: training origins per series: its newest days. [days]
        max_gap_hours: training gaps up to this long are filled linearly; windows with a longer
            one are dropped. [h]
        refit: solve again on every window (the validation tail too) once the strength is chosen.
        keep_held_out: keep the validation forecasts (`held_out`) after `fit`, for an ensemble.
    """

    name = "linear"

    def __init__(
        self,
        *,
        horizon_hours: int = 168,
        lookback_hours: int = 336,
        moving_average_hours: int = 25,
        ridge: float | None = None,
        validation_hours: int = 8 * 168,
        history_days: int = 365,
        max_gap_hours: int = 6,
        refit: bool = True,
        keep_held_out: bool = False,
    ) -> None:
        if lookback_hours < 1 or horizon_hours < 1:
            raise ValueError("lookback_hours and horizon_hours must be 1 or more")
        if ridge is not None and ridge < 0:
            raise ValueError(f"ridge={ridge} is negative: use 0 for plain least squares or None to choose it")
        self.horizon_hours = horizon_hours
        self.lookback_hours = lookback_hours
        self.moving_average_hours = moving_average_hours
        self.ridge = ridge
        self.validation_hours = validation_hours
        self.history_days = history_days
        self.max_gap_hours = max_gap_hours
        self.refit = refit
        self.keep_held_out = keep_held_out
        self.held_out: dict[str, HeldOut] = {}
        self._step_s = 0
        self._weights: F64 | None = None  # (2 lookback + 1, horizon) in the trend/remainder basis
        self._basis: F64 = np.zeros((0, 0))  # raw window (+1) -> trend, remainder (+1)
        self._spread: dict[str, float] = {}  # series name -> its spread in training
        self._quantiles: dict[str, F64] = {}  # series name -> (days ahead, 4) scaled error quantiles
        self._pooled: F64 = np.zeros((1, 4))
        self.chosen_ridge: float | None = None
        self.trained_windows = 0

    def params(self) -> dict[str, Any]:
        return {
            "strategy": "direct, one linear map per component to every step ahead",
            "horizon_hours": self.horizon_hours,
            "lookback_hours": self.lookback_hours,
            "moving_average_hours": self.moving_average_hours,
            "offset": "last value of the window",
            "ridge": self.ridge,
            "chosen_ridge": self.chosen_ridge,
            "validation_hours": self.validation_hours,
            "history_days": self.history_days,
            "max_gap_hours": self.max_gap_hours,
            "refit": self.refit,
            "trained_windows": self.trained_windows,
        }

    def version(self) -> str:
        return f"{super().version()}, numpy {np.__version__}"

    # ----------------------------------------------------------------------------- shapes
    def _sizes(self, step_s: int) -> tuple[int, int, int]:
        """(look-back, horizon, moving-average kernel) in steps of `step_s` seconds."""
        h = History("", 0, step_s, np.empty(0))
        kernel = max(1, h.steps_per(self.moving_average_hours * 3600)) if self.moving_average_hours else 1
        kernel += 1 - kernel % 2  # centred: odd
        return h.steps_per(self.lookback_hours * 3600), h.steps_per(self.horizon_hours * 3600), kernel

    @staticmethod
    def _normals(
        values: F64, sets: Sequence[npt.NDArray[np.int64]], lookback: int, steps: int, spread: float
    ) -> list[_Normal]:
        """Normal equations of the windows at each set of origins (each window complete: no NaN in
        its inputs or targets), without writing a window out.

        With v_p = u_p - u_{lookback-1} (window value p less the window's last input) every entry
        is a sum over origins of products u_p u_q = x[o - lookback + p] x[o - lookback + q]: a sum
        of x[t] x[t + d] (d = q - p) over a run of consecutive t, read off prefix sums of the lagged
        products of the series. So a series costs (lookback + steps) x its length, not that times
        its windows; the series is centred first so that the sums stay small.
        """
        window = lookback + steps
        n = len(values)
        known = ~np.isnan(values)
        x = np.where(known, values - (float(values[known].mean()) if known.any() else 0.0), 0.0)
        runs = [_runs(o) for o in sets]
        # m[p]: sum of u_p; big_m[p, q]: sum of u_p u_q (upper triangle, mirrored below)
        sums = np.r_[0.0, np.cumsum(x)]
        p_all = np.arange(window)
        ms = [np.zeros(window) for _ in sets]
        big = [np.zeros((window, window)) for _ in sets]
        for k, rr in enumerate(runs):
            for s0, e0 in rr:
                ms[k] += sums[e0 - lookback + p_all + 1] - sums[s0 - lookback + p_all]
        padded = np.r_[x, np.zeros(window)]
        lagged = sliding_window_view(padded, n)  # lagged[d, t] = x[t + d]
        for d0 in range(0, window, _LAG_BLOCK):
            d1 = min(window, d0 + _LAG_BLOCK)
            prefix = np.zeros((d1 - d0, n + 1))
            np.cumsum(lagged[d0:d1] * x[None, :], axis=1, out=prefix[:, 1:])
            # every pair (p, p + d) with d in this block
            dd = np.concatenate([np.full(window - d, d - d0) for d in range(d0, d1)])
            pp = np.concatenate([np.arange(window - d) for d in range(d0, d1)])
            qq = pp + dd + d0
            for k, rr in enumerate(runs):
                for s0, e0 in rr:
                    big[k][pp, qq] += prefix[dd, e0 - lookback + pp + 1] - prefix[dd, s0 - lookback + pp]
        out = []
        last = lookback - 1
        for m, mm, o in zip(ms, big, sets, strict=True):
            mm = np.triu(mm) + np.triu(mm, 1).T
            kk = mm - mm[:, [last]] - mm[[last], :] + mm[last, last]  # sums of v_p v_q
            mv = m - m[last]  # sums of v_p
            g = np.empty((lookback + 1, lookback + 1))
            g[:lookback, :lookback] = kk[:lookback, :lookback] / spread**2
            g[:lookback, lookback] = g[lookback, :lookback] = mv[:lookback] / spread
            g[lookback, lookback] = len(o)
            b = np.empty((lookback + 1, steps))
            b[:lookback] = kk[:lookback, lookback:] / spread**2
            b[lookback] = mv[lookback:] / spread
            c = float(np.trace(kk[lookback:, lookback:])) / spread**2
            out.append(_Normal(g, b, c, len(o)))
        return out

    def _in_basis(self, eq: _Normal) -> tuple[F64, F64]:
        """The normal equations of the trend/remainder inputs: (Z'Z, Z'Y) for Z = X @ basis."""
        gz: F64 = self._basis.T @ eq.g @ self._basis
        bz: F64 = self._basis.T @ eq.b
        return gz, bz

    @staticmethod
    def _solve(gz: F64, bz: F64, alpha: float) -> F64:
        """Ridge weights in the trend/remainder basis; the intercept (last) is not penalised."""
        p = len(gz)
        ridge = np.full(p, alpha * float(np.trace(gz)) / max(1, p - 1))
        ridge[-1] = 0.0
        a = gz + np.diag(ridge)
        if alpha > 0:
            w: F64 = np.linalg.solve(a, bz).astype(np.float64)
        else:  # trend + remainder = window: without a ridge the equations are singular; least norm
            w = np.linalg.lstsq(a, bz, rcond=None)[0].astype(np.float64)
        return w

    @staticmethod
    def _loss(gz: F64, bz: F64, c: float, w: F64) -> float:
        """Sum of squared errors of weights `w` on windows with normal equations (gz, bz, c = |Y|²)."""
        return c - 2.0 * float(np.sum(w * bz)) + float(np.sum(w * (gz @ w)))

    # ----------------------------------------------------------------------------- fit
    def fit(self, histories: Sequence[History]) -> LinearModel:
        if not histories:
            raise ValueError("no series to fit")
        if len({h.step_s for h in histories}) != 1:
            raise ValueError("every series of one linear fit needs the same step; fit them apart")
        step_s = histories[0].step_s
        lookback, steps, kernel = self._sizes(step_s)
        a = ma_matrix(lookback, kernel)
        basis = np.zeros((lookback + 1, 2 * lookback + 1))
        basis[:lookback, :lookback] = a.T
        basis[:lookback, lookback : 2 * lookback] = (np.eye(lookback) - a).T
        basis[lookback, 2 * lookback] = 1.0
        self._basis, self._step_s = basis, step_s
        self._quantiles, self._spread, self.held_out = {}, {}, {}
        day = histories[0].steps_per(86_400)
        max_gap = self.max_gap_hours * 3600 // step_s
        validation = self.validation_hours * 3600 // step_s
        fit_eq = _Normal(np.zeros((lookback + 1, lookback + 1)), np.zeros((lookback + 1, steps)))
        val_eq = _Normal(np.zeros_like(fit_eq.g), np.zeros_like(fit_eq.b))
        rest_eq = _Normal(np.zeros_like(fit_eq.g), np.zeros_like(fit_eq.b))
        held: list[tuple[History, npt.NDArray[np.int64]]] = []
        for h in histories:
            values = short_gaps_filled(h.values, max_gap)
            n = len(values)
            first = max(lookback, n - steps + 1 - self.history_days * day)
            origins = np.arange(first, n - steps + 1, dtype=np.int64)
            if len(origins) == 0:
                continue
            # a window is complete when none of its lookback + steps values is NaN
            nan = np.r_[0, np.cumsum(np.isnan(values))]
            origins = origins[nan[origins + steps] - nan[origins - lookback] == 0]
            if len(origins) == 0:
                continue
            known = values[origins[0] - lookback : origins[-1] + steps]
            spread = float(np.nanstd(known))
            if not spread > 1e-9 * (float(np.nanmean(np.abs(known))) + 1.0):
                spread = float(np.nanmean(np.abs(known))) or 1.0
            self._spread[h.name] = spread
            n_held = min(validation, len(origins) // 4)
            first_val = int(origins[-n_held]) if n_held else n
            # held out means held out: no fit target may fall at or after the first validation origin
            fit_origins = origins[origins + steps <= first_val]
            if n_held and len(fit_origins) == 0:
                fit_origins, first_val = origins, n  # too short to hold anything out
            # the windows whose targets straddle the first validation origin join only the refit
            val_origins = origins[origins >= first_val]
            between = origins[(origins + steps > first_val) & (origins < first_val)]
            eqs = self._normals(values, [fit_origins, val_origins, between], lookback, steps, spread)
            fit_eq += eqs[0]
            val_eq += eqs[1]
            rest_eq += eqs[2]
            if first_val < n:
                # forecasts of the tail, one origin a day, counted back from the history's end (the
                # lightgbm model's calibration origins, so an ensemble can pair them)
                daily = np.arange(n - 1, first_val - 1, -day, dtype=np.int64)[::-1]
                held.append((h, daily[daily + steps <= n]))
        if fit_eq.n == 0:
            raise ValueError(
                f"no history is long enough to train on: the linear model needs {lookback + steps} steps "
                f"({self.lookback_hours} h look-back + {self.horizon_hours} h ahead) without a gap "
                f"longer than {self.max_gap_hours} h"
            )
        if self.ridge is not None:
            alpha = self.ridge
        elif val_eq.n:
            fit_z, val_z = self._in_basis(fit_eq), self._in_basis(val_eq)
            losses = {a_: self._loss(*val_z, val_eq.c, self._solve(*fit_z, a_)) for a_ in RIDGE_GRID}
            alpha = min(losses, key=lambda k: losses[k])
        else:
            alpha = 1.0  # nothing held out to choose on: a middle strength
        self.chosen_ridge = alpha
        self._weights = self._solve(*self._in_basis(fit_eq), alpha)
        self._calibrate(held, steps)
        if self.refit and val_eq.n:
            fit_eq += val_eq
            fit_eq += rest_eq
            self._weights = self._solve(*self._in_basis(fit_eq), alpha)
        self.trained_windows = fit_eq.n
        if not self.keep_held_out:
            self.held_out = {}
        return self

    def _calibrate(self, held: list[tuple[History, npt.NDArray[np.int64]]], steps: int) -> None:
        """Scaled error quantiles per series and day ahead, from the first fit's held-out forecasts."""
        pooled: dict[int, list[F64]] = {}
        for h, origins in held:
            if len(origins) == 0:
                continue
            mean = self._forecast([(h, int(o)) for o in origins], steps)
            idx = origins[:, None] + np.arange(steps)[None, :]
            actual = h.values[idx]
            week = h.steps_per(7 * 86_400)
            spread = np.array([level_and_scale(h.values[: int(o)], week)[1] for o in origins])
            self.held_out[h.name] = HeldOut(origins, actual, mean, spread)
            err = (actual - mean) / spread[:, None]
            day = np.arange(steps) // h.steps_per(86_400)
            q = np.zeros((int(day.max()) + 1, 4))
            for d in range(len(q)):
                e = err[:, day == d].ravel()
                pooled.setdefault(d, []).append(e)
                q[d] = error_quantiles(e)
            self._quantiles[h.name] = q
        days = max(pooled, default=0) + 1
        self._pooled = np.array([error_quantiles(np.concatenate(pooled.get(d, [np.empty(0)]))) for d in range(days)])

    # ----------------------------------------------------------------------------- predict
    def _forecast(self, at: Sequence[tuple[History, int]], steps: int) -> F64:
        """Mean forecasts (len(at), steps) from each (history, origin index), in the series' unit."""
        assert self._weights is not None
        lookback = self._basis.shape[0] - 1
        x = np.empty((len(at), lookback + 1))
        for i, (h, o) in enumerate(at):
            try:
                x[i, :lookback] = _window(h.values, o, lookback)
            except ValueError:
                raise ValueError(f"{h.name!r}: no value before the origin to forecast from") from None
        off = x[:, lookback - 1 : lookback].copy()
        spread = np.array([self._spread.get(h.name) or _own_spread(h.values) for h, _ in at])[:, None]
        x[:, :lookback] = (x[:, :lookback] - off) / spread
        x[:, lookback] = 1.0
        out: F64 = off + (x @ self._basis @ self._weights[:, :steps]) * spread
        return out

    def predict(self, histories: Sequence[History], steps: int) -> list[Forecast]:
        if self._weights is None:
            raise ValueError("the linear model predicts only after fit")
        out = []
        for h in histories:
            if h.step_s != self._step_s:
                raise ValueError(f"{h.name!r} steps {h.step_s} s; this model was fitted on {self._step_s} s steps")
            if steps > self._weights.shape[1]:
                raise ValueError(f"this model was trained for {self.horizon_hours} h ahead, asked for {steps} steps")
        means = self._forecast([(h, len(h.values)) for h in histories], steps) if histories else np.empty((0, steps))
        for h, mean in zip(histories, means, strict=True):
            q = self._quantiles.get(h.name, self._pooled)
            day = np.minimum(np.arange(steps) // h.steps_per(86_400), len(q) - 1)
            _, spread = level_and_scale(h.values, h.steps_per(7 * 86_400))
            out.append(with_bounds(h.name, h.end_us, h.step_s, mean, q[day] * spread, series_id=h.series_id))
        return out


def _own_spread(values: F64) -> float:
    """A series' spread when the fit did not see it: the standard deviation of its values."""
    ok = values[~np.isnan(values)]
    if ok.size == 0:
        return 1.0
    spread = float(ok.std())
    return spread if spread > 1e-9 * (float(np.abs(ok).mean()) + 1.0) else (float(np.abs(ok).mean()) or 1.0)
