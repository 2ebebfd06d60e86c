"""The seed document's curl examples, run verbatim with the real curl against a real server.

Only `http://localhost:7001` / `http://localhost:7002` are replaced by the live server's URL.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SHARED, LiveServer, skip_or_fail

pytestmark = pytest.mark.e2e

SEED = SHARED / "seeds" / "001_e750eb4dcc7707b5.txt"

# verbatim from the seed, section "Quick curl examples"
SEED_METER_USAGE = """\
cat <<'NDJSON' | curl -sS -X POST \\
  -H 'Content-Type: application/x-ndjson' \\
  --data-binary @- \\
  http://localhost:7001/ingest/meter_usage/ndjson
{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1.25}
{"ts":"2024-01-01T00:15:00Z","meter_id":"m-1","kwh":1.10}
NDJSON
"""

SEED_GENERATION_OUTPUT = """\
cat <<'NDJSON' | curl -sS -X POST \\
  -H 'Content-Type: application/x-ndjson' \\
  --data-binary @- \\
  http://localhost:7002/ingest/generation_output/ndjson
{"ts":"2024-01-01T00:00:00Z","plant_id":"plant-1","mw":10.0}
{"ts":"2024-01-01T00:15:00Z","plant_id":"plant-1","mw":9.5}
NDJSON
"""

# the same rows, in the shape of the seed's JSON-array routes
JSON_ARRAY_METER_USAGE = """\
cat <<'JSON' | curl -sS -X POST \\
  -H 'Content-Type: application/json' \\
  --data-binary @- \\
  http://localhost:7001/ingest/meter_usage
[{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1.25},
 {"ts":"2024-01-01T00:15:00Z","meter_id":"m-1","kwh":1.10}]
JSON
"""

JSON_ARRAY_GENERATION_OUTPUT = """\
cat <<'JSON' | curl -sS -X POST \\
  -H 'Content-Type: application/json' \\
  --data-binary @- \\
  http://localhost:7002/ingest/generation_output
[{"ts":"2024-01-01T00:00:00Z","plant_id":"plant-1","mw":10.0},
 {"ts":"2024-01-01T00:15:00Z","plant_id":"plant-1","mw":9.5}]
