"""Forecasts API: POST /api/v1/forecasts/run, GET /api/v1/forecasts (json, csv, arrow),
GET /api/v1/forecasts/runs and /backtest, their errors and scopes, and the scheduled job of a
real server.

The models themselves are tested with gridpulse.forecast; here the plumbing is: series resolved,
the model run on the store's history, the forecast stored, read back and rendered. The seasonal
naive model is used where the model does not matter (its forecast is known from the data: each
hour repeats the same hour a week earlier).
"""

from __future__ import annotations

import io
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from fastapi.testclient import TestClient

from gridpulse.api.app import create_app
from gridpulse.config import Settings, load_settings
from gridpulse.dataset import SeriesPoints, keyed_batches
from gridpulse.model import SeriesKey, SeriesMeta
from gridpulse.store import open_store
from gridpulse.store.base import Store, WriteRequest
from tests.conftest import start_server

AMS = "Europe/Amsterdam"
#: the data ends here: the history holds the fall-back Sunday 2024-10-27 (a 25-hour local day)
END = datetime(2024, 10, 30, tzinfo=UTC)
DAYS = 22
M15 = timedelta(minutes=15)
#: meters with three weeks of 15-minute kWh; each test that counts stored runs has its own
METERS = ("m-1", "m-2", "m-3", "m-4", "m-5", "m-6")
#: a meter with five days only: too little to forecast
SHORT = "short-1"
SHORT_DAYS = 5
MODELS_TEXT = "seasonal-naive, lightgbm, mstl, linear, ensemble"
COLUMNS = ["ts", "mean", "lo80", "hi80", "lo95", "hi95"]


