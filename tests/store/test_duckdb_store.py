"""DuckDB-specific behaviour: schema versions, file locking, readers never blocking the writer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from gridpulse.errors import SchemaMismatch, StoreError, StoreUnavailable
from gridpulse.ingest.writer import Writer
from gridpulse.model import KEYED_BATCH_SCHEMA, SeriesMeta, WriteResult
from gridpulse.store import open_store
from gridpulse.store.base import ReadingsQuery, WriteRequest
from gridpulse.store.duckdb import DuckDBStore
from gridpulse.store.duckdb.schema import SCHEMA_VERSION

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _rows(entity: str, n: int, start: datetime = T0) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "entity_kind": "meter",
                "entity_id": entity,
                "metric": "kwh",
                "ts": start + timedelta(minutes=15 * i),
                "value": float(i),
                "quality": 0,
            }
            for i in range(n)
        ],
        schema=KEYED_BATCH_SCHEMA,
    )


def _request(table: pa.Table) -> WriteRequest:
    return WriteRequest([table], lambda key: SeriesMeta(unit="kWh"))


def test_migrations_are_recorded_and_reopening_keeps_data(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 's.duckdb'}"
    s = open_store(url)
    s.write_group([_request(_rows("m-1", 4))])
    s.close()
    s = open_store(url)
    assert s.stats()["points"] == 4
    # the high-water mark survives a restart: a resend is recognised as unchanged
    (res,) = s.write_group([_request(_rows("m-1", 4))])
    assert res.unchanged == 4
    s.close()
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    assert con.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    con.close()


def test_a_store_from_a_newer_gridpulse_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    open_store(f"duckdb:///{path}").close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(SchemaMismatch, match="upgrade gridpulse"):
        open_store(f"duckdb:///{path}")


def test_unknown_scheme_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="no store backend for 'mysql'"):
        open_store("mysql://localhost/x")


def test_reader_snapshot_does_not_block_a_commit(tmp_path: Path) -> None:
    store = DuckDBStore(f"duckdb:///{tmp_path / 's.duckdb'}")
    store.write_group([_request(_rows("m-1", 10))])
    reader = store._cursor()
    reader.execute("BEGIN TRANSACTION")
    assert reader.execute("SELECT count(*) FROM points").fetchone() == (10,)
    # the reader holds an open transaction; the writer commits anyway, without waiting for it
    done = threading.Event()
    threading.Thread(target=lambda: (store.write_group([_request(_rows("m-2", 10))]), done.set())).start()
    assert done.wait(timeout=10), "a commit waited for an open read transaction"
    assert reader.execute("SELECT count(*) FROM points").fetchone() == (10,)  # its snapshot
    reader.execute("COMMIT")
    reader.close()
    assert store.stats()["points"] == 20
    store.close()


def test_writer_groups_concurrent_requests_and_answers_each(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path / 's.duckdb'}")
    writer = Writer(store).start()
    futures = [writer.submit(_request(_rows(f"m-{i}", 50))) for i in range(40)]
    results = [f.result(timeout=30) for f in futures]
    writer.stop()
    assert [r.inserted for r in results] == [50] * 40
    assert writer.commits <= 40
    assert store.read(ReadingsQuery(1)).num_rows == 50
    store.close()


def test_one_failing_request_in_a_group_does_not_sink_the_others(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path / 's.duckdb'}")
    writer = Writer(store)

    def boom(key: object) -> SeriesMeta:
        raise RuntimeError("bad metadata")

    # queued before the writer starts, so all three land in one group
    f1 = writer.submit(_request(_rows("m-1", 5)))
    f2 = writer.submit(WriteRequest([_rows("m-2", 5)], boom))
    f3 = writer.submit(_request(_rows("m-3", 5)))
    writer.start()
    assert f1.result(timeout=10).inserted == 5
    with pytest.raises(RuntimeError, match="bad metadata"):
        f2.result(timeout=10)
    assert f3.result(timeout=10).inserted == 5
    writer.stop()
    assert store.stats()["points"] == 10
    with pytest.raises(StoreError, match="stopped"):
        writer.submit(_request(_rows("m-4", 1)))
    store.close()


def test_a_request_larger_than_one_transaction_commits_in_steps_with_the_same_result(tmp_path: Path) -> None:
    from gridpulse.store.base import StoreOptions

    small = open_store(f"duckdb:///{tmp_path / 'small.duckdb'}", StoreOptions(max_transaction_rows=25))
    whole = open_store(f"duckdb:///{tmp_path / 'whole.duckdb'}")
    tables = [_rows("m-1", 40), _rows("m-2", 40), _rows("m-1", 40)]  # the third batch resends the first
    (a,) = small.write_group([WriteRequest(tables, lambda key: SeriesMeta())])
    (b,) = whole.write_group([WriteRequest(tables, lambda key: SeriesMeta())])
    assert a == b
    assert (a.inserted, a.unchanged) == (80, 40)
    for s in (small, whole):
        assert s.stats()["points"] == 80
    # the caches followed the intermediate commits: a later resend is still recognised
    (again,) = small.write_group([_request(_rows("m-2", 40))])
    assert again.unchanged == 40
    small.close()
    whole.close()


def test_a_small_group_waits_for_a_request_still_on_its_way(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path / 's.duckdb'}")
    writer = Writer(store, group_delay_s=10).start()
    with writer.incoming():  # a producer still parsing its body
        early = writer.submit(_request(_rows("m-1", 10)))
        time.sleep(0.2)
        assert not early.done()  # held for the announced producer
        late = writer.submit(_request(_rows("m-2", 10)))
    assert [early.result(timeout=30).inserted, late.result(timeout=30).inserted] == [10, 10]
    assert writer.commits == 1
    writer.stop()
    store.close()


class _TakingStore(DuckDBStore):
    """A DuckDB store that notes when it takes each request of a group, and can fail its next
    group before taking any request."""

    fail_next = False

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.taken: list[float] = []  # time.monotonic() of each request taken

    def write_group(self, requests: Iterable[WriteRequest]) -> list[WriteResult]:
        if self.fail_next:
            self.fail_next = False
            raise StoreError("the disk is full")  # before taking any request

        def noted() -> Iterator[WriteRequest]:
            for req in requests:
                self.taken.append(time.monotonic())
                yield req

        return super().write_group(noted())


def test_the_store_takes_a_groups_first_requests_while_the_last_is_on_its_way(tmp_path: Path) -> None:
    """The store prepares what arrived in the open transaction while the group waits for an
    announced producer; all of it commits once, when the group is complete."""
    store = _TakingStore(f"duckdb:///{tmp_path / 's.duckdb'}")
    writer = Writer(store, group_delay_s=10).start()
    with writer.incoming():
        early = writer.submit(_request(_rows("m-1", 10)))
        time.sleep(0.2)
        submitted_late = time.monotonic()
        late = writer.submit(_request(_rows("m-2", 10)))
    assert [early.result(timeout=30).inserted, late.result(timeout=30).inserted] == [10, 10]
    assert store.taken[0] < submitted_late <= store.taken[1]
    assert writer.commits == 1
    writer.stop()
    store.close()


def test_a_group_the_store_fails_before_taking_any_request_is_retried_one_by_one(tmp_path: Path) -> None:
    store = _TakingStore(f"duckdb:///{tmp_path / 's.duckdb'}")
    store.fail_next = True  # the group fails; each request alone then goes through
    writer = Writer(store)
    futures = [writer.submit(_request(_rows(f"m-{i}", 5))) for i in range(3)]  # one group
    writer.start()
    assert [f.result(timeout=30).inserted for f in futures] == [5, 5, 5]
    writer.stop()
    assert store.stats()["points"] == 15
    store.close()


def _boom(key: object) -> SeriesMeta:
    raise RuntimeError("bad metadata")


def test_a_one_shot_request_in_a_failed_group_fails_rather_than_commits_empty(tmp_path: Path) -> None:
    """A request whose batches were read by the failed group attempt cannot be retried: it is
    answered with an error (nothing of it stored), never acknowledged with its rows lost."""
    store = open_store(f"duckdb:///{tmp_path / 's.duckdb'}")
    writer = Writer(store)
    one_shot = writer.submit(WriteRequest(iter([_rows("m-1", 5)]), lambda key: SeriesMeta()))
    bad = writer.submit(WriteRequest([_rows("m-2", 5)], _boom))
    good = writer.submit(_request(_rows("m-3", 5)))
    writer.start()
    with pytest.raises(StoreError, match="send it again"):
        one_shot.result(timeout=10)
    with pytest.raises(RuntimeError, match="bad metadata"):
        bad.result(timeout=10)
    assert good.result(timeout=10).inserted == 5
    writer.stop()
    assert store.stats()["points"] == 5
    store.close()


@pytest.mark.parametrize("spill_bytes", [1 << 30, 1], ids=["in memory", "spilled"])
def test_a_buffered_request_in_a_failed_group_is_retried_whole(tmp_path: Path, spill_bytes: int) -> None:
    """An HTTP body's batches (RequestBuffer) are read again from the start by the retry."""
    from gridpulse.ingest.buffer import RequestBuffer

    store = open_store(f"duckdb:///{tmp_path / 's.duckdb'}")
    buffer = RequestBuffer(tmp_path / "spill", spill_bytes)
    for k in range(3):
        buffer.add(_rows("m-1", 10, T0 + timedelta(days=k)))
    assert buffer.spilled == (spill_bytes == 1)
    writer = Writer(store)
    body = writer.submit(WriteRequest(buffer.batches(target_rows=10), lambda key: SeriesMeta()))
    bad = writer.submit(WriteRequest([_rows("m-2", 5)], _boom))
    writer.start()
    assert body.result(timeout=10).inserted == 30
    with pytest.raises(RuntimeError, match="bad metadata"):
        bad.result(timeout=10)
    writer.stop()
    buffer.discard()
    assert store.stats()["points"] == 30
    store.close()


