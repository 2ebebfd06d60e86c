"""A request body far larger than the memory bound streams through the server within that bound.

The body is generated chunk by chunk while it is sent (the test never holds it), the server's RSS
is polled the whole time, and the bound is asserted on the peak minus the RSS before the upload.

Settings below: batch 10 000 rows, spill at 8 MiB, DuckDB capped at 32 MB and at most 200 000 rows
per transaction (DuckDB holds a transaction's rows in memory until it commits, so a very large request
commits in steps once it is fully validated). Measured on a 2-core machine, RSS growth stays in the
tens of MiB while the body streams in and through the commit. The bound is 64 MiB, under a third of
either body (305 MiB NDJSON, 242 MiB JSON array), so a server that held the body, or its parsed rows,
in memory would fail. Each upload takes about 15 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import start_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MiB = 1024**2
BOUND = 64 * MiB
# DuckDB keeps a transaction's rows in memory and caches pages up to its memory limit: both are
# bounded here, as an operator bounds them on a small machine
SETTINGS = {
    "GRIDPULSE_INGEST_BATCH_ROWS": "10000",
    "GRIDPULSE_INGEST_SPILL_BYTES": str(8 * MiB),
    "GRIDPULSE_STORE_MEMORY_LIMIT": "32MB",
    "GRIDPULSE_STORE_MAX_TRANSACTION_ROWS": "200000",
}
ROWS_PER_CHUNK = 20_000
T0 = datetime(2020, 1, 1, tzinfo=UTC)



@dataclass
class Upload:
    """What one big request did to the server."""

    body_bytes: int
    rows: int
    status_code: int
    report: dict[str, Any]
    rss_before: int
    peak_while_streaming: int  # RSS peak until the last byte was handed to the socket
    peak_whole_request: int  # RSS peak until the response arrived (parse, spill and commit)
    stored_points: int
    seconds: float

    def growth(self, peak: int) -> str:
        return f"+{(peak - self.rss_before) / MiB:.0f} MiB for a {self.body_bytes / MiB:.0f} MiB body"


def meter_template() -> bytes:
    """NDJSON of ROWS_PER_CHUNK quarter-hours of meter XXXXX (the chunk number is put in per chunk)."""
    return b"".join(
        b'{"ts":"%s","meter_id":"m-XXXXX","kwh":%.2f}\n'
        % ((T0 + timedelta(minutes=15 * i)).strftime("%Y-%m-%dT%H:%M:%SZ").encode(), (i % 1000) / 100)
        for i in range(ROWS_PER_CHUNK)
    )


def telemetry_template() -> bytes:
    """JSON-array elements (no brackets) of ROWS_PER_CHUNK telemetry rows of device ...XXXXX."""
    return b",\n".join(
        b'{"recorded_at":"%s","device_id":"5f0c6a2e-8d3b-4c1a-9e7f-XXXXX0000000",'
        b'"metric_name":"StateOfChargePercentage","value":%.1f}'
        % ((T0 + timedelta(minutes=15 * i)).strftime("%Y-%m-%dT%H:%M:%SZ").encode(), (i % 1000) / 10)
        for i in range(ROWS_PER_CHUNK)
    )


class Body:
    """A body of `n_chunks` template chunks, each for its own entity, generated as it is sent."""

    def __init__(self, template: bytes, n_chunks: int, *, json_array: bool) -> None:
        self.template = template
        self.n_chunks = n_chunks
        self.json_array = json_array
        self.sent = 0
        self.done_at: float | None = None

    def chunk(self, k: int) -> bytes:
        return self.template.replace(b"XXXXX", b"%05d" % k)

    def __iter__(self) -> Iterator[bytes]:
        for k in range(self.n_chunks):
            piece = self.chunk(k)
            if self.json_array:
                piece = (b"[" if k == 0 else b",\n") + piece + (b"]" if k == self.n_chunks - 1 else b"")
            self.sent += len(piece)
            yield piece
        self.done_at = time.monotonic()


def upload(tmp_path: Path, route: str, template: bytes, body_mb: int, *, json_array: bool) -> Upload:
    srv = start_server(tmp_path / "data", env=SETTINGS)
    try:
        proc = psutil.Process(srv.proc.pid)
        with httpx.Client(base_url=srv.url, timeout=300) as http:
            # warm up: the first request imports and initialises things once per process; that is
            # not memory the body costs, so it belongs in the baseline
            warm = template.replace(b"XXXXX", b"99999")
            r = http.post(route, content=b"[" + warm + b"]" if json_array else warm)
            assert r.status_code == 200, r.text
            body = Body(template, body_mb * 1_000_000 // len(template), json_array=json_array)
            samples: list[tuple[float, int]] = []
            stop = threading.Event()

            def poll() -> None:
                while not stop.is_set():
                    samples.append((time.monotonic(), proc.memory_info().rss))
                    stop.wait(0.01)

            rss_before = proc.memory_info().rss
            poller = threading.Thread(target=poll, name="rss-poller")
            poller.start()
            started = time.monotonic()
            try:
                r = http.post(route, content=iter(body))
            finally:
                stop.set()
                poller.join()
            seconds = time.monotonic() - started
            report: dict[str, Any] = r.json()
            status = http.get("/api/v1/status").json()
        assert body.done_at is not None
        return Upload(
            body_bytes=body.sent,
            rows=body.n_chunks * ROWS_PER_CHUNK,
            status_code=r.status_code,
            report=report,
            rss_before=rss_before,
            peak_while_streaming=max(rss for t, rss in samples if t <= body.done_at),
            peak_whole_request=max(rss for _, rss in samples),
            stored_points=status["points"] - ROWS_PER_CHUNK,  # minus the warm-up
            seconds=seconds,
        )
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def ndjson_upload(tmp_path_factory: pytest.TempPathFactory) -> Upload:
    return upload(
        tmp_path_factory.mktemp("ndjson"), "/ingest/meter_usage/ndjson", meter_template(), 320, json_array=False
    )


@pytest.fixture(scope="module")
def json_upload(tmp_path_factory: pytest.TempPathFactory) -> Upload:
    return upload(tmp_path_factory.mktemp("json"), "/ingest/telemetry", telemetry_template(), 256, json_array=True)


@pytest.fixture(params=["ndjson", "json"])
def big_upload(request: pytest.FixtureRequest) -> Upload:
    result: Upload = request.getfixturevalue(f"{request.param}_upload")
    return result


def test_big_body_is_stored_completely(big_upload: Upload) -> None:
    assert big_upload.status_code == 200, big_upload.report
    assert big_upload.body_bytes >= 3 * BOUND  # the bound below means something
    assert (big_upload.report["rows"], big_upload.report["points"]) == (big_upload.rows, big_upload.rows)
    assert big_upload.report["inserted"] == big_upload.rows
    assert big_upload.report["rejected_count"] == 0
    assert big_upload.stored_points == big_upload.rows


def test_big_body_streams_through_in_bounded_memory(big_upload: Upload) -> None:
    assert big_upload.body_bytes >= 3 * BOUND
    growth = big_upload.peak_while_streaming - big_upload.rss_before
    assert growth < BOUND, big_upload.growth(big_upload.peak_while_streaming)


def test_big_request_peak_memory_including_commit_is_bounded(big_upload: Upload) -> None:
    assert big_upload.status_code == 200
    growth = big_upload.peak_whole_request - big_upload.rss_before
    assert growth < BOUND, big_upload.growth(big_upload.peak_whole_request)