def meter_values(index: int, ts_us: np.ndarray) -> np.ndarray:
    """Household-like kWh per 15 minutes: an evening peak, a morning shoulder, calmer weekends,
    noise; in 1 Wh steps, one level per meter."""
    hour = (ts_us // 3_600_000_000) % 24 + 1  # roughly Amsterdam's wall clock
    day = ts_us // 86_400_000_000
    weekend = ((day + 3) % 7) >= 5
    rng = np.random.default_rng(index)
    shape = 0.08 + 0.25 * np.exp(-(((hour - 19) / 2.0) ** 2)) + 0.1 * np.exp(-(((hour - 8) / 1.5) ** 2))
    value = (1 + 0.3 * index) * shape * np.where(weekend, 0.85, 1.0) * (1 + rng.normal(0, 0.05, len(ts_us)))
    return np.round(np.clip(value, 0.0, None), 3)


def grid_us(days: int, end: datetime = END) -> np.ndarray:
    end_us = int(end.timestamp() * 1_000_000)
    n = days * 96
    return end_us - (n - np.arange(n, dtype=np.int64)) * 900_000_000


def write_meters(store: Store, meters: tuple[str, ...] = METERS, *, short: bool = True) -> None:
    """Three weeks of 15-minute kWh for each meter (ending at END), and five days for SHORT."""
    ts = grid_us(DAYS)
    parts = [SeriesPoints(SeriesKey("meter", m, "kwh"), ts, meter_values(i, ts)) for i, m in enumerate(meters)]
    if short:
        ts_short = grid_us(SHORT_DAYS)
        parts.append(SeriesPoints(SeriesKey("meter", SHORT, "kwh"), ts_short, meter_values(99, ts_short)))
    meta = SeriesMeta("kWh", M15, AMS, {}, "test-utility", "ams")
    store.write_group([WriteRequest(keyed_batches(parts), lambda key: meta)])


def hourly_sums(index: int) -> dict[datetime, float]:
    """The hourly kWh of METERS[index] as the store sums it: hour start (UTC) -> sum of its 4 reads."""
    ts = grid_us(DAYS)
    values = meter_values(index, ts)
    hours = ts[::4]
    return {
        datetime.fromtimestamp(int(h) / 1e6, tz=UTC): float(values[i * 4 : i * 4 + 4].sum())
        for i, h in enumerate(hours)
    }


def forecast_settings(root: Path, **sections: dict[str, object]) -> Settings:
    base = load_settings(env={}).replace(
        store={"data_dir": str(root / "data")},
        server={"port": 0, "extra_ports": []},
        demo={"datasets_dir": str(root / "no-datasets")},
        forecast={"model": "seasonal-naive"},
    )
    return base.replace(**sections) if sections else base


@dataclass
class Env:
    store: Store
    client: TestClient
    settings: Settings


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("forecasts")
    store = open_store(f"duckdb:///{root / 'store.duckdb'}")
    write_meters(store)
    settings = forecast_settings(root)
    with TestClient(create_app(settings, store)) as client:
        yield Env(store, client, settings)
    store.close()


def post_run(env: Env, status: int = 201, **params: object) -> dict[str, Any]:
    r = env.client.post("/api/v1/forecasts/run", params=params)
    assert r.status_code == status, r.text
    return r.json()  # type: ignore[no-any-return]


def get_forecast(env: Env, status: int = 200, **params: object) -> dict[str, Any]:
    r = env.client.get("/api/v1/forecasts", params=params)
    assert r.status_code == status, r.text
    return r.json()  # type: ignore[no-any-return]


def instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, text
    return parsed


# ----------------------------------------------------------------------------- run and read


def test_run_answers_the_stored_forecast_and_get_returns_the_same(env: Env) -> None:
    made = post_run(env, entity="m-1", metric="kwh")
    assert set(made) == {"series", "unit", "tz", "forecast", "levels", "rows"}
    assert (made["series"]["entity_kind"], made["series"]["entity_id"], made["series"]["metric"]) == ("meter", "m-1", "kwh")
    assert (made["unit"], made["tz"], made["levels"]) == ("kWh", AMS, [80, 95])
    fc = made["forecast"]
    assert set(fc) == {
        "forecast_id", "model", "model_version", "step_s", "steps", "origin", "train_start", "train_end",
        "created_at", "params",
    }
    # the default model is [forecast] model; its settings come back parsed
    assert (fc["model"], fc["step_s"], fc["steps"]) == ("seasonal-naive", 3600, 168)
    assert fc["params"] == {"season": "week", "calibration_seasons": 8}
    # the origin is the step after the newest complete hour; training ends there
    assert instant(fc["origin"]) == END and fc["origin"] == "2024-10-30T01:00:00+01:00"
    assert instant(fc["train_end"]) == END
    assert instant(fc["train_start"]) == END - timedelta(days=DAYS)
    assert datetime.now(UTC) - instant(fc["created_at"]) < timedelta(minutes=5)

    rows = made["rows"]
    assert len(rows) == 168
    assert all(list(row) == COLUMNS for row in rows)
    ts = [instant(r["ts"]) for r in rows]
    assert ts[0] == END
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(ts))
    for r in rows:
        assert r["lo95"] <= r["lo80"] <= r["hi80"] <= r["hi95"], r
    # seasonal naive: each hour repeats the same hour one week earlier
    sums = hourly_sums(0)
    for t, r in zip(ts, rows, strict=True):
        assert r["mean"] == pytest.approx(sums[t.astimezone(UTC) - timedelta(days=7)], rel=1e-9, abs=1e-12)

    assert get_forecast(env, entity="m-1", metric="kwh") == made
    assert get_forecast(env, entity="meter:m-1") == made
    assert get_forecast(env, series=made["series"]["series_id"], forecast_id=fc["forecast_id"]) == made


