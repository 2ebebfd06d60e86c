"""Alert routes follow the token scopes of the other routes: reads need `read`, changes `write`."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

TOKENS = {"rw": "read,write", "ro": "read", "mu": "write:meter_usage"}
LOW = {"name": "low-soc", "metric": "StateOfChargePercentage", "op": "<", "threshold": 20}


def test_alert_routes_need_read_or_write_scopes(make_client: Callable[..., TestClient]) -> None:
    client = make_client(auth={"tokens": TOKENS})
    reads = ["/api/v1/alerts", "/api/v1/alerts/rules", "/api/v1/alerts/silences"]
    for path in reads:
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer mu"}).status_code == 403
        assert client.get(path, headers={"Authorization": "Bearer ro"}).status_code == 200
    silence = {"rule": "low-soc", "duration": "1h"}
    for path, body in (("/api/v1/alerts/rules", LOW), ("/api/v1/alerts/silences", silence)):
        r = client.post(path, json=body, headers={"Authorization": "Bearer ro"})
        assert (r.status_code, r.json()["error"]) == (
            403,
            "the bearer token lacks the scope 'write' this route needs",
        )
        assert client.post(path, json=body, headers={"Authorization": "Bearer rw"}).status_code == 201
    assert (
        client.delete("/api/v1/alerts/rules/low-soc", headers={"Authorization": "Bearer ro"}).status_code
        == 403
    )
    assert client.post("/api/v1/alerts/1/ack", headers={"Authorization": "Bearer ro"}).status_code == 403
    assert (
        client.delete("/api/v1/alerts/rules/low-soc", headers={"Authorization": "Bearer rw"}).status_code
        == 200
    )
