"""The producers: concurrent writers sending prepared bodies over raw TCP or HTTP POST.

Bodies are cut before the clock starts, so the clients do as little as a real agent would
(Telegraf, a head-end exporter): write bytes and, over HTTP, wait for each answer in turn.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import orjson

__all__ = ["QueryClient", "http_post_streams", "tcp_send_streams"]


def _run_threads(targets: Sequence[threading.Thread]) -> None:
    for t in targets:
        t.start()
    for t in targets:
        t.join()


def tcp_send_streams(host: str, port: int, streams: Sequence[Sequence[bytes]]) -> None:
    """One TCP connection per stream, all at once; each sends its bodies and closes.

    Raises:
        RuntimeError: a connection failed (the first error is raised).
    """
    errors: list[BaseException] = []

    def send(bodies: Sequence[bytes]) -> None:
        try:
            with socket.create_connection((host, port), timeout=600) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
                for body in bodies:
                    s.sendall(body)
                # no acknowledgements in this protocol: the clock stops when the rows are queryable
                s.shutdown(socket.SHUT_WR)
        except BaseException as exc:
            errors.append(exc)

    _run_threads([threading.Thread(target=send, args=(b,)) for b in streams])
    if errors:
        raise RuntimeError(f"line protocol over TCP failed: {errors[0]!r}")


def http_post_streams(
    url: str, streams: Sequence[Sequence[bytes]], *, headers: dict[str, str] | None = None
) -> None:
    """One HTTP client per stream, all at once; each POSTs its bodies one after the other.

    Raises:
        RuntimeError: a request failed or answered other than 2xx (the first error is raised).
    """
    errors: list[BaseException] = []

    def post(bodies: Sequence[bytes]) -> None:
        try:
            with httpx.Client(timeout=600, headers=headers or {}) as client:
                for body in bodies:
                    r = client.post(url, content=body)
                    if r.status_code // 100 != 2:
                        raise RuntimeError(f"{url}: HTTP {r.status_code}: {r.text[:300]}")
        except BaseException as exc:
            errors.append(exc)

    _run_threads([threading.Thread(target=post, args=(b,)) for b in streams])
    if errors:
        raise RuntimeError(str(errors[0]))


class QueryClient:
    """GET requests on one keep-alive connection with the standard library's http.client: what
    every HTTP engine of the query benchmark is asked with, so they pay the same client.

    httpx added 0.75 ms per request and about 2.3 ms per MB of answer on this machine
    (GET /healthz 1.40 vs 0.65 ms; a 1.8 MB Arrow answer 16.1 vs 11.9 ms): the client's cost,
    not the server's, and it hid what the servers differ by.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        url = urlsplit(base_url)
        self.host, self.port, self.timeout = url.hostname or "127.0.0.1", url.port or 80, timeout
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str, params: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """(status, body) of GET path?params; one reconnect if the server closed the connection."""
        target = f"{path}?{urlencode(params)}" if params else path
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request("GET", target)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get_ok(self, path: str, params: Mapping[str, str] | None = None) -> bytes:
        """The body of a 200 answer.

        Raises:
            RuntimeError: any other status (the start of the body says why).
        """
        status, body = self.get(path, params)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}: {body[:300].decode(errors='replace')}")
        return body

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The parsed JSON of a 200 answer (RuntimeError otherwise)."""
        return orjson.loads(self.get_ok(path, params))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