JSON
"""

FIRST_POST = {
    "status": "ok", "rows": 2, "points": 2, "nulls": 0, "inserted": 2, "revised": 0, "unchanged": 0,
    "series_created": 1, "rejected_count": 0, "rejected": [],
}
RESEND = {**FIRST_POST, "inserted": 0, "unchanged": 2, "series_created": 0}

EXPECTED = {
    # entity: (metric, unit, [(UTC ts, Amsterdam ts, value)])
    "m-1": ("kwh", "kWh", [
        ("2024-01-01T00:00:00+00:00", "2024-01-01T01:00:00+01:00", 1.25),
        ("2024-01-01T00:15:00+00:00", "2024-01-01T01:15:00+01:00", 1.10),
    ]),
    "plant-1": ("mw", "MW", [
        ("2024-01-01T00:00:00+00:00", "2024-01-01T01:00:00+01:00", 10.0),
        ("2024-01-01T00:15:00+00:00", "2024-01-01T01:15:00+01:00", 9.5),
    ]),
}


@pytest.fixture
def curl(tmp_path: Path) -> dict[str, str]:
    """The environment to run curl in: our own .curlrc makes curl also print the HTTP status.

    That keeps the example commands verbatim, and a user's ~/.curlrc out of the test.
    """
    if shutil.which("curl") is None:
        skip_or_fail("the curl binary is not installed")
    home = tmp_path / "curl-home"
    home.mkdir()
    (home / ".curlrc").write_text('write-out = "\\n%{http_code}\\n"\n')
    return {**os.environ, "CURL_HOME": str(home), "XDG_CONFIG_HOME": str(home)}


def run_example(script: str, url: str, curl: dict[str, str], url_7002: str | None = None) -> dict[str, Any]:
    """Run one example with bash and the real curl; assert HTTP 200 and return the JSON report."""
    script = script.replace("http://localhost:7001", url).replace("http://localhost:7002", url_7002 or url)
    done = subprocess.run(["bash", "-c", script], capture_output=True, timeout=60, check=False, env=curl)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""
    body, status = done.stdout.rstrip(b"\n").rsplit(b"\n", 1)
    assert status == b"200", done.stdout.decode()
    report: dict[str, Any] = json.loads(body)
    return report


def assert_read_back(url: str, entity: str) -> None:
    """Exact values and instants, in UTC and in Amsterdam; every point is its first version."""
    metric, unit, expected = EXPECTED[entity]
    with httpx.Client(base_url=url, timeout=30) as http:
        for tz, col in (("UTC", 0), ("Europe/Amsterdam", 1)):
            r = http.get("/api/v1/readings", params={"entity": entity, "metric": metric, "tz": tz})
            assert r.status_code == 200, r.text
            body = r.json()
            s = body["series"]
            assert (s["entity_id"], s["metric"], s["unit"], s["interval_s"]) == (entity, metric, unit, 900)
            assert (body["tz"], body["count"]) == (tz, 2)
            assert body["points"] == [
                {"ts": row[col], "value": row[2], "quality": 0, "version": 1} for row in expected
            ]


def test_seed_examples_are_the_ones_in_the_seed_document() -> None:
    if not SEED.is_file():
        skip_or_fail(f"seed document not found at {SEED}")
    text = SEED.read_text()
    assert SEED_METER_USAGE in text
    assert SEED_GENERATION_OUTPUT in text


def test_seed_meter_usage_ndjson_example_is_stored_and_read_back_exactly(
    live_server: LiveServer, curl: dict[str, str]
) -> None:
    assert run_example(SEED_METER_USAGE, live_server.url, curl) == FIRST_POST
    assert_read_back(live_server.url, "m-1")


def test_seed_generation_output_ndjson_example_is_stored_and_read_back_exactly(
    live_server: LiveServer, curl: dict[str, str]
) -> None:
    assert run_example(SEED_GENERATION_OUTPUT, live_server.url, curl) == FIRST_POST
    assert_read_back(live_server.url, "plant-1")


def test_json_array_routes_store_the_same_rows_the_same_way(live_server: LiveServer, curl: dict[str, str]) -> None:
    assert run_example(JSON_ARRAY_METER_USAGE, live_server.url, curl) == FIRST_POST
    assert run_example(JSON_ARRAY_GENERATION_OUTPUT, live_server.url, curl) == FIRST_POST
    assert_read_back(live_server.url, "m-1")
    assert_read_back(live_server.url, "plant-1")


def test_resend_of_identical_rows_changes_nothing(live_server: LiveServer, curl: dict[str, str]) -> None:
    assert run_example(SEED_METER_USAGE, live_server.url, curl) == FIRST_POST
    # the same rows again, through either route: nothing new, no second version
    assert run_example(SEED_METER_USAGE, live_server.url, curl) == RESEND
    assert run_example(JSON_ARRAY_METER_USAGE, live_server.url, curl) == RESEND
    assert_read_back(live_server.url, "m-1")
    status = httpx.get(live_server.url + "/api/v1/status", timeout=30).json()
    assert (status["series"], status["points"], status["superseded_versions"]) == (1, 2, 0)


def test_both_seed_examples_show_in_catalogue_and_latest(live_server: LiveServer, curl: dict[str, str]) -> None:
    run_example(SEED_METER_USAGE, live_server.url, curl)
    run_example(SEED_GENERATION_OUTPUT, live_server.url, curl)
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        series = http.get("/api/v1/series").json()
        assert [(s["entity_kind"], s["entity_id"], s["metric"], s["unit"]) for s in series["series"]] == [
            ("meter", "m-1", "kwh", "kWh"),
            ("plant", "plant-1", "mw", "MW"),
        ]
        latest = http.get("/api/v1/latest", params={"tz": "Europe/Amsterdam"}).json()
        assert [(row["entity_id"], row["ts"], row["value"]) for row in latest["latest"]] == [
            ("m-1", "2024-01-01T01:15:00+01:00", 1.10),
            ("plant-1", "2024-01-01T01:15:00+01:00", 9.5),
        ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_seed_examples_on_the_seed_port_layout_reach_one_store(tmp_path: Path, curl: dict[str, str]) -> None:
    """The seed posts meter usage to one port and generation output to another; one server serves both."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPULSE_")}
    env["GRIDPULSE_DEMO_DATASETS_DIR"] = str(tmp_path / "no-datasets")
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "gridpulse", "serve", "--data-dir", str(data_dir), "--port", "0",
             "--extra-port", str(free_port()), "--ilp-port", "0"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
        )
    try:
        urls: list[str] = []
        deadline = time.monotonic() + 60
        while not urls and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                found = json.loads((data_dir / "server.json").read_text())["urls"]
                if all(httpx.get(u + "/healthz", timeout=2).status_code == 200 for u in found):
                    urls = found
            except (OSError, ValueError, KeyError, httpx.HTTPError):
                time.sleep(0.1)
        assert len(urls) == 2, log.read_text()
        assert run_example(SEED_METER_USAGE, urls[0], curl, urls[1]) == FIRST_POST
        assert run_example(SEED_GENERATION_OUTPUT, urls[0], curl, urls[1]) == FIRST_POST
        for url in urls:
            assert_read_back(url, "m-1")
            assert_read_back(url, "plant-1")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0, log.read_text()
    assert not (data_dir / "server.json").exists()
