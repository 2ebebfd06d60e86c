"""GET /metrics: the registry of gridpulse.metrics in Prometheus' text format, behind the read scope.

The ingest counters move by what each route handed to the store, the latency histograms observe
every commit and request, and the alerts gauge says what the store holds. The registry is one per
process and other tests count into it too: in-process tests compare before and after.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gridpulse import __version__
from tests.conftest import LiveServer, skip_or_fail

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _scrape(client: TestClient) -> Samples:
    resp = client.get("/metrics")
    assert resp.status_code == 200, resp.text
    return _samples(resp.text)


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return _get(after, name, **labels) - _get(before, name, **labels)


def _ndjson(meter: str, n: int, *, start: datetime = T0) -> bytes:
    return b"".join(
        orjson.dumps(
            {"ts": (start + timedelta(minutes=15 * i)).isoformat(), "meter_id": meter, "kwh": 1.0 + i}
        )
        + b"\n"
        for i in range(n)
    )


def test_metrics_count_a_job_run_in_prometheus_text(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    before = _samples(client.get("/metrics").text)
    run = client.post("/api/v1/jobs/rollups/run")  # the rollup refresh: a job of every server
    assert run.status_code == 200, run.text
    job = run.json()["run"]["job"]
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    after = _samples(resp.text)
    key = ("gridpulse_job_runs_total", (("job", job), ("status", "ok")))
    assert after[key] == before.get(key, 0.0) + 1, sorted(
        k for k in after if k[0].startswith("gridpulse_job")
    )


def test_metrics_need_a_read_token_when_tokens_are_set(make_client: Callable[..., TestClient]) -> None:
    client = make_client(auth={"tokens": {"r3ad": "read", "w": "write"}})
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"authorization": "Bearer w"}).status_code == 403
    ok = client.get("/metrics", headers={"authorization": "Bearer r3ad"})
    assert ok.status_code == 200 and "gridpulse_job_runs" in ok.text


# ------------------------------------------------------------------------- ingest, by route
def test_json_and_ndjson_writes_count_rows_bytes_and_a_commit_under_their_route(client: TestClient) -> None:
    rows = [
        {"ts": (T0 + timedelta(minutes=15 * i)).isoformat(), "meter_id": "mj-1", "kwh": 0.5 * i}
        for i in range(7)
    ]
    array = orjson.dumps(rows)
    lines = _ndjson("mn-1", 5)
    before = _scrape(client)
    started = time.time()
    assert client.post("/ingest/meter_usage", content=array).status_code == 200
    assert client.post("/ingest/meter_usage/ndjson", content=lines).status_code == 200
    after = _scrape(client)
    assert _moved(before, after, "gridpulse_ingest_rows_total", route="json", source="") == 7
    assert _moved(before, after, "gridpulse_ingest_rows_total", route="ndjson", source="") == 5
    assert _moved(before, after, "gridpulse_ingest_bytes_total", route="json") == len(array)
    assert _moved(before, after, "gridpulse_ingest_bytes_total", route="ndjson") == len(lines)
    for route in ("json", "ndjson"):
        assert _moved(before, after, "gridpulse_ingest_commit_seconds_count", route=route) == 1
        assert _moved(before, after, "gridpulse_ingest_commit_seconds_sum", route=route) > 0
    assert _get(after, "gridpulse_ingest_last_commit_timestamp_seconds") >= started


def test_a_resend_counts_its_unchanged_rows_and_a_skipped_bad_row_counts_as_a_reject(
    client: TestClient,
) -> None:
    body = _ndjson("mr-1", 4)
    assert client.post("/ingest/meter_usage/ndjson", content=body).status_code == 200
    before = _scrape(client)
    again = client.post("/ingest/meter_usage/ndjson", content=body)
    assert again.json()["unchanged"] == 4
    bad = body + b'{"ts": "yesterday", "meter_id": "mr-1", "kwh": 1}\n'
    skipped = client.post("/ingest/meter_usage/ndjson", params={"on_error": "skip"}, content=bad)
    assert skipped.status_code == 200 and skipped.json()["rejected_count"] == 1
    rejected = client.post("/ingest/meter_usage/ndjson", content=bad)  # the default: nothing is stored
    assert rejected.status_code == 400
    after = _scrape(client)
    assert _moved(before, after, "gridpulse_ingest_rows_total", route="ndjson", source="") == 8
    assert _moved(before, after, "gridpulse_ingest_rejects_total", route="ndjson") == 2
    assert _moved(before, after, "gridpulse_ingest_bytes_total", route="ndjson") == len(body) + 2 * len(bad)


def test_line_protocol_over_http_counts_rows_and_a_bad_line_as_a_reject(client: TestClient) -> None:
    ts = int(T0.timestamp())
    good = "".join(f"meter_usage,meter_id=ml-1 kwh={i}.5 {ts + 900 * i}\n" for i in range(6)).encode()
    before = _scrape(client)
    assert client.post("/write", params={"precision": "s"}, content=good).status_code == 204
    bad = client.post(
        "/api/v2/write", params={"precision": "s"}, content=good + b"meter_usage,meter_id=ml-1\n"
    )
    assert bad.status_code == 400
    after = _scrape(client)
    assert _moved(before, after, "gridpulse_ingest_rows_total", route="lp_http", source="") == 6
    assert _moved(before, after, "gridpulse_ingest_rejects_total", route="lp_http") == 1
    assert _moved(before, after, "gridpulse_ingest_commit_seconds_count", route="lp_http") == 1


def test_posted_files_count_under_the_file_route(client: TestClient) -> None:
    body = b"ts,meter_id,kwh\n2024-01-01T00:00:00Z,mf-1,1.5\n2024-01-01T00:15:00Z,mf-1,2\nnot a time,mf-1,3\n"
    before = _scrape(client)
    resp = client.post("/api/v1/files", params={"filename": "m.csv"}, content=body)
    assert resp.status_code == 200 and resp.json()["rejected"] == 1, resp.text
    after = _scrape(client)
    assert _moved(before, after, "gridpulse_ingest_rows_total", route="file", source="") == 2
    assert _moved(before, after, "gridpulse_ingest_bytes_total", route="file") == len(body)
    assert _moved(before, after, "gridpulse_ingest_rejects_total", route="file") == 1


def test_a_scheduled_source_counts_its_rows_under_route_source_and_its_name(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    name = f"drop-{uuid.uuid4().hex[:6]}"
    lines = [f"{(T0 + timedelta(hours=h)).isoformat()},ms-1,{h}" for h in range(12)]
    (inbox / "m.csv").write_text("ts,meter_id,kwh\n" + "\n".join(lines) + "\nnever,ms-1,1\n")
    client = make_client(
        sources=[{"name": name, "type": "folder", "path": str(inbox), "interval_s": 3600, "settle_s": 0,
                  "mapping": {"entity_kind": "meter"}}],
        rollups={"refresh_interval_s": 0},
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not (inbox / "done" / "m.csv").exists():  # the first run comes a second after start-up
        assert time.monotonic() < deadline, "the folder source did not load its file"
        time.sleep(0.05)
    deadline = time.monotonic() + 30
    while _get(after := _scrape(client), "gridpulse_source_rows_total", source=name) < 12:
        assert time.monotonic() < deadline, "the source's run was not counted"
        time.sleep(0.05)
    assert _get(after, "gridpulse_ingest_rows_total", route="source", source=name) == 12
    assert _get(after, "gridpulse_source_rejects_total", source=name) == 1


def test_mqtt_messages_count_under_route_mqtt_and_the_source_name(
    make_client: Callable[..., TestClient],
) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex(("127.0.0.1", 1883)) != 0:
            skip_or_fail("no MQTT broker on 127.0.0.1:1883 (Mosquitto)")
    tag = uuid.uuid4().hex[:8]
    name, prefix = f"fleet-{tag}", f"gridpulse-test/{tag}"
    client = make_client(
        sources=[{"name": name, "type": "mqtt", "port": 1883, "topics": [f"{prefix}/#"],
                  "topic_pattern": f"{prefix}/{{entity_id}}/{{metric}}", "entity_kind": "meter",
                  "interval_s": 3600, "client_id": f"gridpulse-test-{tag}"}],
        rollups={"refresh_interval_s": 0},
    )  # fmt: skip
    runner = client.app.state.gridpulse_sources[1][f"source:{name}"]  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while not runner.source.connected:
        assert time.monotonic() < deadline, "the source did not connect"
        time.sleep(0.05)
    before = _scrape(client)
    payloads = [orjson.dumps({"ts": (T0 + timedelta(hours=h)).isoformat(), "value": h}) for h in range(3)]
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{tag}")
    pub.connect("127.0.0.1", 1883)
    pub.loop_start()
    try:
        for payload in payloads:
            info = pub.publish(f"{prefix}/mq-1/kwh", payload, qos=1)
            info.wait_for_publish(timeout=10)
    finally:
        pub.loop_stop()
        pub.disconnect()
    deadline = time.monotonic() + 30
    while (
        _moved(before, after := _scrape(client), "gridpulse_ingest_rows_total", route="mqtt", source=name) < 3
    ):
        assert time.monotonic() < deadline, "the messages were not committed"
        time.sleep(0.05)
    assert _moved(before, after, "gridpulse_ingest_rows_total", route="mqtt", source=name) == 3
    assert _moved(before, after, "gridpulse_ingest_bytes_total", route="mqtt") == sum(map(len, payloads))
    assert _moved(before, after, "gridpulse_ingest_commit_seconds_count", route="mqtt") >= 1


def _ilp_address(srv: LiveServer) -> tuple[str, int]:
    host, port = json.loads((srv.data_dir / "server.json").read_text())["ilp"].rsplit(":", 1)
    return host, int(port)


def _live_samples(srv: LiveServer) -> Samples:
    resp = httpx.get(srv.url + "/metrics", timeout=10)
    assert resp.status_code == 200, resp.text
    return _samples(resp.text)


def test_line_protocol_over_tcp_counts_rows_bytes_and_skipped_lines(live_server: LiveServer) -> None:
    ts = int(T0.timestamp() * 1e9)
    payload = (
        "".join(f"meter_usage,meter_id=mt-1 kwh={i}.25 {ts + i * 900_000_000_000}\n" for i in range(9))
        + "meter_usage,meter_id=mt-1 kwh=oops\n"
    ).encode()
    before = _live_samples(live_server)
    with socket.create_connection(_ilp_address(live_server), timeout=10) as sock:
        sock.sendall(payload)
    deadline = time.monotonic() + 30
    while (
        _moved(
            before,
            after := _live_samples(live_server),
            "gridpulse_ingest_rows_total",
            route="lp_tcp",
            source="",
        )
        < 9
    ):
        assert time.monotonic() < deadline, "the lines were not committed"
        time.sleep(0.05)
    assert _moved(before, after, "gridpulse_ingest_rows_total", route="lp_tcp", source="") == 9
    assert _moved(before, after, "gridpulse_ingest_rejects_total", route="lp_tcp") == 1
    assert _moved(before, after, "gridpulse_ingest_bytes_total", route="lp_tcp") == len(payload)
    assert _moved(before, after, "gridpulse_ingest_commit_seconds_count", route="lp_tcp") >= 1
    # the scrape before the lines came is itself in the HTTP histogram of the new process
    assert (
        _get(
            after,
            "gridpulse_http_request_duration_seconds_count",
            method="GET",
            route="/metrics",
            status="200",
        )
        >= 1
    )


# ------------------------------------------------------------------------- HTTP, alerts, build
def test_http_latency_is_observed_by_route_template_and_unmatched_paths_share_one_label(
    client: TestClient,
) -> None:
    before = _scrape(client)
    assert client.get("/api/v1/reference/sites").status_code == 200
    assert client.get("/api/v1/reference/meters").status_code == 200
    assert client.get(f"/no/such/path/{uuid.uuid4().hex}").status_code == 404
    assert client.delete("/healthz").status_code == 405
    after = _scrape(client)
    count = "gridpulse_http_request_duration_seconds_count"
    assert _moved(before, after, count, method="GET", route="/api/v1/reference/{kind}", status="200") == 2
    assert _moved(before, after, count, method="GET", route="unmatched", status="404") == 1
    assert _moved(before, after, count, method="DELETE", route="/healthz", status="405") == 1
    assert not [k for k in after if k[0] == count and "/api/v1/reference/sites" in dict(k[1]).values()]
    # the registry is the process's: other tests' requests to the route are in it too
    bucket = "gridpulse_http_request_duration_seconds_bucket"
    labels = {"method": "GET", "route": "/api/v1/reference/{kind}", "status": "200", "le": "+Inf"}
    assert _moved(before, after, bucket, **labels) == 2


def test_plain_routes_and_mounts_are_labelled_by_their_template(client: TestClient) -> None:
    """FastAPI's router names only its own routes in the scope: the API docs, the dashboard's
    files and the hot routes are found again from the request's path."""
    before = _scrape(client)
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/static/css/app.css").status_code == 200
    assert client.get("/static/no-such-file.css").status_code == 404
    assert client.get("/api/v1/latest").status_code == 200
    assert client.post("/openapi.json").status_code == 405
    after = _scrape(client)
    count = "gridpulse_http_request_duration_seconds_count"
    assert _moved(before, after, count, method="GET", route="/openapi.json", status="200") == 1
    assert _moved(before, after, count, method="GET", route="/static", status="200") == 1
    assert _moved(before, after, count, method="GET", route="/static", status="404") == 1
    assert _moved(before, after, count, method="GET", route="/api/v1/latest", status="200") == 1
    assert _moved(before, after, count, method="POST", route="/openapi.json", status="405") == 1
    assert _moved(before, after, count, method="GET", route="unmatched", status="200") == 0


