"""Seasonal naive: each step repeats the same slot one season earlier; the baseline to beat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gridpulse.forecast.history import F64, History
from gridpulse.forecast.models.base import Model
from gridpulse.forecast.result import Forecast, error_quantiles, with_bounds

__all__ = ["SeasonalNaive"]

_SEASONS = {"day": 86_400, "week": 7 * 86_400}


class SeasonalNaive(Model):
    """y[t] = y[t - season]; a missing value there takes the same slot one season further back.

    Bounds come from the naive forecast's own errors over the last `calibration_seasons` seasons
    of the history, per number of seasons jumped back (a step two seasons ahead errs more).
    """

    name = "seasonal-naive"

    def __init__(self, season: str = "week", calibration_seasons: int = 8) -> None:
        if season not in _SEASONS:
            raise ValueError(f"season={season!r} is not one of {', '.join(_SEASONS)}")
        self.season = season
        self.calibration_seasons = calibration_seasons

    def params(self) -> dict[str, Any]:
        return {"season": self.season, "calibration_seasons": self.calibration_seasons}

    def fit(self, histories: Sequence[History]) -> SeasonalNaive:
        return self  # nothing to learn beyond each history itself

    def predict(self, histories: Sequence[History], steps: int) -> list[Forecast]:
        return [self._one(h, steps) for h in histories]

    def _one(self, h: History, steps: int) -> Forecast:
        m = h.steps_per(_SEASONS[self.season])
        y = h.values
        n = len(y)
        k = np.arange(steps)
        jumps = k // m + 1
        mean = np.full(steps, np.nan)
        # the newest non-missing value of the same slot, up to a year of seasons back
        for extra in range(max(1, 366 * 86_400 // (m * h.step_s))):
            idx = n + k - (jumps + extra) * m
            todo = np.isnan(mean) & (idx >= 0)
            if not todo.any():
                break
            mean[todo] = y[idx[todo]]
        q = np.zeros((steps, 4))
        for j in np.unique(jumps):
            q[jumps == j] = error_quantiles(self._errors(y, int(j) * m, self.calibration_seasons * m))
        return with_bounds(h.name, h.end_us, h.step_s, mean, q, series_id=h.series_id)

    @staticmethod
    def _errors(y: F64, lag: int, window: int) -> F64:
        """y[t] - y[t - lag] over the last `window` steps: the naive forecast's in-sample errors."""
        if len(y) <= lag:
            return np.empty(0)
        err: F64 = y[lag:] - y[:-lag]
        return err[-window:]
