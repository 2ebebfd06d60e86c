"""A server killed (-9) in the middle of a vendor poll loses nothing and duplicates nothing on restart."""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import duckdb
import httpx
import pytest

from ..conftest import start_server
from .vendor_server import TOKEN, VendorServer, VendorState, hour_start

HOURS = 48


@pytest.mark.e2e
def test_a_kill_mid_run_refetches_from_the_watermarks_and_stores_each_point_once(tmp_path: Path) -> None:
    state = VendorState(start=hour_start() - timedelta(hours=HOURS), hours=HOURS, slow_s=0.05)
    with VendorServer(state) as vendor:
        config = tmp_path / "gridpulse.toml"
        config.write_text(
            f"""
[rollups]
refresh_interval_s = 0

[[sources]]
name = "eniscope"
type = "vendor_api"
base_url = "{vendor.url}"
token_env = "TEST_VENDOR_TOKEN"
interval_s = 3600
page_size = 5
backfill_days = 3
"""
        )
        data = tmp_path / "data"
        env = {"TEST_VENDOR_TOKEN": TOKEN}
        server = start_server(data, "--config", str(config), env=env)
        deadline = time.monotonic() + 60
        # c1 is done and committed, c2 is being fetched: kill the server now
        while not any(r.startswith("/readings/c2") for r in state.requests):
            assert time.monotonic() < deadline, "the poll did not reach channel c2"
            time.sleep(0.01)
        server.stop(signal.SIGKILL)
        asked_before = len(state.requests)

        state.slow_s = 0.0
        state.requests.clear()
        server = start_server(data, "--config", str(config), env=env)
        try:
            deadline = time.monotonic() + 60
            while True:
                runs = httpx.get(server.url + "/api/v1/jobs/runs", params={"job": "source:eniscope"}).json()["runs"]
                if runs and runs[0]["status"] == "ok":
                    break
                assert time.monotonic() < deadline, f"no successful run after the restart: {runs}"
                time.sleep(0.1)
            assert [r["status"] for r in runs] == ["ok", "interrupted"]
            health = httpx.get(server.url + "/api/v1/sources").json()["sources"][0]
            assert {k["key"] for k in health["keys"]} == {"c1", "c2", "c3"}
        finally:
            server.stop()
    assert asked_before > 10
    # c1 was committed before the kill: the restart asks only from its watermark less the overlap
    c1 = [parse_qs(urlparse(r).query) for r in state.requests if r.startswith("/readings/c1")]
    assert min(int(q["daterange[]"][0]) for q in c1) == int((state.start + timedelta(hours=HOURS - 3)).timestamp())
    con = duckdb.connect(str(data / "gridpulse.duckdb"), read_only=True)
    try:
        total, distinct = con.execute("SELECT count(*), count(DISTINCT (series_id, ts)) FROM points").fetchone()  # type: ignore[misc]
        (history,) = con.execute("SELECT count(*) FROM points_history").fetchone()  # type: ignore[misc]
        (top_version,) = con.execute("SELECT max(version) FROM points").fetchone()  # type: ignore[misc]
    finally:
        con.close()
    assert total == distinct == 3 * HOURS * 2  # three channels, 48 hours, energy and power
    assert history == 0 and top_version == 1
