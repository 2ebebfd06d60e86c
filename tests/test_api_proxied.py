"""Without tokens gridpulse answers this machine only, also behind a reverse proxy on it: a real
server, requests carrying the headers a proxy such as Caddy adds (uvicorn takes the client from
X-Forwarded-For when the peer is 127.0.0.1, as a proxy on this machine is)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import start_server


def test_a_forwarded_request_from_elsewhere_is_refused_without_tokens(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data")
    try:
        direct = httpx.get(srv.url + "/api/v1/series")
        assert direct.status_code == 200
        local = httpx.get(srv.url + "/api/v1/series", headers={"X-Forwarded-For": "127.0.0.1"})
        assert local.status_code == 200  # a proxy on this machine, the client on it too
        far = httpx.get(srv.url + "/api/v1/series", headers={"X-Forwarded-For": "203.0.113.7"})
        assert far.status_code == 403
        assert "203.0.113.7" in far.json()["error"] and "[auth] tokens" in far.json()["error"]
        assert far.headers["x-request-id"]  # the observing middleware saw it too
        posted = httpx.post(
            srv.url + "/write?precision=s",
            content=b"meter_usage,meter_id=m-1 kwh=1.5 1700000000\n",
            headers={"Forwarded": "for=198.51.100.4", "X-Forwarded-For": "198.51.100.4"},
        )
        assert posted.status_code == 403
        assert httpx.get(srv.url + "/api/v1/status").json()["points"] == 0  # nothing of it stored
    finally:
        srv.stop()


def test_with_tokens_a_forwarded_request_needs_one_like_any_other(tmp_path: Path) -> None:
    config = tmp_path / "gridpulse.toml"
    config.write_text('[auth]\ntokens = { "s3cret-read" = "read" }\n')
    srv = start_server(tmp_path / "data", "--config", str(config))
    try:
        far = {"X-Forwarded-For": "203.0.113.7"}
        assert httpx.get(srv.url + "/api/v1/series", headers=far).status_code == 401
        ok = httpx.get(srv.url + "/api/v1/series", headers={**far, "Authorization": "Bearer s3cret-read"})
        assert ok.status_code == 200
    finally:
        srv.stop()
