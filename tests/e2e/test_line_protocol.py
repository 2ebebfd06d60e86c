"""Line protocol end to end with real clients: QuestDB's Sender (TCP and HTTP), influxdb-client v2,
curl to /write; bad lines over TCP skipped with the connection up; retries create no duplicates."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, skip_or_fail, start_server

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def ilp_address(srv: LiveServer) -> tuple[str, int]:
    host, port = json.loads((srv.data_dir / "server.json").read_text())["ilp"].rsplit(":", 1)
    return host, int(port)


def points(srv: LiveServer, entity: str, metric: str | None = None) -> list[tuple[str, float]]:
    params = {"entity": entity, **({"metric": metric} if metric else {})}
    r = httpx.get(srv.url + "/api/v1/readings", params=params)
    if r.status_code == 404:
        return []
    r.raise_for_status()
    return [(p["ts"], p["value"]) for p in r.json()["points"]]


def wait_for(srv: LiveServer, entity: str, n: int, metric: str | None = None, timeout: float = 10) -> list[tuple[str, float]]:
    """TCP line protocol has no acknowledgement: poll until the rows are queryable."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = points(srv, entity, metric)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{entity}: expected {n} points, have {points(srv, entity, metric)}")


def status(srv: LiveServer) -> dict:  # type: ignore[type-arg]
    return httpx.get(srv.url + "/api/v1/status").json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("ilp") / "data")
    yield srv
    srv.stop()


def test_questdb_sender_over_tcp_is_read_back_exactly(server: LiveServer) -> None:
    from questdb import Sender

    host, port = ilp_address(server)
    with Sender.from_conf(f"tcp::addr={host}:{port};") as sender:
        for i in range(96):
            sender.row("meter_usage", symbols={"meter_id": "q-tcp"}, columns={"kwh": i / 8},
                       at=T0 + timedelta(minutes=15 * i))
        sender.flush()
    got = wait_for(server, "q-tcp", 96)
    assert got[0] == ("2024-01-01T00:00:00+00:00", 0.0)
    assert got[-1] == ("2024-01-01T23:45:00+00:00", 95 / 8)
    # the same series as the NDJSON route's rows
    series = httpx.get(server.url + "/api/v1/series", params={"entity": "q-tcp"}).json()["series"]
    assert [(s["entity_kind"], s["metric"], s["unit"]) for s in series] == [("meter", "kwh", "kWh")]


def test_questdb_sender_over_http_is_read_back_exactly(server: LiveServer) -> None:
    from questdb import Sender

    with Sender.from_conf(f"http::addr={server.url.removeprefix('http://')};") as sender:
        sender.row("generation_output", symbols={"plant_id": "q-http"}, columns={"mw": 10.0, "units": 3, "on": True},
                   at=T0)
        sender.row("generation_output", symbols={"plant_id": "q-http"}, columns={"mw": 9.5, "units": 3, "on": False},
                   at=T0 + timedelta(minutes=15))
        sender.flush()
    assert points(server, "q-http", "mw") == [("2024-01-01T00:00:00+00:00", 10.0), ("2024-01-01T00:15:00+00:00", 9.5)]
    assert [v for _, v in points(server, "q-http", "units")] == [3.0, 3.0]
    assert [v for _, v in points(server, "q-http", "on")] == [1.0, 0.0]


def test_influxdb_client_v2_write_api_is_read_back_exactly(server: LiveServer) -> None:
    from influxdb_client import InfluxDBClient, Point, WritePrecision
    from influxdb_client.client.write_api import SYNCHRONOUS

    with InfluxDBClient(url=server.url, token="unused", org="utility") as client:
        api = client.write_api(write_options=SYNCHRONOUS)
        api.write(bucket="grid", record=[
            Point("telemetry").tag("device_id", "b-9").tag("metric_name", "StateOfChargePercentage")
            .field("value", 19.5).time(T0, WritePrecision.MS),
            Point("weather").tag("station", "ams").field("temp_c", -1.25).time(T0, WritePrecision.S),
        ])
    assert points(server, "b-9") == [("2024-01-01T00:00:00+00:00", 19.5)]
    (s,) = httpx.get(server.url + "/api/v1/series", params={"entity": "b-9"}).json()["series"]
    assert (s["entity_kind"], s["metric"], s["unit"]) == ("device", "StateOfChargePercentage", "%")
    assert points(server, "weather:station=ams") == [("2024-01-01T00:00:00+00:00", -1.25)]


