"""The vendor-API poller against a real HTTP server that paginates, rate-limits, fails and revises."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from gridpulse.config import Settings
from gridpulse.errors import ConfigError
from gridpulse.ingest.writer import Writer
from gridpulse.sources import SourceContext, build_source, parse_sources
from gridpulse.store import ReadingsQuery, open_store
from gridpulse.store.base import Store

from .vendor_server import TOKEN, VendorServer, VendorState, hour_start

HOURS = 48


@pytest.fixture
def vendor() -> Iterator[VendorServer]:
    state = VendorState(start=hour_start() - timedelta(hours=HOURS), hours=HOURS)
    with VendorServer(state) as server:
        yield server


@pytest.fixture
def env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_VENDOR_TOKEN", TOKEN)


def _table(url: str, **extra: object) -> dict[str, object]:
    return {
        "name": "eniscope",
        "type": "vendor_api",
        "base_url": url,
        "token_env": "TEST_VENDOR_TOKEN",
        "page_size": 10,
        "backoff_s": 0.01,
        "max_attempts": 5,
        "timeout_s": 0.5,
        "backfill_days": 3,
        **extra,
    }


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Store, Writer]]:
    store = open_store(f"duckdb:///{tmp_path / 'store.duckdb'}")
    writer = Writer(store).start()
    yield store, writer
    writer.stop()
    store.close()


def _run(table: dict[str, object], store: Store, writer: Writer, settings: Settings):  # type: ignore[no-untyped-def]
    (spec,) = parse_sources([table])
    source = build_source(spec)
    return source.run(SourceContext(store, writer, settings))


def _values(store: Store, channel: str, metric: str) -> list[float]:
    (series,) = [s for s in store.list_series() if s.key.entity_id == channel and s.key.metric == metric]
    table = store.read(ReadingsQuery(series.series_id))
    return table.column("value").to_pylist()


def test_poller_survives_429s_500s_slow_answers_and_a_broken_channel(
    vendor: VendorServer, env_token: None, db: tuple[Store, Writer], settings: Settings
) -> None:
    store, writer = db
    vendor.state.failures = {"/organizations": [(429, "0")], "/readings/c1": [(500, None), (429, "0"), (503, None)]}
    vendor.state.stalls = [0.0, 0.0, 0.0, 2.0]  # the fourth request outlasts the 0.5 s timeout once
    vendor.state.broken = {"c3"}
    report = _run(_table(vendor.url), store, writer, settings)

    assert report.status == "partial"
    assert report.failures == 1 and "channel c3" in (report.error or "") and "HTTP 500" in (report.error or "")
    # c1 and c2: 48 hours x (energy, power), through 5 pages of 10 readings each
    assert report.rows == 2 * HOURS * 2 and report.rejects == 0
    assert report.result is not None and report.result.inserted == 2 * HOURS * 2
    assert report.detail["rate_limited"] >= 2 and report.detail["retries"] >= 5
    assert _values(store, "c1", "energy_kwh") == [pytest.approx((1000 + 10 * h + 1) / 1000) for h in range(HOURS)]
    assert set(_values(store, "c2", "power_kw")) == {2.0}
    pages = [r for r in vendor.state.requests if r.startswith("/readings/c2")]
    assert len(pages) == 5
    # reference data upserted: the hierarchy as the vendor describes it
    channels = {r["channel_id"]: r for r in store.list_reference("channels")}
    assert set(channels) == {"c1", "c2", "c3"} and channels["c3"]["device_id"] == "d2"
    assert [o["organisation_id"] for o in store.list_reference("organisations")] == ["o1"]
    assert {d["device_id"] for d in store.list_reference("devices")} == {"d1", "d2"}
    marks = {m.key: m for m in store.source_marks("eniscope")}
    assert marks["c1"].watermark == vendor.state.start + timedelta(hours=HOURS - 1)
    assert marks["c3"].watermark is None and "500" in marks["c3"].detail["last_error"]


def test_next_run_fetches_from_the_watermark_less_the_overlap_and_revisions_become_versions(
    vendor: VendorServer, env_token: None, db: tuple[Store, Writer], settings: Settings
) -> None:
    store, writer = db
    vendor.state.broken = {"c3"}
    _run(_table(vendor.url), store, writer, settings)
    vendor.state.requests.clear()
    vendor.state.revised[("c1", HOURS - 2)] = 5000.0  # a late revision inside the 2 h overlap
    vendor.state.hours = HOURS + 1  # and a new hour
    vendor.state.broken = set()  # c3 is back: it is fetched from its backfill start
    report = _run(_table(vendor.url), store, writer, settings)

    assert report.status == "ok"
    c1 = [parse_qs(urlparse(r).query) for r in vendor.state.requests if r.startswith("/readings/c1")]
    asked_from = min(int(q["daterange[]"][0]) for q in c1)
    assert asked_from == int((vendor.state.start + timedelta(hours=HOURS - 1 - 2)).timestamp())
    assert report.result is not None
    assert report.result.revised == 1
    # c1, c2: the new hour (energy + power) is new; c3: all 49 hours
    assert report.result.inserted == 2 * 2 + (HOURS + 1) * 2
    assert report.result.unchanged == 2 * 3 * 2 - 1
    assert _values(store, "c1", "energy_kwh")[HOURS - 2] == pytest.approx(5.0)
    assert store.stats()["superseded_versions"] == 1
    # a third run with nothing new changes nothing
    third = _run(_table(vendor.url), store, writer, settings)
    assert third.result is not None and third.result.inserted == 0 and third.result.revised == 0


def test_a_missing_token_variable_fails_the_run_and_says_which(
    vendor: VendorServer, db: tuple[Store, Writer], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, writer = db
    monkeypatch.delenv("TEST_VENDOR_TOKEN", raising=False)
    with pytest.raises(Exception, match="TEST_VENDOR_TOKEN"):
        _run(_table(vendor.url), store, writer, settings)


def test_a_wrong_token_fails_the_whole_run_with_a_hint(
    vendor: VendorServer, db: tuple[Store, Writer], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, writer = db
    monkeypatch.setenv("TEST_VENDOR_TOKEN", "wrong")
    report = _run(_table(vendor.url), store, writer, settings)
    assert report.status == "failed"
    assert "HTTP 401" in (report.error or "") and "TEST_VENDOR_TOKEN" in (report.error or "")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"page_size": "x"}, r"sources\[0\] \(eniscope\): page_size='x' is not an integer"),
        ({"base_url": "ftp://x"}, r"base_url='ftp://x' is not an http\(s\) URL"),
        ({"pagesize": 3}, r"unknown key\(s\) pagesize"),
        ({"type": "soap"}, r"type='soap' is not one of folder, http, mqtt, vendor_api"),
        ({"cron": "61 * * * *"}, r"cron='61 \* \* \* \*' is not a crontab schedule"),
        ({"interval_s": 60, "cron": "5 * * * *"}, "pick one schedule"),
        ({"field_scale": {"E": "x"}}, r"field_scale.E='x' is not a number"),
    ],
)
def test_a_bad_source_table_names_the_source_and_the_key(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_sources([_table("http://127.0.0.1:1", **change)])


def test_source_names_must_be_unique() -> None:
    with pytest.raises(ConfigError, match=r"sources\[1\] \(eniscope\): name 'eniscope' is used by another"):
        parse_sources([_table("http://127.0.0.1:1"), _table("http://127.0.0.1:2")])


def test_a_server_shutting_down_ends_the_poll_between_channels(
    vendor: VendorServer, env_token: None, db: tuple[Store, Writer], settings: Settings
) -> None:
    store, writer = db
    (spec,) = parse_sources([_table(vendor.url)])
    ctx = SourceContext(store, writer, settings)
    ctx.stop.set()
    report = build_source(spec).run(ctx)
    assert report.status == "failed" and "shutting down" in (report.error or "")
    assert not [r for r in vendor.state.requests if r.startswith("/readings/")]
