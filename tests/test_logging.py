"""Structured logs: one JSON object per line, a request id on every line logged while handling a
request, the id returned in X-Request-ID, and one access-log line per request."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gridpulse.api.app import create_app
from gridpulse.config import Settings
from gridpulse.logs import JsonFormatter, configure_logging
from gridpulse.metrics import REGISTRY
from tests.conftest import LiveServer


class Captured:
    """What the gridpulse handler wrote, line by line."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]  # every line must parse

    def with_id(self, request_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["request_id"] == request_id]


def _captured(fmt: str) -> Iterator[Captured]:
    root = logging.getLogger()
    level = root.level
    cap = Captured()
    handler = configure_logging(fmt, "info", stream=cap.stream)
    try:
        yield cap
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def json_logs() -> Iterator[Captured]:
    yield from _captured("json")


@pytest.fixture
def text_logs() -> Iterator[Captured]:
    yield from _captured("text")


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    """The app with three extra routes that log from an async handler, a sync one (thread pool) and
    a worker thread, and one that fails."""
    app = create_app(settings)
    log = logging.getLogger("gridpulse.test")

    @app.get("/test/log-async")
    async def log_async() -> dict[str, str]:
        log.info("from the event loop", extra={"where": "async"})
        await asyncio.to_thread(log.info, "from a worker thread", extra={"where": "to_thread"})
        return {}

    @app.get("/test/log-sync")
    def log_sync() -> dict[str, str]:
        log.warning("from the thread pool", extra={"where": "sync"})
        return {}

    @app.get("/test/fail")
    def fail() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _access(cap: Captured, request_id: str) -> dict[str, Any]:
    [line] = [r for r in cap.with_id(request_id) if r["logger"] == "gridpulse.access"]
    return line


def test_an_incoming_request_id_round_trips_and_is_on_the_access_log_line(
    app_client: TestClient, json_logs: Captured
) -> None:
    resp = app_client.get("/healthz", headers={"X-Request-ID": "client-id-42"})
    assert resp.status_code == 200
    assert resp.headers["x-request-id"] == "client-id-42"
    line = _access(json_logs, "client-id-42")
    assert {k: line[k] for k in ("level", "logger", "method", "route", "path", "status")} == {
        "level": "info",
        "logger": "gridpulse.access",
        "method": "GET",
        "route": "/healthz",
        "path": "/healthz",
        "status": 200,
    }
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["msg"].startswith("GET /healthz 200 ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])


def test_every_line_logged_while_handling_a_request_carries_its_id(
    app_client: TestClient, json_logs: Captured
) -> None:
    for path in ("/test/log-async", "/test/log-sync"):
        resp = app_client.get(path)
        assert resp.status_code == 200
        request_id = resp.headers["x-request-id"]
        lines = json_logs.with_id(request_id)
        assert lines[-1]["logger"] == "gridpulse.access" and lines[-1]["route"] == path
        wheres = [r["where"] for r in lines if r["logger"] == "gridpulse.test"]
        assert wheres == (["async", "to_thread"] if path.endswith("async") else ["sync"])
    # nothing leaks into lines logged outside a request
    logging.getLogger("gridpulse.test").info("after the requests")
    assert json_logs.records()[-1]["request_id"] is None


def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(
    app_client: TestClient, json_logs: Captured
) -> None:
    made = [app_client.get("/healthz").headers["x-request-id"] for _ in range(2)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", m) for m in made) and made[0] != made[1]
    for unsafe in ("has spaces", "x" * 129, '{"json": 1}', ""):
        got = app_client.get("/healthz", headers={"X-Request-ID": unsafe}).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", got), unsafe
        assert _access(json_logs, got)["status"] == 200


def test_a_request_whose_handler_raises_is_logged_and_timed_as_a_500(
    app_client: TestClient, json_logs: Captured
) -> None:
    labels = {"method": "GET", "route": "/test/fail", "status": "500"}
    before = REGISTRY.get_sample_value("gridpulse_http_request_duration_seconds_count", labels) or 0
    resp = app_client.get("/test/fail", headers={"X-Request-ID": "fails-1"})
    assert resp.status_code == 500
    assert resp.headers["x-request-id"] == "fails-1" and "fails-1" in resp.json()["error"]
    assert _access(json_logs, "fails-1")["status"] == 500
    assert REGISTRY.get_sample_value("gridpulse_http_request_duration_seconds_count", labels) == before + 1


def test_the_access_log_leaves_out_the_query_string(app_client: TestClient, json_logs: Captured) -> None:
    # Influx clients may send their token as ?p=
    app_client.post("/write?db=x&p=s3cret-token", content=b"", headers={"X-Request-ID": "q-1"})
    server_side = [r for r in json_logs.records() if r["logger"].startswith("gridpulse")]
    assert server_side and "s3cret-token" not in json.dumps(server_side)  # (the test client logs its URL)
    assert _access(json_logs, "q-1")["path"] == "/write"


def test_the_text_format_is_one_line_of_prose_with_the_request_id(
    app_client: TestClient, text_logs: Captured
) -> None:
    app_client.get("/healthz", headers={"X-Request-ID": "text-1"})
    [line] = [s for s in text_logs.lines() if "gridpulse.access" in s]
    assert re.fullmatch(r"\S+ \S+ INFO gridpulse\.access: GET /healthz 200 \d+\.\d ms \[text-1\]", line)


def test_json_lines_carry_extra_fields_exceptions_and_values_json_cannot_hold() -> None:
    log = logging.getLogger("gridpulse.test.formatter")
    try:
        raise ValueError("bad value")
    except ValueError:
        exc_info = sys.exc_info()
    record = log.makeRecord(
        log.name, logging.ERROR, __file__, 1, "loading %s failed", ("m.csv",), exc_info,
        extra={"path": Path("/tmp/m.csv"), "rows": 3, "tags": {"a"}},
    )  # fmt: skip
    line = JsonFormatter().format(record)
    assert "\n" not in line
    got = json.loads(line)
    assert (got["level"], got["logger"], got["msg"]) == ("error", log.name, "loading m.csv failed")
    assert (got["path"], got["rows"], got["tags"]) == ("/tmp/m.csv", 3, "{'a'}")
    assert got["request_id"] is None
    assert "ValueError: bad value" in got["exc"]


def test_the_server_logs_json_lines_with_the_request_id(live_server: LiveServer) -> None:
    request_id = f"live-{uuid.uuid4().hex[:8]}"
    resp = httpx.get(live_server.url + "/api/v1/status", headers={"X-Request-ID": request_id})
    assert resp.status_code == 200 and resp.headers["x-request-id"] == request_id
    deadline = time.monotonic() + 10
    while True:
        # the server's stdout (the banner) and stderr (the log) share the file: log lines start with {
        records = [json.loads(s) for s in live_server.log.read_text().splitlines() if s.startswith("{")]
        mine = [r for r in records if r["request_id"] == request_id]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [(r["logger"], r["route"], r["status"]) for r in mine] == [
        ("gridpulse.access", "/api/v1/status", 200)
    ]
    # uvicorn's own lines go through the same handler
    assert any(r["logger"].startswith("uvicorn") for r in records), records
