"""Model monitoring's arithmetic: live error figures on hand-worked steps, per local day across a
DST change, and the population stability index on a hand-worked example and its identities."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from gridpulse.forecast.monitoring import (
    PSI_EPSILON,
    drift_level,
    error_by_day,
    error_figures,
    local_days,
    psi,
    psi_edges,
)

NAN = math.nan


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


# five steps; the last has no actual. Worked by hand:
#   forecast - actual over the first four: +2, -3, +2, +1 -> MAE 8/4 = 2, bias 2/4 = 0.5
#   MAPE floor: 5 % of mean |actual| (10 + 20 + 30 + 0.5) / 4 = 15.125 -> 0.75625, so 0.5 is left
#   out: MAPE = (2/10 + 3/20 + 2/30) / 3 = 13.888... %
#   80 %: 10 outside [9, 9.5]; 20, 30, 0.5 inside -> 3/4
#   95 %: 20 outside [15, 19]; 10, 30 inside; step 4 has no lower bound -> 2/3
ACTUAL = arr(10, 20, 30, 0.5, NAN)
MEAN = arr(12, 17, 32, 1.5, 5)
LO80, HI80 = arr(9, 18, 25, 0, 0), arr(9.5, 22, 35, 1, 10)
LO95, HI95 = arr(8, 15, 20, NAN, 0), arr(13, 19, 40, 2, 10)


def test_error_figures_of_a_hand_worked_forecast() -> None:
    f = error_figures(ACTUAL, MEAN, LO80, HI80, LO95, HI95)
    assert (f.steps, f.mape_steps) == (4, 3)
    assert f.mae == pytest.approx(2.0)
    assert f.bias == pytest.approx(0.5)
    assert f.mape == pytest.approx((2 / 10 + 3 / 20 + 2 / 30) / 3 * 100)
    assert f.coverage80 == pytest.approx(0.75)
    assert f.coverage95 == pytest.approx(2 / 3)


def test_mape_counts_near_zero_actuals_when_the_floor_is_zero_but_never_exact_zeros() -> None:
    f = error_figures(ACTUAL, MEAN, LO80, HI80, LO95, HI95, mape_floor_pct=0)
    assert f.mape_steps == 4
    assert f.mape == pytest.approx((2 / 10 + 3 / 20 + 2 / 30 + 1 / 0.5) / 4 * 100)
    zeros = error_figures(arr(0, 0), arr(1, 2), arr(0, 0), arr(2, 2), arr(0, 0), arr(3, 3), mape_floor_pct=0)
    assert (zeros.steps, zeros.mape_steps, zeros.mape, zeros.mae) == (2, 0, None, 1.5)


def test_no_step_with_both_gives_no_figures() -> None:
    f = error_figures(arr(NAN, 3), arr(1, NAN), arr(0, 0), arr(2, 2), arr(0, 0), arr(3, 3))
    assert (f.steps, f.mae, f.mape, f.bias, f.coverage80, f.coverage95) == (0, None, None, None, None, None)


def test_error_by_day_scores_each_day_alone_and_lists_days_without_forecasts() -> None:
    day = np.array([7, 7, 8, 8, 9], dtype=np.int64)
    mean = MEAN.copy()
    mean[4] = NAN  # step 4, day 9's only step, has neither actual nor forecast
    rows = error_by_day(day, ACTUAL, mean, LO80, HI80, LO95, HI95)
    assert [d for d, _ in rows] == [7, 8, 9]
    first, second, third = (f for _, f in rows)
    assert (first.steps, first.mae, first.bias) == (2, 2.5, -0.5)  # +2, -3
    assert (second.steps, second.mae, second.bias) == (2, 1.5, 1.5)  # +2, +1
    # the floor is each day's own: 5 % of (30 + 0.5) / 2 = 0.7625, so 0.5 is still left out
    assert second.mape_steps == 1 and second.mape == pytest.approx(2 / 30 * 100)
    assert (third.steps, third.mae) == (0, None)


def test_a_spring_forward_day_holds_23_local_hours() -> None:
    start = datetime(2024, 3, 30, 22, tzinfo=UTC)  # 23:00 CET on the 30th
    ts = np.array([int((start + timedelta(hours=i)).timestamp() * 1e6) for i in range(25)], dtype=np.int64)
    days = local_days(ts, "Europe/Amsterdam")
    epoch = date(1970, 1, 1)
    found, n = np.unique(days, return_counts=True)
    counts = {(epoch + timedelta(days=int(d))).isoformat(): int(c) for d, c in zip(found, n, strict=True)}
    assert counts == {"2024-03-30": 1, "2024-03-31": 23, "2024-04-01": 1}


def test_psi_of_a_hand_worked_example() -> None:
    # quartiles of 1..8 cut at 2.75, 4.5, 6.25: {1,2} {3,4} {5,6} {7,8}, a quarter each;
    # the recent values fall 2, 1, 1, 4 of 8 into them: 1/4, 1/8, 1/8, 1/2, so
    # PSI = 0 + (1/8 - 1/4) ln(1/2) + (1/8 - 1/4) ln(1/2) + (1/2 - 1/4) ln 2 = ln 2 / 2
    reference = np.arange(1, 9, dtype=np.float64)
    assert psi_edges(reference, 4) == pytest.approx([2.75, 4.5, 6.25])
    recent = arr(1, 1, 3, 5, 7, 8, 8, 8)
    assert psi(reference, recent, bins=4) == pytest.approx(math.log(2) / 2)


def test_an_empty_bin_counts_as_epsilon() -> None:
    reference = np.arange(1, 9, dtype=np.float64)
    recent = np.full(8, 8.0)  # everything in the top quartile, the other three empty
    e = PSI_EPSILON
    expected = 3 * (e - 0.25) * math.log(e / 0.25) + (1 - 0.25) * math.log(1 / 0.25)
    assert psi(reference, recent, bins=4) == pytest.approx(expected)


def test_psi_is_zero_for_identical_distributions_and_large_for_a_shifted_one() -> None:
    rng = np.random.default_rng(7)
    reference = rng.normal(100, 10, 5000)
    assert psi(reference, reference) == 0.0
    same = psi(reference, rng.normal(100, 10, 5000))
    assert same is not None and same < 0.02
    shifted = psi(reference, rng.normal(120, 10, 5000))  # two standard deviations up
    assert shifted is not None and shifted > 1.0


def test_psi_needs_enough_values_on_each_side() -> None:
    reference = np.arange(100, dtype=np.float64)
    assert psi(reference, np.arange(19, dtype=np.float64), bins=10) is None  # fewer than 2 per bin
    assert psi(reference, np.arange(20, dtype=np.float64), bins=10) is not None
    assert psi(reference, np.r_[np.full(50, NAN), np.arange(10.0)], bins=10) is None  # NaN are not values


def test_repeated_edges_merge_into_fewer_bins() -> None:
    # solar: half the reference is night zeros, so the lower deciles are all 0
    reference = np.r_[np.zeros(50), np.arange(1, 51, dtype=np.float64)]
    edges = psi_edges(reference, 10)
    assert edges[0] == 0.0 and len(edges) == len(set(edges.tolist()))
    assert psi(reference, reference.copy()) == 0.0


def test_drift_levels_follow_the_thresholds() -> None:
    assert [drift_level(v) for v in (0.0, 0.099, 0.1, 0.249, 0.25, 3.0, None)] == [
        "stable", "stable", "watch", "watch", "drift", "drift", None
    ]  # fmt: skip
    assert drift_level(0.2, watch=0.05, drift=0.15) == "drift"
