"""The linear model: its closed-form fit equals least squares on the windows written out, it moves
with a level shift and scales with the series, it fills or drops gaps as documented, and refuses
what it cannot do."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import gridpulse.forecast.models.linear as linear_module
from gridpulse.forecast import History, LinearModel
from gridpulse.forecast.models.linear import RIDGE_GRID, ma_matrix, short_gaps_filled
from tests.forecast.series import HOUR, MONDAY, synthetic

#: a small model: 2-day look-back, 1 day ahead, a week of validation origins
SMALL = {"lookback_hours": 48, "horizon_hours": 24, "moving_average_hours": 5, "validation_hours": 168}


def windows(values: np.ndarray, lookback: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Every complete (input, target) window of a series, written out."""
    n = len(values) - lookback - steps + 1
    w = np.stack([values[i : i + lookback + steps] for i in range(n)])
    ok = ~np.isnan(w).any(axis=1)
    return w[ok, :lookback], w[ok, lookback:]


def test_ma_matrix_averages_centred_and_repeats_the_ends() -> None:
    a = ma_matrix(5, 3)
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    # (1 + 1 + 2) / 3 at the start (the first value repeated), (8 + 16 + 16) / 3 at the end
    np.testing.assert_allclose(a @ x, [4 / 3, 7 / 3, 14 / 3, 28 / 3, 40 / 3])
    np.testing.assert_allclose(a.sum(axis=1), 1.0)  # a flat window is its own trend


def test_short_gaps_are_filled_linearly_and_long_or_open_ones_stay_missing() -> None:
    nan = np.nan
    y = np.array([nan, 1.0, nan, 3.0, 4.0, nan, nan, nan, 8.0, nan])
    got = short_gaps_filled(y, 2)
    np.testing.assert_array_equal(got, [nan, 1.0, 2.0, 3.0, 4.0, nan, nan, nan, 8.0, nan])
    np.testing.assert_array_equal(short_gaps_filled(y, 3)[5:8], [5.0, 6.0, 7.0])


