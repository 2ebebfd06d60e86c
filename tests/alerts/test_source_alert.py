"""A failing data source raises an alert (issue 7): the `source` rule kind and the built-in rule
`source-failing`, read from the job history.

In process (the app over a real DuckDB file): an `http` source points at a feed server on
loopback that answers 500 while told to fail; its runs are asked for through the API (the source
is scheduled by a cron that never comes), and the scheduled alert evaluation is called as the
scheduler calls it. End to end: a live server polls the feed every fraction of a second and
evaluates every second; a real webhook receiver gets the firing and the resolution, across a
restart in between.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gridpulse.alerts.engine import AlertEngine
from gridpulse.alerts.rules import parse_rule
from gridpulse.errors import ConfigError
from tests.alerts.receiver import Receiver
from tests.alerts.test_alertmanager import alertmanager  # noqa: F401  (the fixture: a real Alertmanager)
from tests.conftest import LiveServer, start_server

NEVER = "0 0 1 1 *"  # a cron time a year away: runs only when asked for


class Feed:
    """A CSV feed of one grid's load that answers 500 while `failing` is set."""

    def __init__(self) -> None:
        self.failing = False
        self.requests = 0
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                feed.requests += 1
                if feed.failing:
                    body = b"upstream database unavailable"
                    self.send_response(500)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                body = b"Datetime;Consommation\n2024-03-01 00:00;51000\n2024-03-01 00:15;50500\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/csv; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/load.csv"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def source(self, name: str = "grid-load", **keys: Any) -> dict[str, Any]:
        """A `[[sources]]` table polling this feed, one try per run."""
        return {
            "name": name,
            "type": "http",
            "url": self.url,
            "max_attempts": 1,
            "timeout_s": 5,
            "mapping": {
                "time_column": "Datetime",
                "time_format": "%Y-%m-%d %H:%M",
                "tz": "Europe/Paris",
                "entity": "fr",
                "entity_kind": "grid",
                "metric": "load_mw",
                "value_column": "Consommation",
                "unit": "MW",
            },
            **keys,
        }


