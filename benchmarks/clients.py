"""The producers: concurrent writers sending prepared bodies over raw TCP or HTTP POST.

Bodies are cut before the clock starts, so the clients do as little as a real agent would
(Telegraf, a head-end exporter): write bytes and, over HTTP, wait for each answer in turn.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence

import httpx

__all__ = ["http_post_streams", "tcp_send_streams"]


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
