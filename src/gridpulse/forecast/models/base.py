"""The interface every forecasting model has: fit, predict, cross-validate."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from gridpulse import __version__
from gridpulse.forecast.history import History
from gridpulse.forecast.result import Forecast

__all__ = ["Model"]


class Model(abc.ABC):
    """A forecasting model. `fit` learns from histories; `predict` forecasts each history's next
    `steps` steps from its end (its origin), with 80 % and 95 % bounds.

    Local models (one fit per series) may fit inside `predict`; global models (one fit across
    many series) need `fit` first and use what it learnt for any history given to `predict`.
    """

    #: the name stored with each forecast and accepted by `make_model`
    name: str = ""

    @abc.abstractmethod
    def fit(self, histories: Sequence[History]) -> Model:
        """Learn from the histories (everything in them is training data). Returns self."""

    @abc.abstractmethod
    def predict(self, histories: Sequence[History], steps: int) -> list[Forecast]:
        """The next `steps` steps of each history, from its end; one Forecast per history."""

    def params(self) -> dict[str, Any]:
        """The settings that shape this model's forecasts, stored with them (JSON-ready)."""
        return {}

    def version(self) -> str:
        """What produced the forecasts: gridpulse's version and the library doing the work."""
        return f"gridpulse {__version__}"

    def cross_validate(
        self, histories: Sequence[History], *, steps: int, origins: int = 4, stride_steps: int | None = None
    ) -> Any:
        """Rolling-origin backtest of this model (see `gridpulse.forecast.backtest.backtest`)."""
        from gridpulse.forecast.backtest import backtest

        return backtest(self, histories, steps=steps, origins=origins, stride_steps=stride_steps)
