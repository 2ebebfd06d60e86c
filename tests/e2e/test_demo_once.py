"""`gridpulse serve --demo` loads the synthetic fleet once per store, whatever the restarts."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import start_server


def _wait_loaded(url: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(url + "/api/v1/status").json()
        if status["demo"] == "loaded":
            return status  # type: ignore[no-any-return]
        assert not str(status["demo"]).startswith("failed"), status
        time.sleep(0.2)
    raise AssertionError(f"demo data not loaded within {timeout} s")


def test_demo_data_loads_once_and_a_restart_does_not_load_it_again(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--demo")
    try:
        first = _wait_loaded(srv.url)
        assert first["series"] >= 20 and first["points"] > 50_000  # type: ignore[operator]
        meters = httpx.get(srv.url + "/api/v1/series", params={"kind": "meter"}).json()["series"]
        assert {"m-01", "m-12"} <= {s["entity_id"] for s in meters}
        soc = httpx.get(srv.url + "/api/v1/latest", params={"metric": "StateOfChargePercentage"}).json()
        assert soc["count"] == 3
        log = srv.log.read_text()
        assert f"{srv.url}/docs" in log and "curl -sS -X POST" in log
    finally:
        srv.stop()
    srv = start_server(tmp_path / "data", "--demo")
    try:
        again = _wait_loaded(srv.url)
        assert (again["series"], again["points"]) == (first["series"], first["points"])
        assert again["commits"] == 0  # nothing was written on the second start
    finally:
        srv.stop()
