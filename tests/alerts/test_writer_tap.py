"""The writer's tap: committed rows of watched metrics reach the alerts whatever form the batches
take (plain or dictionary-encoded keys, one-shot generators), and a tap never costs a write."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from gridpulse.alerts.evaluate import MetricSelector, newest_readings
from gridpulse.alerts.rules import parse_rule
from gridpulse.ingest.writer import RATE_WINDOW_S, Writer
from gridpulse.model import ENCODED_KEYED_BATCH_SCHEMA, KEYED_BATCH_SCHEMA, Quality, SeriesMeta
from gridpulse.store import open_store
from gridpulse.store.base import Store, WriteRequest

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _rows(metric_values: list[tuple[str, str, float]], *, encoded: bool = False) -> pa.Table:
    table = pa.Table.from_pylist(
        [
            {"entity_kind": "device", "entity_id": dev, "metric": metric, "ts": T0 + timedelta(minutes=i),
             "value": value, "quality": 0}
            for i, (dev, metric, value) in enumerate(metric_values)
        ],
        schema=KEYED_BATCH_SCHEMA,
    )  # fmt: skip
    return table.cast(ENCODED_KEYED_BATCH_SCHEMA) if encoded else table


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"duckdb:///{tmp_path / 's.duckdb'}")
    yield s
    s.close()


@pytest.mark.parametrize("encoded", [False, True], ids=["plain", "dictionary-encoded"])
def test_selector_keeps_only_watched_metrics(encoded: bool) -> None:
    batch = _rows([("b1", "soc", 10.0), ("b1", "kw", 3.0), ("b2", "soc", 30.0)], encoded=encoded)
    rows = MetricSelector(["soc"])(batch)
    assert rows is not None
    assert rows.column("entity_id").to_pylist() == ["b1", "b2"]
    assert rows.column("value").to_pylist() == [10.0, 30.0]
    assert rows.column("metric").type == pa.string()
    assert MetricSelector(["temp"])(batch) is None
    assert MetricSelector()(batch) is None


def test_selector_leaves_estimates_out() -> None:
    batch = _rows([("b1", "soc", 10.0), ("b2", "soc", 12.0)])
    estimated = batch.set_column(5, "quality", pa.array([0, int(Quality.ESTIMATED)], pa.int8()))
    rows = MetricSelector(["soc"])(estimated)
    assert rows is not None
    assert rows.column("entity_id").to_pylist() == ["b1"]
    only_estimates = batch.set_column(5, "quality", pa.array([int(Quality.ESTIMATED)] * 2, pa.int8()))
    assert MetricSelector(["soc"])(only_estimates) is None


def test_tap_sees_committed_rows_of_a_one_shot_generator(store: Store) -> None:
    got: list[pa.Table] = []
    writer = Writer(store)
    writer.tap(MetricSelector(["soc"]), got.extend)
    writer.start()

    def spill() -> Iterator[pa.Table]:  # as a spill file is read: once
        yield _rows([("b1", "soc", 50.0), ("b1", "kw", 1.0)])
        yield _rows([("b2", "soc", 15.0)], encoded=True)

    result = writer.write_sync(WriteRequest(spill(), lambda key: SeriesMeta()))
    writer.stop()
    assert result.inserted == 3
    rows = pa.concat_tables(got)
    assert sorted(rows.column("entity_id").to_pylist()) == ["b1", "b2"]
    readings = newest_readings(
        parse_rule({"name": "low", "metric": "soc", "op": "<", "threshold": 20}), rows, {}
    )
    assert [(r.series, r.value, r.breach) for r in readings] == [
        ("device:b1/soc", 50.0, False),
        ("device:b2/soc", 15.0, True),
    ]


def test_rows_of_a_failed_request_are_not_tapped_and_the_others_are(store: Store) -> None:
    got: list[pa.Table] = []
    writer = Writer(store)
    writer.tap(MetricSelector(["soc"]), got.extend)

    def boom(key: object) -> SeriesMeta:
        raise RuntimeError("bad metadata")

    ok = writer.submit(WriteRequest([_rows([("b1", "soc", 10.0)])], lambda key: SeriesMeta()))
    bad = writer.submit(WriteRequest([_rows([("b9", "soc", 5.0)])], boom))
    writer.start()
    assert ok.result(timeout=10).inserted == 1
    with pytest.raises(RuntimeError):
        bad.result(timeout=10)
    writer.stop()
    assert pa.concat_tables(got).column("entity_id").to_pylist() == ["b1"]


def test_a_failing_select_never_fails_the_write(store: Store) -> None:
    calls = threading.Event()

    def broken(batch: pa.Table) -> pa.Table | None:
        calls.set()
        raise ValueError("select bug")

    writer = Writer(store)
    writer.tap(broken, lambda rows: None)
    writer.start()
    assert (
        writer.write_sync(WriteRequest([_rows([("b1", "soc", 10.0)])], lambda key: SeriesMeta())).inserted
        == 1
    )
    writer.stop()
    assert calls.is_set()
    assert store.stats()["points"] == 1


def test_writer_reports_the_rate_rows_commit_at(store: Store) -> None:
    """The rollup refresh holds back on this rate while a bulk load runs (api/app.py)."""
    writer = Writer(store).start()
    try:
        assert writer.rows_per_s() == 0
        rows = _rows([("b1", "soc", float(i)) for i in range(50)])
        writer.write_sync(WriteRequest(batches=[rows], meta_for=lambda key: SeriesMeta(unit="%")))
        assert writer.rows_per_s() == 50 / RATE_WINDOW_S
        assert writer.tagged("api").rows_per_s() == writer.rows_per_s()
        deadline = time.monotonic() + 30
        while writer.rows_per_s() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.rows_per_s() == 0, "the commit never left the window"
    finally:
        writer.stop()
