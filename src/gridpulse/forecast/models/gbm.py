"""A global gradient-boosted model (LightGBM) trained across many series at once.

Strategy: direct multi-step with the step ahead as a feature. One model predicts every step
from features known at the origin (`gridpulse.forecast.features`), so errors do not feed back
into later steps as in a recursive forecast, and one model (not 168) is trained. Bounds are split
conformal: the model is trained on all origins but the newest `calibration_origins`, whose errors
(per series and day ahead, scaled) give the quantiles.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from gridpulse.errors import GridpulseError
from gridpulse.forecast.features import FeatureRows, feature_rows
from gridpulse.forecast.history import F64, History
from gridpulse.forecast.models.base import Model
from gridpulse.forecast.result import Forecast, error_quantiles, with_bounds

__all__ = ["LightGBMModel"]


class ForecastDependencyMissing(GridpulseError):
    """An optional forecasting library is not installed."""


def _lightgbm() -> Any:
    # OpenMP threads that spin while waiting starve the server's other threads on a small
    # machine (a one-meter fit took 0.2 s alone, up to 33 s beside ingest); read at first load
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import lightgbm
    except ImportError:
        raise ForecastDependencyMissing(
            "the lightgbm model needs LightGBM: pip install 'gridpulse[forecast]'"
        ) from None
    return lightgbm


class LightGBMModel(Model):
    """LightGBM over direct-horizon features, one model for all series given to `fit`.

    Args:
        horizon_hours: how far ahead the model learns (168: 7 days); `predict` may ask less. [h]
        stride_hours: hours between training origins. [h]
        max_origins: training origins per series, the newest.
        max_rows: training rows in all; origins are thinned evenly beyond it (memory, time).
        calibration_origins: newest origins per series kept out of training for the bounds.
        rounds, learning_rate, num_leaves, min_data_in_leaf: LightGBM's.
        threads: LightGBM threads; 0: one per core.
        seed: for repeatable fits.
    """

    name = "lightgbm"

    def __init__(
        self,
        *,
        horizon_hours: int = 168,
        stride_hours: int = 24,
        max_origins: int = 365,
        max_rows: int = 4_000_000,
        calibration_origins: int = 14,
        rounds: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 63,
        min_data_in_leaf: int = 100,
        threads: int = 0,
        seed: int = 7,
    ) -> None:
        self.horizon_hours = horizon_hours
        self.stride_hours = stride_hours
        self.max_origins = max_origins
        self.max_rows = max_rows
        self.calibration_origins = calibration_origins
        self.rounds = rounds
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.threads = threads
        self.seed = seed
        self._booster: Any = None
        self._names: tuple[str, ...] = ()
        self._quantiles: dict[str, F64] = {}  # series name -> (days ahead, 4) scaled error quantiles
        self._pooled: F64 = np.zeros((1, 4))
        self.trained_rows = 0

    def params(self) -> dict[str, Any]:
        return {
            "strategy": "direct, step ahead as a feature",
            "horizon_hours": self.horizon_hours,
            "stride_hours": self.stride_hours,
            "max_origins": self.max_origins,
            "max_rows": self.max_rows,
            "calibration_origins": self.calibration_origins,
            "rounds": self.rounds,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "trained_rows": self.trained_rows,
        }

    def version(self) -> str:
        return f"{super().version()}, lightgbm {_lightgbm().__version__}"

    def _steps(self, h: History) -> int:
        return h.steps_per(self.horizon_hours * 3600)

    def _origins(self, h: History) -> npt.NDArray[np.int64]:
        """Training origins of one history: every stride, newest last, each with two weeks behind it."""
        stride = max(1, h.steps_per(self.stride_hours * 3600))
        first = 2 * h.steps_per(7 * 86_400)
        last = len(h.values) - 1
        if last < first:
            return np.empty(0, np.int64)
        origins = np.arange(last, first - 1, -stride, dtype=np.int64)[::-1]
        return origins[-self.max_origins :]

    def fit(self, histories: Sequence[History]) -> LightGBMModel:
        lgb = _lightgbm()
        self._quantiles = {}  # a refit forgets the previous fit's series
        per = [self._origins(h) for h in histories]
        total = sum(len(o) * self._steps(h) for h, o in zip(histories, per, strict=True))
        if total > self.max_rows:  # thin every series' origins evenly, keeping the newest
            keep = max(self.calibration_origins + 1, int(len(max(per, key=len)) * self.max_rows / total))
            per = [o[np.linspace(0, len(o) - 1, min(len(o), keep)).round().astype(int)] if len(o) else o for o in per]
        train: list[FeatureRows] = []
        calib: list[tuple[History, FeatureRows]] = []
        for h, origins in zip(histories, per, strict=True):
            if len(origins) == 0:
                continue
            rows = feature_rows(h, origins, self._steps(h))
            if len(origins) > 1:
                first_cal = int(origins[-min(self.calibration_origins, len(origins) - 1)])
                is_cal = rows.origin >= first_cal
                # held out means held out: no training target may fall in the calibration window
                # (an origin a week earlier forecasts into it), or the bounds come out too narrow
                is_train = rows.origin + rows.step < first_cal
                train.append(_subset(rows, is_train))
                calib.append((h, _subset(rows, is_cal)))
            else:
                train.append(rows)
        if not train:
            raise ValueError("no history is long enough to train on: each needs more than two weeks")
        x = np.concatenate([r.x for r in train])
        y = np.concatenate([r.y for r in train])
        ok = ~np.isnan(y)
        self._names = train[0].names
        self.trained_rows = int(ok.sum())
        params = {
            "objective": "l2",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": 0.9,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "num_threads": self.threads,
            "seed": self.seed,
            "verbosity": -1,
            "force_row_wise": True,
        }
        data = lgb.Dataset(x[ok], y[ok], feature_name=list(self._names), free_raw_data=True)
        self._booster = lgb.train(params, data, num_boost_round=self.rounds)
        self._calibrate(calib)
        return self

    def _calibrate(self, calib: list[tuple[History, FeatureRows]]) -> None:
        """Scaled error quantiles per series and day ahead, from the held-out origins."""
        pooled: dict[int, list[F64]] = {}
        for h, rows in calib:
            err = rows.y - self._booster.predict(rows.x)
            day = rows.step // h.steps_per(86_400)
            q = np.zeros((int(day.max()) + 1, 4))
            for d in range(len(q)):
                e = err[day == d]
                pooled.setdefault(d, []).append(e)
                q[d] = error_quantiles(e)
            self._quantiles[h.name] = q
        days = max(pooled, default=0) + 1
        self._pooled = np.array([error_quantiles(np.concatenate(pooled.get(d, [np.empty(0)]))) for d in range(days)])

    def predict(self, histories: Sequence[History], steps: int) -> list[Forecast]:
        if self._booster is None:
            raise ValueError("the lightgbm model predicts only after fit")
        out = []
        for h in histories:
            if steps > self._steps(h):
                raise ValueError(f"this model was trained for {self.horizon_hours} h ahead, asked for {steps} steps")
            rows = feature_rows(h, np.array([len(h.values)], np.int64), steps)
            mean = self._booster.predict(rows.x) * rows.scale
            q = self._quantiles.get(h.name, self._pooled)
            day = np.minimum(np.arange(steps) // h.steps_per(86_400), len(q) - 1)
            per_step = q[day] * rows.scale[:, None]
            out.append(with_bounds(h.name, h.end_us, h.step_s, mean, per_step, series_id=h.series_id))
        return out


def _subset(rows: FeatureRows, mask: npt.NDArray[np.bool_]) -> FeatureRows:
    return FeatureRows(rows.x[mask], rows.y[mask], rows.scale[mask], rows.origin[mask], rows.step[mask], rows.names)
