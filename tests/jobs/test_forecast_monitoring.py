"""Forecast monitoring on real stores: live error of stored forecasts against a hand-worked fixture
(through the function, the API and the CLI), drift against the training window, and the job that
stores the checks and sets the gridpulse_forecast_* gauges."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gridpulse.config import Settings
from gridpulse.jobs.forecasts import run_forecasts
from gridpulse.jobs.monitoring import drift_answer, error_answer, scheduled_monitoring
from gridpulse.model import FORECAST_VALUES_SCHEMA, ForecastCheck, ForecastRun
from gridpulse.store import open_store
from gridpulse.store.base import Store
from tests.conftest import start_server
from tests.quality.points import grid, write
from tests.store.test_forecasts import _v3_store
from tests.test_cli_forecast import failed, gridpulse, ok

H = timedelta(hours=1)
D0 = datetime(2024, 3, 1, tzinfo=UTC)


def forecast(
    store: Store, series_id: int, origin: datetime, steps: int, *, mean: float, spread: tuple[float, float],
    created_at: datetime | None = None, train_start: datetime | None = None, values: np.ndarray | None = None,
) -> ForecastRun:  # fmt: skip
    """Store a run of `steps` hourly steps from `origin`: a flat `mean` (or `values`), bounds at
    mean -+ spread[0] (80 %) and -+ spread[1] (95 %)."""
    m = np.full(steps, mean) if values is None else values
    table = pa.table(
        {
            "ts": pa.array(grid(origin, steps, H), pa.timestamp("us", tz="UTC")),
            "mean": m,
            "lo80": m - spread[0],
            "hi80": m + spread[0],
            "lo95": m - spread[1],
            "hi95": m + spread[1],
        },
        schema=FORECAST_VALUES_SCHEMA,
    )
    run = ForecastRun(
        series_id, "seasonal-naive", "test", 3600, steps, origin, train_start or origin - timedelta(days=28),
        origin, created_at=created_at,
    )  # fmt: skip
    return store.write_forecast(run, table)


def two_runs(store: Store) -> int:
    """The hand-worked fixture: hourly kWh, 12 every hour of day 0 and 16 every hour of day 1.
    Run A (origin day 0, 48 steps) says 10, 80 % 7..13, 95 % 6..14; run B (origin day 1, 24
    steps) says 20, 80 % 17..23, 95 % 15..25. B has the later origin, so day 1 is scored against
    B although A was stored later (and is what GET /api/v1/forecasts serves now)."""
    write(store, "m-1", grid(D0, 48, H), [12.0] * 24 + [16.0] * 24, interval=H)
    (s,) = store.list_series()
    forecast(store, s.series_id, D0 + H * 24, 24, mean=20, spread=(3, 5), created_at=D0 + timedelta(days=2))
    forecast(store, s.series_id, D0, 48, mean=10, spread=(3, 4), created_at=D0 + timedelta(days=3))
    return s.series_id


# day 0: forecast - actual = 10 - 12 = -2 every hour: MAE 2, bias -2, MAPE 2/12; 12 in 7..13, 6..14
# day 1: 20 - 16 = +4: MAE 4, bias +4, MAPE 4/16; 16 outside 17..23, inside 15..25
DAY0 = {"steps": 24, "mape_steps": 24, "mae": 2.0, "mape": 100 * 2 / 12, "bias": -2.0, "coverage80": 1.0,
        "coverage95": 1.0}  # fmt: skip
DAY1 = {
    "steps": 24,
    "mape_steps": 24,
    "mae": 4.0,
    "mape": 25.0,
    "bias": 4.0,
    "coverage80": 0.0,
    "coverage95": 1.0,
}


def figures(row: dict[str, object]) -> dict[str, object]:
    return {k: pytest.approx(row[k]) if isinstance(row[k], float) else row[k] for k in DAY0}


def test_each_step_is_scored_against_the_forecast_current_for_it(store: Store, settings: Settings) -> None:
    sid = two_runs(store)
    body = error_answer(store, settings, sid, days=2, window_days=1)
    assert [r["day"] for r in body["days"]] == ["2024-03-01", "2024-03-02"]
    assert [figures(r) for r in body["days"]] == [DAY0, DAY1]
    w = body["window"]
    assert (w["start"], w["end"], w["days"]) == ("2024-03-02T00:00:00+00:00", "2024-03-03T00:00:00+00:00", 1)
    assert figures(w) == DAY1
    both = error_answer(store, settings, sid, days=2, window_days=2)["window"]
    assert figures(both) == {
        "steps": 48, "mape_steps": 48, "mae": 3.0, "mape": (100 * 2 / 12 + 25) / 2, "bias": 1.0,
        "coverage80": 0.5, "coverage95": 1.0,
    }  # fmt: skip


def test_days_are_local_days_of_the_zone_asked_for(store: Store, settings: Settings) -> None:
    sid = two_runs(store)
    body = error_answer(store, settings, sid, days=2, window_days=1, tz="Europe/Amsterdam")
    # CET: the last reading (23:00 UTC on the 2nd) is on the 3rd locally; the 2nd locally runs
    # from 23:00 UTC on the 1st: one hour of day 0 (-2) and 23 of day 1 (+4)
    assert [(r["day"], r["steps"]) for r in body["days"]] == [("2024-03-02", 24), ("2024-03-03", 1)]
    assert body["days"][0]["mae"] == pytest.approx((2 + 23 * 4) / 24)
    assert body["days"][0]["bias"] == pytest.approx((-2 + 23 * 4) / 24)
    assert body["period"]["start"] == "2024-03-02T00:00:00+01:00"


def test_error_of_a_series_without_forecasts_says_how_to_make_one(store: Store, settings: Settings) -> None:
    from gridpulse.errors import NotFound

    write(store, "m-9", grid(D0, 4, H), [1.0] * 4, interval=H)
    (s,) = store.list_series()
    with pytest.raises(NotFound, match="no stored forecast of meter:m-9/kwh; make one with POST"):
        error_answer(store, settings, s.series_id)


# ----------------------------------------------------------------------------- drift

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 35


def load(shift_last_week: float = 1.0, seed: int = 1) -> np.ndarray:
    """35 days of an hourly daily cycle with noise; the last 7 days times `shift_last_week`."""
    rng = np.random.default_rng(seed)
    n = DAYS * 24
    v = 100 + 30 * np.sin(2 * np.pi * np.arange(n) / 24) + rng.normal(0, 3, n)
    v[-7 * 24 :] *= shift_last_week
    return v


def drift_fleet(store: Store) -> dict[str, int]:
    """m-stable and m-shifted (+50 % in the last week), each with a forecast trained on the first
    28 days that forecasts the daily cycle for the last 7."""
    write(store, "m-stable", grid(T0, DAYS * 24, H), load().tolist(), interval=H)
    write(store, "m-shifted", grid(T0, DAYS * 24, H), load(1.5).tolist(), interval=H)
    origin = T0 + timedelta(days=28)
    cycle = 100 + 30 * np.sin(2 * np.pi * np.arange(28 * 24, DAYS * 24) / 24)
    ids = {s.key.entity_id: s.series_id for s in store.list_series()}
    for sid in ids.values():
        forecast(store, sid, origin, 7 * 24, mean=0, spread=(4, 6), values=cycle, train_start=T0)
    return ids


def test_drift_is_small_on_a_stable_series_and_large_on_a_shifted_one(
    store: Store, settings: Settings
) -> None:
    ids = drift_fleet(store)
    stable = drift_answer(store, settings, ids["m-stable"])
    shifted = drift_answer(store, settings, ids["m-shifted"])
    assert stable["training"] == {"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-29T00:00:00+00:00"}
    assert stable["recent"]["start"] == "2024-01-29T00:00:00+00:00"
    assert [(i["input"], i["training_values"], i["recent_values"]) for i in stable["inputs"]] == [
        ("value", 28 * 24, 7 * 24)
    ]
    assert stable["psi"] < 0.1 and stable["level"] == "stable"
    assert shifted["psi"] > 0.25 and shifted["level"] == "drift"


def test_drift_covers_the_inputs_a_forecast_recorded(store: Store, settings: Settings) -> None:
    ids = drift_fleet(store)
    temp = 10 + 5 * np.sin(2 * np.pi * np.arange(DAYS * 24) / 24)
    temp[-7 * 24 :] += 15  # a heat wave in the last week
    write(store, "ams", grid(T0, DAYS * 24, H), temp.tolist(), interval=H, unit="°C", metric="temperature_c")
    with_input = settings.replace(forecast={"exogenous": ["meter:ams/temperature_c"]})
    (s,) = [x for x in store.list_series() if x.series_id == ids["m-stable"]]
    (run,) = run_forecasts(store, with_input, [s], model="seasonal-naive").runs
    assert json.loads(run.params)["exogenous"] == ["meter:ams/temperature_c"]
    body = drift_answer(store, with_input, s.series_id)
    by_input = {i["input"]: i for i in body["inputs"]}
    assert list(by_input) == ["value", "meter:ams/temperature_c"]
    assert by_input["meter:ams/temperature_c"]["level"] == "drift"
    assert body["psi"] == by_input["meter:ams/temperature_c"]["psi"] > by_input["value"]["psi"]


# ----------------------------------------------------------------------------- job and store


def test_checks_round_trip_and_old_ones_are_dropped(store: Store) -> None:
    now = datetime(2026, 1, 10, tzinfo=UTC)
    old = ForecastCheck(
        1, now - timedelta(days=40), now, now, forecast_id=3, steps=2, mape=5.0, detail={"a": 1}
    )
    mid = ForecastCheck(1, now - timedelta(days=2), now, now, steps=0)
    assert store.write_forecast_checks([old, mid]) == 2
    new = ForecastCheck(1, now, now - timedelta(days=7), now, forecast_id=4, steps=168, mae=1.5, psi=0.3)
    other = ForecastCheck(2, now, now, now)
    assert store.write_forecast_checks([new, other], keep_since=now - timedelta(days=30)) == 2
    assert store.list_forecast_checks() == [mid, new, other]
    assert store.list_forecast_checks([1], newest=True) == [new]
    assert store.list_forecast_checks(until=now - timedelta(days=1), newest=True) == [mid]
    assert store.list_forecast_checks([1], since=now) == [new]


def test_a_store_from_before_monitoring_opened_read_only_has_no_checks(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    _v3_store(path)
    s = open_store(f"duckdb:///{path}", read_only=True)
    try:
        assert s.list_forecast_checks() == [] and s.newest_forecasts() == []
        assert s.read_current_forecast(1, start=D0, end=D0 + H).num_rows == 0
    finally:
        s.close()


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_the_job_stores_checks_and_sets_the_gauges(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    store: Store = client.app.state.gridpulse.store  # type: ignore[attr-defined]
    ids = drift_fleet(store)
    resp = client.post("/api/v1/jobs/forecast-monitor/run")
    assert resp.status_code == 200, resp.text
    run = resp.json()["run"]
    assert (run["status"], run["rows"], run["detail"]["drifting"]) == ("ok", 2, ["meter:m-shifted/kwh"])
    checks = {c.series_id: c for c in store.list_forecast_checks(newest=True)}
    assert set(checks) == set(ids.values())
    text = client.get("/metrics").text
    psi = samples(text, "gridpulse_forecast_drift_psi")
    error = samples(text, "gridpulse_forecast_live_error")
    for sid, c in checks.items():
        assert psi[(("series_id", str(sid)),)] == pytest.approx(c.psi)
        for measure in ("mae", "mape", "bias"):
            assert error[(("measure", measure), ("series_id", str(sid)))] == pytest.approx(
                getattr(c, measure)
            )
    # the gauges say what the API says about the same window
    api = client.get(f"/api/v1/forecasts/{ids['m-shifted']}/error").json()["window"]
    assert error[(("measure", "mape"), ("series_id", str(ids["m-shifted"])))] == pytest.approx(api["mape"])
    assert api["bias"] < 0  # the forecast knew nothing of the +50 %
    history = client.get("/api/v1/jobs/runs", params={"job": "forecast-monitor"}).json()["runs"]
    assert [r["status"] for r in history] == ["ok"]


def test_a_job_without_forecasts_checks_nothing(store: Store, settings: Settings) -> None:
    write(store, "m-1", grid(D0, 4, H), [1.0] * 4, interval=H)
    report = scheduled_monitoring(store, settings)
    assert report.as_dict()["status"] == "ok" and report.checked == 0
    assert store.list_forecast_checks() == []


def test_api_error_and_drift_answers(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    store: Store = client.app.state.gridpulse.store  # type: ignore[attr-defined]
    sid = two_runs(store)
    body = client.get(f"/api/v1/forecasts/{sid}/error", params={"days": 2, "window_days": 1}).json()
    assert [figures(r) for r in body["days"]] == [DAY0, DAY1] and figures(body["window"]) == DAY1
    assert body["forecast_choice"].startswith("each step against the stored forecast with the latest origin")
    drift = client.get(f"/api/v1/forecasts/{sid}/drift").json()
    assert drift["psi"] is None and drift["inputs"][0]["training_values"] == 0  # nothing stored before day 0
    zero = client.get(f"/api/v1/forecasts/{sid}/error", params={"window_days": 0})
    assert zero.status_code == 400 and "window_days" in zero.text
    assert client.get(f"/api/v1/forecasts/{sid}/error", params={"model": "prophet"}).status_code == 400
    missing = client.get("/api/v1/forecasts/999/error")
    assert missing.status_code == 404 and "series 999 does not exist" in missing.text


# ----------------------------------------------------------------------------- CLI


def test_cli_answers_from_the_file_and_through_the_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = open_store(f"duckdb:///{data / 'gridpulse.duckdb'}")
    try:
        two_runs(store)
    finally:
        store.close()
    args = ("forecast", "error", "meter:m-1/kwh", "--days", "2", "--window-days", "1")
    from_file = json.loads(ok(gridpulse(*args, "-f", "json", cwd=tmp_path, data_dir=data)))
    assert [figures(r) for r in from_file["days"]] == [DAY0, DAY1] and figures(from_file["window"]) == DAY1
    table = ok(gridpulse(*args, cwd=tmp_path, data_dir=data))
    assert "live forecast error · meter:m-1/kwh" in table and "2024-03-02" in table and "last 1 days" in table
    assert "MAE [kWh]" in table
    drift_file = json.loads(
        ok(gridpulse("forecast", "drift", "1", "-f", "json", cwd=tmp_path, data_dir=data))
    )
    assert "no series for entity 'm-2'" in failed(
        gridpulse("forecast", "error", "m-2", cwd=tmp_path, data_dir=data)
    )
    srv = start_server(data)
    try:
        through = json.loads(ok(gridpulse(*args, "-f", "json", cwd=tmp_path, data_dir=data)))
        drift_server = json.loads(
            ok(gridpulse("forecast", "drift", "m-1", "-m", "kwh", "-f", "json", cwd=tmp_path, data_dir=data))
        )
        unknown = failed(gridpulse("forecast", "error", "meter:m-2/kwh", cwd=tmp_path, data_dir=data))
    finally:
        srv.stop()
    assert through == from_file
    assert drift_server == drift_file
    assert "no series meter:m-2/kwh" in unknown


def test_nan_figures_are_never_sent_as_json(store: Store, settings: Settings) -> None:
    sid = two_runs(store)
    body = error_answer(store, settings, sid, days=3, window_days=1)  # a day before any data
    assert body["days"][0]["day"] == "2024-02-29" and body["days"][0]["steps"] == 0
    assert all(v is None or not (isinstance(v, float) and math.isnan(v)) for v in body["days"][0].values())