@pytest.fixture
def feed() -> Iterator[Feed]:
    f = Feed()
    yield f
    f.httpd.shutdown()
    f.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def about(source: str, status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda b: b["status"] == status and b["labels"].get("source") == source


# ---------------------------------------------------------------------------- in process
@pytest.fixture
def app_with(
    make_client: Callable[..., TestClient], receiver: Receiver, feed: Feed
) -> Callable[..., TestClient]:
    def make(*sources: dict[str, Any], rules: tuple[dict[str, Any], ...] = (), **alerts: Any) -> TestClient:
        return make_client(
            sources=list(sources) or [feed.source(cron=NEVER, failure_alert_after=2)],
            alerts={"rules": list(rules), "notify": [f"webhook:{receiver.url}"], "backoff_ms": 10, **alerts},
        )

    return make


def engine(client: TestClient) -> AlertEngine:
    e = client.app.state.gridpulse.alerts  # type: ignore[attr-defined]
    assert isinstance(e, AlertEngine)
    return e


def run_source(client: TestClient, name: str = "grid-load") -> str:
    """Run the source's job now (as the scheduler would) and then the scheduled alert evaluation;
    returns the run's status."""
    resp = client.post(f"/api/v1/jobs/source:{name}/run")
    assert resp.status_code == 200, resp.text
    engine(client).evaluate_scheduled()
    status: str = resp.json()["run"]["status"]
    return status


def alerts_of(
    client: TestClient, rule: str = "source-failing", state: str | None = "open"
) -> list[dict[str, Any]]:
    """The rule's alerts in `state` (None: every state), newest first."""
    resp = client.get("/api/v1/alerts", params={"rule": rule, **({"state": state} if state else {})})
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["alerts"]
    return found


def test_a_source_failing_its_failure_alert_after_runs_fires_the_builtin_rule_and_a_good_run_resolves_it(
    app_with: Callable[..., TestClient], feed: Feed, receiver: Receiver
) -> None:
    client = app_with()
    (rule,) = [r for r in client.get("/api/v1/alerts/rules").json()["rules"] if r["name"] == "source-failing"]
    assert rule["kind"] == "source" and rule["source"] == "builtin" and rule["group_by"] == ["source"]
    feed.failing = True
    assert run_source(client) == "failed"
    assert alerts_of(client) == []  # one failed run of the two this source allows
    assert run_source(client) == "failed"
    (alert,) = alerts_of(client)
    assert alert["state"] == "firing" and alert["kind"] == "source"
    assert alert["series"] == ["source:grid-load"] and alert["value"] == 2
    assert alert["labels"] == {"alertname": "source-failing", "severity": "warning", "source": "grid-load"}
    assert "source grid-load failed 2 runs in a row" in alert["summary"] and "500" in alert["summary"]
    (fired,) = receiver.wait_for(about("grid-load", "firing"))
    assert fired["alert_id"] == alert["alert_id"] and fired["summary"] == alert["summary"]
    assert client.get("/api/v1/sources").json()["sources"][0]["failing"] is True

    assert run_source(client) == "failed"  # still failing: the same alert, nothing new sent
    assert [a["alert_id"] for a in alerts_of(client)] == [alert["alert_id"]]

    feed.failing = False
    assert run_source(client) == "ok"
    (done,) = receiver.wait_for(about("grid-load", "resolved"))
    assert done["alert_id"] == alert["alert_id"]
    assert alerts_of(client) == []
    assert len(receiver.matching(about("grid-load", "firing"))) == 1
    events = [e["event"] for e in client.get(f"/api/v1/alerts/{alert['alert_id']}").json()["history"]]
    assert events[0] == "fired" and "resolved" in events


def test_a_silenced_source_alert_tells_nobody_and_still_resolves(
    app_with: Callable[..., TestClient], feed: Feed, receiver: Receiver
) -> None:
    client = app_with()
    resp = client.post("/api/v1/alerts/silences", json={"series": "source:grid-*", "duration": "1h"})
    assert resp.status_code == 201, resp.text
    feed.failing = True
    run_source(client)
    run_source(client)
    (alert,) = alerts_of(client)
    assert alert["state"] == "silenced"
    feed.failing = False
    run_source(client)
    assert alerts_of(client) == []
    assert alerts_of(client, state="resolved")[0]["alert_id"] == alert["alert_id"]
    engine(client).call(lambda: None)  # deliveries in flight would have been submitted by now
    assert receiver.matching(lambda b: b["rule"] == "source-failing") == []


def test_a_config_rule_of_the_builtin_name_replaces_it_with_its_threshold_for_and_cooldown(
    app_with: Callable[..., TestClient], feed: Feed, receiver: Receiver
) -> None:
    client = app_with(
        feed.source(cron=NEVER, failure_alert_after=5),
        feed.source("slow-feed", cron=NEVER),
        rules=(
            {"name": "source-failing", "kind": "source", "sources": ["grid-*"], "threshold": 1,
             "cooldown": "1h", "severity": "critical"},
            {"name": "slow-feed-down", "kind": "source", "sources": ["slow-feed"], "threshold": 1, "for": "1h"},
            {"name": "slow-feed-brief", "kind": "source", "sources": ["slow-*"], "threshold": 1, "for": "0.2s"},
        ),
    )  # fmt: skip
    rules = {r["name"]: r for r in client.get("/api/v1/alerts/rules").json()["rules"]}
    assert rules["source-failing"]["source"] == "config" and rules["source-failing"]["threshold"] == 1
    feed.failing = True
    run_source(client)  # one failed run: the config rule's threshold, not the source's 5
    (alert,) = alerts_of(client)
    assert alert["severity"] == "critical" and alert["series"] == ["source:grid-load"]
    run_source(client, "slow-feed")
    run_source(client, "slow-feed")
    assert alerts_of(client, "slow-feed-down") == []  # failing, but not for an hour yet
    # failing for 0.2 s since the first failed run: an evaluation after that fires it
    _wait(
        "the for-duration of slow-feed-brief passing",
        lambda: engine(client).evaluate_scheduled() and alerts_of(client, "slow-feed-brief"),
    )
    assert alerts_of(client, "slow-feed-down") == []
    feed.failing = False
    run_source(client)
    receiver.wait_for(about("grid-load", "resolved"))
    feed.failing = True
    run_source(client)
    assert alerts_of(client) == []  # fired less than the cooldown ago: no second alert
    assert len(alerts_of(client, state=None)) == 1


def test_an_api_rule_of_the_builtin_name_replaces_it_and_deleting_it_brings_the_builtin_back(
    app_with: Callable[..., TestClient], feed: Feed
) -> None:
    client = app_with()
    resp = client.delete("/api/v1/alerts/rules/source-failing")
    assert resp.status_code == 400 and "source_rule = false" in resp.json()["error"]
    resp = client.post(
        "/api/v1/alerts/rules", json={"name": "source-failing", "kind": "source", "threshold": 1}
    )
    assert resp.status_code == 201, resp.text
    feed.failing = True
    run_source(client)
    (alert,) = alerts_of(client)  # after one run: the API rule's threshold
    run_source(client)  # two: the source's failure_alert_after, so the built-in rule holds it open too
    assert client.delete("/api/v1/alerts/rules/source-failing").status_code == 200
    (rule,) = [r for r in client.get("/api/v1/alerts/rules").json()["rules"] if r["name"] == "source-failing"]
    assert rule["source"] == "builtin"
    assert [a["alert_id"] for a in alerts_of(client)] == [alert["alert_id"]]  # carried over, still open
    feed.failing = False
    run_source(client)
    assert alerts_of(client) == []


def test_replacing_the_builtin_rule_by_a_rule_of_another_kind_resolves_its_open_alerts(
    app_with: Callable[..., TestClient], feed: Feed, receiver: Receiver
) -> None:
    client = app_with()
    feed.failing = True
    run_source(client)
    run_source(client)
    (alert,) = alerts_of(client)
    other = {"name": "source-failing", "kind": "nodata", "metric": "load_mw", "minutes": 60}
    assert client.post("/api/v1/alerts/rules", json=other).status_code == 201
    assert alerts_of(client) == []  # a nodata rule could never resolve a source's alert
    history = client.get(f"/api/v1/alerts/{alert['alert_id']}").json()["history"]
    assert any(e["event"] == "resolved" and e["detail"] == {"reason": "rule replaced"} for e in history)
    receiver.wait_for(about("grid-load", "resolved"))


def test_source_rule_false_or_no_sources_means_no_builtin_rule(
    make_client: Callable[..., TestClient], feed: Feed
) -> None:
    off = make_client(sources=[feed.source(cron=NEVER)], alerts={"source_rule": False})
    assert [r["name"] for r in off.get("/api/v1/alerts/rules").json()["rules"]] == []
    none = make_client()
    assert [r["name"] for r in none.get("/api/v1/alerts/rules").json()["rules"]] == []


def test_a_failing_source_is_an_active_alert_in_alertmanager_labelled_with_its_name_until_it_works(
    make_client: Callable[..., TestClient],
    feed: Feed,
    alertmanager: str,  # noqa: F811
) -> None:
    client = make_client(
        sources=[feed.source(cron=NEVER, failure_alert_after=1)],
        alerts={"notify": ["alertmanager:"], "alertmanager_url": alertmanager},
    )

    def active() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = httpx.get(
            alertmanager + "/api/v2/alerts", params={"active": "true"}
        ).json()
        return [a for a in got if a["labels"].get("alertname") == "source-failing"]

    feed.failing = True
    run_source(client)
    (am,) = _wait("the source alert in Alertmanager", active, timeout=15)
    assert am["labels"] == {"alertname": "source-failing", "severity": "warning", "source": "grid-load"}
    assert "source grid-load failed 1 run in a row" in am["annotations"]["summary"]
    feed.failing = False
    run_source(client)
    _wait("the resolution in Alertmanager", lambda: not active(), timeout=15)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "source", "metric": "load_mw"}, "metric does not apply to a source rule"),
        ({"kind": "source", "op": ">", "threshold": 3}, "op does not apply to a source rule"),
        ({"kind": "source", "threshold": 0}, "threshold=0 is not a whole number of failed runs of 1 or more"),
        ({"kind": "source", "threshold": 2.5}, "threshold=2.5 is not a whole number"),
        (
            {"kind": "source", "group_by": ["site_id"]},
            "group_by site_id not among source, source_type, series",
        ),
        ({"kind": "source", "source": "eniscope"}, "write kind = 'source' and sources = ['eniscope']"),
        (
            {"metric": "soc", "op": "<", "threshold": 20, "sources": ["x"]},
            "sources applies to source rules only",
        ),
    ],
)
def test_a_malformed_source_rule_is_refused_naming_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="'down':") as err:
        parse_rule({"name": "down", **spec})
    assert message in str(err.value)


