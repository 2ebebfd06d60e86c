"""A 2xx means committed: SIGKILL right after an acknowledgement loses nothing.

Real `gridpulse serve` processes on one data folder: write, kill -9, start again, read back.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, start_server

pytestmark = pytest.mark.e2e

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_out(ts: datetime) -> str:
    """How the API writes an instant in UTC."""
    return ts.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def kill_9(srv: LiveServer) -> None:
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=30)
    assert srv.proc.returncode == -signal.SIGKILL


def raw_points(http: httpx.Client, entity: str, **params: str) -> list[dict[str, Any]]:
    r = http.get("/api/v1/readings", params={"entity": entity, **params})
    assert r.status_code == 200, r.text
    pts: list[dict[str, Any]] = r.json()["points"]
    return pts


def post_ok(http: httpx.Client, path: str, body: bytes) -> dict[str, Any]:
    r = http.post(path, content=body)
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    return report


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def test_kill_9_after_acknowledgement_loses_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = start_server(data_dir)
    meter = [{"ts": iso(T0 + timedelta(minutes=15 * i)), "meter_id": "m-1", "kwh": 0.25 * i} for i in range(96)]
    plant = [{"ts": iso(T0 + timedelta(minutes=15 * i)), "plant_id": "p-1", "mw": 10.0 + i} for i in range(8)]
    telemetry = [
        {"recorded_at": iso(T0 + timedelta(minutes=5 * i)), "device_id": "d-1", "metric_name": "soc_pct",
         "value": 50.0 + i}
        for i in range(12)
    ]
    readings = [
        {"channel_id": "c-1", "timestamp": iso(T0 + timedelta(hours=i)), "energy_kwh": 1.0 + i, "power_kw": 2.0,
         "voltage_v": 230.5, "current_a": 4.0, "power_factor": 0.97, "temperature_c": None}
        for i in range(4)
    ]
    with httpx.Client(base_url=srv.url, timeout=30) as http:
        assert post_ok(http, "/ingest/meter_usage/ndjson", ndjson(meter[:48]))["inserted"] == 48
        assert post_ok(http, "/ingest/meter_usage", json.dumps(meter[48:]).encode())["inserted"] == 48
        assert post_ok(http, "/ingest/generation_output", json.dumps(plant).encode())["inserted"] == 8
        assert post_ok(http, "/ingest/telemetry/ndjson", ndjson(telemetry))["inserted"] == 12
        rep = post_ok(http, "/ingest/readings", json.dumps(readings).encode())
        assert (rep["inserted"], rep["nulls"]) == (24, 4)
        between = datetime.now(UTC)
        time.sleep(0.01)  # the revision's commit time must be after `between` on any clock resolution
        revision = [{"ts": iso(T0 + timedelta(minutes=15 * 10)), "meter_id": "m-1", "kwh": 99.5}]
        rep = post_ok(http, "/ingest/meter_usage/ndjson", ndjson(revision))
        assert (rep["inserted"], rep["revised"], rep["unchanged"]) == (0, 1, 0)
    kill_9(srv)  # straight after the last 200: no shutdown, no checkpoint

    srv2 = start_server(data_dir)
    try:
        with httpx.Client(base_url=srv2.url, timeout=30) as http:
            pts = raw_points(http, "m-1", tz="UTC")
            expected = [
                {"ts": utc_out(T0 + timedelta(minutes=15 * i)), "value": 99.5 if i == 10 else 0.25 * i,
                 "quality": 0, "version": 2 if i == 10 else 1}
                for i in range(96)
            ]
            assert pts == expected
            # the superseded version survived too: reading as known before the revision shows it
            before = raw_points(http, "m-1", tz="UTC", as_of=between.isoformat())
            assert [(p["value"], p["version"]) for p in before if p["ts"] == expected[10]["ts"]] == [(2.5, 1)]
            assert [p["value"] for p in raw_points(http, "p-1")] == [10.0 + i for i in range(8)]
            assert [p["value"] for p in raw_points(http, "d-1")] == [50.0 + i for i in range(12)]
            assert [p["value"] for p in raw_points(http, "c-1", metric="energy_kwh")] == [1.0, 2.0, 3.0, 4.0]
            assert [p["value"] for p in raw_points(http, "c-1", metric="temperature_c")] == [None] * 4
            status = http.get("/api/v1/status").json()
            assert (status["series"], status["points"], status["superseded_versions"]) == (9, 96 + 8 + 12 + 24, 1)
            # and the restarted server keeps writing where the old one stopped
            rep = post_ok(http, "/ingest/meter_usage/ndjson", ndjson(meter[:1] + revision))
            assert (rep["inserted"], rep["revised"], rep["unchanged"], rep["series_created"]) == (0, 0, 2, 0)
    finally:
        srv2.stop()


@dataclass
class Writer:
    """One client thread posting consecutive NDJSON requests for its own meter until told to stop."""

    n: int
    url: str
    rows_per_request: int = 40
    acked: list[int] = field(default_factory=list)
    attempted: list[int] = field(default_factory=list)
    failure: str | None = None

    def rows(self, k: int) -> list[dict[str, Any]]:
        """Request k: its own quarter-hours, value encodes (request, row) so every point is checkable."""
        base = k * self.rows_per_request
        return [
            {"ts": iso(T0 + timedelta(minutes=15 * (base + j))), "meter_id": f"w-{self.n}", "kwh": k + j / 1000}
            for j in range(self.rows_per_request)
        ]

    def run(self, stop: threading.Event) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            k = 0
            while not stop.is_set():
                self.attempted.append(k)
                try:
                    r = http.post("/ingest/meter_usage/ndjson", content=ndjson(self.rows(k)))
                except httpx.HTTPError as exc:  # the server died under us: this request is in doubt
                    self.failure = repr(exc)
                    return
                if r.status_code != 200 or r.json()["inserted"] != self.rows_per_request:
                    self.failure = f"request {k}: {r.status_code} {r.text}"
                    return
                self.acked.append(k)
                k += 1


def test_kill_9_during_concurrent_writes_keeps_every_acknowledged_request_whole(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = start_server(data_dir)
    writers = [Writer(n, srv.url) for n in range(4)]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,), name=f"writer-{w.n}") for w in writers]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while sum(len(w.acked) for w in writers) < 120 and time.monotonic() < deadline:
            assert all(w.failure is None for w in writers), [w.failure for w in writers]
            time.sleep(0.005)
        assert sum(len(w.acked) for w in writers) >= 120, "writers too slow to reach the kill point"
        kill_9(srv)  # while every writer has a request on the wire or about to be
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert all(not t.is_alive() for t in threads)

    srv2 = start_server(data_dir)
    try:
        with httpx.Client(base_url=srv2.url, timeout=30) as http:
            total = 0
            for w in writers:
                pts = raw_points(http, f"w-{w.n}", tz="UTC")
                got = [(p["ts"], p["value"], p["version"]) for p in pts]
                assert len({ts for ts, _, _ in got}) == len(got), f"w-{w.n}: duplicate instants"
                by_request: dict[int, list[tuple[str, float, int]]] = {}
                for ts, value, version in got:
                    by_request.setdefault(int(value), []).append((ts, value, version))
                assert set(by_request) <= set(w.attempted), f"w-{w.n}: points from requests never sent"
                for k in w.attempted:
                    want = [(utc_out(datetime.fromisoformat(r["ts"])), r["kwh"], 1) for r in w.rows(k)]
                    have = by_request.get(k, [])
                    if k in w.acked:
                        assert have == want, f"w-{w.n}: acknowledged request {k} not fully stored"
                    else:
                        # in flight at the kill: a request is atomic, so all of it or none of it
                        assert have in ([], want), f"w-{w.n}: request {k} half stored"
                total += len(got)
            status = http.get("/api/v1/status").json()
            assert status["points"] == total
            assert status["superseded_versions"] == 0
    finally:
        srv2.stop()
