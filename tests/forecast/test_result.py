"""Forecasts of series that never went below zero are never below zero either."""

from __future__ import annotations

import numpy as np

from gridpulse.forecast.result import Forecast, floored_like


def _fc() -> Forecast:
    mean = np.array([0.5, 0.1])
    return Forecast("m", 0, 3600, mean, mean - 0.2, mean + 0.2, mean - 0.4, mean + 0.4)


def test_a_consumption_only_history_floors_mean_and_bounds_at_zero() -> None:
    got = floored_like(_fc(), np.array([0.0, 1.2, np.nan, 0.3]))
    np.testing.assert_allclose(got.lo80, [0.3, 0.0])
    np.testing.assert_allclose(got.lo95, [0.1, 0.0])
    np.testing.assert_allclose(got.mean, [0.5, 0.1])
    np.testing.assert_allclose(got.hi95, [0.9, 0.5])


def test_a_history_with_negative_values_keeps_negative_bounds() -> None:
    fc = _fc()
    got = floored_like(fc, np.array([1.0, -0.5]))
    np.testing.assert_allclose(got.lo95, fc.lo95)
    assert got.lo95.min() < 0
