"""History and on_grid: values on a regular UTC grid, cut at an origin, checked on the way in."""

from __future__ import annotations

import numpy as np
import pytest

from gridpulse.forecast import History, on_grid

S = 1_000_000  # µs per second
H = 3600 * S


def ts(*seconds: int) -> np.ndarray:
    return np.array(seconds, dtype=np.int64) * S


def test_on_grid_averages_the_values_of_a_step_and_leaves_empty_steps_nan() -> None:
    # three readings in hour 0, one in hour 1, none in hour 2, one in hour 3 (given out of order)
    start, values = on_grid(
        ts(3 * 3600 + 59, 10, 0, 3600 + 1800, 3599),
        np.array([7.0, 2.0, 1.0, 5.0, 6.0]),
        step_s=3600,
    )
    assert start == 0
    np.testing.assert_array_equal(values, [(2 + 1 + 6) / 3, 5.0, np.nan, 7.0])


def test_on_grid_floors_the_start_to_the_step_and_ends_after_the_last_instant() -> None:
    start, values = on_grid(ts(5400, 9000), np.array([1.0, 2.0]), step_s=1800)
    assert start == 5400 * S  # 01:30, already on the half-hour grid
    np.testing.assert_array_equal(values, [1.0, np.nan, 2.0])
    start, values = on_grid(ts(5500), np.array([1.0]), step_s=3600)
    assert start == 3600 * S
    np.testing.assert_array_equal(values, [1.0])


def test_on_grid_ignores_nan_readings_and_readings_outside_the_given_bounds() -> None:
    start, values = on_grid(
        ts(0, 10, 3600, 7200, 4 * 3600),
        np.array([np.nan, 4.0, np.nan, 3.0, 9.0]),
        step_s=3600,
        start_us=0,
        end_us=3 * H,
    )
    assert start == 0
    # hour 0: only the 4 (the NaN is no reading); hour 1: only a NaN -> NaN; 04:00 is past the end
    np.testing.assert_array_equal(values, [4.0, np.nan, 3.0])


def test_on_grid_of_no_readings_is_all_nan_between_the_bounds() -> None:
    start, values = on_grid(np.empty(0, np.int64), np.empty(0), step_s=3600, start_us=H, end_us=4 * H)
    assert start == H
    assert len(values) == 3 and np.isnan(values).all()
    assert len(on_grid(np.empty(0, np.int64), np.empty(0), step_s=3600)[1]) == 0


def hist(n: int = 6, **kw: object) -> History:
    return History("h", 10 * H, 3600, np.arange(float(n)), **kw)  # type: ignore[arg-type]


def test_until_keeps_the_intervals_starting_before_the_origin() -> None:
    h = hist(exog={"t": np.arange(6.0) * 10})
    cut = h.until(13 * H)
    np.testing.assert_array_equal(cut.values, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(cut.exog["t"], [0.0, 10.0, 20.0])
    assert cut.start_us == h.start_us
    assert cut.end_us == 13 * H
    assert cut.tz == h.tz and cut.name == h.name


def test_until_before_the_start_is_empty_and_after_the_end_is_everything() -> None:
    h = hist()
    assert len(h.until(5 * H).values) == 0
    assert len(h.until(10 * H).values) == 0
    np.testing.assert_array_equal(h.until(100 * H).values, h.values)


def test_last_keeps_the_newest_steps_and_moves_the_start() -> None:
    h = hist(exog={"t": np.arange(6.0) * 10})
    tail = h.last(2)
    np.testing.assert_array_equal(tail.values, [4.0, 5.0])
    np.testing.assert_array_equal(tail.exog["t"], [40.0, 50.0])
    assert tail.start_us == 14 * H
    assert tail.end_us == h.end_us
    assert len(h.last(100).values) == 6 and h.last(100).start_us == h.start_us


def test_index_of_a_grid_instant_and_grid_us() -> None:
    h = hist()
    assert h.index_of(10 * H) == 0
    assert h.index_of(15 * H) == 5
    assert h.index_of(20 * H) == 10  # past the end is still on the grid
    np.testing.assert_array_equal(h.grid_us(3), [10 * H, 11 * H, 12 * H])
    assert h.end_us == 16 * H
    assert h.steps_per(86_400) == 24


@pytest.mark.parametrize("off", [1, 30 * 60 * S, H - 1])
def test_index_of_an_instant_off_the_grid_raises(off: int) -> None:
    with pytest.raises(ValueError, match="not on the grid"):
        hist().index_of(12 * H + off)
    with pytest.raises(ValueError, match="not on the grid"):
        hist().until(12 * H + off)


def test_an_exogenous_series_of_another_length_raises() -> None:
    with pytest.raises(ValueError, match=r"'temp' has 5 steps, the target 6"):
        hist(exog={"temp": np.zeros(5)})


@pytest.mark.parametrize("step_s", [0, -3600])
def test_a_step_that_is_not_positive_raises(step_s: int) -> None:
    with pytest.raises(ValueError, match="step_s must be positive"):
        History("h", 0, step_s, np.zeros(3))


def test_steps_per_a_span_the_step_does_not_divide_raises() -> None:
    with pytest.raises(ValueError, match="does not divide"):
        History("h", 0, 7 * 60, np.zeros(3)).steps_per(86_400 + 60)
