"""gridpulse.jobs.forecasts: stored points onto the forecast grid, exogenous series alongside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from gridpulse.config import Settings, load_settings
from gridpulse.dataset import SeriesPoints, keyed_batches
from gridpulse.errors import QueryError
from gridpulse.jobs.forecasts import histories_from_store, run_forecasts, selected_series
from gridpulse.model import SeriesKey, SeriesMeta
from gridpulse.store import open_store
from gridpulse.store.base import Store, WriteRequest

END = datetime(2024, 3, 1, tzinfo=UTC)
HOUR_US = 3_600_000_000


def _grid(days: int, step: timedelta) -> np.ndarray:
    step_us = int(step.total_seconds() * 1e6)
    n = days * 86_400_000_000 // step_us
    return int(END.timestamp() * 1e6) - (n - np.arange(n, dtype=np.int64)) * step_us


def _write(store: Store, key: SeriesKey, ts: np.ndarray, values: np.ndarray, unit: str, step: timedelta) -> None:
    meta = SeriesMeta(unit, step, "Europe/Amsterdam", {}, None, "ams")
    store.write_group([WriteRequest(keyed_batches([SeriesPoints(key, ts, values)]), lambda k: meta)])


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Store, Settings]:
    store = open_store(f"duckdb:///{tmp_path / 'store.duckdb'}")
    q = _grid(21, timedelta(minutes=15))
    kwh = 0.25 + 0.1 * np.sin(2 * np.pi * (q // HOUR_US % 24) / 24)
    # one quarter-hour missing (its hour is incomplete) and the newest hour only half arrived
    keep = np.ones(len(q), bool)
    keep[100] = False
    keep[-2:] = False
    _write(store, SeriesKey("meter", "m-1", "kwh"), q[keep], kwh[keep], "kWh", timedelta(minutes=15))
    h = _grid(21, timedelta(hours=1))
    _write(store, SeriesKey("site", "ams", "temperature_c"), h, 5.0 + (h // HOUR_US % 24) / 10, "°C",
           timedelta(hours=1))
    settings = load_settings(env={}).replace(
        forecast={"exogenous": ["site:ams/temperature_c"], "history_days": 30, "model": "lightgbm"}
    )
    yield store, settings
    store.close()


def test_an_incomplete_hour_is_missing_and_the_history_ends_at_the_newest_complete_one(
    filled: tuple[Store, Settings],
) -> None:
    store, settings = filled
    (h,), skipped = histories_from_store(store, selected_series(store, ["meter/kwh"]), settings)
    assert skipped == []
    assert h.step_s == 3600 and h.tz == "Europe/Amsterdam"
    # 21 days of hours, the last (half arrived) left out; the one missing a quarter is NaN
    assert len(h.values) == 21 * 24 - 1
    assert np.isnan(h.values[25]) and np.isnan(h.values).sum() == 1
    assert h.end_us == int(END.timestamp() * 1e6) - HOUR_US
    np.testing.assert_allclose(h.values[0], 4 * 0.25 + 0.1 * 4 * np.sin(2 * np.pi * ((h.start_us // HOUR_US) % 24) / 24))


def test_the_exogenous_series_lies_on_each_history_grid(filled: tuple[Store, Settings]) -> None:
    store, settings = filled
    (h,), _ = histories_from_store(store, selected_series(store, ["meter/kwh"]), settings)
    temp = h.exog["site:ams/temperature_c"]
    assert len(temp) == len(h.values)
    hours = (h.grid_us() // HOUR_US) % 24
    np.testing.assert_allclose(temp, 5.0 + hours / 10)


def test_a_forecast_with_an_exogenous_series_is_stored(filled: tuple[Store, Settings]) -> None:
    store, settings = filled
    outcome = run_forecasts(store, settings, selected_series(store, ["meter/kwh"]))
    (run,) = outcome.runs
    assert (run.model, run.steps, run.step_s) == ("lightgbm", 168, 3600)
    assert run.origin == END - timedelta(hours=1)
    found = store.read_forecast(run.series_id)
    assert found is not None and found[1].num_rows == 168


def test_an_exogenous_selector_naming_no_series_is_refused(filled: tuple[Store, Settings]) -> None:
    store, settings = filled
    bad = settings.replace(forecast={"exogenous": ["site:nowhere/temperature_c"]})
    with pytest.raises(QueryError, match="must name one series, it names none"):
        histories_from_store(store, selected_series(store, ["meter/kwh"]), bad)
