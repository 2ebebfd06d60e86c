"""deploy/caddy: Debian's caddy, run with the shipped Caddyfile's proxy snippet and local-testing site
on loopback ports, terminates TLS in front of a live gridpulse server: NDJSON in and readings out over
HTTPS (trusting Caddy's own root CA), plain HTTP redirected or refused."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import LiveServer
from tests.deploy.programs import DEPLOY, free_port, program, running, wait_until

pytestmark = pytest.mark.e2e

CADDYFILE = DEPLOY / "caddy" / "Caddyfile"
UPSTREAM = "127.0.0.1:7001"  # gridpulse's default HTTP port, as the shipped file has it
LOCAL_SITE = "https://localhost:7443"

SEED_ROWS = (
    b'{"ts":"2024-01-01T00:00:00Z","meter_id":"m-1","kwh":1.25}\n'
    b'{"ts":"2024-01-01T00:15:00Z","meter_id":"m-1","kwh":1.10}\n'
)
BIG_ROWS = 30_000  # about 2 MB of NDJSON, sent chunked


def block(text: str, header: str) -> str:
    """The Caddyfile block opened by `header {` at the start of a line, through its closing brace."""
    match = re.search(rf"^{re.escape(header)} \{{$", text, re.M)
    assert match, f"no block {header!r} in {CADDYFILE}"
    depth = 0
    for i in range(match.end() - 1, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[match.start() : i + 1]
    raise AssertionError(f"block {header!r} is not closed")


def caddy_env(home: Path) -> dict[str, str]:
    """Caddy's data (its CA, certificates) and config autosave under `home`, not the user's."""
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }


@dataclass
class Proxy:
    url: str  # https://localhost:<port>
    http_url: str  # plain HTTP, Caddy's redirect listener
    https_port: int
    ca: ssl.SSLContext

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.ca, timeout=120)


@pytest.fixture
def proxy(live_server: LiveServer, tmp_path: Path) -> Iterator[Proxy]:
    binary = program("caddy", "caddy")
    shipped = CADDYFILE.read_text()
    snippet = block(shipped, "(gridpulse)")
    assert snippet.count(UPSTREAM) == 1
    site = block(shipped, LOCAL_SITE)
    http_port, https_port, default_https_port = free_port(), free_port(), free_port()
    # The shipped snippet and local site, verbatim but for the ports. The global options keep Caddy
    # off the real 80/443, without an admin endpoint, and out of the system trust store.
    config = tmp_path / "Caddyfile"
    config.write_text(
        "{\n\tadmin off\n\tskip_install_trust\n"
        f"\thttp_port {http_port}\n\thttps_port {default_https_port}\n}}\n\n"
        + snippet.replace(UPSTREAM, urlsplit(live_server.url).netloc)
        + "\n\n"
        + site.replace(LOCAL_SITE, f"https://localhost:{https_port}", 1)
        + "\n"
    )
    home = tmp_path / "caddy-home"
    root_ca = home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    url = f"https://localhost:{https_port}"
    log = tmp_path / "caddy.log"
    with running(
        [binary, "run", "--config", str(config), "--adapter", "caddyfile"],
        log,
        env=caddy_env(home),
        cwd=tmp_path,
    ) as proc:
        wait_until(root_ca.exists, "Caddy's local root CA", proc=proc, log=log)
        ca = ssl.create_default_context(cafile=str(root_ca))

        def answers() -> bool:
            try:
                return httpx.get(url + "/healthz", verify=ca, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, "gridpulse over HTTPS through caddy", proc=proc, log=log)
        yield Proxy(url, f"http://localhost:{http_port}", https_port, ca)


def test_shipped_caddyfile_is_valid_for_caddy(tmp_path: Path) -> None:
    binary = program("caddy", "caddy")
    done = subprocess.run(
        [binary, "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        env=caddy_env(tmp_path),
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Valid configuration" in done.stdout + done.stderr


def test_shipped_caddyfile_has_a_real_domain_site_and_a_local_tls_internal_one() -> None:
    text = CADDYFILE.read_text()
    local = block(text, LOCAL_SITE)
    assert "tls internal" in local and "import gridpulse" in local
    (domain,) = re.findall(r"^([a-z0-9-]+(?:\.[a-z0-9-]+)+) \{$", text, re.M)
    real = block(text, domain)
    assert "import gridpulse" in real and "tls internal" not in real  # automatic HTTPS


def test_ndjson_rows_go_in_and_come_back_over_https(proxy: Proxy) -> None:
    with proxy.client() as https:
        r = https.post(
            "/ingest/meter_usage/ndjson", content=SEED_ROWS, headers={"content-type": "application/x-ndjson"}
        )
        assert r.status_code == 200, r.text
        assert (r.json()["rows"], r.json()["inserted"]) == (2, 2)
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert "server" not in r.headers  # neither Caddy's nor uvicorn's
        back = https.get("/api/v1/readings", params={"entity": "m-1", "metric": "kwh", "tz": "UTC"})
        assert back.status_code == 200, back.text
        assert [(p["ts"], p["value"]) for p in back.json()["points"]] == [
            ("2024-01-01T00:00:00+00:00", 1.25),
            ("2024-01-01T00:15:00+00:00", 1.10),
        ]


def test_a_large_chunked_ingest_body_and_a_streamed_read_pass_through(proxy: Proxy) -> None:
    def row(i: int) -> tuple[str, float]:
        return (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=15 * i)).isoformat(), i % 7 + 0.5

    def body() -> Iterator[bytes]:
        for start in range(0, BIG_ROWS, 1000):
            yield "".join(
                f'{{"ts":"{ts}","meter_id":"m-2","kwh":{kwh}}}\n'
                for ts, kwh in map(row, range(start, start + 1000))
            ).encode()

    with proxy.client() as https:
        r = https.post(
            "/ingest/meter_usage/ndjson", content=body(), headers={"content-type": "application/x-ndjson"}
        )
        assert r.status_code == 200, r.text[:2000]
        assert (r.json()["rows"], r.json()["inserted"]) == (BIG_ROWS, BIG_ROWS)
        with https.stream(
            "GET", "/api/v1/readings", params={"entity": "m-2", "metric": "kwh", "format": "csv"}
        ) as resp:
            assert resp.status_code == 200
            lines = [line for line in resp.iter_lines() if line]
        assert len(lines) == BIG_ROWS + 1  # the header line
        assert lines[0] == '"ts","value","quality","version"'
        assert [lines[1], lines[-1]] == [
            '"{}",{},0,1'.format(*row(0)),
            '"{}",{},0,1'.format(*row(BIG_ROWS - 1)),
        ]


def test_plain_http_is_redirected_to_https_or_refused_and_stores_nothing(proxy: Proxy) -> None:
    headers = {"content-type": "application/x-ndjson"}
    redirected = httpx.post(
        proxy.http_url + "/ingest/meter_usage/ndjson?on_error=skip",
        content=SEED_ROWS,
        headers=headers,
        follow_redirects=False,
        timeout=30,
    )
    assert redirected.status_code == 308
    assert (
        redirected.headers["location"]
        == f"https://localhost:{proxy.https_port}/ingest/meter_usage/ndjson?on_error=skip"
    )
    try:
        refused = httpx.post(
            f"http://localhost:{proxy.https_port}/ingest/meter_usage/ndjson",
            content=SEED_ROWS,
            headers=headers,
            timeout=30,
        )
        assert refused.status_code == 400, refused.text
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        pass  # closed or reset without an answer (Caddy may reset while the body is still coming): refused too
    with proxy.client() as https:
        assert https.get("/api/v1/series").json()["series"] == []
