"""accuracy and naive_scale on tiny examples worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gridpulse.forecast.metrics import accuracy, naive_scale

NAN = float("nan")


def arr(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=np.float64)


def test_accuracy_of_a_tiny_forecast_worked_out_by_hand() -> None:
    # step:        0     1     2     3     4 (no actual) 5 (no forecast)
    actual = arr(10.0, 0.0, 20.0, 5.0, NAN, 7.0)
    mean = arr(8.0, 1.0, 25.0, 5.0, 3.0, NAN)
    lo80 = arr(9.0, -1.0, 19.0, 5.0, 0.0, 0.0)  # step 3: the actual sits on the bound: inside
    hi80 = arr(11.0, 1.0, 21.0, 6.0, 9.0, 9.0)
    lo95 = arr(7.0, -2.0, 18.0, 4.0, 0.0, 0.0)
    hi95 = arr(12.0, 2.0, 19.5, 6.0, 9.0, 9.0)  # step 2: 20 > 19.5: outside
    got = accuracy(actual, mean, lo80, hi80, lo95, hi95, scale=4.0)
    # steps 4 and 5 are left out; errors (actual - forecast) of 0..3: 2, -1, -5, 0
    assert got["n"] == 4
    assert got["mae"] == pytest.approx((2 + 1 + 5 + 0) / 4)  # 2
    assert got["rmse"] == pytest.approx(math.sqrt((4 + 1 + 25 + 0) / 4))  # sqrt(7.5)
    # MAPE skips the zero actual: |2/10|, |-5/20|, |0/5| -> (0.2 + 0.25 + 0) / 3
    assert got["mape"] == pytest.approx(15.0)
    # sMAPE 2|e| / (|a| + |f|): 4/18, 2/1, 10/45, 0/10
    assert got["smape"] == pytest.approx((4 / 18 + 2 + 10 / 45 + 0) / 4 * 100)
    assert got["mase"] == pytest.approx(2.0 / 4.0)
    # 80 %: 10 in [9, 11], 0 in [-1, 1], 20 in [19, 21], 5 on [5, 6] -> 4 of 4
    assert got["coverage80"] == 1.0
    # 95 %: 10 in [7, 12], 0 in [-2, 2], 20 not in [18, 19.5], 5 in [4, 6] -> 3 of 4
    assert got["coverage95"] == 0.75


def test_smape_counts_a_step_where_actual_and_forecast_are_both_zero_as_no_error() -> None:
    z = arr(0.0, 0.0)
    got = accuracy(arr(0.0, 4.0), arr(0.0, 2.0), z, z, z, z, scale=1.0)
    # 0/0 -> 0; 2*2 / (4 + 2) = 2/3
    assert got["smape"] == pytest.approx((0 + 2 / 3) / 2 * 100)
    assert got["mape"] == pytest.approx(50.0)  # only the step with actual 4: |2/4|


def test_mape_is_nan_when_every_actual_is_zero() -> None:
    z = arr(0.0, 0.0)
    got = accuracy(z, arr(1.0, -1.0), z, z, z, z, scale=1.0)
    assert math.isnan(got["mape"])
    assert got["mae"] == 1.0
    assert got["smape"] == pytest.approx(200.0)  # 2*1 / (0 + 1) each


@pytest.mark.parametrize("scale", [0.0, NAN])
def test_mase_is_nan_without_a_usable_scale(scale: float) -> None:
    a = arr(1.0, 2.0)
    got = accuracy(a, a + 1, a, a, a, a, scale=scale)
    assert got["mae"] == 1.0
    assert math.isnan(got["mase"])


def test_accuracy_with_no_comparable_step_is_all_nan_and_n_zero() -> None:
    got = accuracy(arr(NAN, 1.0), arr(1.0, NAN), arr(0, 0), arr(2, 2), arr(0, 0), arr(2, 2), scale=1.0)
    assert got["n"] == 0
    assert all(
        math.isnan(got[k]) for k in ("mae", "rmse", "mape", "smape", "mase", "coverage80", "coverage95")
    )


def test_naive_scale_is_the_mean_absolute_seasonal_difference() -> None:
    # season 2: |4 - 1|, |7 - 2|, |11 - 4| -> (3 + 5 + 7) / 3
    assert naive_scale(arr(1, 2, 4, 7, 11), 2) == pytest.approx(5.0)


def test_naive_scale_skips_pairs_with_a_gap() -> None:
    # season 2: |4 - 1| = 3, |7 - nan| skipped, |11 - 4| = 7
    assert naive_scale(arr(1, NAN, 4, 7, 11), 2) == pytest.approx(5.0)


@pytest.mark.parametrize("train", [arr(1, 2), arr(1), arr(), arr(1, NAN, NAN, 3)])
def test_naive_scale_is_nan_without_a_pair(train: np.ndarray) -> None:
    assert math.isnan(naive_scale(train, 2))
