"""`server.keep_alive_s`: how long `gridpulse serve` keeps an idle HTTP connection for the next request."""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import start_server


def _get(sock: socket.socket, host: str) -> bytes:
    """One GET /healthz on the socket; the whole response (it has a Content-Length and a short body)."""
    sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += _recv(sock)
    return head


def _recv(sock: socket.socket) -> bytes:
    """The next bytes of a response; a connection closed mid-response fails instead of spinning."""
    chunk = sock.recv(65536)
    assert chunk, "the server closed the connection before the whole response"
    return chunk


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (the socket reads end of file)."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable) and sock.recv(1) == b""


def test_an_idle_connection_stays_open_for_keep_alive_s_then_closes(tmp_path: Path) -> None:
    # 2 s, not uvicorn's 5: the setting is what closes the second connection
    srv = start_server(tmp_path / "data", env={"GRIDPULSE_SERVER_KEEP_ALIVE_S": "2"})
    try:
        url = urlsplit(srv.url)
        assert url.hostname is not None and url.port is not None
        with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
            assert _get(sock, url.netloc).startswith(b"HTTP/1.1 200")
            time.sleep(0.5)
            assert not _closed_by_server(sock)
            assert _get(sock, url.netloc).startswith(b"HTTP/1.1 200")  # the same connection, reused
            time.sleep(3.5)
            assert _closed_by_server(sock)
    finally:
        srv.stop()
