"""No leakage: nothing at or after a forecast's origin reaches its features or its forecast.

feature_rows: for many origins and every step up to 7 days (168 hourly, 336 half-hourly), a
history changed from the origin on (target and exogenous series) gives the same x, loc, scale, origin
and step for that origin's rows; only y moves. Models: `predict` on `history.until(origin)` is the
same for two histories that differ only after the origin, for every model, and so are the
forecasts of a backtest whose actuals change after the newest origin.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gridpulse.forecast import History, backtest, make_model
from gridpulse.forecast.calendar import CALENDAR_FEATURES
from gridpulse.forecast.features import FEATURE_NAMES, feature_rows
from tests.forecast.series import HOUR, synthetic

HALF_HOUR = 1800


def changed_after(h: History, origin: int, how: str, seed: int = 99) -> History:
    """`h` with its target and exogenous values from grid index `origin` on replaced."""
    rng = np.random.default_rng(seed)
    values = h.values.copy()
    exog = {k: v.copy() for k, v in h.exog.items()}
    tail = len(values) - origin
    if how == "noise":  # wildly different, and a gap
        values[origin:] = rng.normal(5_000.0, 3_000.0, tail)
        values[origin + 3 :: 7] = np.nan
        for v in exog.values():
            v[origin:] = rng.normal(-40.0, 30.0, tail)
    elif how == "nan":  # the future unknown
        values[origin:] = np.nan
        for v in exog.values():
            v[origin:] = np.nan
    elif how == "origin-only":  # just the origin's own interval
        values[origin : origin + 1] = -1e6
        for v in exog.values():
            v[origin : origin + 1] = 1e6
    else:
        raise AssertionError(how)
    return replace(h, values=values, exog=exog)


def origins_for(h: History, steps: int) -> list[int]:
    n, day, week = len(h.values), h.steps_per(86_400), h.steps_per(7 * 86_400)
    # the very start (nothing behind), around a day and a week (lags appear), mid-series, the
    # last origin with a whole horizon of targets, the last step, and the future
    return [0, 1, day - 1, day, day + 5, week - 1, week, week + 1, 2 * week + 7, 3 * week, n - steps, n - 1]


@pytest.mark.parametrize(("step_s", "steps"), [(HOUR, 168), (HALF_HOUR, 336)])
@pytest.mark.parametrize("how", ["noise", "nan", "origin-only"])
def test_values_at_or_after_an_origin_change_only_y_of_its_feature_rows(
    step_s: int, steps: int, how: str
) -> None:
    h = synthetic(weeks=5, step_s=step_s, exog=True, seed=1)
    origins = origins_for(h, steps)
    base = feature_rows(h, np.array(origins, np.int64), steps)
    assert base.x.shape == (len(origins) * steps, len(FEATURE_NAMES) + 3)
    for o in origins:
        other = feature_rows(changed_after(h, o, how), np.array([o], np.int64), steps)
        mine = base.origin == o
        np.testing.assert_array_equal(other.x, base.x[mine], err_msg=f"origin {o}: x moved with the future")
        np.testing.assert_array_equal(other.scale, base.scale[mine])
        np.testing.assert_array_equal(other.loc, base.loc[mine])
        np.testing.assert_array_equal(other.origin, base.origin[mine])
        np.testing.assert_array_equal(other.step, base.step[mine])
        # ...while y does follow the changed values wherever the target is inside the history
        known = (o + np.arange(steps)) < len(h.values)
        if how == "origin-only":
            known &= np.arange(steps) == 0
        assert known.any()
        assert not np.array_equal(other.y[known], base.y[mine][known], equal_nan=True)


def test_a_future_origin_reads_no_target_and_the_same_features_as_the_cut_history() -> None:
    # the origin at len(values) is where a real forecast starts: its rows match those of the
    # same history with a longer, made-up future
    h = synthetic(weeks=4, exog=True, seed=2)
    n = len(h.values)
    now = feature_rows(h, np.array([n], np.int64), 168)
    assert np.isnan(now.y).all()
    longer = replace(
        h,
        values=np.r_[h.values, np.full(168, 7.0)],
        exog={"temperature": np.r_[h.exog["temperature"], np.full(168, 99.0)]},
    )
    later = feature_rows(longer, np.array([n], np.int64), 168)
    np.testing.assert_array_equal(later.x, now.x)
    np.testing.assert_allclose(later.loc + later.y * later.scale, 7.0)


def test_same_slot_lags_jump_back_whole_days_and_weeks_until_before_the_origin() -> None:
    # value i + 1 at step i, so a level feature mapped back (loc + x * scale) names the step it
    # was read from
    n = 4 * 168
    h = History("idx", 0, HOUR, np.arange(1.0, n + 1.0))
    origin = 3 * 168  # 504
    rows = feature_rows(h, np.array([origin], np.int64), 168)
    spreads = {"step_ahead", "days_ahead", "std_last_day"}
    col = {
        name: rows.x[:, i].astype(np.float64) * (1.0 if name in spreads else rows.scale)
        + (0.0 if name in spreads else rows.loc)
        for i, name in enumerate(rows.names)
        if name not in CALENDAR_FEATURES
    }
    week = np.arange(337.0, 505.0)  # the last week before the origin: steps 336..503
    np.testing.assert_allclose(rows.loc, week.mean())
    np.testing.assert_allclose(rows.scale, week.std())
    scale = week.mean()
    # 30 h ahead (step 534): the same hour two days back (486), one week back (366), two (198)
    k = 30
    assert col["lag_same_slot_day"][k] == pytest.approx(487, rel=1e-6)
    assert col["lag_same_slot_week"][k] == pytest.approx(367, rel=1e-6)
    assert col["lag_same_slot_2weeks"][k] == pytest.approx(199, rel=1e-6)
    # four weeks back would be step -138: not there, so the mean of the three that are
    assert col["mean_same_slot_4weeks"][k] == pytest.approx((367 + 199 + 31) / 3, rel=1e-6)
    # 23 h ahead: yesterday's hour (527 - 24 = 503), the newest step known
    assert col["lag_same_slot_day"][23] == pytest.approx(504, rel=1e-6)
    # 167 h ahead: the same hour 7 days back is step 503 too
    assert col["lag_same_slot_day"][167] == pytest.approx(504, rel=1e-6)
    assert col["lag_same_slot_week"][167] == pytest.approx(504, rel=1e-6)
    # per-origin statistics end at the origin
    assert col["last_value"][0] == pytest.approx(504, rel=1e-6)
    assert col["mean_last_day"][0] == pytest.approx((481 + 504) / 2, rel=1e-6)
    assert col["min_last_day"][0] == pytest.approx(481, rel=1e-6)
    assert col["max_last_day"][0] == pytest.approx(504, rel=1e-6)
    assert col["mean_last_week"][0] == pytest.approx(scale, rel=1e-6)
    # no value feature ever names a step at or after the origin
    for name in ("lag_same_slot_day", "lag_same_slot_week", "lag_same_slot_2weeks", "max_last_day"):
        assert np.nanmax(col[name]) <= origin + 0.01


# ----------------------------------------------------------------------------------- models
SMALL = {
    "seasonal-naive": {},
    "lightgbm": {"rounds": 30, "max_origins": 30, "threads": 1},
    "mstl": {"train_weeks": 3},
    "linear": {},
    "ensemble": {"lightgbm": {"rounds": 30, "max_origins": 30, "threads": 1}},
}


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("step_s", [HOUR, HALF_HOUR])
def test_predict_on_a_cut_history_ignores_what_came_after_the_origin(name: str, step_s: int) -> None:
    h = synthetic(weeks=5, step_s=step_s, exog=True, seed=3)
    o = h.steps_per(4 * 7 * 86_400) + 5  # four weeks and five steps in
    origin_us = int(h.grid_us()[o])
    other = changed_after(h, o, "noise")
    steps = h.steps_per(7 * 86_400)
    got = []
    for full in (h, other):
        cut = full.until(origin_us)
        model = make_model(name, **SMALL[name]).fit([cut])  # fitted on what was known then
        got.append(model.predict([cut], steps)[0])
    a, b = got
    assert a.origin_us == b.origin_us == origin_us
    assert a.steps == steps
    for col in ("mean", "lo80", "hi80", "lo95", "hi95"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col), err_msg=col)
    assert np.isfinite(a.mean).all()


@pytest.mark.parametrize("name", ["seasonal-naive", "lightgbm", "linear", "ensemble"])
def test_backtest_forecasts_do_not_move_when_the_actuals_change(name: str) -> None:
    # the actuals after the newest origin are scored, never read by a fit or a forecast
    h = synthetic(weeks=6, seed=4)
    steps = 168
    newest = len(h.values) - steps
    other = changed_after(h, newest, "noise")
    runs = [backtest(make_model(name, **SMALL[name]), [x], steps=steps, origins=3) for x in (h, other)]
    assert runs[0].origins_us == runs[1].origins_us
    for (_, _, fa), (_, _, fb) in zip(runs[0].forecasts, runs[1].forecasts, strict=True):
        np.testing.assert_array_equal(fa.mean, fb.mean)
        np.testing.assert_array_equal(fa.hi95, fb.hi95)
    # the scores do see them
    assert runs[0].overall["mae"] != runs[1].overall["mae"]


def test_features_do_not_depend_on_how_much_history_lies_before_the_four_weeks_they_read() -> None:
    # a model given a year or only the newest four weeks must see bit-identical features: a
    # booster can split on the last bits of a float
    rng = np.random.default_rng(3)
    h = History("z", 0, HOUR, rng.normal(0.0, 1.0, 400 * 24))
    whole = feature_rows(h, np.array([len(h.values)], np.int64), 168)
    recent = feature_rows(h.last(4 * 168), np.array([4 * 168], np.int64), 168)
    np.testing.assert_array_equal(whole.x, recent.x)
    np.testing.assert_array_equal(whole.loc, recent.loc)
    np.testing.assert_array_equal(whole.scale, recent.scale)
