"""Quality and anomalies over HTTP and from the command line: POST a check, GET the results per
local day (DST days too), estimate and see the estimates flagged in readings, scan, list, and set
a status; the CLI on a store file and through a live server gives the API's answers."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from gridpulse.analytics.periods import wall_clock_us
from gridpulse.model import Quality, SeriesMeta
from gridpulse.store import open_store
from gridpulse.store.base import Store, WriteRequest
from tests.conftest import start_server
from tests.quality.points import batch, grid, write
from tests.test_cli_forecast import gridpulse, ok

AMS = "Europe/Amsterdam"
#: local midnight of Saturday 30 March 2024 in Amsterdam; Sunday 31 March has 23 hours
START = datetime(2024, 3, 29, 23, tzinfo=UTC)
DAYS = 30


def _values(ts: list[datetime]) -> np.ndarray:
    """A daily wave on the local clock (load follows the wall clock across DST) plus noise."""
    rng = np.random.default_rng(5)
    us = np.array([(t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) for t in ts], np.int64)
    slot = (wall_clock_us(us, AMS) // (900 * 1_000_000)) % 96
    return 40 + 15 * np.sin(2 * np.pi * slot / 96) + rng.normal(0, 0.5, len(ts))


def _fill(store_write: Callable[[WriteRequest], object]) -> list[datetime]:
    """m-1: 15-minute kWh in Amsterdam from 1 March to 1 April 2024 with known faults on 31 March
    (local): a 2-hour gap from 10:00, a spike at 14:00 and a flat line from 18:00 to 20:00."""
    first = START - timedelta(days=DAYS - 2)
    ts = grid(first, (DAYS + 1) * 96 - 4)  # to local midnight after 31 March
    value = _values(ts)
    i10 = ts.index(datetime(2024, 3, 31, 8, tzinfo=UTC))  # 10:00 CEST
    i14 = ts.index(datetime(2024, 3, 31, 12, tzinfo=UTC))
    i18 = ts.index(datetime(2024, 3, 31, 16, tzinfo=UTC))
    value[i14] += 60
    value[i18 : i18 + 8] = 33.3
    keep = [i for i in range(len(ts)) if not i10 <= i < i10 + 8]
    meta = SeriesMeta(unit="kWh", interval=timedelta(minutes=15), tz=AMS)
    store_write(
        WriteRequest([batch("m-1", [ts[i] for i in keep], [float(value[i]) for i in keep])], lambda _k: meta)
    )
    return ts


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    c = make_client()
    st = c.app.state.gridpulse  # type: ignore[attr-defined]
    _fill(lambda req: st.writer.submit(req).result())
    return c


def _rows(body: dict[str, object]) -> dict[tuple[str, str], dict[str, object]]:
    return {(r["day"], r["rule"]): r for r in body["rows"]}  # type: ignore[attr-defined, index]


def test_check_then_get_per_local_day_on_a_dst_day(api: TestClient) -> None:
    resp = api.post(
        "/api/v1/quality/check", params={"entity": "m-1", "start": "2024-03-30", "end": "2024-03-31"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["series"], body["first_day"], body["last_day"]) == (1, "2024-03-30", "2024-03-31")
    rows = _rows(body)
    missing = rows[("2024-03-31", "missing_intervals")]
    assert (missing["status"], missing["count"], missing["expected"]) == ("fail", 8, 92)
    assert missing["first_ts"] == "2024-03-31T10:00:00+02:00"
    assert rows[("2024-03-30", "missing_intervals")]["expected"] == 96
    assert rows[("2024-03-30", "missing_intervals")]["status"] == "pass"
    assert (rows[("2024-03-31", "spike")]["count"], rows[("2024-03-31", "spike")]["first_ts"]) == (
        1,
        "2024-03-31T14:00:00+02:00",
    )
    assert rows[("2024-03-31", "flat_line")]["count"] == 8
    assert rows[("2024-03-31", "negative")]["status"] == "pass"
    # stored: GET answers the same rows, and filters by status and rule
    got = api.get("/api/v1/quality", params={"entity": "m-1", "status": "fail"}).json()
    assert {(r["day"], r["rule"]) for r in got["rows"]} == {
        ("2024-03-31", "missing_intervals"),
        ("2024-03-31", "spike"),
        ("2024-03-31", "flat_line"),
    }
    only = api.get(
        "/api/v1/quality", params={"rule": "spike", "start": "2024-03-31", "end": "2024-03-31"}
    ).json()
    assert [(r["day"], r["status"]) for r in only["rows"]] == [("2024-03-31", "fail")]
    assert api.get("/api/v1/quality", params={"rule": "nope"}).status_code == 400
    assert api.get("/api/v1/quality", params={"start": "31-03-2024"}).status_code == 400


def test_a_second_check_replaces_the_results_of_its_days(api: TestClient) -> None:
    api.post("/api/v1/quality/check", params={"entity": "m-1", "start": "2024-03-30", "end": "2024-03-31"})
    st = api.app.state.gridpulse  # type: ignore[attr-defined]
    # the missing reads arrive
    late = grid(datetime(2024, 3, 31, 8, tzinfo=UTC), 8)
    st.writer.submit(WriteRequest([batch("m-1", late, [40.0] * 8)], lambda _k: SeriesMeta())).result()
    api.post("/api/v1/quality/check", params={"entity": "m-1", "start": "2024-03-31", "end": "2024-03-31"})
    rows = _rows(api.get("/api/v1/quality", params={"entity": "m-1"}).json())
    assert rows[("2024-03-31", "missing_intervals")]["status"] == "pass"
    assert ("2024-03-30", "missing_intervals") in rows  # the other day's results stay
    assert len([k for k in rows if k[0] == "2024-03-31"]) == len({r for _, r in rows})


def test_estimate_fills_the_gap_and_readings_show_the_estimates_as_such(api: TestClient) -> None:
    resp = api.post(
        "/api/v1/quality/estimate", params={"entity": "m-1", "start": "2024-03-31", "end": "2024-03-31"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["estimated"], body["methods"], body["unestimated"]) == (8, {"profile": 8}, 0)
    raw = api.get(
        "/api/v1/readings",
        params={"entity": "m-1", "start": "2024-03-31T09:45:00+02:00", "end": "2024-03-31T12:15:00+02:00"},
    ).json()
    flags = [(p["ts"], p["quality"]) for p in raw["points"]]
    assert flags[0] == ("2024-03-31T09:45:00+02:00", int(Quality.ACTUAL))
    assert [q for _, q in flags[1:9]] == [int(Quality.ESTIMATED)] * 8
    assert flags[9] == ("2024-03-31T12:00:00+02:00", int(Quality.ACTUAL))
    csv = api.get(
        "/api/v1/readings",
        params={
            "entity": "m-1",
            "start": "2024-03-31T10:00:00+02:00",
            "end": "2024-03-31T10:30:00+02:00",
            "format": "csv",
        },
    ).text
    assert csv.splitlines()[0] == '"ts","value","quality","version"' and csv.splitlines()[1].endswith(",1,1")


def test_scan_list_and_set_status(api: TestClient) -> None:
    resp = api.post(
        "/api/v1/anomalies/scan",
        params={
            "entity": "m-1",
            "detector": "zscore",
            "start": "2024-03-31T00:00:00+01:00",
            "end": "2024-04-01T00:00:00+02:00",
        },
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["series"] == 1 and body["found"]["zscore"] >= 1
    spike = next(a for a in body["anomalies"] if a["start"] == "2024-03-31T14:00:00+02:00")
    assert (spike["kind"], spike["detector"], spike["status"]) == ("high", "zscore", "open")
    assert spike["severity"] in ("warning", "critical") and spike["entity_id"] == "m-1"
    listed = api.get("/api/v1/anomalies", params={"entity": "m-1", "min_severity": "warning"}).json()
    assert spike["anomaly_id"] in [a["anomaly_id"] for a in listed["anomalies"]]
    patched = api.patch(f"/api/v1/anomalies/{spike['anomaly_id']}", json={"status": "acknowledged"})
    assert patched.status_code == 200 and patched.json()["status"] == "acknowledged"
    opened = api.get("/api/v1/anomalies", params={"status": "open"}).json()
    assert spike["anomaly_id"] not in [a["anomaly_id"] for a in opened["anomalies"]]
    acked = api.get("/api/v1/anomalies", params={"status": "acknowledged,dismissed"}).json()
    assert [a["anomaly_id"] for a in acked["anomalies"]] == [spike["anomaly_id"]]
    assert api.patch(f"/api/v1/anomalies/{spike['anomaly_id']}?status=bogus").status_code == 400
    assert api.patch("/api/v1/anomalies/99999", json={"status": "dismissed"}).status_code == 404
    assert api.get("/api/v1/anomalies", params={"min_severity": "loud"}).status_code == 400
    assert api.get("/api/v1/anomalies", params={"since": "2024-03-31T00:00:00"}).status_code == 400


# ----------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-quality")
    store = open_store(f"duckdb:///{root / 'gridpulse.duckdb'}")
    try:
        _fill(lambda req: store.write_group([req])[0])
    finally:
        store.close()
    return root / "gridpulse.duckdb"


def _folder(template: Path, root: Path) -> Path:
    data = root / "data"
    data.mkdir(parents=True)
    shutil.copy(template, data / "gridpulse.duckdb")
    return data


def test_cli_on_the_store_file_checks_estimates_scans_and_lists(template: Path, tmp_path: Path) -> None:
    data = _folder(template, tmp_path)
    day = ("--start", "2024-03-31", "--end", "2024-03-31")
    check = json.loads(
        ok(gridpulse("quality", "check", "-e", "m-1", *day, "-f", "json", cwd=tmp_path, data_dir=data))
    )
    assert _rows(check)[("2024-03-31", "missing_intervals")]["expected"] == 92
    table = ok(gridpulse("quality", "show", "-e", "m-1", "--status", "fail", cwd=tmp_path, data_dir=data))
    assert "missing_intervals" in table and "8 of 92 intervals due without an actual read" in table
    shown = json.loads(
        ok(gridpulse("quality", "show", "-e", "m-1", "-f", "json", cwd=tmp_path, data_dir=data))
    )
    assert shown["rows"] == check["rows"]
    est = ok(gridpulse("quality", "estimate", "-e", "m-1", *day, cwd=tmp_path, data_dir=data))
    assert est.startswith("8 estimates stored (8 profile)")
    scan = json.loads(
        ok(
            gridpulse(
                "anomalies",
                "scan",
                "-e",
                "m-1",
                "-d",
                "zscore",
                "--start",
                "2024-03-31",
                "--end",
                "2024-04-01",
                "--tz",
                AMS,
                "-f",
                "json",
                cwd=tmp_path,
                data_dir=data,
            )
        )
    )
    spike = next(a for a in scan["anomalies"] if a["start"] == "2024-03-31T14:00:00+02:00")
    out = ok(
        gridpulse(
            "anomalies",
            "status",
            str(spike["anomaly_id"]),
            "dismissed",
            "-f",
            "json",
            cwd=tmp_path,
            data_dir=data,
        )
    )
    assert json.loads(out)["status"] == "dismissed"
    listed = json.loads(
        ok(gridpulse("anomalies", "list", "--status", "dismissed", "-f", "json", cwd=tmp_path, data_dir=data))
    )
    assert [a["anomaly_id"] for a in listed["anomalies"]] == [spike["anomaly_id"]]
    table = ok(gridpulse("anomalies", "list", "--min-severity", "warning", cwd=tmp_path, data_dir=data))
    assert "meter:m-1/kwh" in table and "zscore" in table


def test_cli_through_a_live_server_gives_the_api_answers(template: Path, tmp_path: Path) -> None:
    data = _folder(template, tmp_path)
    srv = start_server(data)
    try:
        day = ("--start", "2024-03-31", "--end", "2024-03-31")
        check = json.loads(
            ok(gridpulse("quality", "check", "-e", "m-1", *day, "-f", "json", cwd=tmp_path, data_dir=data))
        )
        assert _rows(check)[("2024-03-31", "spike")]["count"] == 1
        est = json.loads(
            ok(gridpulse("quality", "estimate", "-e", "m-1", *day, "-f", "json", cwd=tmp_path, data_dir=data))
        )
        assert est["estimated"] == 8
        scan = json.loads(
            ok(
                gridpulse(
                    "anomalies",
                    "scan",
                    "-e",
                    "m-1",
                    "-d",
                    "zscore",
                    "--start",
                    "2024-03-31",
                    "--end",
                    "2024-04-01",
                    "--tz",
                    AMS,
                    "-f",
                    "json",
                    cwd=tmp_path,
                    data_dir=data,
                )
            )
        )
        first = scan["anomalies"][0]["anomaly_id"]
        out = json.loads(
            ok(
                gridpulse(
                    "anomalies",
                    "status",
                    str(first),
                    "acknowledged",
                    "-f",
                    "json",
                    cwd=tmp_path,
                    data_dir=data,
                )
            )
        )
        assert out["status"] == "acknowledged"
        listed = json.loads(
            ok(
                gridpulse(
                    "anomalies", "list", "--status", "acknowledged", "-f", "json", cwd=tmp_path, data_dir=data
                )
            )
        )
        assert [a["anomaly_id"] for a in listed["anomalies"]] == [first]
    finally:
        srv.stop()
    # the server stored what the CLI asked for
    store: Store = open_store(f"duckdb:///{data / 'gridpulse.duckdb'}", read_only=True)
    try:
        assert any(r.rule == "spike" and r.status == "fail" for r in store.list_validation())
        assert store.list_anomalies(detector="zscore")
    finally:
        store.close()


_ = write  # the helper module's other writer, used by the store-level tests
