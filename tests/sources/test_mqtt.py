"""The MQTT subscriber end to end through a real Mosquitto: the shared one on 127.0.0.1:1883, and
one of the test's own (Debian's mosquitto binary) that it restarts under the running server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from gridpulse.store import ReadingsQuery

from ..conftest import skip_or_fail

START = datetime(2024, 5, 1, tzinfo=UTC)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _publisher(port: int) -> Any:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    return pub


def _publish(pub: Any, topic: str, payload: bytes) -> None:
    info = pub.publish(topic, payload, qos=1)
    info.wait_for_publish(timeout=10)
    assert info.is_published()


def _points(client: TestClient, entity: str, metric: str) -> list[float]:
    store = client.app.state.gridpulse.store  # type: ignore[attr-defined]
    found = [s for s in store.list_series() if s.key.entity_id == entity and s.key.metric == metric]
    if not found:
        return []
    return list(store.read(ReadingsQuery(found[0].series_id)).column("value").to_pylist())


def _wait_points(client: TestClient, entity: str, metric: str, n: int) -> list[float]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        values = _points(client, entity, metric)
        if len(values) >= n:
            return values
        time.sleep(0.05)
    raise AssertionError(f"{entity}/{metric}: {len(_points(client, entity, metric))} points of {n} after 30 s")


def _run_now(client: TestClient, job: str) -> dict[str, Any]:
    """Run a job by hand; a scheduled run going at that moment answers 409, so ask again."""
    deadline = time.monotonic() + 30
    while True:
        resp = client.post(f"/api/v1/jobs/{job}/run")
        if resp.status_code != 409:
            assert resp.status_code == 200, resp.text
            return dict(resp.json()["run"])
        assert time.monotonic() < deadline, resp.text
        time.sleep(0.05)


def _mqtt_source(name: str, port: int, prefix: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "mqtt",
        "port": port,
        "topics": [f"{prefix}/#"],
        "topic_pattern": f"{prefix}/{{entity_id}}/{{metric}}",
        "entity_kind": "meter",
        "interval_s": 3600,
        "max_reconnect_delay_s": 1,
        "client_id": f"gridpulse-test-{uuid.uuid4().hex[:8]}",
        **extra,
    }


def test_json_and_line_protocol_messages_are_committed_and_reported(make_client: Callable[..., TestClient]) -> None:
    if not _port_open(1883):
        skip_or_fail("no MQTT broker on 127.0.0.1:1883 (Mosquitto)")
    prefix = f"gridpulse-test/{uuid.uuid4().hex[:8]}"
    client = make_client(
        sources=[
            _mqtt_source("fleet", 1883, f"{prefix}/json"),
            {**_mqtt_source("ilp", 1883, f"{prefix}/lp"), "payload": "line", "topic_pattern": ""},
        ],
        rollups={"refresh_interval_s": 0},
    )
    deadline = time.monotonic() + 30
    while not all(r.source.connected for r in client.app.state.gridpulse_sources[1].values()):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the sources did not connect"
        time.sleep(0.05)
    pub = _publisher(1883)
    try:
        for h in range(10):
            body = {"ts": (START + timedelta(hours=h)).isoformat(), "value": 1.5 + h}
            _publish(pub, f"{prefix}/json/m-7/kwh", orjson.dumps(body))
        _publish(pub, f"{prefix}/json/m-7/kwh", b"{not json")
        _publish(pub, f"{prefix}/json/m-7/kwh", orjson.dumps({"ts": "yesterday", "value": 1}))
        ts_ns = int(START.timestamp() * 1e9)
        _publish(pub, f"{prefix}/lp/x", f"telemetry,device_id=inv-1 power_kw=3.5 {ts_ns}\ntelemetry,device_id=inv-1 power_kw=4.5 {ts_ns + 3_600_000_000_000}".encode())
    finally:
        pub.loop_stop()
        pub.disconnect()
    assert _wait_points(client, "m-7", "kwh", 10) == [1.5 + h for h in range(10)]
    assert len(_wait_points(client, "inv-1", "power_kw", 2)) == 2
    # each run (scheduled, or asked for by hand) reports what arrived since the one before
    deadline = time.monotonic() + 30
    seen: dict[str, int] = {"rows": 0, "rejects": 0}
    while (seen["rows"] < 10 or seen["rejects"] < 2) and time.monotonic() < deadline:
        run = _run_now(client, "source:fleet")
        assert run["status"] in ("ok", "partial")
        runs = client.get("/api/v1/jobs/runs", params={"job": "source:fleet"}).json()["runs"]
        seen = {k: sum(r[k] or 0 for r in runs) for k in seen}
        time.sleep(0.1)
    assert seen == {"rows": 10, "rejects": 2}
    sources = {s["name"]: s for s in client.get("/api/v1/sources").json()["sources"]}
    assert sources["fleet"]["keys"][0]["key"] == "meter:m-7/kwh"
    assert sources["fleet"]["keys"][0]["watermark"] == (START + timedelta(hours=9)).isoformat()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None:
        skip_or_fail("mosquitto binary not found (make test installs Debian's mosquitto)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([str(binary), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        deadline = time.monotonic() + 10
        while not _port_open(port):
            assert proc.poll() is None and time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)
        return proc

    start.port = port  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def test_the_subscriber_reconnects_after_a_broker_restart(
    make_client: Callable[..., TestClient], own_broker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    port = own_broker.port  # type: ignore[attr-defined]
    broker = own_broker()
    prefix = "plant"
    client = make_client(sources=[_mqtt_source("fleet", port, prefix)], rollups={"refresh_interval_s": 0})
    runner = client.app.state.gridpulse_sources[1]["source:fleet"]  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while not runner.source.connected:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pub = _publisher(port)
    for h in range(5):
        _publish(pub, f"{prefix}/m-1/kwh", orjson.dumps({"ts": (START + timedelta(hours=h)).isoformat(), "value": h}))
    _wait_points(client, "m-1", "kwh", 5)
    pub.loop_stop()
    pub.disconnect()

    broker.terminate()
    broker.wait(timeout=10)
    deadline = time.monotonic() + 30
    while runner.source.connected:
        assert time.monotonic() < deadline, "the client did not notice the broker went away"
        time.sleep(0.05)
    down = _run_now(client, "source:fleet")
    assert down["detail"]["connected"] is False

    own_broker()
    deadline = time.monotonic() + 30
    while not runner.source.connected:
        assert time.monotonic() < deadline, "the client did not reconnect to the restarted broker"
        time.sleep(0.05)
    time.sleep(0.2)  # the SUBACK of the new session
    pub = _publisher(port)
    for h in range(5, 10):
        _publish(pub, f"{prefix}/m-1/kwh", orjson.dumps({"ts": (START + timedelta(hours=h)).isoformat(), "value": h}))
    pub.loop_stop()
    pub.disconnect()
    assert _wait_points(client, "m-1", "kwh", 10) == [float(h) for h in range(10)]
    run = _run_now(client, "source:fleet")
    assert run["detail"]["connects"] >= 2 and run["detail"]["disconnects"] >= 1


def test_messages_published_while_gridpulse_is_away_arrive_when_it_is_back(
    make_client: Callable[..., TestClient], own_broker: Callable[[], subprocess.Popen[bytes]], settings: Any
) -> None:
    from gridpulse.ingest.writer import Writer
    from gridpulse.sources import SourceContext, build_source, parse_sources
    from gridpulse.store import open_store

    port = own_broker.port  # type: ignore[attr-defined]
    own_broker()
    table = _mqtt_source("fleet", port, "away")  # one fixed client id: the broker keeps its session
    (spec,) = parse_sources([table])
    store = open_store(f"duckdb:///{settings.data_dir / 'away.duckdb'}")
    writer = Writer(store).start()
    try:
        first = build_source(spec)
        first.start(SourceContext(store, writer, settings))
        deadline = time.monotonic() + 30
        while not first.connected:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.2)  # subscribed
        first.close()  # gridpulse goes away; its session (and subscription) stays with the broker

        pub = _publisher(port)
        for h in range(4):
            _publish(pub, "away/m-9/kwh", orjson.dumps({"ts": (START + timedelta(hours=h)).isoformat(), "value": h}))
        pub.loop_stop()
        pub.disconnect()
        assert store.stats()["points"] == 0

        second = build_source(spec)
        second.start(SourceContext(store, writer, settings))
        try:
            deadline = time.monotonic() + 30
            while store.stats()["points"] < 4:
                assert time.monotonic() < deadline, "the queued messages were not delivered on reconnect"
                time.sleep(0.05)
        finally:
            second.close()
        assert store.stats()["points"] == 4
    finally:
        writer.stop()
        store.close()
