"""The ensemble: its forecast is its members' blended with the weights it chose, it leans on the
member that erred less on the held-out origins, and without held-out origins it blends the
members' bounds too."""

from __future__ import annotations

import numpy as np

from gridpulse.forecast import EnsembleModel, LightGBMModel, LinearModel
from gridpulse.forecast.models.ensemble import WEIGHT_GRID
from tests.forecast.series import synthetic

GBM = {"rounds": 40, "learning_rate": 0.2, "num_leaves": 15, "max_origins": 60, "threads": 1}


def histories(weeks: int = 12) -> list:
    return [synthetic(f"s{i}", weeks=weeks, seed=30 + i) for i in range(2)]


def test_the_forecast_is_the_members_forecasts_blended_by_the_chosen_weight_of_each_day() -> None:
    hs = histories()
    model = EnsembleModel(lightgbm=GBM).fit(hs)
    w = np.array(model.params()["lightgbm_weight"])
    assert len(w) == 7 and set(w) <= set(WEIGHT_GRID)
    assert model.held_out_origins > 0
    got = model.predict(hs, 168)
    g, lin = model.gbm.predict(hs, 168), model.linear.predict(hs, 168)
    per_step = np.repeat(w, 24)
    for fc, a, b in zip(got, g, lin, strict=True):
        np.testing.assert_allclose(fc.mean, per_step * a.mean + (1 - per_step) * b.mean)
        assert (fc.lo95 <= fc.lo80).all() and (fc.lo80 <= fc.mean).all() and (fc.mean <= fc.hi80).all()
        assert (fc.hi80 <= fc.hi95).all()


def test_the_blend_leans_on_the_member_that_erred_less_on_the_held_out_origins() -> None:
    hs = histories()
    # a booster of one tiny round forecasts little more than last week's mean: linear wins
    weak_gbm = EnsembleModel(lightgbm={**GBM, "rounds": 1, "learning_rate": 0.01}).fit(hs)
    assert max(weak_gbm.weights) <= 0.2, weak_gbm.weights
    # a linear map from the last hour alone, strongly shrunk, cannot draw the daily shape: lightgbm wins
    weak_linear = EnsembleModel(lightgbm=GBM, linear={"lookback_hours": 1, "ridge": 1e6}).fit(hs)
    assert min(weak_linear.weights) >= 0.8, weak_linear.weights


def test_one_weight_for_the_whole_horizon_when_asked() -> None:
    model = EnsembleModel(lightgbm=GBM, per_day=False).fit(histories())
    assert len(model.weights) == 1


def test_without_held_out_origins_the_members_bounds_are_blended_too() -> None:
    # three weeks: the linear model's one training window leaves nothing to hold out
    hs = histories(weeks=3)
    model = EnsembleModel(lightgbm=GBM).fit(hs)
    assert model.held_out_origins == 0 and list(model.weights) == [0.5]
    fc = model.predict(hs, 168)[0]
    g, lin = model.gbm.predict(hs, 168)[0], model.linear.predict(hs, 168)[0]
    np.testing.assert_allclose(fc.lo80, 0.5 * g.lo80 + 0.5 * lin.lo80)
    np.testing.assert_allclose(fc.hi95, 0.5 * g.hi95 + 0.5 * lin.hi95)


def test_the_members_keep_no_held_out_forecasts_after_the_fit() -> None:
    model = EnsembleModel(lightgbm=GBM).fit(histories())
    assert isinstance(model.gbm, LightGBMModel) and isinstance(model.linear, LinearModel)
    assert model.gbm.held_out == {} and model.linear.held_out == {}


def test_histories_too_short_for_a_linear_window_are_forecast_by_lightgbm_alone() -> None:
    # two and a half weeks: lightgbm trains (more than two weeks), linear needs three
    hs = [synthetic(f"s{i}", weeks=3, seed=40 + i).last(420) for i in range(2)]
    model = EnsembleModel(lightgbm=GBM).fit(hs)
    assert list(model.weights) == [1.0] and model.params()["linear_fitted"] is False
    got, alone = model.predict(hs, 168), model.gbm.predict(hs, 168)
    for a, b in zip(got, alone, strict=True):
        np.testing.assert_array_equal(a.mean, b.mean)
        np.testing.assert_array_equal(a.hi95, b.hi95)