def test_the_closed_form_fit_is_ridge_least_squares_over_every_window_of_every_series(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # lags summed in blocks of 7: the normal equations read off lagged-product sums equal those
    # of the windows written out, across gaps (runs of windows) and lag blocks
    monkeypatch.setattr(linear_module, "_LAG_BLOCK", 7)
    a, b = synthetic("a", weeks=3, seed=1), synthetic("b", weeks=3, sigma=6.0, seed=2)
    a.values[300:310] = np.nan  # a gap longer than max_gap_hours: the windows over it are dropped
    b = replace(b, values=b.values * 40.0)  # another size: each series is divided by its spread
    model = LinearModel(**SMALL, ridge=0.5, refit=True).fit([a, b])
    lookback, steps = 48, 24
    rows, targets = [], []
    for h in (a, b):
        x, y = windows(h.values, lookback, steps)
        spread = float(np.nanstd(h.values))
        last = x[:, -1:]
        rows.append(np.column_stack([(x - last) / spread, np.ones(len(x))]))
        targets.append((y - last) / spread)
    x_all, y_all = np.vstack(rows), np.vstack(targets)
    assert model.trained_windows == len(x_all)
    basis = model._basis
    z = x_all @ basis
    gz = z.T @ z
    ridge = np.full(len(gz), 0.5 * np.trace(gz) / (len(gz) - 1))
    ridge[-1] = 0.0
    expected = np.linalg.solve(gz + np.diag(ridge), z.T @ y_all)
    np.testing.assert_allclose(model._weights, expected, rtol=1e-7, atol=1e-10)
    # and a forecast is that map applied to the newest window, mapped back
    x = a.values[-lookback:]
    spread = float(np.nanstd(a.values))
    want = x[-1] + (np.r_[(x - x[-1]) / spread, 1.0] @ basis @ expected) * spread
    np.testing.assert_allclose(model.predict([a], steps)[0].mean, want, rtol=1e-9)


def test_a_periodic_series_is_forecast_exactly() -> None:
    # a daily cycle with no noise: the value a day back is the answer, which a linear map can say
    h = synthetic(weeks=3, sigma=0.0)
    day = replace(h, values=np.tile(h.values[:24], 21))
    model = LinearModel(**SMALL, ridge=0.0).fit([day])
    np.testing.assert_allclose(model.predict([day], 24)[0].mean, day.values[:24], atol=1e-6)


def test_a_level_shift_moves_the_forecast_by_as_much_and_a_scale_scales_it() -> None:
    h = synthetic(weeks=4, seed=3)
    base = LinearModel(**SMALL).fit([h]).predict([h], 24)[0]
    shifted = replace(h, values=h.values + 1_000.0)
    up = LinearModel(**SMALL).fit([shifted]).predict([shifted], 24)[0]
    np.testing.assert_allclose(up.mean, base.mean + 1_000.0, rtol=1e-9)
    np.testing.assert_allclose(up.hi95 - up.lo95, base.hi95 - base.lo95, rtol=1e-6)
    scaled = replace(h, values=h.values * 1e-3)  # kWh -> MWh
    small = LinearModel(**SMALL).fit([scaled]).predict([scaled], 24)[0]
    np.testing.assert_allclose(small.mean, base.mean * 1e-3, rtol=1e-7)
    np.testing.assert_allclose(small.lo80, base.lo80 * 1e-3, rtol=1e-7)


def test_training_drops_windows_with_a_long_gap_and_fills_short_ones() -> None:
    h = synthetic(weeks=3, seed=4)
    lookback, steps = 48, 24
    full = LinearModel(**SMALL, max_gap_hours=3).fit([h]).trained_windows
    assert full == len(h.values) - lookback - steps + 1
    short = replace(h, values=h.values.copy())
    short.values[200:203] = np.nan  # 3 h: filled
    assert LinearModel(**SMALL, max_gap_hours=3).fit([short]).trained_windows == full
    long = replace(h, values=h.values.copy())
    long.values[200:204] = np.nan  # 4 h: every window touching it goes
    _, kept = windows(long.values, lookback, steps)
    assert LinearModel(**SMALL, max_gap_hours=3).fit([long]).trained_windows == len(kept) < full


def test_a_gap_in_the_look_back_window_is_interpolated_at_forecast_time() -> None:
    h = synthetic(weeks=3, seed=5)
    model = LinearModel(**SMALL).fit([h])
    gappy = replace(h, values=h.values.copy())
    gappy.values[-10:-3] = np.nan
    filled = replace(h, values=h.values.copy())
    idx = np.arange(len(h.values))
    gap = np.isnan(gappy.values)
    filled.values[gap] = np.interp(idx[gap], idx[~gap], gappy.values[~gap])
    np.testing.assert_allclose(model.predict([gappy], 24)[0].mean, model.predict([filled], 24)[0].mean)
    # the newest values missing: the last known one stands in for them
    tail = replace(h, values=h.values.copy())
    tail.values[-5:] = np.nan
    assert np.isfinite(model.predict([tail], 24)[0].mean).all()


def test_the_ridge_strength_comes_from_the_grid_unless_fixed() -> None:
    h = synthetic(weeks=4, seed=6)
    assert LinearModel(**SMALL).fit([h]).chosen_ridge in RIDGE_GRID
    assert LinearModel(**SMALL, ridge=0.25).fit([h]).chosen_ridge == 0.25


def test_held_out_forecasts_are_daily_origins_of_the_validation_tail_whose_targets_the_fit_never_saw() -> None:
    h = synthetic(weeks=4, seed=7)
    model = LinearModel(**SMALL, keep_held_out=True, refit=False).fit([h])
    held = model.held_out["s"]
    n = len(h.values)
    # a day apart counted back from the last step (the lightgbm model's origins), each complete
    assert (np.diff(held.origin) == 24).all() and held.origin[-1] == n - 1 - 24
    assert held.origin[0] >= n - 24 - 168  # inside the newest week of origins
    np.testing.assert_array_equal(held.actual[0], h.values[held.origin[0] : held.origin[0] + 24])
    # the same forecast a model fitted on the history cut at that origin's validation start would
    # make, had it the same weights: it reads only the window before the origin
    o = int(held.origin[2])
    cut = History("s", MONDAY, HOUR, h.values[:o])
    np.testing.assert_allclose(model.predict([cut], 24)[0].mean, held.mean[2])
    assert LinearModel(**SMALL).fit([h]).held_out == {}


def test_linear_predicts_only_after_fit_and_within_its_horizon() -> None:
    h = synthetic(weeks=3)
    with pytest.raises(ValueError, match="only after fit"):
        LinearModel(**SMALL).predict([h], 24)
    model = LinearModel(**SMALL).fit([h])
    with pytest.raises(ValueError, match="trained for 24 h ahead, asked for 25 steps"):
        model.predict([h], 25)
    with pytest.raises(ValueError, match="fitted on 3600 s steps"):
        model.predict([synthetic(weeks=3, step_s=1800)], 24)


def test_linear_needs_a_look_back_and_a_horizon_of_history_to_train() -> None:
    with pytest.raises(ValueError, match=r"needs 504 steps \(336 h look-back \+ 168 h ahead\)"):
        LinearModel().fit([synthetic(weeks=2)])
    with pytest.raises(ValueError, match="the same step"):
        LinearModel(**SMALL).fit([synthetic(weeks=3), synthetic(weeks=3, step_s=1800)])
    with pytest.raises(ValueError, match="ridge=-1 is negative"):
        LinearModel(ridge=-1)