def test_curl_data_binary_file_to_write(server: LiveServer, tmp_path: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        skip_or_fail("curl is not installed")
    body = tmp_path / "lines.lp"
    body.write_text(
        "# exported from the SCADA historian\n"
        "feeder_head,feeder_id=f-1 kwh=120.5 1704067200\n"
        "\n"
        "feeder_head,feeder_id=f-1 kwh=118.25 1704068100\n"
    )
    out = subprocess.run(
        [curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", f"@{body}",
         f"{server.url}/write?db=grid&precision=s"],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout == "204"
    assert points(server, "feeder_head:feeder_id=f-1") == [
        ("2024-01-01T00:00:00+00:00", 120.5), ("2024-01-01T00:15:00+00:00", 118.25)]


def test_bad_line_over_tcp_is_skipped_and_the_connection_stays_up(server: LiveServer) -> None:
    host, port = ilp_address(server)
    before = status(server)["line_protocol_tcp"]["rejected_lines"]
    with socket.create_connection((host, port)) as sock:
        sock.sendall(b"meter_usage,meter_id=tcp-bad kwh=1 1704067200000000000\n")
        sock.sendall(b"meter_usage,meter_id=tcp-bad kwh=oops 1704068100000000000\n")
        time.sleep(0.2)
        sock.sendall(b"meter_usage,meter_id=tcp-bad kwh=3 1704069000000000000\n")
    got = wait_for(server, "tcp-bad", 2)
    assert [v for _, v in got] == [1.0, 3.0]
    assert status(server)["line_protocol_tcp"]["rejected_lines"] == before + 1


def test_retried_batch_after_a_broken_connection_creates_no_duplicates(server: LiveServer) -> None:
    host, port = ilp_address(server)
    lines = [f"meter_usage,meter_id=retry kwh={i}.5 {(1704067200 + 900 * i) * 10**9}\n".encode() for i in range(50)]
    truncated = status(server)["line_protocol_tcp"]["truncated_lines"]
    with socket.create_connection((host, port)) as sock:
        # the connection breaks mid-line: "kwh=30" is a valid line by itself, cut from "kwh=30.5 <ts>"
        sock.sendall(b"".join(lines[:30]) + lines[30][: lines[30].index(b".")])
    wait_for(server, "retry", 30)
    time.sleep(0.3)
    assert len(points(server, "retry")) == 30  # the cut line was not stored with the server's time
    assert status(server)["line_protocol_tcp"]["truncated_lines"] == truncated + 1
    with socket.create_connection((host, port)) as sock:  # at-least-once: the producer resends all
        sock.sendall(b"".join(lines))
    got = wait_for(server, "retry", 50)
    time.sleep(0.3)
    got = points(server, "retry")
    assert len(got) == 50
    assert got[30] == ("2024-01-01T07:30:00+00:00", 30.5)


def test_http_write_rejects_the_whole_request_naming_the_line(server: LiveServer) -> None:
    body = b"m,site=a x=1 1704067200\nm,site=a x=tru 1704067260\n"
    r = httpx.post(server.url + "/write", params={"precision": "s"}, content=body)
    assert r.status_code == 400
    assert r.json()["error"].startswith("unable to parse line 2: invalid field value 'tru'")
    r2 = httpx.post(server.url + "/api/v2/write", params={"precision": "s", "bucket": "b"}, content=body)
    assert r2.status_code == 400
    assert r2.json()["code"] == "invalid" and "line 2" in r2.json()["message"]
    assert points(server, "m:site=a") == []


def test_gzipped_body_and_precisions(server: LiveServer) -> None:
    body = gzip.compress(b"gz,site=a x=1 1704067200000\n")
    r = httpx.post(server.url + "/api/v2/write", params={"precision": "ms"}, content=body,
                   headers={"Content-Encoding": "gzip"})
    assert r.status_code == 204, r.text
    assert points(server, "gz:site=a") == [("2024-01-01T00:00:00+00:00", 1.0)]
    r = httpx.post(server.url + "/write", params={"precision": "fortnight"}, content=b"gz,site=a x=1 1\n")
    assert r.status_code == 400 and "precision" in r.json()["error"]


def test_tokens_in_every_influx_spelling(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", env={"GRIDPULSE_AUTH_TOKENS": "w-tok=write;r-tok=read"})
    try:
        line = b"auth_m x=1 1704067200\n"
        url = srv.url + "/write?precision=s"
        assert httpx.post(url, content=line).status_code == 401
        assert httpx.post(url, content=line, headers={"Authorization": "Token nope"}).status_code == 401
        assert httpx.post(url, content=line, headers={"Authorization": "Token r-tok"}).status_code == 403
        assert httpx.post(url, content=line, headers={"Authorization": "Token w-tok"}).status_code == 204
        assert httpx.post(url, content=line, headers={"Authorization": "Bearer w-tok"}).status_code == 204
        basic = base64.b64encode(b"meter-gw:w-tok").decode()
        assert httpx.post(url, content=line, headers={"Authorization": f"Basic {basic}"}).status_code == 204
        assert httpx.post(url + "&u=meter-gw&p=w-tok", content=line).status_code == 204
        r = httpx.post(srv.url + "/api/v2/write?precision=s", content=line)
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
    finally:
        srv.stop()
