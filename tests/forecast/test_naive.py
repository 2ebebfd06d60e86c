"""Seasonal naive by hand: last season's values, a gap filled from a season further back, bounds
from the naive forecast's own past errors."""

from __future__ import annotations

import numpy as np
import pytest

from gridpulse.forecast import History, SeasonalNaive

SIX_HOURS = 6 * 3600  # 4 steps a day, 28 a week: small enough to write out


def test_each_step_repeats_the_same_slot_one_day_back() -> None:
    h = History("d", 0, SIX_HOURS, np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]))
    fc = SeasonalNaive(season="day").predict([h], 6)[0]
    # steps 0-3 read yesterday (5..8); steps 4-5 are two days ahead and read that same day again
    np.testing.assert_array_equal(fc.mean, [5.0, 6.0, 7.0, 8.0, 5.0, 6.0])
    assert fc.origin_us == h.end_us == 8 * SIX_HOURS * 1_000_000
    # bounds: one day ahead, the in-sample errors y[t] - y[t-4] are all 4, so every quantile is
    # 4 and the bounds sit at mean + 4; two days ahead (lag 8) there is no pair: bounds = mean
    for col in ("lo80", "hi80", "lo95", "hi95"):
        np.testing.assert_array_equal(getattr(fc, col), [9.0, 10.0, 11.0, 12.0, 5.0, 6.0], err_msg=col)


def test_the_week_season_forecast_equals_last_weeks_values() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(50.0, 10.0, 3 * 168)
    h = History("w", 0, 3600, values)
    fc = SeasonalNaive().predict([h], 168 + 24)[0]
    np.testing.assert_array_equal(fc.mean[:168], values[-168:])
    # the 8th day is two weeks ahead: the same slot last week is its newest known value
    np.testing.assert_array_equal(fc.mean[168:], values[-168 : -168 + 24])


def test_a_gap_last_week_falls_back_to_two_weeks_back_then_three() -> None:
    values = np.arange(4 * 168, dtype=np.float64)
    n = len(values)
    values[n - 168 + 5] = np.nan  # slot 5 last week
    values[n - 168 + 9] = np.nan  # slot 9 last week...
    values[n - 336 + 9] = np.nan  # ...and two weeks ago
    fc = SeasonalNaive().predict([History("g", 0, 3600, values)], 168)[0]
    assert fc.mean[5] == n - 336 + 5
    assert fc.mean[9] == n - 504 + 9
    assert fc.mean[6] == n - 168 + 6
    assert not np.isnan(fc.mean).any()


def test_a_slot_never_measured_stays_nan() -> None:
    values = np.ones(2 * 168)
    values[3::168] = np.nan
    fc = SeasonalNaive().predict([History("g", 0, 3600, values)], 168)[0]
    assert np.isnan(fc.mean[3])
    assert np.isnan(fc.mean).sum() == 1


def test_a_perfectly_periodic_series_gets_zero_width_bounds() -> None:
    week = np.sin(np.arange(168) / 7.0) * 30 + 100
    h = History("p", 0, 3600, np.tile(week, 10))
    fc = SeasonalNaive().predict([h], 2 * 168)[0]
    np.testing.assert_array_equal(fc.mean, np.tile(week, 2))
    for col in ("lo80", "hi80", "lo95", "hi95"):
        np.testing.assert_array_equal(getattr(fc, col), fc.mean, err_msg=col)


def test_bounds_are_the_quantiles_of_last_seasons_errors() -> None:
    # day season, 6-hour steps; y = slot pattern + one jump: the in-sample errors one day back over
    # the last 8 days are 32 values: 28 zeros and the 4 steps just after the jump, each +10
    pattern = np.tile([1.0, 2.0, 3.0, 4.0], 12)
    pattern[-16:] += 10.0  # the last 4 days are 10 higher
    h = History("q", 0, SIX_HOURS, pattern)
    fc = SeasonalNaive(season="day", calibration_seasons=8).predict([h], 4)[0]
    # sorted errors e[0..31]: quantile q sits at position 31 q (numpy's linear interpolation):
    # 2.5 % -> 0.775 and 10 % -> 3.1: zeros; 90 % -> 27.9: 0.1 x e[27] + 0.9 x e[28] = 9;
    # 97.5 % -> 30.225: between two tens = 10
    np.testing.assert_allclose(fc.lo95, fc.mean)
    np.testing.assert_allclose(fc.lo80, fc.mean)
    np.testing.assert_allclose(fc.hi80, fc.mean + 9.0)
    np.testing.assert_allclose(fc.hi95, fc.mean + 10.0)
    np.testing.assert_array_equal(fc.mean, [11.0, 12.0, 13.0, 14.0])


def test_an_unknown_season_raises() -> None:
    with pytest.raises(ValueError, match="season='month' is not one of day, week"):
        SeasonalNaive(season="month")
