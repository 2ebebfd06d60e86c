"""A real HTTP webhook receiver on loopback, run by the tests: it keeps every JSON body it gets
(with the monotonic time of receipt) and can answer 503 to the first N posts (of one status
only, with `fail_status`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, *, fail_first: int = 0, fail_status: str | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.received_at: list[float] = []
        self.posts = 0
        self.fail_first = fail_first
        self.fail_status = fail_status
        self._failed = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                at = time.monotonic()
                body = json.loads(raw)
                with outer._lock:
                    outer.posts += 1
                    failing = outer._failed < outer.fail_first and outer.fail_status in (None, body["status"])
                    outer._failed += failing
                    if not failing:
                        outer.bodies.append(body)
                        outer.received_at.append(at)
                self.send_response(503 if failing else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def matching(self, pred: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._lock:
            return [b for b in self.bodies if pred(b)]

    def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], count: int = 1, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        """The bodies matching `pred` once there are `count` of them; fails after `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(pred)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(
            f"{count} matching webhook bodies not received in {timeout} s; got {self.bodies}"
        )


def firing(series: str) -> Callable[[dict[str, Any]], bool]:
    return lambda b: b["status"] == "firing" and series in b["series"]


def resolved(series: str) -> Callable[[dict[str, Any]], bool]:
    return lambda b: b["status"] == "resolved" and series in b["series"]