@pytest.fixture
def alerting_client(make_client: Callable[..., TestClient]) -> Iterator[TestClient]:
    yield make_client(alerts={"rules": [{"name": "low-soc", "metric": "StateOfChargePercentage", "op": "<",
                                         "threshold": 20}]})  # fmt: skip


def test_alerts_by_state_is_what_the_store_holds_at_the_scrape(alerting_client: TestClient) -> None:
    client = alerting_client
    assert _get(_scrape(client), "gridpulse_alerts", state="firing") == 0
    body = b"".join(
        orjson.dumps({"recorded_at": (T0 + timedelta(minutes=m)).isoformat(), "device_id": f"b{i}",
                      "metric_name": "StateOfChargePercentage", "value": 12.0}) + b"\n"
        for i, m in ((1, 0), (2, 0))
    )  # fmt: skip
    assert client.post("/ingest/telemetry/ndjson", content=body).status_code == 200
    deadline = time.monotonic() + 30
    while len(client.get("/api/v1/alerts").json()["alerts"]) < 1:
        assert time.monotonic() < deadline, "the alert did not fire"
        time.sleep(0.05)
    samples = _scrape(client)
    firing = len(client.get("/api/v1/alerts", params={"state": "firing"}).json()["alerts"])
    assert firing >= 1
    assert _get(samples, "gridpulse_alerts", state="firing") == firing
    assert _get(samples, "gridpulse_alerts", state="resolved") == 0
    alert_id = client.get("/api/v1/alerts").json()["alerts"][0]["alert_id"]
    ack = client.post(f"/api/v1/alerts/{alert_id}/ack", json={"by": "test"})
    assert ack.status_code == 200, ack.text
    samples = _scrape(client)
    assert _get(samples, "gridpulse_alerts", state="acknowledged") == 1
    assert _get(samples, "gridpulse_alerts", state="firing") == firing - 1


def test_build_info_names_the_running_version(client: TestClient) -> None:
    assert _get(_scrape(client), "gridpulse_build_info", version=__version__) == 1
