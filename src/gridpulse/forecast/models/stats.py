"""MSTL: daily and weekly seasonality peeled off by STL, the rest forecast by ETS (statsforecast).

A local model: each series is fitted on its own newest `train_weeks` at predict time, so `fit`
learns nothing. Gaps are interpolated linearly before fitting (STL needs a complete series).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gridpulse.errors import GridpulseError
from gridpulse.forecast.history import F64, History
from gridpulse.forecast.models.base import Model
from gridpulse.forecast.result import Forecast

__all__ = ["MSTLModel", "interpolated"]


def _statsforecast() -> Any:
    try:
        import statsforecast
        from statsforecast import models
    except ImportError:
        raise GridpulseError("the mstl model needs statsforecast: pip install 'gridpulse[forecast]'") from None
    return statsforecast, models


def interpolated(y: F64) -> F64:
    """NaN gaps filled linearly between their neighbours, the ends with the nearest value."""
    ok = ~np.isnan(y)
    if ok.all() or not ok.any():
        return y.copy()
    idx = np.arange(len(y))
    out: F64 = np.interp(idx, idx[ok], y[ok])
    return out


class MSTLModel(Model):
    """statsforecast's MSTL with seasons of one day and one week, AutoETS (no seasonality) on
    the trend; its own 80 % and 95 % prediction intervals.

    Args:
        train_weeks: newest weeks of each history it is fitted on. [weeks]
    """

    name = "mstl"

    def __init__(self, train_weeks: int = 12) -> None:
        if train_weeks < 3:
            raise ValueError("train_weeks must be 3 or more: weekly seasonality needs two full weeks")
        self.train_weeks = train_weeks

    def params(self) -> dict[str, Any]:
        return {"train_weeks": self.train_weeks, "seasons": ["day", "week"], "trend": "AutoETS(ZZN)"}

    def version(self) -> str:
        sf, _ = _statsforecast()
        return f"{super().version()}, statsforecast {sf.__version__}"

    def fit(self, histories: Sequence[History]) -> MSTLModel:
        _statsforecast()  # fail early when it is not installed
        return self

    def predict(self, histories: Sequence[History], steps: int) -> list[Forecast]:
        _, models = _statsforecast()
        out = []
        for h in histories:
            day, week = h.steps_per(86_400), h.steps_per(7 * 86_400)
            y = interpolated(h.values[-self.train_weeks * week :])
            if len(y) < 2 * week or np.isnan(y).all():
                raise ValueError(f"{h.name!r}: mstl needs two weeks of history, it has {len(h.values)} steps")
            model = models.MSTL(season_length=[day, week], trend_forecaster=models.AutoETS(model="ZZN"))
            got = model.forecast(y=y.astype(np.float64), h=steps, level=[80, 95])
            out.append(
                Forecast(
                    h.name,
                    h.end_us,
                    h.step_s,
                    np.asarray(got["mean"], np.float64),
                    lo80=np.asarray(got["lo-80"], np.float64),
                    hi80=np.asarray(got["hi-80"], np.float64),
                    lo95=np.asarray(got["lo-95"], np.float64),
                    hi95=np.asarray(got["hi-95"], np.float64),
                    series_id=h.series_id,
                )
            )
        return out
