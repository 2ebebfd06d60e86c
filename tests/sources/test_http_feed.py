"""The generic HTTP feed poller against a real server: CSV with a mapping, 304s, revisions, 429s."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gridpulse.config import Settings
from gridpulse.ingest.writer import Writer
from gridpulse.sources import SourceContext, SourceReport, build_source, parse_sources
from gridpulse.store import ReadingsQuery, open_store
from gridpulse.store.base import Store


class Feed:
    """A CSV of national load in a local zone, as an open-data portal serves it, with an ETag."""

    def __init__(self) -> None:
        self.rows = {"2024-03-01 00:00": 51000.0, "2024-03-01 00:15": 50500.0, "2024-03-01 00:30": 50200.0}
        self.version = 1
        self.throttle = 0
        self.seen: list[dict[str, str]] = []
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                feed.seen.append(dict(self.headers))
                if feed.throttle:
                    feed.throttle -= 1
                    self.send_response(429)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                etag = f'"v{feed.version}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                body = ("Datetime;Consommation\n" + "".join(f"{k};{v}\n" for k, v in feed.rows.items())).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/csv; charset=utf-8")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/eco2mix.csv"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def feed() -> Iterator[Feed]:
    f = Feed()
    yield f
    f.httpd.shutdown()
    f.httpd.server_close()


def _run(feed: Feed, store: Store, writer: Writer, settings: Settings) -> SourceReport:
    (spec,) = parse_sources(
        [
            {
                "name": "rte",
                "type": "http",
                "url": feed.url,
                "interval_s": 300,
                "backoff_s": 0.01,
                "mapping": {
                    "time_column": "Datetime",
                    "time_format": "%Y-%m-%d %H:%M",
                    "tz": "Europe/Paris",
                    "entity": "fr",
                    "entity_kind": "grid",
                    "metric": "load_mw",
                    "value_column": "Consommation",
                    "unit": "MW",
                },
            }
        ]
    )
    return build_source(spec).run(SourceContext(store, writer, settings))


def test_a_feed_is_loaded_with_its_mapping_and_an_unchanged_feed_costs_a_304(
    feed: Feed, tmp_path: Path, settings: Settings
) -> None:
    store = open_store(f"duckdb:///{tmp_path / 'store.duckdb'}")
    writer = Writer(store).start()
    try:
        feed.throttle = 2
        first = _run(feed, store, writer, settings)
        assert first.status == "ok", first.error
        assert first.rows == 3 and first.result is not None and first.result.inserted == 3
        assert first.detail["rate_limited"] == 2
        (series,) = store.list_series()
        assert str(series.key) == "grid:fr/load_mw" and series.unit == "MW"
        ts = store.read(ReadingsQuery(series.series_id)).column("ts").to_pylist()
        assert ts[0].isoformat() == "2024-02-29T23:00:00+00:00"  # 00:00 in Paris (UTC+1)

        again = _run(feed, store, writer, settings)
        assert again.detail.get("not_modified") is True and again.rows == 0
        assert feed.seen[-1].get("If-None-Match") == '"v1"'

        # the portal revises a value and adds one: a new version and a new point, the rest unchanged
        feed.rows["2024-03-01 00:30"] = 50300.0
        feed.rows["2024-03-01 00:45"] = 49900.0
        feed.version = 2
        third = _run(feed, store, writer, settings)
        assert third.result is not None
        assert (third.result.inserted, third.result.revised, third.result.unchanged) == (1, 1, 2)
        marks = {m.key: m for m in store.source_marks("rte")}
        assert marks["grid:fr/load_mw"].watermark is not None
        assert marks["grid:fr/load_mw"].watermark.isoformat() == "2024-02-29T23:45:00+00:00"
    finally:
        writer.stop()
        store.close()
