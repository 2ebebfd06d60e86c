"""The forecasting models, by name: seasonal-naive (the baseline), lightgbm and linear (global),
mstl (local), ensemble (lightgbm and linear blended)."""

from __future__ import annotations

from typing import Any

from gridpulse.forecast.models.base import Model
from gridpulse.forecast.models.ensemble import EnsembleModel
from gridpulse.forecast.models.gbm import LightGBMModel
from gridpulse.forecast.models.linear import LinearModel
from gridpulse.forecast.models.naive import SeasonalNaive
from gridpulse.forecast.models.stats import MSTLModel

__all__ = ["MODELS", "EnsembleModel", "LightGBMModel", "LinearModel", "MSTLModel", "Model", "SeasonalNaive", "make_model"]

MODELS: dict[str, type[Model]] = {
    SeasonalNaive.name: SeasonalNaive,
    LightGBMModel.name: LightGBMModel,
    MSTLModel.name: MSTLModel,
    LinearModel.name: LinearModel,
    EnsembleModel.name: EnsembleModel,
}


def make_model(name: str, **params: Any) -> Model:
    """The model called `name` with its settings. Raises ValueError naming the known models."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"model={name!r} is not one of {', '.join(MODELS)}") from None
    return cls(**params)