def test_as_of_before_the_second_run_returns_the_first(env: Env) -> None:
    first = post_run(env, entity="m-2")
    second = post_run(env, entity="m-2")
    f1, f2 = first["forecast"], second["forecast"]
    assert f2["forecast_id"] > f1["forecast_id"]
    assert instant(f2["created_at"]) >= instant(f1["created_at"])

    assert get_forecast(env, entity="m-2")["forecast"] == f2
    assert get_forecast(env, entity="m-2", as_of=f1["created_at"]) == first
    between = instant(f1["created_at"]) + (instant(f2["created_at"]) - instant(f1["created_at"])) / 2
    if between < instant(f2["created_at"]):
        assert get_forecast(env, entity="m-2", as_of=between.isoformat())["forecast"] == f1
    assert get_forecast(env, entity="m-2", as_of=f2["created_at"])["forecast"] == f2
    # a naive as_of is read in tz=
    local = instant(f1["created_at"]).astimezone(UTC).replace(tzinfo=None).isoformat()
    assert get_forecast(env, entity="m-2", as_of=local, tz="UTC")["forecast"]["forecast_id"] == f1["forecast_id"]

    before = (instant(f1["created_at"]) - timedelta(seconds=1)).isoformat()
    r = env.client.get("/api/v1/forecasts", params={"entity": "m-2", "as_of": before})
    assert r.status_code == 404
    assert r.json() == {
        "error": f"no stored forecast of meter:m-2/kwh with as_of {before!r}; make one with POST /api/v1/forecasts/run"
    }


def test_the_chosen_model_is_stored_and_selectable(env: Env) -> None:
    # the parameters as a JSON body; the one lightgbm fit of this file
    r = env.client.post("/api/v1/forecasts/run", json={"entity": "m-3", "metric": "kwh", "model": "lightgbm"})
    assert r.status_code == 201, r.text
    gbm = r.json()
    assert gbm["forecast"]["model"] == "lightgbm"
    assert "lightgbm" in gbm["forecast"]["model_version"]
    assert gbm["forecast"]["params"]["horizon_hours"] == 168
    assert len(gbm["rows"]) == 168
    for row in gbm["rows"]:
        assert row["lo95"] <= row["lo80"] <= row["hi80"] <= row["hi95"], row
    naive = post_run(env, entity="m-3", model="seasonal-naive")

    assert get_forecast(env, entity="m-3")["forecast"] == naive["forecast"]  # the newest
    assert get_forecast(env, entity="m-3", model="lightgbm") == gbm
    assert get_forecast(env, entity="m-3", model="seasonal-naive") == naive
    r = env.client.get("/api/v1/forecasts", params={"entity": "m-3", "model": "mstl"})
    assert r.status_code == 404
    assert r.json()["error"] == (
        "no stored forecast of meter:m-3/kwh with model 'mstl'; make one with POST /api/v1/forecasts/run"
    )


def test_tz_formats_the_times_in_that_zone(env: Env) -> None:
    made = post_run(env, entity="m-4", tz="UTC")
    assert made["tz"] == "UTC"
    assert made["forecast"]["origin"] == "2024-10-30T00:00:00+00:00"
    assert made["rows"][0]["ts"] == "2024-10-30T00:00:00+00:00"
    assert made["rows"][-1]["ts"] == "2024-11-05T23:00:00+00:00"
    local = get_forecast(env, entity="m-4")
    assert local["tz"] == AMS and local["rows"][0]["ts"] == "2024-10-30T01:00:00+01:00"
    assert [r["mean"] for r in local["rows"]] == [r["mean"] for r in made["rows"]]
    ny = get_forecast(env, entity="m-4", tz="America/New_York")
    assert ny["rows"][0]["ts"] == "2024-10-29T20:00:00-04:00"
    # New York falls back on 2024-11-03: the UTC grid runs on, the offset changes
    assert {r["ts"][-6:] for r in ny["rows"]} == {"-04:00", "-05:00"}


