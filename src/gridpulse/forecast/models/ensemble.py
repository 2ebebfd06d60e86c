"""The lightgbm and linear models blended, with the weight chosen on origins the fits never saw.

Both members hold out the newest origins of each training history (lightgbm for its bounds,
linear for its ridge strength) and forecast them, one origin a day counted back from the
history's end, from fits that saw none of their targets. On the origins both held out, the blend
weight of each day ahead is the one (0, 0.05, ..., 1) with the lowest MASE over the series (each
series' absolute errors over its daily seasonal-naive scale, so a big region does not outvote a
small one); the blend's own errors there give its bounds (per series and day ahead, scaled by the
series' spread at each origin, as the members'). Nothing after the training window is read: the
weight of a backtest's origin is chosen inside the window cut at that origin. Histories too short
for one linear window (look-back + horizon: 3 weeks) are forecast by lightgbm alone, which needs
two weeks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gridpulse.forecast.features import level_and_scale
from gridpulse.forecast.history import F64, History
from gridpulse.forecast.metrics import naive_scale
from gridpulse.forecast.models.base import Model
from gridpulse.forecast.models.gbm import LightGBMModel, _lightgbm
from gridpulse.forecast.models.linear import LinearModel
from gridpulse.forecast.result import Forecast, error_quantiles, with_bounds

__all__ = ["EnsembleModel"]

#: blend weights of lightgbm tried (linear gets the rest)
WEIGHT_GRID = tuple(float(w) for w in np.round(np.arange(0.0, 1.0001, 0.05), 2))


class EnsembleModel(Model):
    """w x lightgbm + (1 - w) x linear, w per day ahead chosen on held-out origins.

    Args:
        horizon_hours: how far ahead both members learn. [h]
        per_day: one weight per day ahead (True) or one for the whole horizon.
        lightgbm, linear: settings passed on to each member (`make_model`'s).
    """

    name = "ensemble"

    def __init__(
        self,
        *,
        horizon_hours: int = 168,
        per_day: bool = True,
        lightgbm: dict[str, Any] | None = None,
        linear: dict[str, Any] | None = None,
    ) -> None:
        self.horizon_hours = horizon_hours
        self.per_day = per_day
        self.gbm = LightGBMModel(horizon_hours=horizon_hours, **(lightgbm or {}), keep_held_out=True)
        self.linear = LinearModel(horizon_hours=horizon_hours, **(linear or {}), keep_held_out=True)
        self.weights: F64 = np.full(1, 0.5)  # lightgbm's weight per day ahead
        self.held_out_origins = 0
        self._quantiles: dict[str, F64] = {}
        self._pooled: F64 | None = None
        self._fitted = False
        self._linear_fitted = False

    def params(self) -> dict[str, Any]:
        return {
            "strategy": "blend of lightgbm and linear, weight per day ahead chosen on held-out origins",
            "horizon_hours": self.horizon_hours,
            "per_day": self.per_day,
            "lightgbm_weight": [round(float(w), 2) for w in self.weights],
            "linear_fitted": self._linear_fitted,
            "held_out_origins": self.held_out_origins,
            "lightgbm": self.gbm.params(),
            "linear": self.linear.params(),
        }

    def version(self) -> str:
        return f"{super().version()}, lightgbm {_lightgbm().__version__}, numpy {np.__version__}"

    def fit(self, histories: Sequence[History]) -> EnsembleModel:
        self.gbm.fit(histories)
        try:
            self.linear.fit(histories)
            self._linear_fitted = True
        except ValueError:
            # too short for one look-back + horizon window (lightgbm needs only two weeks): lightgbm alone
            self._linear_fitted = False
        # pairs of held-out forecasts of the same series and origin: (series, actual, gbm, linear, spread)
        pairs: list[tuple[History, F64, F64, F64, F64]] = []
        for h in histories:
            g, lin = self.gbm.held_out.get(h.name), self.linear.held_out.get(h.name)
            if g is None or lin is None:
                continue
            common, gi, li = np.intersect1d(g.origin, lin.origin, return_indices=True)
            if len(common) == 0:
                continue
            steps = min(g.mean.shape[1], lin.mean.shape[1])
            pairs.append((h, lin.actual[li, :steps], g.mean[gi, :steps], lin.mean[li, :steps], lin.spread[li]))
        self.held_out_origins = sum(len(p[1]) for p in pairs)
        self._quantiles, self._pooled = {}, None
        if not self._linear_fitted:
            self.weights = np.ones(1)
        else:
            self.weights = self._choose(pairs) if pairs else np.full(1, 0.5)
        if pairs:
            self._calibrate(pairs)
        # the members' held-out forecasts are no longer needed
        self.gbm.held_out, self.linear.held_out = {}, {}
        self._fitted = True
        return self

    def _day_weights(self, steps: int, day: int) -> F64:
        """lightgbm's weight at each step ahead."""
        d = np.minimum(np.arange(steps) // day, len(self.weights) - 1)
        return self.weights[d]

    def _choose(self, pairs: list[tuple[History, F64, F64, F64, F64]]) -> F64:
        """Per day ahead (or for the whole horizon), the grid weight with the lowest mean MASE."""
        day = pairs[0][0].steps_per(86_400)
        steps = max(p[1].shape[1] for p in pairs)
        days = -(-steps // day) if self.per_day else 1
        # per series, day ahead and weight: summed |error| / scale, and how many steps counted
        err = np.zeros((days, len(WEIGHT_GRID)))
        for h, actual, g, lin, _ in pairs:
            scale = naive_scale(h.values, day)
            if not scale > 0:
                continue
            which = (np.arange(actual.shape[1]) // day) if self.per_day else np.zeros(actual.shape[1], int)
            for j, w in enumerate(WEIGHT_GRID):
                e = np.abs(actual - (w * g + (1 - w) * lin)) / scale
                for d in range(days):
                    part = e[:, which == d]
                    ok = ~np.isnan(part)
                    if ok.any():
                        err[d, j] += float(part[ok].mean())
        return np.array([WEIGHT_GRID[int(np.argmin(row))] for row in err])

    def _calibrate(self, pairs: list[tuple[History, F64, F64, F64, F64]]) -> None:
        """The blend's scaled error quantiles per series and day ahead, and pooled over series."""
        pooled: dict[int, list[F64]] = {}
        for h, actual, g, lin, spread in pairs:
            day = h.steps_per(86_400)
            w = self._day_weights(actual.shape[1], day)
            err = (actual - (w * g + (1 - w) * lin)) / spread[:, None]
            which = np.arange(actual.shape[1]) // day
            q = np.zeros((int(which.max()) + 1, 4))
            for d in range(len(q)):
                e = err[:, which == d].ravel()
                pooled.setdefault(d, []).append(e)
                q[d] = error_quantiles(e)
            self._quantiles[h.name] = q
        self._pooled = np.array([error_quantiles(np.concatenate(pooled[d])) for d in sorted(pooled)])

    def predict(self, histories: Sequence[History], steps: int) -> list[Forecast]:
        if not self._fitted:
            raise ValueError("the ensemble model predicts only after fit")
        if not self._linear_fitted:
            return self.gbm.predict(histories, steps)
        out = []
        for h, g, lin in zip(histories, self.gbm.predict(histories, steps), self.linear.predict(histories, steps), strict=True):
            w = self._day_weights(steps, h.steps_per(86_400))
            mean = w * g.mean + (1 - w) * lin.mean
            q = self._quantiles.get(h.name, self._pooled)
            if q is None:  # nothing held out to calibrate on: the members' bounds, blended alike
                lo80, hi80 = w * g.lo80 + (1 - w) * lin.lo80, w * g.hi80 + (1 - w) * lin.hi80
                lo95, hi95 = w * g.lo95 + (1 - w) * lin.lo95, w * g.hi95 + (1 - w) * lin.hi95
                out.append(Forecast(h.name, h.end_us, h.step_s, mean, lo80, hi80, lo95, hi95, series_id=h.series_id))
                continue
            day = np.minimum(np.arange(steps) // h.steps_per(86_400), len(q) - 1)
            _, spread = level_and_scale(h.values, h.steps_per(7 * 86_400))
            out.append(with_bounds(h.name, h.end_us, h.step_s, mean, q[day] * spread, series_id=h.series_id))
        return out
