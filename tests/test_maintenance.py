"""Rollup refresh and retention as the server schedules them and as users run them by hand."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from fastapi.testclient import TestClient

from gridpulse.jobs.periodic import Periodic

OLD = datetime.now(UTC).replace(microsecond=0) - timedelta(days=400)


def _ndjson(start: datetime, hours: int) -> bytes:
    return b"".join(
        orjson.dumps({"ts": (start + timedelta(hours=i)).isoformat(), "meter_id": "m-1", "kwh": 1.0}) + b"\n"
        for i in range(hours)
    )


def _post(client: TestClient, body: bytes) -> None:
    resp = client.post(
        "/ingest/meter_usage/ndjson", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert resp.status_code == 200, resp.text


def test_periodic_runs_until_stopped_and_survives_a_failure() -> None:
    calls: list[int] = []
    done = threading.Event()

    def work() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first run fails")
        if len(calls) >= 3:
            done.set()

    job = Periodic("test", 0.01, work).start()
    assert done.wait(10)
    job.stop()
    n = len(calls)
    time.sleep(0.05)
    assert len(calls) == n and job.failures == 1 and job.status()["runs"] >= 3


def test_periodic_on_a_crontab_schedule_runs_at_the_times_it_names() -> None:
    ran = threading.Event()
    job = Periodic("cron-test", 0, ran.set, cron="* * * * *").start()  # every minute, on the minute
    try:
        nxt = job.next_run_at
        assert nxt is not None and nxt.second == 0 and nxt.microsecond == 0
        assert timedelta(0) <= nxt - datetime.now(UTC) <= timedelta(seconds=60)
        assert job.status()["cron"] == "* * * * *"
        # it has not run before its time
        assert not ran.is_set() or datetime.now(UTC) >= nxt
    finally:
        job.stop()
    assert job.runs == (1 if ran.is_set() else 0)


def test_the_server_refreshes_rollups_on_its_own(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rollups={"refresh_interval_s": 1})
    _post(client, _ndjson(OLD, 48))
    deadline = time.monotonic() + 30

    def done() -> bool:  # the run's counters move after it is recorded in the job history
        status = client.get("/api/v1/status").json()
        return not status["rollup_ranges_pending"] and status["jobs"]["rollups"]["runs"] >= 1

    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)
    status = client.get("/api/v1/status").json()
    assert status["rollup_ranges_pending"] == 0
    assert status["jobs"]["rollups"]["runs"] >= 1


def test_refresh_and_retention_on_demand_over_http(make_client: Callable[..., TestClient]) -> None:
    client = make_client(
        rollups={"refresh_interval_s": 0}, retention={"raw_days": {"meter": 365}, "interval_s": 0}
    )
    _post(client, _ndjson(OLD, 48) + _ndjson(datetime.now(UTC) - timedelta(days=2), 24))
    assert client.get("/api/v1/status").json()["rollup_ranges_pending"] == 1
    refreshed = client.post("/api/v1/rollups/refresh").json()
    assert refreshed["ranges"] == 1 and refreshed["rows"] > 0
    dry = client.post("/api/v1/retention/run", params={"dry_run": "true"}).json()
    assert (dry["dry_run"], dry["points"]) == (True, 48)
    assert (dry["forecast_runs"], dry["forecast_values"]) == (0, 0)  # none stored (tests/store/test_forecasts.py)
    assert dry["series"][0]["entity_id"] == "m-1"
    assert client.get("/api/v1/status").json()["points"] == 72
    done = client.post("/api/v1/retention/run").json()
    assert (done["dry_run"], done["points"]) == (False, 48)
    assert client.get("/api/v1/status").json()["points"] == 24
    # the expired days still answer from their rollups
    day = OLD.date().isoformat()
    r = client.get(
        "/api/v1/readings", params={"entity": "m-1", "resolution": "day", "tz": "UTC", "start": day}
    )
    assert r.json()["points"][0]["value"] > 0


def test_cli_runs_both_on_the_store_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPULSE_")}
    env["GRIDPULSE_RETENTION_RAW_DAYS"] = "*=30"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gridpulse", *args, "--data-dir", str(tmp_path / "data")],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )

    csv = tmp_path / "m.csv"
    csv.write_text(
        "ts,meter_id,kwh\n"
        + "".join(f"{(OLD + timedelta(hours=i)).isoformat()},m-1,1.5\n" for i in range(24))
    )
    loaded = cli(
        "load", str(csv), "--entity-kind", "meter", "--entity-column", "meter_id", "--value-columns", "kwh"
    )
    assert loaded.returncode == 0, loaded.stderr
    done = cli("rollups")
    assert done.returncode == 0 and "1 dirty ranges" in done.stdout, done.stdout + done.stderr
    dry = cli("retention", "--dry-run")
    assert dry.returncode == 0 and "would go" in dry.stdout and "meter:m-1/kwh" in dry.stdout, (
        dry.stdout + dry.stderr
    )
    gone = cli("retention")
    assert gone.returncode == 0 and "deleted" in gone.stdout and "24" in gone.stdout, (
        gone.stdout + gone.stderr
    )


def test_the_scheduled_refresh_waits_while_ingest_runs_fast(make_client: Callable[..., TestClient]) -> None:
    """hold_above_rows_per_s=1: any write counts as a bulk load; the refresh waits for the
    writer's one-second rate window to empty (max_hold_s is far), then runs and clears the ranges."""
    client = make_client(rollups={"refresh_interval_s": 1, "hold_above_rows_per_s": 1, "max_hold_s": 3600})
    job = client.app.state.gridpulse.jobs["rollups"]  # type: ignore[attr-defined]
    runs_before = job.runs
    writer = client.app.state.gridpulse.writer  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    start = OLD
    # keep the rate up until a scheduled run is seen waiting
    while job.held == 0 and time.monotonic() < deadline:
        _post(client, _ndjson(start, 4))
        start += timedelta(hours=1)
        assert writer.rows_per_s() > 1
    assert job.held >= 1, "no scheduled refresh waited"
    assert client.get("/api/v1/status").json()["rollup_ranges_pending"] >= 1
    scrape = client.get("/metrics").text
    assert re.search(r'^gridpulse_job_held_runs_total\{job="rollups"\} [1-9]', scrape, re.M), scrape
    holding = re.compile(r'^gridpulse_job_holding\{job="rollups"\} 1\.0$', re.M)
    while not holding.search(scrape) and time.monotonic() < deadline:  # a run held right now
        _post(client, _ndjson(start, 4))
        start += timedelta(hours=1)
        scrape = client.get("/metrics").text
    assert holding.search(scrape), scrape
    # the run clears the ranges first, then records itself (history, counters): wait for both
    while (
        client.get("/api/v1/status").json()["rollup_ranges_pending"] or job.runs == runs_before
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.get("/api/v1/status").json()["rollup_ranges_pending"] == 0
    assert job.runs > runs_before
    assert client.get("/api/v1/jobs").status_code == 200
    assert re.search(r'^gridpulse_job_holding\{job="rollups"\} 0\.0$', client.get("/metrics").text, re.M)


def test_no_hold_when_the_threshold_is_zero(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rollups={"refresh_interval_s": 3600, "hold_above_rows_per_s": 0})
    assert client.app.state.gridpulse.jobs["rollups"].hold is None  # type: ignore[attr-defined]