def test_csv_holds_the_rows_with_a_header(env: Env) -> None:
    body = post_run(env, entity="m-5")
    r = env.client.get("/api/v1/forecasts", params={"entity": "m-5", "format": "csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.splitlines()
    assert lines[0] == '"ts","mean","lo80","hi80","lo95","hi95"'
    assert len(lines) == 1 + 168
    table = pacsv.read_csv(io.BytesIO(r.content), convert_options=pacsv.ConvertOptions(column_types={"ts": pa.string()}))
    assert table.to_pylist() == body["rows"]


def test_arrow_holds_the_rows_and_the_rest_in_its_metadata(env: Env) -> None:
    body = get_forecast(env, entity="m-5")
    r = env.client.get("/api/v1/forecasts", params={"entity": "m-5", "format": "arrow"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(r.content).read_all()
    assert table.column_names == COLUMNS
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.num_rows == 168
    head = json.loads(table.schema.metadata[b"gridpulse"])
    assert head == {k: v for k, v in body.items() if k != "rows"}
    assert table.column("ts")[0].as_py() == END
    assert table.column("mean").to_pylist() == [row["mean"] for row in body["rows"]]
    assert table.column("hi95").to_pylist() == [row["hi95"] for row in body["rows"]]


def test_runs_are_listed_newest_first_with_filters(env: Env) -> None:
    post_run(env, entity="m-6")
    post_run(env, entity="m-6")
    r = env.client.get("/api/v1/forecasts/runs", params={"entity": "m-6"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 2 and body["tz"] == "UTC"
    ids = [run["forecast_id"] for run in body["runs"]]
    assert ids == sorted(ids, reverse=True)
    first = body["runs"][0]
    assert (first["entity_kind"], first["entity_id"], first["metric"], first["unit"]) == ("meter", "m-6", "kwh", "kWh")
    assert (first["model"], first["steps"], first["origin"]) == ("seasonal-naive", 168, "2024-10-30T00:00:00+00:00")
    assert first["params"] == {"season": "week", "calibration_seasons": 8}

    one = env.client.get("/api/v1/forecasts/runs", params={"entity": "m-6", "limit": 1}).json()
    assert [run["forecast_id"] for run in one["runs"]] == ids[:1]
    assert env.client.get("/api/v1/forecasts/runs", params={"entity": "m-6", "model": "mstl"}).json()["count"] == 0
    assert env.client.get("/api/v1/forecasts/runs", params={"entity": "nope"}).json() == {
        "count": 0, "tz": "UTC", "runs": [],
    }
    everything = env.client.get("/api/v1/forecasts/runs").json()
    assert set(ids) <= {run["forecast_id"] for run in everything["runs"]}
    created = [instant(run["created_at"]) for run in everything["runs"]]
    assert created == sorted(created, reverse=True)


# ----------------------------------------------------------------------------- errors


def test_unknown_model_is_400_naming_the_models(env: Env) -> None:
    for method in ("POST", "GET"):
        path = "/api/v1/forecasts/run" if method == "POST" else "/api/v1/forecasts"
        r = env.client.request(method, path, params={"entity": "m-1", "model": "prophet"})
        assert r.status_code == 400, r.text
        assert r.json() == {"error": f"model='prophet' is not one of {MODELS_TEXT}"}


def test_unknown_entity_is_404(env: Env) -> None:
    message = "no series for entity 'nope'; list them with GET /api/v1/series"
    r = env.client.post("/api/v1/forecasts/run", params={"entity": "nope"})
    assert (r.status_code, r.json()) == (404, {"error": message})
    r = env.client.get("/api/v1/forecasts", params={"entity": "nope"})
    assert (r.status_code, r.json()) == (404, {"error": message})
    r = env.client.post("/api/v1/forecasts/run")
    assert r.status_code == 400
    assert r.json()["error"].startswith("name a series")


def test_too_short_a_history_is_400_with_the_reason(env: Env) -> None:
    r = env.client.post("/api/v1/forecasts/run", params={"entity": SHORT})
    assert r.status_code == 400, r.text
    assert r.json() == {"error": f"nothing to forecast: meter:{SHORT}/kwh: less than two weeks of history"}
    assert env.client.get("/api/v1/forecasts/runs", params={"entity": SHORT}).json()["count"] == 0


def test_no_forecast_yet_is_404_saying_how_to_make_one(env: Env) -> None:
    r = env.client.get("/api/v1/forecasts", params={"entity": SHORT})
    assert r.status_code == 404
    assert r.json() == {"error": f"no stored forecast of meter:{SHORT}/kwh; make one with POST /api/v1/forecasts/run"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"entity": "m-1", "format": "xml"}, "format='xml' is not one of json, csv, arrow"),
        ({"entity": "m-1", "tz": "Mars/Olympus"}, "tz='Mars/Olympus' is not an IANA time zone"),
        ({"entity": "m-1", "as_of": "yesterday"}, "as_of='yesterday' is not an ISO 8601 date or timestamp"),
        ({"entity": "m-1", "as_of": "2024-10-30T00:00:00"}, "as_of='2024-10-30T00:00:00' has no zone offset"),
    ],
)
def test_bad_read_parameters_are_400_naming_them(env: Env, params: dict[str, str], message: str) -> None:
    r = env.client.get("/api/v1/forecasts", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(message)


@pytest.mark.parametrize(
    ("query", "body", "message"),
    [
        ({"entity": "m-1"}, {"entity": "m-2"}, "entity is given twice (query and body): give it once"),
        ({}, {"entity": "m-1", "horizon": 3}, "body key 'horizon' is not one of series, entity, kind, metric, model, tz"),
        ({}, ["m-1"], "the body is a JSON list; send an object such as {\"entity\": \"m-01\"}"),
        ({}, {"series": "1"}, "body key 'series' is '1'; expected an integer"),
    ],
)
def test_bad_run_bodies_are_400(env: Env, query: dict[str, str], body: object, message: str) -> None:
    r = env.client.post("/api/v1/forecasts/run", params=query, json=body)
    assert (r.status_code, r.json()) == (400, {"error": message})
    r = env.client.post("/api/v1/forecasts/run", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"].startswith("the body is not JSON")


# ----------------------------------------------------------------------------- backtest


def test_backtest_reports_accuracy_per_series_and_overall(env: Env) -> None:
    params = {"kind": "meter", "metric": "kwh", "model": "seasonal-naive", "origins": 2, "stride_days": 1}
    r = env.client.get("/api/v1/forecasts/backtest", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model"], body["steps"], body["step_s"], body["unit"]) == ("seasonal-naive", 168, 3600, "kWh")
    # the newest origin leaves a whole week of actuals; one day between origins
    assert body["origins"] == ["2024-10-22T00:00:00+00:00", "2024-10-23T00:00:00+00:00"]
    metrics = {"mae", "rmse", "mape", "smape", "mase", "coverage80", "coverage95"}
    # the short meter has no two weeks before the first origin: it sits the backtest out
    assert [row["name"] for row in body["per_series"]] == [f"meter:{m}/kwh" for m in METERS]
    for row in body["per_series"]:
        assert metrics <= set(row) and row["n"] == 2 * 168
        assert 0 <= row["coverage80"] <= row["coverage95"] <= 1
        assert row["mae"] > 0 and row["rmse"] >= row["mae"]
    assert set(body["overall"]) == metrics
    assert body["overall"]["mae"] == pytest.approx(np.mean([row["mae"] for row in body["per_series"]]))
    assert "plot" not in body

    with_plot = env.client.get("/api/v1/forecasts/backtest", params={**params, "plot": "true"}).json()
    assert len(with_plot["plot"]) == len(METERS)
    first = with_plot["plot"][0]
    assert first["name"] == "meter:m-1/kwh" and first["tz"] == AMS
    # actuals from a week before the first origin to the end of the last forecast
    assert first["start"] == "2024-10-15T00:00:00+00:00"
    assert len(first["actual"]) == 8 * 24 + 168
    assert [f["origin"] for f in first["forecasts"]] == body["origins"]
    assert all(len(f[c]) == 168 for f in first["forecasts"] for c in ("mean", "lo80", "hi80", "lo95", "hi95"))


def test_backtest_errors_name_the_problem(env: Env) -> None:
    r = env.client.get("/api/v1/forecasts/backtest", params={"kind": "meter"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("name the series")
    r = env.client.get("/api/v1/forecasts/backtest", params={"entity": SHORT, "model": "seasonal-naive"})
    assert r.status_code == 400
    assert r.json()["error"] == "no series has 336 steps of history before the first origin"
    r = env.client.get("/api/v1/forecasts/backtest", params={"kind": "plant", "metric": "mw"})
    assert r.status_code == 404


# ----------------------------------------------------------------------------- auth

TOKENS = {"rw-token": "read,write", "ro-token": "read", "mu-token": "write:meter_usage"}


@pytest.fixture
def auth_client(tmp_path: Path) -> Iterator[TestClient]:
    store = open_store(f"duckdb:///{tmp_path / 'auth.duckdb'}")
    write_meters(store, ("m-1",), short=False)
    with TestClient(create_app(forecast_settings(tmp_path, auth={"tokens": TOKENS}), store)) as client:
        yield client
    store.close()


def test_scopes_decide_who_may_run_and_read(auth_client: TestClient) -> None:
    routes = [
        ("POST", "/api/v1/forecasts/run", "write", 201),
        ("GET", "/api/v1/forecasts", "read", 200),
        ("GET", "/api/v1/forecasts/runs", "read", 200),
        ("GET", "/api/v1/forecasts/backtest", "read", 200),
    ]
    params = {"entity": "m-1", "model": "seasonal-naive", "origins": 1}
    for token in ("rw-token", None, "wrong-token", "mu-token", "ro-token"):  # rw-token makes the forecast first
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for method, path, scope, ok in routes:
            r = auth_client.request(method, path, params=params, headers=headers)
            if token is None:
                want = (401, "this route needs a bearer token: send 'Authorization: Bearer <token>'")
            elif token == "wrong-token":
                want = (401, "the bearer token is not one this server knows")
            elif token == "rw-token" or (token == "ro-token" and scope == "read"):
                want = (ok, None)
            else:
                want = (403, f"the bearer token lacks the scope {scope!r} this route needs")
            got = (r.status_code, r.json().get("error") if r.status_code >= 400 else None)
            assert got == want, (token, method, path, r.text)
    # what the refused tokens tried stored nothing: the one run is rw-token's
    runs = auth_client.get("/api/v1/forecasts/runs", headers={"Authorization": "Bearer ro-token"}).json()
    assert runs["count"] == 1


# ----------------------------------------------------------------------------- the scheduled job


@pytest.mark.e2e
@pytest.mark.slow
def test_the_scheduled_job_forecasts_the_configured_series(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = open_store(f"duckdb:///{data / 'gridpulse.duckdb'}")
    try:
        write_meters(store, ("m-1", "m-2"))
    finally:
        store.close()
    srv = start_server(
        data,
        env={
            "GRIDPULSE_FORECAST_SERIES": "meter/kwh",
            "GRIDPULSE_FORECAST_INTERVAL_S": "1",
            "GRIDPULSE_FORECAST_MODEL": "seasonal-naive",
        },
    )
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            deadline = time.monotonic() + 60
            job: dict[str, Any] = {}
            while time.monotonic() < deadline:
                job = http.get("/api/v1/status").json()["jobs"].get("forecasts", {})
                if job.get("runs", 0) >= 1:
                    break
                time.sleep(0.25)
            assert job.get("runs", 0) >= 1, f"the forecast job did not run within 60 s: {job}\n{srv.log.read_text()}"
            assert (job["last_error"], job["failures"], job["interval_s"]) == (None, 0, 1), job
            r = http.get("/api/v1/forecasts", params={"entity": "m-2", "metric": "kwh"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["forecast"]["model"] == "seasonal-naive"
            assert body["forecast"]["origin"] == "2024-10-30T01:00:00+01:00"
            assert len(body["rows"]) == 168
            # the short meter is skipped, not an error; both full meters got theirs
            runs = http.get("/api/v1/forecasts/runs").json()["runs"]
            assert {run["entity_id"] for run in runs} == {"m-1", "m-2"}
    finally:
        srv.stop()
    assert srv.proc.returncode == 0, srv.log.read_text()