# ---------------------------------------------------------------------------- live server
def _wait(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what}: not seen within {timeout} s")


def _source_alerts(server: LiveServer) -> list[dict[str, Any]]:
    resp = httpx.get(server.url + "/api/v1/alerts", params={"rule": "source-failing"})
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["alerts"]
    return found


def _streak(server: LiveServer) -> int:
    (src,) = httpx.get(server.url + "/api/v1/sources").json()["sources"]
    streak: int = src["consecutive_failures"]
    return streak


def _alert_evaluations(server: LiveServer) -> int:
    runs = httpx.get(server.url + "/api/v1/jobs/runs", params={"job": "alerts", "limit": 1000}).json()["runs"]
    return len([r for r in runs if r["status"] == "ok"])


def test_live_server_alerts_on_a_failing_feed_keeps_it_across_a_restart_and_resolves_on_recovery(
    tmp_path: Path, feed: Feed, receiver: Receiver
) -> None:
    config = tmp_path / "gridpulse.toml"
    config.write_text(
        f"""
[alerts]
interval_s = 1
notify = ["webhook:{receiver.url}"]
backoff_ms = 10

[jobs]
failure_alert_after = 3

[[sources]]
name = "grid-load"
type = "http"
url = "{feed.url}"
interval_s = 0.2
max_attempts = 1
[sources.mapping]
time_column = "Datetime"
time_format = "%Y-%m-%d %H:%M"
tz = "Europe/Paris"
entity = "fr"
entity_kind = "grid"
metric = "load_mw"
value_column = "Consommation"
unit = "MW"
"""
    )
    data = tmp_path / "data"
    feed.failing = True
    server = start_server(data, "--config", str(config))
    try:
        (fired,) = receiver.wait_for(about("grid-load", "firing"), timeout=30)
        assert fired["rule"] == "source-failing" and fired["series"] == ["source:grid-load"]
        assert fired["labels"]["source"] == "grid-load" and fired["value"] >= 3
        assert "failed" in fired["summary"] and "500" in fired["summary"]
        (alert,) = _source_alerts(server)
        assert alert["alert_id"] == fired["alert_id"] and alert["state"] == "firing"
        resp = httpx.post(f"{server.url}/api/v1/alerts/{alert['alert_id']}/ack", json={"by": "ops"})
        assert resp.status_code == 200, resp.text
    finally:
        server.stop()

    server = start_server(data, "--config", str(config))  # the feed still fails
    try:
        before = _streak(server)
        _wait("a failed run after the restart", lambda: _streak(server) > before)
        evaluated = _alert_evaluations(server)
        _wait("two alert evaluations after that run", lambda: _alert_evaluations(server) >= evaluated + 2)
        (alert,) = _source_alerts(server)  # neither lost nor fired twice
        assert alert["alert_id"] == fired["alert_id"] and alert["state"] == "acknowledged"
        assert len(receiver.matching(about("grid-load", "firing"))) == 1
        cli = subprocess.run(
            [sys.executable, "-m", "gridpulse", "alerts", "list", "--data-dir", str(data), "--format", "json"],
            capture_output=True, check=True, cwd=tmp_path,
        )  # fmt: skip
        (listed,) = json.loads(cli.stdout)["alerts"]
        assert listed["alert_id"] == fired["alert_id"] and listed["series"] == ["source:grid-load"]

        feed.failing = False
        (done,) = receiver.wait_for(about("grid-load", "resolved"), timeout=30)
        assert done["alert_id"] == fired["alert_id"]
        (alert,) = _source_alerts(server)
        assert alert["state"] == "resolved" and alert["resolved_at"]
        (src,) = httpx.get(server.url + "/api/v1/sources").json()["sources"]
        assert src["failing"] is False
    finally:
        server.stop()
