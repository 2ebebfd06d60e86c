"""A real HTTP server on loopback that behaves like an Eniscope-style vendor API, for the tests.

GET /organizations, /devices?organization=, /channels?organization=, /readings/{channel}?
fields[]=..&daterange[]=from&daterange[]=to&res=3600, each paginated with page/limit. It checks
the token, can answer 429 with Retry-After, 500, or slowly, and holds hourly readings that a
test may revise between runs. Every request is logged for the assertions.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "s3cret-vendor-token"


@dataclass
class VendorState:
    """What the fake vendor holds and how it misbehaves."""

    start: datetime
    hours: int
    channels: dict[str, str] = field(default_factory=lambda: {"c1": "d1", "c2": "d1", "c3": "d2"})
    revised: dict[tuple[str, int], float] = field(default_factory=dict)
    #: path prefix -> answers still to fail with (status, retry_after or None)
    failures: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)
    #: channel ids that always answer 500
    broken: set[str] = field(default_factory=set)
    slow_s: float = 0.0
    #: the next requests sleep this long each before answering (one entry per request)
    stalls: list[float] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def value(self, channel: str, hour: int) -> float:
        """Energy of the hour in Wh (the poller stores kWh)."""
        return self.revised.get((channel, hour), 1000.0 + 10 * hour + int(channel[1:]))


def _page(items: list[Any], query: dict[str, list[str]]) -> list[Any]:
    page = int(query.get("page", ["1"])[0])
    limit = int(query.get("limit", ["100"])[0])
    return items[(page - 1) * limit : page * limit]


def make_handler(state: VendorState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            with state.lock:
                state.requests.append(self.path)
                fail = None
                for prefix, queue in state.failures.items():
                    if url.path.startswith(prefix) and queue:
                        fail = queue.pop(0)
                        break
                stall = state.stalls.pop(0) if state.stalls and fail is None else 0.0
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"error": "bad token"})
                return
            if fail is not None:
                status, retry_after = fail
                self._send(status, {"error": "try later"}, {"Retry-After": retry_after} if retry_after else None)
                return
            if state.slow_s or stall:
                time.sleep(state.slow_s + stall)
            if url.path == "/organizations":
                self._send(200, {"organizations": _page([{"organizationId": "o1", "organizationName": "Argo"}], query)})
            elif url.path == "/devices":
                devices = [{"deviceId": d, "deviceName": f"Meter {d}", "deviceTypeName": "Eniscope 8"} for d in ("d1", "d2")]
                self._send(200, {"devices": _page(devices, query)})
            elif url.path == "/channels":
                chans = [
                    {"channelId": c, "channelName": f"Channel {c}", "deviceId": d, "tariffId": "t1"}
                    for c, d in sorted(state.channels.items())
                ]
                self._send(200, {"channels": _page(chans, query)})
            elif url.path.startswith("/readings/"):
                channel = url.path.rsplit("/", 1)[1]
                if channel in state.broken:
                    self._send(500, {"error": "channel backend down"})
                    return
                lo, hi = (int(v) for v in query["daterange[]"])
                fields = query.get("fields[]", [])
                rows = []
                for h in range(state.hours):
                    ts = state.start + timedelta(hours=h)
                    if lo <= ts.timestamp() < hi:
                        row: dict[str, Any] = {"ts": int(ts.timestamp())}
                        if "E" in fields:
                            row["E"] = state.value(channel, h)
                        if "P" in fields:
                            row["P"] = 2000.0
                        rows.append(row)
                self._send(200, {"records": _page(rows, query)})
            else:
                self._send(404, {"error": "no such path"})

    return Handler


class VendorServer:
    """The fake vendor on a free loopback port, served from a thread."""

    def __init__(self, state: VendorState) -> None:
        self.state = state
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> VendorServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def hour_start(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0)
