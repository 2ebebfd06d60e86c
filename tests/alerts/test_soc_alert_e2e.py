"""The low state-of-charge alert of the battery seed (SoC < 20 %), end to end on a live server:
through every ingest route to a real webhook receiver, fired as the rows commit."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.alerts.receiver import Receiver, firing, resolved
from tests.conftest import LiveServer, start_server

SOC = "StateOfChargePercentage"
T0 = 1767225600  # 2026-01-01T00:00:00Z [s]


def _iso(t: int) -> str:
    return datetime.fromtimestamp(T0 + t, UTC).isoformat()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[LiveServer]:
    rules = [
        {"name": "low-soc", "metric": SOC, "op": "<", "threshold": 20, "notify": [f"webhook:{receiver.url}"]}
    ]
    srv = start_server(
        tmp_path_factory.mktemp("alerts") / "data", env={"GRIDPULSE_ALERTS_RULES": json.dumps(rules)}
    )
    yield srv
    srv.stop()


def _ndjson(device: str, rows: list[tuple[int, float]]) -> bytes:
    return b"".join(
        json.dumps({"recorded_at": _iso(t), "device_id": device, "metric_name": SOC, "value": v}).encode()
        + b"\n"
        for t, v in rows
    )


def _ilp(device: str, rows: list[tuple[int, float]]) -> bytes:
    return b"".join(f"telemetry,device_id={device} {SOC}={v} {(T0 + t) * 10**9}\n".encode() for t, v in rows)


def _json_array(device: str, rows: list[tuple[int, float]]) -> bytes:
    return json.dumps(
        [{"recorded_at": _iso(t), "device_id": device, "metric_name": SOC, "value": v} for t, v in rows]
    ).encode()


def _send(server: LiveServer, route: str, device: str, rows: list[tuple[int, float]]) -> None:
    if route == "ndjson":
        resp = httpx.post(server.url + "/ingest/telemetry/ndjson", content=_ndjson(device, rows))
    elif route == "json":
        resp = httpx.post(server.url + "/ingest/telemetry", content=_json_array(device, rows))
    elif route == "ilp-http":
        resp = httpx.post(
            server.url + "/api/v2/write", content=_ilp(device, rows), params={"precision": "ns"}
        )
    else:
        host, port = json.loads((server.data_dir / "server.json").read_text())["ilp"].rsplit(":", 1)
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(_ilp(device, rows))
        return
    assert resp.status_code in (200, 204), resp.text


def _name(device: str) -> str:
    return f"device:{device}/{SOC}"


@pytest.mark.parametrize("route", ["ndjson", "json", "ilp-http", "ilp-tcp"])
def test_low_soc_fires_and_resolves_through_every_ingest_route(
    server: LiveServer, receiver: Receiver, route: str
) -> None:
    device = f"bat-{route}"
    _send(server, route, device, [(0, 55.0), (60, 35.0)])
    _send(server, route, device, [(120, 18.5)])
    (fired,) = receiver.wait_for(firing(_name(device)))
    assert fired["rule"] == "low-soc"
    assert fired["value"] == 18.5
    assert fired["value_ts"] == "2026-01-01T00:02:00+00:00"
    _send(server, route, device, [(180, 42.0)])
    (done,) = receiver.wait_for(resolved(_name(device)))
    assert done["alert_id"] == fired["alert_id"]
    alert = httpx.get(f"{server.url}/api/v1/alerts/{fired['alert_id']}").json()
    assert alert["state"] == "resolved"
    assert [e["event"] for e in alert["history"]][:1] == ["fired"]
    assert alert["notifications_sent"] >= 1


def test_readings_above_the_threshold_raise_nothing(server: LiveServer, receiver: Receiver) -> None:
    _send(server, "ndjson", "bat-ok", [(0, 80.0), (60, 20.0), (120, 21.0)])
    _send(server, "ndjson", "bat-trigger", [(0, 5.0)])  # a later alert proves the earlier rows were evaluated
    receiver.wait_for(firing(_name("bat-trigger")))
    assert not receiver.matching(lambda b: _name("bat-ok") in b["series"])


def test_identical_resend_of_a_low_reading_does_not_fire_again(
    server: LiveServer, receiver: Receiver
) -> None:
    device = "bat-resend"
    _send(server, "ndjson", device, [(0, 10.0)])
    receiver.wait_for(firing(_name(device)))
    _send(server, "ndjson", device, [(60, 50.0)])
    receiver.wait_for(resolved(_name(device)))
    _send(server, "ndjson", device, [(0, 10.0)])  # the same row again: stored as unchanged
    _send(server, "ndjson", "bat-resend-marker", [(0, 1.0)])
    receiver.wait_for(firing(_name("bat-resend-marker")))
    assert len(receiver.matching(firing(_name(device)))) == 1
    alerts = httpx.get(server.url + "/api/v1/alerts", params={"rule": "low-soc", "limit": 1000}).json()[
        "alerts"
    ]
    assert len([a for a in alerts if _name(device) in a["series"]]) == 1


def test_rule_made_through_the_api_fires_for_its_metric(
    server: LiveServer, receiver: Receiver, tmp_path: Path
) -> None:
    rule = {
        "name": "hot-cell",
        "metric": "temperature_c",
        "op": ">",
        "threshold": 45,
        "notify": [f"webhook:{receiver.url}"],
    }
    resp = httpx.post(server.url + "/api/v1/alerts/rules", json=rule)
    assert resp.status_code == 201, resp.text
    rows = [{"recorded_at": _iso(0), "device_id": "cell-1", "metric_name": "temperature_c", "value": 51.5}]
    assert httpx.post(server.url + "/ingest/telemetry", json=rows).status_code == 200
    (body,) = receiver.wait_for(lambda b: b["rule"] == "hot-cell")
    assert body["series"] == ["device:cell-1/temperature_c"]
    names = [r["name"] for r in httpx.get(server.url + "/api/v1/alerts/rules").json()["rules"]]
    assert names == ["hot-cell", "low-soc"]
    assert httpx.delete(server.url + "/api/v1/alerts/rules/low-soc").status_code == 400  # from the config
    assert httpx.delete(server.url + "/api/v1/alerts/rules/hot-cell").status_code == 200
