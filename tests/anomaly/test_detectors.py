"""The detectors on data with known faults: z-scores against the time-of-day baseline, robust
residual scores, and flagged readings grouped into windows with a severity."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from gridpulse.analytics.periods import wall_clock_us
from gridpulse.anomaly import Thresholds, residual_scores, windows, zscores
from gridpulse.model import Severity

US = 1_000_000
H = 3600 * US
Q15 = 900 * US
DAY = 86_400 * US


def test_zscore_compares_a_reading_with_its_own_slot_on_the_days_before() -> None:
    # hourly, 10 days; slot 5 reads 10, 12, 10, 12, ... so its mean is 11 and its std (n-1) 1.054
    days, slots = 10, 24
    ts = np.arange(days * slots, dtype=np.int64) * H
    value = np.tile(np.arange(slots, dtype=np.float64), days)
    value[5::24] = [10, 12] * 5
    value[9 * 24 + 5] = 20.0  # day 9, slot 5
    z = zscores(ts, value, step_s=3600, tz="UTC", baseline_days=8, min_baseline=7)
    base = np.array([12, 10, 12, 10, 12, 10, 12, 10], dtype=np.float64)  # days 1..8
    mean, std = base.mean(), base.std(ddof=1)
    assert z.mean[9 * 24 + 5] == pytest.approx(mean)
    assert z.score[9 * 24 + 5] == pytest.approx((20.0 - mean) / std)


def test_zscore_needs_min_baseline_days_and_never_looks_ahead() -> None:
    ts = np.arange(10 * 24, dtype=np.int64) * H
    value = np.random.default_rng(0).normal(100, 5, len(ts))
    z = zscores(ts, value, step_s=3600, tz="UTC", baseline_days=28, min_baseline=7)
    assert np.isnan(z.score[: 7 * 24]).all() and not np.isnan(z.score[7 * 24 :]).any()
    later = value.copy()
    later[-24:] += 1000  # a change on the last day changes no earlier score
    z2 = zscores(ts, later, step_s=3600, tz="UTC", baseline_days=28, min_baseline=7)
    assert np.array_equal(z.score[:-24], z2.score[:-24], equal_nan=True)


def test_zscore_a_constant_slot_gets_a_floor_not_an_infinite_score() -> None:
    ts = np.arange(9 * 24, dtype=np.int64) * H
    value = np.full(len(ts), 50.0)
    value[-1] = 51.0
    z = zscores(ts, value, step_s=3600, tz="UTC", baseline_days=8, min_baseline=7, std_floor=0.01)
    assert z.score[-1] == pytest.approx(1.0 / 0.5)  # std floored to 1 % of the mean 50


def test_zscore_slots_follow_the_local_clock_across_dst() -> None:
    # a load that peaks at 18:00 local: after the spring-forward the UTC hour of the peak moves,
    # the local slot does not, so the first day after the change scores like any other
    tz = "Europe/Amsterdam"
    start = int(datetime(2024, 3, 20, tzinfo=UTC).timestamp()) * US
    ts = start + np.arange(20 * 24, dtype=np.int64) * H
    hour = (wall_clock_us(ts, tz) // H) % 24
    value = np.where(hour == 18, 100.0, 10.0) + np.random.default_rng(1).normal(0, 1, len(ts))
    z = zscores(ts, value, step_s=3600, tz=tz, baseline_days=7, min_baseline=5)
    after = ts >= int(datetime(2024, 3, 31, 1, tzinfo=UTC).timestamp()) * US
    assert np.nanmax(np.abs(z.score[after])) < 6


def test_residual_scores_use_the_median_and_mad_of_the_residuals() -> None:
    expected = np.full(30, 100.0)
    actual = expected + np.array([1, -1] * 15, dtype=np.float64)
    actual[7] = 130.0
    r = residual_scores(actual, expected, min_residuals=24)
    assert r is not None
    # residuals: fourteen -1, fifteen +1 and one +30 (index 7 was a -1): the 15th and 16th of
    # the sorted 30 are both +1, so the median is 1; the deviations |r - 1| are fifteen 0,
    # fourteen 2 and one 29, so the MAD is (0 + 2) / 2 = 1 and the scale 1.4826
    assert r.median == pytest.approx(1.0)
    assert r.scale == pytest.approx(1.4826)
    assert r.score[7] == pytest.approx(29.0 / 1.4826)
    # a forecast exactly right at every other step: MAD 0, the scale floors at 1 % of the
    # median |actual| (100)
    flat = residual_scores(np.r_[np.full(29, 100.0), 103.0], np.full(30, 100.0), min_residuals=24)
    assert flat is not None and flat.scale == pytest.approx(1.0) and flat.score[-1] == pytest.approx(3.0)


def test_residual_scores_need_enough_residuals() -> None:
    actual = np.array([1.0, 2.0, np.nan] * 8)
    expected = np.ones(24)
    assert residual_scores(actual, expected, min_residuals=24) is None
    assert residual_scores(actual, expected, min_residuals=16) is not None


def test_windows_join_consecutive_flags_on_one_side_and_take_the_top_severity() -> None:
    ts = np.arange(12, dtype=np.int64) * Q15
    score = np.array([0, 4, 6, 9, 0, -4, -4, 0, 5, np.nan, 5, 0], dtype=np.float64)
    value = np.arange(12, dtype=np.float64)
    found = windows(ts, score, value, value * 0, step_us=Q15, thresholds=Thresholds(3.5, 5, 8))
    assert [(w.start_us // Q15, w.end_us // Q15, w.kind, w.severity) for w in found] == [
        (1, 4, "high", Severity.CRITICAL),
        (5, 7, "low", Severity.INFO),
        (8, 9, "high", Severity.WARNING),  # the NaN ends it
        (10, 11, "high", Severity.WARNING),
    ]
    assert found[0].value == 3.0 and found[0].score == 9.0


def test_windows_a_gap_in_the_data_splits_a_window() -> None:
    ts = np.array([0, 1, 3], dtype=np.int64) * Q15
    found = windows(
        ts, np.array([6.0, 6.0, 6.0]), np.zeros(3), np.zeros(3), step_us=Q15, thresholds=Thresholds()
    )
    assert [(w.start_us // Q15, w.end_us // Q15) for w in found] == [(0, 2), (3, 4)]


def test_a_spike_in_a_load_series_scores_high_and_normal_days_do_not() -> None:
    rng = np.random.default_rng(7)
    days = 40
    ts = np.arange(days * 96, dtype=np.int64) * Q15
    slot = np.arange(len(ts)) % 96
    value = 50 + 20 * np.sin(2 * np.pi * slot / 96) + rng.normal(0, 1, len(ts))
    value[35 * 96 + 40] += 25
    z = zscores(ts, value, step_s=900, tz="UTC")
    found = windows(ts, z.score, value, z.mean, step_us=Q15, thresholds=Thresholds())
    assert [w.start_us for w in found if w.severity >= Severity.WARNING] == [int(ts[35 * 96 + 40])]
