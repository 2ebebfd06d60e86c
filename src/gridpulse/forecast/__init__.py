"""Forecasting: histories on a grid, leak-free features, models, rolling-origin backtests.

Pure computation on numpy arrays; reading series from the store and storing forecasts is
`gridpulse.jobs.forecasts`' work.
"""

from __future__ import annotations

from gridpulse.forecast.backtest import BacktestResult, backtest
from gridpulse.forecast.history import History, on_grid
from gridpulse.forecast.models import (
    MODELS,
    EnsembleModel,
    LightGBMModel,
    LinearModel,
    Model,
    MSTLModel,
    SeasonalNaive,
    make_model,
)
from gridpulse.forecast.result import LEVELS, Forecast

__all__ = [
    "LEVELS",
    "MODELS",
    "BacktestResult",
    "EnsembleModel",
    "Forecast",
    "History",
    "LightGBMModel",
    "LinearModel",
    "MSTLModel",
    "Model",
    "SeasonalNaive",
    "backtest",
    "make_model",
    "on_grid",
]