def test_a_lone_producer_never_waits_for_the_commit_delay(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path / 's.duckdb'}")
    writer = Writer(store, group_delay_s=60).start()
    t0 = time.monotonic()
    with writer.incoming():
        fut = writer.submit(_request(_rows("m-1", 10)))
    assert fut.result(timeout=30).inserted == 10
    assert time.monotonic() - t0 < 30  # nobody else announced: committed at once, not after 60 s
    writer.stop()
    store.close()


def _valued(entity: str, n: int, start: datetime, value: float) -> pa.Table:
    t = _rows(entity, n, start)
    return t.set_column(t.schema.get_field_index("value"), "value", pa.array([value] * n, pa.float64()))


@pytest.mark.parametrize("one_commit", [True, False])
def test_bodies_committing_out_of_order_fill_the_gap_and_still_dedup(
    tmp_path: Path, one_commit: bool
) -> None:
    """The later body first, then the earlier one (below the high-water mark, where nothing is
    stored: appended without the comparison); then resends and a change take the comparison."""
    store = open_store(f"duckdb:///{tmp_path / 's.duckdb'}")
    later, earlier = _valued("m-1", 8, T0 + timedelta(hours=2), 1.0), _valued("m-1", 8, T0, 2.0)
    if one_commit:
        (r_later, r_earlier) = store.write_group([_request(later), _request(earlier)])
    else:
        (r_later,) = store.write_group([_request(later)])
        (r_earlier,) = store.write_group([_request(earlier)])
    assert (r_later.inserted, r_earlier.inserted, r_earlier.unchanged) == (8, 8, 0)
    (again,) = store.write_group([_request(pa.concat_tables([earlier, later]))])
    assert (again.inserted, again.unchanged, again.revised) == (0, 16, 0)
    (changed,) = store.write_group([_request(_valued("m-1", 1, T0, 5.0))])
    assert (changed.inserted, changed.revised) == (0, 1)
    sid = store.list_series()[0].series_id
    values = store.read(ReadingsQuery(sid)).column("value").to_pylist()
    assert values == [5.0] + [2.0] * 7 + [1.0] * 8
    store.close()
