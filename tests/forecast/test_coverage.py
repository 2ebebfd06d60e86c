"""Interval coverage and accuracy on a series whose noise is known: a daily + weekly load shape
plus iid N(0, sigma) noise, backtested over many origins.

How close to nominal is close enough. A backtest scores N steps; were their in/out outcomes
independent, the share inside a p interval would have standard error sqrt(p (1 - p) / N). We
allow 5 of those (the steps are not quite independent: the steps of one origin share one set of
calibration quantiles, and seasonal-naive neighbours a week apart share a noise term), plus the
one-sided shortfall of reading bounds from n calibration errors: with numpy's linear quantiles
the interval between the empirical alpha/2 and 1 - alpha/2 quantiles of n exchangeable errors
holds a new one with probability (1 - alpha)(n - 1)/(n + 1), at most 2/n below nominal.

Seasonal naive: the error is e[t] - e[t - week] ~ N(0, 2 sigma^2), its bounds come from 8 weeks
of those (n = 1344). LightGBM, linear and their ensemble: bounds
from the held-out calibration (validation) origins, at least 7 origins x 24 steps per day ahead
(n >= 168). MSTL's intervals are statsforecast's own: only their order is
checked.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest

from gridpulse.forecast import (
    BacktestResult,
    EnsembleModel,
    LightGBMModel,
    LinearModel,
    Model,
    MSTLModel,
    SeasonalNaive,
    backtest,
)
from tests.forecast.series import synthetic

SIGMA = 2.0
NOISE_MAE = SIGMA * math.sqrt(2 / math.pi)  # E|N(0, sigma^2)|: the best any forecast can do
SERIES = 2
STEPS = 168

# name -> (model, origins, calibration errors per bound)
SETUPS: dict[str, tuple[Model, int, int]] = {
    "seasonal-naive": (SeasonalNaive(), 20, 8 * 168),
    "lightgbm": (
        LightGBMModel(rounds=60, learning_rate=0.2, num_leaves=15, max_origins=60, threads=1),
        20,
        7 * 24,
    ),
    # a model flexible enough to remember single training targets (small leaves, many of them)
    "lightgbm-flexible": (
        LightGBMModel(
            rounds=100, learning_rate=0.2, num_leaves=255, min_data_in_leaf=5, max_origins=30, threads=1
        ),
        8,
        7 * 24,
    ),
    # bounds from the validation tail: 8 weeks of daily origins, less the one a week must leave
    "linear": (LinearModel(), 20, 7 * 24),
    "ensemble": (
        EnsembleModel(lightgbm={"rounds": 60, "learning_rate": 0.2, "num_leaves": 15, "max_origins": 60, "threads": 1}),
        8,
        7 * 24,
    ),
}


@cache
def run(name: str) -> BacktestResult:
    model, origins, _ = SETUPS[name]
    # weeks: the origins, 10 weeks of training history before the oldest, and the last horizon
    histories = [synthetic(f"s{i}", weeks=origins + 11, sigma=SIGMA, seed=10 + i) for i in range(SERIES)]
    return backtest(model, histories, steps=STEPS, origins=origins)


def tolerance(p: float, steps: int, n_cal: int) -> tuple[float, float]:
    """(lowest, highest) coverage of a nominal-p interval that is not evidence of miscalibration."""
    se = math.sqrt(p * (1 - p) / steps)
    return p - 5 * se - 2 / n_cal, p + 5 * se


@pytest.mark.parametrize(
    "name",
    [
        "seasonal-naive",
        "lightgbm",
        "lightgbm-flexible",  # a booster flexible enough to memorise its training targets
        "linear",
        "ensemble",
    ],
)
def test_interval_coverage_is_close_to_nominal(name: str) -> None:
    result = run(name)
    _, origins, n_cal = SETUPS[name]
    n = sum(r["n"] for r in result.per_series)
    assert n == SERIES * origins * STEPS  # every step of every origin scored
    lo80, hi80 = tolerance(0.80, n, n_cal)
    lo95, hi95 = tolerance(0.95, n, n_cal)
    got80, got95 = result.overall["coverage80"], result.overall["coverage95"]
    assert lo80 <= got80 <= hi80, f"80 % interval covers {got80:.3f}, expected {lo80:.3f}..{hi80:.3f}"
    assert lo95 <= got95 <= hi95, f"95 % interval covers {got95:.3f}, expected {lo95:.3f}..{hi95:.3f}"


def test_seasonal_naive_errs_like_the_difference_of_two_noise_draws() -> None:
    # e[t] - e[t - week] ~ N(0, 2 sigma^2): MAE sqrt(2) x NOISE_MAE, RMSE sqrt(2) x sigma
    for row in run("seasonal-naive").per_series:
        assert row["mae"] == pytest.approx(math.sqrt(2) * NOISE_MAE, rel=0.05)
        assert row["rmse"] == pytest.approx(math.sqrt(2) * SIGMA, rel=0.05)


def test_lightgbm_mae_approaches_the_noise_and_beats_seasonal_naive() -> None:
    # the shape is a function of the calendar features alone, so a good model errs by little more
    # than the noise; seasonal naive carries last week's noise too (sqrt(2) x)
    gbm = {r["name"]: r for r in run("lightgbm").per_series}
    naive = {r["name"]: r for r in run("seasonal-naive").per_series}
    for name, row in gbm.items():
        assert row["mae"] < 1.2 * NOISE_MAE, f"{name}: MAE {row['mae']:.3f} vs noise {NOISE_MAE:.3f}"
        assert row["mae"] < naive[name]["mae"]
        assert row["mase"] < naive[name]["mase"]


def test_mstl_bounds_are_ordered_around_the_mean() -> None:
    histories = [synthetic(f"s{i}", weeks=8, sigma=SIGMA, seed=20 + i) for i in range(SERIES)]
    result = backtest(MSTLModel(train_weeks=4), histories, steps=STEPS, origins=3)
    assert len(result.forecasts) == SERIES * 3
    for _, _, fc in result.forecasts:
        assert np.isfinite(fc.mean).all()
        assert (fc.lo95 <= fc.lo80).all()
        assert (fc.lo80 <= fc.mean).all()
        assert (fc.mean <= fc.hi80).all()
        assert (fc.hi80 <= fc.hi95).all()
        assert (fc.hi95 - fc.lo95 > 0).all()


def test_linear_mae_approaches_the_noise_and_beats_seasonal_naive() -> None:
    # the shape repeats weekly and the look-back holds two weeks of it: a linear map averages the
    # same slots of its days and weeks, so it errs by little more than the noise (seasonal naive:
    # sqrt(2) x); about 1.15 x here
    lin = {r["name"]: r for r in run("linear").per_series}
    naive = {r["name"]: r for r in run("seasonal-naive").per_series}
    for name, row in lin.items():
        assert row["mae"] < 1.2 * NOISE_MAE, f"{name}: MAE {row['mae']:.3f} vs noise {NOISE_MAE:.3f}"
        assert row["mase"] < naive[name]["mase"]
