"""Rolling-origin backtests: where the origins fall, what each is scored on, what raises, and the
PNG of a result."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gridpulse.forecast import History, SeasonalNaive, backtest, make_model
from gridpulse.forecast.plot import plot_backtest
from tests.forecast.series import HOUR, MONDAY, synthetic

H_US = HOUR * 1_000_000


def test_origins_are_a_stride_apart_and_the_newest_has_a_whole_horizon_of_actuals() -> None:
    h = synthetic(weeks=6, seed=1)
    n = len(h.values)
    result = backtest(SeasonalNaive(), [h], steps=168, origins=5, stride_steps=24)
    assert len(result.origins_us) == 5
    assert np.diff(result.origins_us).tolist() == [24 * H_US] * 4
    assert result.origins_us[-1] == h.end_us - 168 * H_US  # the newest: its horizon ends at the end
    assert h.index_of(result.origins_us[-1]) + 168 == n
    assert [oi for oi, _, _ in result.forecasts] == [0, 1, 2, 3, 4]
    for _, _, fc in result.forecasts:
        assert fc.steps == 168
        idx = h.index_of(fc.origin_us)
        assert idx + 168 <= n  # every origin is scored on a whole horizon


def test_the_default_stride_is_the_horizon_so_forecast_windows_touch() -> None:
    h = synthetic(weeks=6, seed=1)
    result = backtest(SeasonalNaive(), [h], steps=48, origins=3)
    assert np.diff(result.origins_us).tolist() == [48 * H_US] * 2
    assert result.steps == 48 and result.step_s == HOUR
    assert result.model == "seasonal-naive"
    assert result.params == {"season": "week", "calibration_seasons": 8}


def test_the_newest_origin_follows_the_shortest_history_and_stays_on_the_grid() -> None:
    a = synthetic("a", weeks=6, seed=1)
    b = a.until(a.end_us - 30 * H_US)  # ends 30 h earlier
    b = replace(b, name="b")
    result = backtest(SeasonalNaive(), [a, b], steps=24, origins=2)
    assert result.origins_us[-1] == b.end_us - 24 * H_US
    assert {fc.name for _, _, fc in result.forecasts} == {"a", "b"}


def test_scores_pool_every_origin_of_a_series() -> None:
    h = synthetic(weeks=6, seed=2)
    result = backtest(SeasonalNaive(), [h], steps=24, origins=3, stride_steps=24)
    err = np.concatenate(
        [
            h.values[h.index_of(fc.origin_us) : h.index_of(fc.origin_us) + 24] - fc.mean
            for _, _, fc in result.forecasts
        ]
    )
    (row,) = result.per_series
    assert row["name"] == "s" and row["n"] == 72
    assert row["mae"] == pytest.approx(np.mean(np.abs(err)))
    assert result.overall["mae"] == pytest.approx(row["mae"])


def test_a_history_too_short_at_an_origin_sits_that_origin_out() -> None:
    long = synthetic("long", weeks=6, seed=1)
    # the same end, but only 2 weeks + 5 days of it: 336 + 96 steps before the newest origin
    # (24 before the end), 24 fewer at each origin before it; two weeks (336) are the floor
    short = replace(long.last(2 * 168 + 5 * 24), name="short")
    result = backtest(SeasonalNaive(), [long, short], steps=24, origins=10, stride_steps=24)
    by_name = {name: [oi for oi, h, _ in result.forecasts if h.name == name] for name in ("long", "short")}
    assert by_name["long"] == list(range(10))
    # origin i (0 oldest, 9 newest) leaves short 336 + 96 - 24 (9 - i) steps: >= 336 from i = 5
    assert by_name["short"] == [5, 6, 7, 8, 9]
    assert len(short.until(result.origins_us[4]).values) == 336 - 24
    assert len(short.until(result.origins_us[5]).values) == 336
    assert [r["name"] for r in result.per_series] == ["long", "short"]
    assert result.per_series[1]["n"] == 5 * 24


def test_histories_with_mixed_steps_raise() -> None:
    hourly = synthetic("h", weeks=3)
    half = synthetic("m", weeks=3, step_s=1800)
    with pytest.raises(ValueError, match="same step"):
        backtest(SeasonalNaive(), [hourly, half], steps=24)


def test_no_histories_raise() -> None:
    with pytest.raises(ValueError, match="no series"):
        backtest(SeasonalNaive(), [], steps=24)


def test_too_little_history_for_one_origin_raises() -> None:
    h = History("tiny", MONDAY, HOUR, np.ones(2 * 168))
    with pytest.raises(ValueError, match="steps of history before the first origin"):
        backtest(SeasonalNaive(), [h], steps=24, origins=1)


def test_cross_validate_is_the_backtest() -> None:
    h = synthetic(weeks=5, seed=3)
    a = SeasonalNaive().cross_validate([h], steps=24, origins=2)
    b = backtest(SeasonalNaive(), [h], steps=24, origins=2)
    assert a.origins_us == b.origins_us
    assert a.per_series == b.per_series


def test_plot_backtest_writes_a_png(tmp_path: Path) -> None:
    hs = [synthetic("a", weeks=4, seed=1), synthetic("b", weeks=4, seed=2)]
    result = backtest(make_model("seasonal-naive"), hs, steps=48, origins=2)
    out = plot_backtest(result, tmp_path / "plots" / "bt.png", unit="kW")
    assert out == tmp_path / "plots" / "bt.png"
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000
