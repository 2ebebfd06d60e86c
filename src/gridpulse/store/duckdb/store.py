"""DuckDBStore: the embedded default backend.

Write path (one transaction per group of requests, from the single writer thread):
  1. series resolution: distinct keys of the batch -> ids, from a cache; unknown keys are created;
  2. in-batch duplicates collapse to the last row per (series, ts);
  3. rows newer than the series' high-water mark are appended straight away;
  4. older rows (late data, resends, corrections) are compared with what is stored, as one set
     operation: identical -> dropped, different -> next version (old one moved to history),
     absent -> version 1. An estimate never replaces an actual read.
Readers use their own cursors and see the last committed state; they never block the writer.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from gridpulse.arrays import lexsort_order
from gridpulse.errors import NotFound, QueryError, SchemaMismatch, StoreError, StoreUnavailable
from gridpulse.model import (
    ForecastRun,
    Quality,
    Series,
    SeriesKey,
    WriteResult,
)
from gridpulse.store.base import (
    REFERENCE_KINDS,
    Agg,
    ReadingsQuery,
    Resolution,
    SeriesFilter,
    StoreOptions,
    WriteRequest,
)
from gridpulse.store.duckdb import alerts as alert_sql
from gridpulse.store.duckdb import anomalies as anomaly_sql
from gridpulse.store.duckdb import forecasts, rollups
from gridpulse.store.duckdb import jobs as job_sql
from gridpulse.store.duckdb import monitoring as monitoring_sql
from gridpulse.store.duckdb import quality as quality_sql
from gridpulse.store.duckdb.catalogue import (
    SERIES_COLUMNS,
    SeriesCatalogue,
    series_from_columns,
    series_from_row,
)
from gridpulse.store.duckdb.freshness import RollupFreshness
from gridpulse.store.duckdb.records import RecordKeeping
from gridpulse.store.duckdb.schema import MIGRATIONS, SCHEMA_VERSION
from gridpulse.store.groups import SeriesGroup, SeriesIds
from gridpulse.store.prepare import NAIVE_TS, distinct_keys, prepare_batch
from gridpulse.store.retention import ExpiryPlan, ExpiryReport

__all__ = ["DuckDBStore"]

#: New rows are appended once this many are pending (two DuckDB row groups): fewer and the
#: INSERT goes through the WAL, more and the pending Arrow tables only cost memory.
_ROW_GROUP_ROWS = 122_880
_APPEND_ROWS = 2 * _ROW_GROUP_ROWS
_SUBDAY_WIDTH = {Resolution.MIN15: "15 minutes", Resolution.MIN30: "30 minutes", Resolution.HOUR: "1 hour"}
_SUBDAY_MINUTES = {Resolution.MIN15: 15, Resolution.MIN30: 30, Resolution.HOUR: 60}
_TRUNC_UNIT = {Resolution.DAY: "day", Resolution.WEEK: "week", Resolution.MONTH: "month"}
_AGG_SQL = {
    Agg.SUM: "sum(value)",
    Agg.AVG: "avg(value)",
    Agg.MIN: "min(value)",
    Agg.MAX: "max(value)",
    Agg.FIRST: "arg_min(value, ts)",
    Agg.LAST: "arg_max(value, ts)",
    Agg.COUNT: "count(value)::DOUBLE",
}


def _naive_utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise QueryError(f"timestamp {ts.isoformat()} has no zone offset; give an offset or a tz")
    return ts.astimezone(UTC).replace(tzinfo=None)


def _overlapping(
    start: datetime | None, end: datetime | None, *, lo: str, hi: str
) -> tuple[list[str], list[Any]]:
    """Conditions (and their parameters) for rows whose [lo, hi] overlaps [start, end)."""
    where: list[str] = []
    params: list[Any] = []
    if start is not None:
        where.append(f"{hi} >= ?")
        params.append(_naive_utc(start))
    if end is not None:
        where.append(f"{lo} < ?")
        params.append(_naive_utc(end))
    return where, params


#: ids in at most this many runs of consecutive ids are matched with BETWEEN, more with a join
_MAX_ID_RUNS = 32


def _ids_sql(col: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """A condition on `col` matching exactly `ids`, and its parameters.

    Series created together have consecutive ids: a few BETWEENs let DuckDB skip row groups
    by their min/max and need no join (1,000 meters: 1.4 ms where the join on the id list
    took 4.6 ms)."""
    if not isinstance(ids, SeriesIds):  # a group's ids have their runs worked out already
        ids = SeriesIds(ids)
    if len(ids) == 0:
        return "FALSE", []
    los, his = ids.runs
    if len(los) <= _MAX_ID_RUNS:
        runs = " OR ".join(f"{col} BETWEEN {lo} AND {hi}" for lo, hi in zip(los, his, strict=True))
        return f"({runs})", []
    return f"{col} IN (SELECT unnest(?::INTEGER[]))", [ids.array.tolist()]


def _extras_sql(agg: Agg) -> str:
    """The columns every bucket has besides value and count: nulls (null values left out),
    estimated (non-null values that are estimates, quality 1), and for MIN and MAX `at` (when the
    extreme first happened) and `at_estimated` (whether the value there is an estimate), so what
    the analytics would note or report on the raw points can come from the rollups."""
    estimated = rollups.ESTIMATED_SQL.format(q="quality", value="value")
    nulls = f", count(*) - count(value) AS nulls, {estimated} AS estimated"
    if agg is Agg.MIN:
        at = rollups.MIN_AT_SQL.format(ts="ts", value="value")
        flag = rollups.MIN_EST_SQL.format(flag="quality = 1", ts="ts", value="value")
        return f'{nulls}, {at} AS "at", {flag} AS at_estimated'
    if agg is Agg.MAX:
        at = rollups.MAX_AT_SQL.format(ts="ts", value="value")
        flag = rollups.MAX_EST_SQL.format(flag="quality = 1", ts="ts", value="value")
        return f'{nulls}, {at} AS "at", {flag} AS at_estimated'
    return nulls


def _sorted(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """The table sorted by integer or timestamp columns: numpy's radix sort of one combined key
    took 22 ms for 720,000 buckets where Arrow's sort_by took 56 ms and an ORDER BY 52 ms. Rows
    in order already (as rollup rows of one day mostly are) come back as they are after one
    comparison pass (1,000 rows: 0.24 -> 0.05 ms)."""
    keys = [_int64_values(table.column(c)) for c in columns]
    if _in_order(keys):
        return table
    order = lexsort_order(keys)
    if len(order) < 2 or bool(np.all(order[1:] > order[:-1])):
        return table
    return table.take(order)


def _int64_values(column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """An integer or timestamp column's values as int64 (a timestamp's count of its unit), without
    a copy where Arrow allows one (one chunk, no nulls, int64 or timestamp)."""
    if column.num_chunks == 1 and column.null_count == 0:
        chunk = column.chunk(0)
        if pa.types.is_timestamp(chunk.type):
            chunk = chunk.view(pa.int64())
        return np.asarray(chunk.to_numpy(), dtype=np.int64)
    return np.asarray(pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _in_order(keys: Sequence[npt.NDArray[np.int64]]) -> bool:
    """Whether the rows are sorted by the key arrays, the most significant first (one or two keys
    checked here; more: False, the caller sorts)."""
    if not keys or len(keys[0]) < 2:
        return True
    first = keys[0]
    if len(keys) == 1:
        return bool(np.all(first[1:] >= first[:-1]))
    if len(keys) == 2:
        second = keys[1]
        same = first[1:] == first[:-1]
        return bool(np.all((first[1:] > first[:-1]) | (same & (second[1:] >= second[:-1]))))
    return False


_EPOCH = datetime(1970, 1, 1)
#: naive schema -> the same with its naive timestamps made UTC (a store reads few distinct shapes)
_AWARE_SCHEMAS: dict[pa.Schema, pa.Schema] = {}


def _utc(table: pa.Table) -> pa.Table:
    """The table with its naive timestamp columns (UTC by the store's convention) made aware:
    a change of type, not of values (each chunk viewed as the aware type: 0.22 -> 0.1 ms on a
    read of 1,000 rows, where a cast per column went through Arrow's compute functions)."""
    schema = table.schema
    aware = _AWARE_SCHEMAS.get(schema)
    if aware is None:
        aware = pa.schema(
            [
                pa.field(f.name, pa.timestamp(f.type.unit, tz="UTC"), f.nullable)
                if pa.types.is_timestamp(f.type) and f.type.tz is None
                else f
                for f in schema
            ],
            metadata=schema.metadata,
        )
        if len(_AWARE_SCHEMAS) >= 256:
            _AWARE_SCHEMAS.clear()
        _AWARE_SCHEMAS[schema] = aware
    if aware is schema or aware.equals(schema):
        return table
    columns = [
        column
        if field.type == aware_field.type
        else pa.chunked_array([c.view(aware_field.type) for c in column.chunks], aware_field.type)
        for column, field, aware_field in zip(table.columns, schema, aware, strict=True)
    ]
    return pa.Table.from_arrays(columns, schema=aware)


#: SQL text -> the statement parsed: the reads of a dashboard or an analysis repeat the same few
#: texts (their values are parameters), and parsing one again cost 0.2-0.7 ms of a 2.5 ms read
_PARSED: dict[str, duckdb.Statement] = {}
_PARSED_MAX = 512


def _parsed(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.Statement | str:
    """The one statement of `sql`, parsed once and kept (DuckDB binds and plans it on each run,
    so a changed table is seen); the text itself when it is not one statement."""
    found = _PARSED.get(sql)
    if found is None:
        statements = con.extract_statements(sql)
        if len(statements) != 1:
            return sql
        found = statements[0]
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[sql] = found
    return found


def _path_from_url(url: str) -> Path:
    if not url.startswith("duckdb://"):
        raise StoreUnavailable(f"{url!r} is not a duckdb:// URL")
    return Path(url.removeprefix("duckdb://"))


@dataclass
class _Txn:
    """What the open transaction changed, applied to the caches only once it commits."""

    now: datetime
    new_series: dict[SeriesKey, int] = field(default_factory=dict)
    #: the rows of the series created, for the catalogue
    created: list[Series] = field(default_factory=list)
    hwm: dict[int, int] = field(default_factory=dict)  # [µs since 1970, naive UTC]
    rows: int = 0
    #: rows above their high-water mark, appended in one INSERT before anything reads points
    pending: list[pa.Table] = field(default_factory=list)
    #: series id -> (earliest, latest) ts written [µs]: the rollup buckets this commit makes stale
    dirty: dict[int, tuple[int, int]] = field(default_factory=dict)


class DuckDBStore(RecordKeeping):
    """The Store protocol on one DuckDB file (or `duckdb:///:memory:` for throwaway use)."""

    def __init__(self, url: str, options: StoreOptions | None = None) -> None:
        options = options or StoreOptions()
        memory_limit, read_only = options.memory_limit, options.read_only
        self.max_transaction_rows = options.max_transaction_rows
        self.url = url
        path = _path_from_url(url)
        target = ":memory:" if str(path) in ("/:memory:", ":memory:") else str(path)
        if target != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {}
        if memory_limit:
            config["memory_limit"] = memory_limit
        try:
            self._db = duckdb.connect(target, read_only=read_only, config=config)
            # ICU is built in but cannot be set through connect(); every cursor inherits GLOBAL
            self._db.execute("SET GLOBAL TimeZone = 'UTC'")
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreUnavailable(
                    f"store file {path} is held by another process (is `gridpulse serve` running? "
                    "stop it, or use the CLI, which talks to the running server)"
                ) from exc
            raise StoreUnavailable(f"cannot open store file {path}: {exc}") from exc
        except duckdb.Error as exc:
            raise StoreUnavailable(f"cannot open store file {path}: {exc}") from exc
        self._read_only = read_only
        self._write_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._series_cache: dict[SeriesKey, int] = {}
        self._catalogue = SeriesCatalogue()
        self._freshness = RollupFreshness(clean=False)
        self._hwm: dict[int, int] = {}  # series id -> newest ts stored [µs since 1970, naive UTC]
        self._last_commit_at: datetime | None = None
        self._ref_cols: dict[str, list[str]] = {}
        # a read-only store is not migrated: one from before forecasts has no forecast tables
        self._has_forecasts = True
        self._has_quality = True  # anomalies and validation results (schema 5)
        # rollups count their estimates (and flag estimated extremes) as reads do since schema 9;
        # an older read-only file reads buckets from the points, which have the quality of each
        self._rollups_count_estimates = True
        self._has_alerts = True  # alert rules, alerts, silences (schema 6)
        self._has_jobs = True  # job runs and source state (schema 7)
        self._has_checks = True  # forecast monitoring checks (schema 10)
        self._has_fleet = True  # fleet totals (schema 11)
        if not read_only:
            self._migrate()
        else:
            version = self._check_version()
            self._has_forecasts = version >= forecasts.SCHEMA_SINCE
            self._has_checks = version >= monitoring_sql.SCHEMA_SINCE
            self._has_quality = version >= anomaly_sql.SCHEMA_SINCE
            self._rollups_count_estimates = version >= rollups.ESTIMATED_SINCE
            self._has_fleet = version >= rollups.FLEET_SINCE
            self._has_alerts = version >= alert_sql.SCHEMA_SINCE
            self._has_jobs = version >= job_sql.SCHEMA_SINCE
        self._load_caches()

    # ------------------------------------------------------------------ lifecycle
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        return self._db.cursor()

    def _check_version(self) -> int:
        con = self._cursor()
        try:
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
            ).fetchone()
            if not exists or not exists[0]:
                return 0
            row = con.execute("SELECT max(version) FROM schema_version").fetchone()
            version = int(row[0]) if row and row[0] is not None else 0
        finally:
            con.close()
        if version > SCHEMA_VERSION:
            raise SchemaMismatch(
                f"store {self.url} has schema version {version}, this gridpulse knows {SCHEMA_VERSION}: "
                "upgrade gridpulse"
            )
        return version

    def _migrate(self) -> None:
        current = self._check_version()
        con = self._cursor()
        try:
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMP)")
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                con.execute("BEGIN")
                for sql in statements:
                    con.execute(sql)
                con.execute("INSERT INTO schema_version VALUES (?, now()::TIMESTAMP)", [version])
                con.execute("COMMIT")
        except duckdb.Error as exc:
            raise StoreError(f"migrating {self.url} failed: {exc}") from exc
        finally:
            con.close()

    def _load_caches(self) -> None:
        con = self._cursor()
        try:
            # in catalogue order already, so the catalogue's sort finds one run (a million series:
            # 0.1 s instead of 0.6 s); Arrow columns, not Python rows (1.3 s -> 0.8 s)
            table = con.sql(
                f"SELECT {SERIES_COLUMNS}, epoch_us(hwm_ts) AS hwm_us FROM series "
                "ORDER BY entity_kind, entity_id, metric"
            ).to_arrow_table()
            found = series_from_columns(table)
            self._catalogue.add(found)
            self._series_cache.update((s.key, s.series_id) for s in found)
            hwm_us = table.column("hwm_us").to_pylist()
            self._hwm.update((s.series_id, h) for s, h in zip(found, hwm_us, strict=True) if h is not None)
            pending = con.execute("SELECT count(*) FROM rollup_dirty").fetchall()
            self._freshness = RollupFreshness(clean=not pending[0][0])
            row = con.execute(
                "SELECT greatest((SELECT max(inserted_at) FROM points), (SELECT max(superseded_at) FROM points_history))"
            ).fetchone()
            self._last_commit_at = row[0] if row else None
            for kind in REFERENCE_KINDS:
                cols = [r[0] for r in con.execute(f"DESCRIBE {kind}").fetchall()]
                self._ref_cols[kind] = cols
        finally:
            con.close()

    def close(self) -> None:
        try:
            if not self._read_only:
                self._db.execute("CHECKPOINT")
        except duckdb.Error:
            pass
        self._db.close()

    # ------------------------------------------------------------------ writing
    def _commit_time(self) -> datetime:
        # inserted_at must grow strictly between commits, or as_of could not tell versions apart
        now = datetime.now(UTC).replace(tzinfo=None)
        if self._last_commit_at is not None and now <= self._last_commit_at:
            now = self._last_commit_at + timedelta(microseconds=1)
        return now

    def write_group(self, requests: Iterable[WriteRequest]) -> list[WriteResult]:
        if self._read_only:
            raise StoreError("this store was opened read-only")
        with self._write_lock:
            con = self._cursor()
            txn = _Txn(now=self._commit_time())
            self._freshness.write_starting()
            try:
                con.execute("BEGIN")
                results = [self._write_request(con, req, txn) for req in requests]
                self._finish(con, txn)
                con.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                con.close()
                if isinstance(exc, duckdb.Error):
                    raise StoreError(f"write failed, nothing of it was stored: {exc}") from exc
                raise
            finally:
                self._freshness.write_ended()
            con.close()
            self._committed(txn)
            return results

    @staticmethod
    def _append_pending(con: duckdb.DuckDBPyConnection, txn: _Txn, *, whole_row_groups: bool = False) -> None:
        """Append the new rows gathered so far as one INSERT.

        DuckDB writes an INSERT of at least a row group (122,880 rows) straight to the file,
        compressed; smaller ones go through the WAL and are compressed again at the checkpoint.
        One INSERT for a group of requests was 2-3x faster than one per 50k-row batch.
        """
        if not txn.pending:
            return
        rows = txn.pending[0] if len(txn.pending) == 1 else pa.concat_tables(txn.pending)
        txn.pending = []
        if whole_row_groups:
            # the rest waits for the next append: every append but a commit's last fills its row
            # groups, which compress better than a partial one left behind by each INSERT
            whole = rows.num_rows // _ROW_GROUP_ROWS * _ROW_GROUP_ROWS
            if whole < rows.num_rows:
                txn.pending = [rows.slice(whole)]
                rows = rows.slice(0, whole)
        # one chunk per column: DuckDB inserted 245,760 rows given as three Arrow chunks in 29 ms,
        # as one in 17 ms, the copy included (benchmarks/README.md)
        rows = rows.combine_chunks()
        con.register("gp_new", rows)
        try:
            con.execute(
                "INSERT INTO points SELECT series_id, ts, value, 1, ?, quality FROM gp_new", [txn.now]
            )
        finally:
            con.unregister("gp_new")

    def _finish(self, con: duckdb.DuckDBPyConnection, txn: _Txn) -> None:
        """What every commit needs first: the pending rows, the new high-water marks, and the
        ranges written, so the rollups know what to refresh even after a crash."""
        self._append_pending(con, txn)
        self._save_hwm(con, txn)
        if txn.dirty:
            ranges = pa.table(
                {
                    "series_id": pa.array(list(txn.dirty), pa.int32()),
                    "ts_min": pa.array([lo for lo, _ in txn.dirty.values()], pa.int64()).cast(NAIVE_TS),
                    "ts_max": pa.array([hi for _, hi in txn.dirty.values()], pa.int64()).cast(NAIVE_TS),
                }
            )
            con.register("gp_dirty", ranges)
            try:
                con.execute("INSERT INTO rollup_dirty (series_id, ts_min, ts_max) SELECT * FROM gp_dirty")
            finally:
                con.unregister("gp_dirty")
            txn.dirty = {}

    @staticmethod
    def _save_hwm(con: duckdb.DuckDBPyConnection, txn: _Txn) -> None:
        """Store the transaction's new high-water marks: one UPDATE per commit, not per batch."""
        if not txn.hwm:
            return
        marks = pa.table(
            {
                "series_id": pa.array(list(txn.hwm), pa.int32()),
                "max_ts": pa.array(list(txn.hwm.values()), pa.int64()).cast(NAIVE_TS),
            }
        )
        con.register("gp_max", marks)
        try:
            con.execute(
                """UPDATE series SET hwm_ts = m.max_ts FROM gp_max m WHERE series.series_id = m.series_id"""
            )
        finally:
            con.unregister("gp_max")

    def _committed(self, txn: _Txn) -> None:
        self._series_cache.update(txn.new_series)
        self._catalogue.add(txn.created)
        self._hwm.update(txn.hwm)
        self._last_commit_at = txn.now
        txn.new_series, txn.created, txn.hwm, txn.rows, txn.pending, txn.dirty = {}, [], {}, 0, [], {}

    def _write_request(self, con: duckdb.DuckDBPyConnection, req: WriteRequest, txn: _Txn) -> WriteResult:
        total = WriteResult()
        for batch in req.batches:
            if not batch.num_rows:
                continue
            total = total + self._write_batch(con, batch, req, txn)
            txn.rows += batch.num_rows
            if txn.rows >= self.max_transaction_rows:
                # DuckDB holds a transaction's rows in memory until it commits: a very large request
                # goes on in a fresh transaction (it was validated whole before the first one)
                self._finish(con, txn)
                con.execute("COMMIT")
                self._freshness.write_ended()
                self._committed(txn)
                txn.now = self._commit_time()
                self._freshness.write_starting()
                con.execute("BEGIN")
        return total

    def _series_ids(
        self, con: duckdb.DuckDBPyConnection, keys: list[SeriesKey], req: WriteRequest, txn: _Txn
    ) -> tuple[list[int], int]:
        """Ids for the keys, creating the unknown ones in one statement; and how many were created."""
        found = [self._series_cache.get(k) or txn.new_series.get(k) for k in keys]
        missing = [k for k, sid in zip(keys, found, strict=True) if sid is None]
        if missing:
            metas = [req.meta_for(k) for k in missing]
            rows = pa.table(
                {
                    "entity_kind": [k.entity_kind for k in missing],
                    "entity_id": [k.entity_id for k in missing],
                    "metric": [k.metric for k in missing],
                    "unit": [m.unit for m in metas],
                    "interval_s": pa.array(
                        [int(m.interval.total_seconds()) if m.interval else None for m in metas], pa.int32()
                    ),
                    "tz": [m.tz for m in metas],
                    "tags": [orjson.dumps(m.tags).decode() for m in metas],
                    "organisation_id": pa.array([m.organisation_id for m in metas], pa.string()),
                    "site_id": pa.array([m.site_id for m in metas], pa.string()),
                    "device_id": pa.array([m.device_id for m in metas], pa.string()),
                    "channel_id": pa.array([m.channel_id for m in metas], pa.string()),
                }
            )
            con.register("gp_new_series", rows)
            try:
                created = con.execute(
                    f"""INSERT INTO series (series_id, entity_kind, entity_id, metric, unit, interval_s, tz, tags,
                           organisation_id, site_id, device_id, channel_id, created_at)
                       SELECT nextval('series_id_seq'), *, ? FROM gp_new_series
                       RETURNING {SERIES_COLUMNS}""",
                    [txn.now],
                ).fetchall()
            finally:
                con.unregister("gp_new_series")
            for row in created:
                txn.new_series[SeriesKey(row[1], row[2], row[3])] = int(row[0])
                txn.created.append(series_from_row(row))
        ids = [self._series_cache.get(k) or txn.new_series[k] for k in keys]
        return ids, len(missing)

    def _write_batch(
        self, con: duckdb.DuckDBPyConnection, batch: pa.Table, req: WriteRequest, txn: _Txn
    ) -> WriteResult:
        keys, key_index = distinct_keys(batch)
        ids, created = self._series_ids(con, keys, req, txn)
        marks = {}
        for sid in ids:
            m = txn.hwm.get(sid)
            if m is None:
                m = self._hwm.get(sid)
            if m is not None:
                marks[sid] = m
        prep = prepare_batch(batch, key_index, ids, marks)
        inserted = prep.new.num_rows
        revised = 0
        unchanged = prep.duplicates
        if prep.new.num_rows:
            txn.pending.append(prep.new)
            if sum(t.num_rows for t in txn.pending) >= _APPEND_ROWS:
                # big enough to go straight to the file; bounds memory
                self._append_pending(con, txn, whole_row_groups=True)
        if prep.old.num_rows:
            self._append_pending(con, txn)  # the comparison must see rows of earlier batches
            if self._none_stored(con, prep.old):
                # a gap being filled (a body that committed after a later one): nothing to compare
                txn.pending.append(prep.old)
                inserted += prep.old.num_rows
            else:
                inserted_old, revised, unchanged_old = self._merge_old(con, prep.old, txn.now)
                inserted += inserted_old
                unchanged += unchanged_old
        # plain ints, not datetimes: 1,000 series per batch cost 3 ms as datetime objects
        hwm, dirty = txn.hwm, txn.dirty
        for sid, hi, lo in zip(
            prep.span_ids.tolist(), prep.newest_us.tolist(), prep.oldest_us.tolist(), strict=True
        ):
            prev = marks.get(sid)
            if prev is None or hi > prev:
                hwm[sid] = hi
            seen = dirty.get(sid)
            dirty[sid] = (lo, hi) if seen is None else (min(seen[0], lo), max(seen[1], hi))
        return WriteResult(inserted=inserted, revised=revised, unchanged=unchanged, series_created=created)

    @staticmethod
    def _none_stored(con: duckdb.DuckDBPyConnection, old: pa.Table) -> bool:
        """Whether no point is stored for these series in the rows' time span: then every row is
        new, and it can join the appended rows instead of the comparison (which inserts through
        a temporary table, in small appends). Concurrent writers send bodies that commit out of
        order, so this is the common case of rows below the high-water mark."""
        ids = pc.unique(old.column("series_id")).to_pylist()
        span = pc.min_max(old.column("ts")).as_py()
        cond, params = _ids_sql("series_id", ids)
        found = con.execute(
            f"SELECT EXISTS (SELECT 1 FROM points WHERE ts BETWEEN ? AND ? AND {cond})",
            [span["min"], span["max"], *params],
        ).fetchall()
        return not found[0][0]

    def _merge_old(
        self, con: duckdb.DuckDBPyConnection, old: pa.Table, now: datetime
    ) -> tuple[int, int, int]:
        """Compare rows at or below the high-water mark with the stored ones; returns counts."""
        con.register("gp_old", old)
        try:
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE gp_cmp AS
                    SELECT o.series_id, o.ts, o.value, o.quality,
                           p.value AS old_value, p.quality AS old_quality, p.version AS old_version,
                           p.inserted_at AS old_inserted_at,
                           CASE WHEN p.version IS NULL THEN 'absent'
                                WHEN o.quality = {int(Quality.ESTIMATED)} AND p.quality <> {int(Quality.ESTIMATED)}
                                    THEN 'same'
                                WHEN o.value IS NOT DISTINCT FROM p.value AND o.quality = p.quality THEN 'same'
                                ELSE 'changed' END AS verdict
                    FROM gp_old o
                    LEFT JOIN points p ON p.series_id = o.series_id AND p.ts = o.ts
                         AND p.ts BETWEEN (SELECT min(ts) FROM gp_old) AND (SELECT max(ts) FROM gp_old)"""
            )
        finally:
            con.unregister("gp_old")
        counts = dict(con.execute("SELECT verdict, count(*) FROM gp_cmp GROUP BY 1").fetchall())
        if counts.get("absent"):
            con.execute(
                "INSERT INTO points SELECT series_id, ts, value, 1, ?, quality FROM gp_cmp WHERE verdict = 'absent'",
                [now],
            )
        if counts.get("changed"):
            con.execute(
                """INSERT INTO points_history
                   SELECT series_id, ts, old_value, old_version, old_inserted_at, old_quality, ?
                   FROM gp_cmp WHERE verdict = 'changed'""",
                [now],
            )
            con.execute(
                """UPDATE points SET value = c.value, quality = c.quality, version = c.old_version + 1,
                          inserted_at = ?
                   FROM (SELECT * FROM gp_cmp WHERE verdict = 'changed') c
                   WHERE points.series_id = c.series_id AND points.ts = c.ts""",
                [now],
            )
        return int(counts.get("absent", 0)), int(counts.get("changed", 0)), int(counts.get("same", 0))

    def upsert_reference(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> int:
        if kind not in REFERENCE_KINDS:
            raise QueryError(f"unknown reference kind {kind!r}; one of {', '.join(REFERENCE_KINDS)}")
        cols = [c for c in self._ref_cols[kind] if c not in ("attrs", "updated_at")]
        id_col = REFERENCE_KINDS[kind]
        now = datetime.now(UTC).replace(tzinfo=None)
        values = []
        for i, row in enumerate(rows, start=1):
            if row.get(id_col) in (None, ""):
                raise QueryError(f"{kind} row {i} has no {id_col}")
            extra = {k: v for k, v in row.items() if k not in cols}
            vals = [row.get(c) for c in cols]
            values.append([*vals, orjson.dumps(extra, default=str).decode(), now])
        placeholders = ", ".join("?" for _ in range(len(cols) + 2))
        sql = f"INSERT OR REPLACE INTO {kind} ({', '.join(cols)}, attrs, updated_at) VALUES ({placeholders})"
        with self._write_lock:
            con = self._cursor()
            try:
                con.execute("BEGIN")
                if values:
                    con.executemany(sql, values)
                con.execute("COMMIT")
            except duckdb.Error as exc:
                con.execute("ROLLBACK")
                raise StoreError(f"upserting {kind} failed: {exc}") from exc
            finally:
                con.close()
        return len(values)

    def set_meta(self, key: str, value: str) -> None:
        with self._write_lock:
            con = self._cursor()
            try:
                con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])
            finally:
                con.close()

    def write_forecast(self, run: ForecastRun, values: pa.Table) -> ForecastRun:
        if self._read_only:
            raise StoreError("this store was opened read-only")
        prepared = forecasts.prepare_values(run, values)  # checked before taking the writer's lock
        with self._write_lock:
            con = self._cursor()
            try:
                con.execute("BEGIN")
                stored = forecasts.insert(con, run, prepared, datetime.now(UTC))
                con.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if isinstance(exc, duckdb.Error):
                    raise StoreError(
                        f"storing a forecast of series {run.series_id} failed, nothing of it was stored: {exc}"
                    ) from exc
                raise
            finally:
                con.close()
        return stored

    # ------------------------------------------------------------------ reading
    def get_meta(self, key: str) -> str | None:
        con = self._cursor()
        try:
            row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        finally:
            con.close()
        return None if row is None else str(row[0])

    def list_series(self, flt: SeriesFilter | None = None) -> list[Series]:
        return self._catalogue.matching(flt or SeriesFilter())

    def series_group(self, flt: SeriesFilter | None = None) -> SeriesGroup:
        return self._catalogue.group(flt or SeriesFilter())

    def _visible_sql(self, q: ReadingsQuery, params: list[Any]) -> str:
        """SQL of the points of one series visible for the query (latest, or as known at as_of)."""
        rng = ["series_id = ?"]
        params.append(q.series_id)
        if q.start is not None:
            rng.append("ts >= ?")
            params.append(_naive_utc(q.start))
        if q.end is not None:
            rng.append("ts < ?")
            params.append(_naive_utc(q.end))
        cond = " AND ".join(rng)
        if q.as_of is None:
            return f"SELECT ts, value, quality, version FROM points WHERE {cond}"
        as_of = _naive_utc(q.as_of)
        # a version is visible from its inserted_at until the next one superseded it
        hist_params = params[1:]
        params.append(as_of)
        params.append(q.series_id)
        params.extend(hist_params)
        params.extend([as_of, as_of])
        return (
            f"SELECT ts, value, quality, version FROM points WHERE {cond} AND inserted_at <= ? "
            f"UNION ALL SELECT ts, value, quality, version FROM points_history WHERE {cond} "
            "AND inserted_at <= ? AND superseded_at > ?"
        )

    @staticmethod
    def _bucket_sql(
        resolution: Resolution, agg: Agg, tz: str, source: str, params: list[Any], *, by_series: bool
    ) -> tuple[str, list[Any]]:
        """SQL bucketing `source` (rows ts naive UTC, value, quality[, series_id]) on local wall time in `tz`.

        Every ts out is naive UTC (_run makes it aware in Arrow: DuckDB's AT TIME ZONE cost
        2 ms per 30,000 rows). RAW rows come ordered, buckets unordered (the caller orders them).
        Zone arithmetic runs per row only where it changes the answer: sub-day buckets in a zone
        whose offsets are all multiples of the width are UTC buckets, and day, week and month
        buckets convert once per bucket, not per row.
        """
        key = "series_id, " if by_series else ""
        if resolution is Resolution.RAW:
            quality = ", quality" if by_series else ", quality, version"
            order = "series_id, ts" if by_series else "ts"
            return f"SELECT {key}ts, value{quality} FROM ({source}) ORDER BY {order}", params
        group = "1, 2" if by_series else "1"
        aggs = f"{_AGG_SQL[agg]} AS value, count(value) AS count{_extras_sql(agg)}"
        if resolution in _SUBDAY_WIDTH:
            width = _SUBDAY_WIDTH[resolution]
            if rollups.zone_fits(tz, _SUBDAY_MINUTES[resolution]):
                return (
                    f"SELECT {key}time_bucket(INTERVAL '{width}', ts) AS ts, {aggs} FROM ({source}) GROUP BY {group}",
                    params,
                )
            # bucket on local wall time, then step back by the row's own offset: the two 02:00
            # hours of a fall-back night stay two buckets
            sql = (
                f"SELECT {key}ts - (lt - time_bucket(INTERVAL '{width}', lt)) AS ts, {aggs} "
                f"FROM (SELECT {key}ts, value, quality, timezone(?, ts AT TIME ZONE 'UTC') AS lt FROM ({source})) "
                f"GROUP BY {group}"
            )
            return sql, [tz, *params]
        unit = _TRUNC_UNIT[resolution]
        at = ', nulls, estimated, "at", at_estimated' if agg in (Agg.MIN, Agg.MAX) else ", nulls, estimated"
        if rollups.zone_fits(tz, 24 * 60):  # UTC and its aliases: local days are UTC days
            return (
                f"SELECT {key}date_trunc('{unit}', ts) AS ts, {aggs} FROM ({source}) GROUP BY {group}",
                params,
            )
        sql = (
            f"SELECT {key}timezone('UTC', timezone(?, lb)) AS ts, value, count{at} FROM ("
            f"SELECT {key}date_trunc('{unit}', timezone(?, ts AT TIME ZONE 'UTC')) AS lb, {aggs} "
            f"FROM ({source}) GROUP BY {group})"
        )
        return sql, [tz, tz, *params]

    def _run(
        self, sql: str, params: list[Any], what: str, explain: list[tuple[str, list[Any]]] | None
    ) -> pa.Table:
        """One statement known up front (raw reads, latest values)."""
        return self._run_in_snapshot(lambda con, clean: (sql, params), what, explain)

    def _run_in_snapshot(
        self,
        build: Callable[[duckdb.DuckDBPyConnection, bool], tuple[str, list[Any]]],
        what: str,
        explain: list[tuple[str, list[Any]]] | None,
    ) -> pa.Table:
        """Build the statement from what the store holds (which rollups are stale), then run it,
        both in one snapshot: one transaction, or the statement alone when the freshness
        counters prove before and after it that nothing was stale. `build` is told whether the
        snapshot surely has no stale rollups (freshness.py), so it need not ask."""
        mark = self._freshness.reader_starting()
        con = self._cursor()
        try:
            if self._freshness.clean_for(mark):
                # no write began since the last refresh: run the statement on its own (its
                # snapshot is taken between the two checks) and skip BEGIN/COMMIT (0.15 ms)
                sql, params = build(con, True)
                table = con.sql(_parsed(con, sql), params=params).to_arrow_table()
                if self._freshness.clean_for(mark):
                    if explain is not None:
                        explain.append((sql, list(params)))
                    return _utc(table)
            con.execute("BEGIN")
            sql, params = build(con, self._freshness.clean_for(mark))
            if explain is not None:
                explain.append((sql, list(params)))
            table = _utc(con.sql(_parsed(con, sql), params=params).to_arrow_table())
            con.execute("COMMIT")
            return table
        except duckdb.Error as exc:
            raise QueryError(f"{what} failed: {exc}") from exc
        finally:
            con.close()

    def _bucketed_sql(
        self,
        con: duckdb.DuckDBPyConnection,
        clean: bool,
        series_ids: Sequence[int],
        resolution: Resolution,
        agg: Agg,
        tz: str,
        start: datetime | None,
        end: datetime | None,
        *,
        by_series: bool,
    ) -> tuple[str, list[Any]]:
        """The statement bucketing the series over [start, end), rows unordered: from the rollups
        where they answer exactly (rollups.plan_read), except for the series written since the
        last refresh in that range, which are bucketed from their points. Run it in the snapshot
        `con` looked at (_run_in_snapshot); `clean`: that snapshot surely has no stale range."""
        ids = series_ids if isinstance(series_ids, SeriesIds) else SeriesIds(series_ids)
        where, rng = _overlapping(start, end, lo="ts", hi="ts")

        def from_points(which: Sequence[int]) -> tuple[str, list[Any]]:
            cond, id_params = _ids_sql("series_id", which)
            source = f"SELECT series_id, ts, value, quality FROM points WHERE {cond}" + "".join(
                f" AND {c}" for c in where
            )
            return self._bucket_sql(resolution, agg, tz, source, [*id_params, *rng], by_series=by_series)

        zones, coarsest = self._catalogue.zones_and_coarsest(ids)
        plan = rollups.plan_read(resolution, agg, tz, zones, start, end, coarsest_interval_s=coarsest)
        if plan is None or not ids or not self._rollups_count_estimates:
            return from_points(ids)
        stale = self._stale(con, clean, ids, start, end)
        fresh: Sequence[int] = [i for i in ids if i not in stale] if stale else ids
        parts: list[tuple[str, list[Any]]] = []
        if fresh:
            cond, id_params = _ids_sql("r.series_id", fresh)
            r_where, r_params = _overlapping(start, end, lo="r.bucket", hi="r.bucket")
            parts.append(
                rollups.read_sql(
                    plan, agg, " AND ".join([cond, *r_where]), [*id_params, *r_params], by_series=by_series
                )
            )
        if stale:
            parts.append(from_points(sorted(stale)))
        return " UNION ALL ".join(p[0] for p in parts), [x for p in parts for x in p[1]]

    @staticmethod
    def _stale(
        con: duckdb.DuckDBPyConnection, clean: bool, ids: SeriesIds, start: datetime | None, end: datetime | None
    ) -> set[int]:
        """The series among `ids` written in [start, end) since the last refresh, in `con`'s
        snapshot (none when `clean`: that snapshot surely has nothing stale)."""
        if clean:
            return set()
        dirty, dirty_params = _overlapping(start, end, lo="ts_min", hi="ts_max")
        rows = con.execute(
            "SELECT DISTINCT series_id FROM rollup_dirty" + (f" WHERE {' AND '.join(dirty)}" if dirty else ""),
            dirty_params,
        ).fetchall()
        return {int(r[0]) for r in rows}.intersection(ids.array.tolist())

    def _fleet_sql(
        self,
        con: duckdb.DuckDBPyConnection,
        clean: bool,
        ids: SeriesIds,
        resolution: Resolution,
        agg: Agg,
        tz: str,
        start: datetime | None,
        end: datetime | None,
        group: int,
    ) -> tuple[str, list[Any]] | None:
        """The totals of `ids` from the fleet totals, when the ids are a whole fleet (every series
        of one kind and metric), its rollups answer the read and none of them is stale; else None."""
        if not self._has_fleet or not self._rollups_count_estimates or resolution is Resolution.RAW:
            return None
        fleet = self._catalogue.fleet_of(ids)
        if fleet is None:
            return None
        zones, coarsest = self._catalogue.zones_and_coarsest(ids)
        plan = rollups.plan_read(resolution, agg, tz, zones, start, end, coarsest_interval_s=coarsest)
        if plan is None:
            return None
        r_where, r_params = _overlapping(start, end, lo="r.bucket", hi="r.bucket")
        found = rollups.fleet_read_sql(plan, agg, fleet, " AND ".join(["TRUE", *r_where]), r_params, group)
        if found is None or self._stale(con, clean, ids, start, end):
            return None
        return found

    def read(self, query: ReadingsQuery, *, explain: list[tuple[str, list[Any]]] | None = None) -> pa.Table:
        what = f"reading series {query.series_id}"
        if query.resolution is Resolution.RAW or query.as_of is not None:
            params: list[Any] = []
            visible = self._visible_sql(query, params)
            sql, params = self._bucket_sql(
                query.resolution, query.agg, query.tz, visible, params, by_series=False
            )
            if query.resolution is not Resolution.RAW:
                sql += " ORDER BY 1"
            return self._run(sql, params, what, explain)
        q = query
        table = self._run_in_snapshot(
            lambda con, clean: self._bucketed_sql(
                con, clean, [q.series_id], q.resolution, q.agg, q.tz, q.start, q.end, by_series=False
            ),
            what,
            explain,
        )
        return _sorted(table, ["ts"])

    def read_frame(
        self,
        series_ids: Sequence[int],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        resolution: Resolution = Resolution.RAW,
        agg: Agg = Agg.AVG,
        tz: str = "UTC",
        explain: list[tuple[str, list[Any]]] | None = None,
    ) -> pa.Table:
        what = f"reading {len(series_ids)} series"
        if resolution is Resolution.RAW:
            where, params = _overlapping(start, end, lo="ts", hi="ts")
            which, id_params = _ids_sql("series_id", series_ids)
            where.insert(0, which)
            params[:0] = id_params
            source = f"SELECT series_id, ts, value, quality FROM points WHERE {' AND '.join(where)}"
            sql, params = self._bucket_sql(resolution, agg, tz, source, params, by_series=True)
            return self._run(sql, params, what, explain)
        table = self._run_in_snapshot(
            lambda con, clean: self._bucketed_sql(
                con, clean, series_ids, resolution, agg, tz, start, end, by_series=True
            ),
            what,
            explain,
        )
        return _sorted(table, ["series_id", "ts"])

    def read_totals(
        self,
        series_ids: Sequence[int],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        resolution: Resolution = Resolution.RAW,
        agg: Agg = Agg.SUM,
        tz: str = "UTC",
        groups: Mapping[int, int] | None = None,
        explain: list[tuple[str, list[Any]]] | None = None,
    ) -> pa.Table:
        if groups is None:  # a group's ids (SeriesIds) as they are
            ids: Sequence[int] = series_ids if isinstance(series_ids, SeriesIds) else SeriesIds(series_ids)
        else:
            ids = [int(i) for i in series_ids if int(i) in groups]
        codes = {int(groups[i]) for i in ids} if groups is not None else {0}
        sums = (
            "sum(i.value) AS value, sum(i.count)::BIGINT AS count, count(i.value) AS series, "
            "sum(i.nulls)::BIGINT AS nulls, sum(i.estimated)::BIGINT AS estimated"
        )

        def build(con: duckdb.DuckDBPyConnection, clean: bool) -> tuple[str, list[Any]]:
            if len(codes) == 1:  # one group: a whole fleet's totals may be kept already
                whole = ids if isinstance(ids, SeriesIds) else SeriesIds(ids)
                fleet = self._fleet_sql(con, clean, whole, resolution, agg, tz, start, end, next(iter(codes)))
                if fleet is not None:
                    return fleet
            if resolution is Resolution.RAW:
                where, rng = _overlapping(start, end, lo="ts", hi="ts")
                cond, id_params = _ids_sql("series_id", ids)
                inner = (
                    "SELECT series_id, ts, value, (value IS NOT NULL)::BIGINT AS count, "
                    "(value IS NULL)::BIGINT AS nulls, (quality = 1 AND value IS NOT NULL)::BIGINT AS estimated "
                    f"FROM points WHERE {' AND '.join([cond, *where])}"
                )
                inner_params = [*id_params, *rng]
            else:
                inner, inner_params = self._bucketed_sql(
                    con, clean, ids, resolution, agg, tz, start, end, by_series=True
                )
            if groups is None or len(codes) == 1:  # one group: no join
                return (
                    f'SELECT {next(iter(codes))}::INTEGER AS "group", i.ts, {sums} FROM ({inner}) i GROUP BY 2',
                    inner_params,
                )
            sql = (
                f'SELECT g.grp AS "group", i.ts, {sums} FROM ({inner}) i JOIN (SELECT unnest(?::INTEGER[]) '
                "AS series_id, unnest(?::INTEGER[]) AS grp) g ON i.series_id = g.series_id GROUP BY 1, 2"
            )
            return sql, [*inner_params, ids, [int(groups[i]) for i in ids]]

        table = self._run_in_snapshot(build, f"summing {len(ids)} series", explain)
        return _sorted(table, ["group", "ts"])

    # ------------------------------------------------------------------ retention
    def expire(self, plan: ExpiryPlan, *, dry_run: bool = False) -> ExpiryReport:
        if self._read_only and not dry_run:
            raise StoreError("this store was opened read-only")
        ids = sorted(set(plan.raw_before) | set(plan.rollups_before))
        report = ExpiryReport(dry_run=dry_run)
        forecasts_before = plan.forecasts_before if self._has_forecasts else None
        if not ids and forecasts_before is None:
            return report
        if ids and not dry_run:
            self.refresh_rollups()  # the buckets about to lose raw points are complete first
        cut = pa.table(
            {
                "series_id": pa.array(ids, pa.int32()),
                "raw_before": pa.array([plan.raw_before.get(i) for i in ids], pa.timestamp("us", tz="UTC")),
                "rollups_before": pa.array(
                    [plan.rollups_before.get(i) for i in ids], pa.timestamp("us", tz="UTC")
                ),
            }
        )
        counts = {
            "points": "SELECT p.series_id, count(*) FROM points p JOIN gp_cut c ON p.series_id = c.series_id "
            "WHERE p.ts < c.raw_before::TIMESTAMP GROUP BY 1",
            "history": "SELECT p.series_id, count(*) FROM points_history p JOIN gp_cut c ON p.series_id = c.series_id "
            "WHERE p.ts < c.raw_before::TIMESTAMP GROUP BY 1",
            "rollup_rows": "SELECT r.series_id, count(*) FROM rollups r JOIN gp_cut c ON r.series_id = c.series_id "
            "WHERE r.bucket < c.rollups_before::TIMESTAMP GROUP BY 1",
        }
        # the writer's lock: an expiry and a revision of the same old rows must not interleave
        with self._write_lock:
            con = self._cursor()
            con.register("gp_cut", cut)
            try:
                con.execute("BEGIN")
                for name, sql in counts.items():
                    setattr(report, name, {int(a): int(b) for a, b in con.execute(sql).fetchall()})
                if forecasts_before is not None:
                    report.forecast_runs, report.forecast_values = forecasts.expire(
                        con, forecasts_before, dry_run=dry_run
                    )
                if ids and not dry_run:
                    for table, col, cutoff in (
                        ("points", "ts", "raw_before"),
                        ("points_history", "ts", "raw_before"),
                        ("rollups", "bucket", "rollups_before"),
                    ):
                        con.execute(
                            f"""DELETE FROM {table} USING gp_cut c WHERE {table}.series_id = c.series_id
                                AND {table}.{col} < c.{cutoff}::TIMESTAMP"""
                        ).fetchall()
                    # the fleets whose rollups went: their totals before the latest cut, again
                    spans = con.execute(
                        """SELECT s.entity_kind, s.metric, TIMESTAMP '0001-01-01', max(c.rollups_before::TIMESTAMP)
                           FROM gp_cut c JOIN series s ON s.series_id = c.series_id
                           WHERE c.rollups_before IS NOT NULL GROUP BY 1, 2"""
                    ).fetchall()
                    for grain in rollups.Grain:
                        rollups.refresh_fleet(con, grain, spans)
                    con.execute(
                        """UPDATE series SET raw_floor = greatest(coalesce(series.raw_floor, c.raw_before::TIMESTAMP),
                                                                 c.raw_before::TIMESTAMP)
                           FROM gp_cut c WHERE series.series_id = c.series_id AND c.raw_before IS NOT NULL"""
                    ).fetchall()
                con.execute("COMMIT")
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise StoreError(f"expiring old data failed, nothing was deleted: {exc}") from exc
            finally:
                con.unregister("gp_cut")
                con.close()
        return report

    # ------------------------------------------------------------------ rollups
    def refresh_rollups(self) -> rollups.RefreshStats:
        if self._read_only:
            raise StoreError("this store was opened read-only")
        with self._refresh_lock:
            con = self._cursor()
            try:
                mark = self._freshness.refresh_starting()
                stats = rollups.refresh(con)
                self._freshness.refresh_committed(mark)
                return stats
            except duckdb.Error as exc:
                raise StoreError(f"refreshing rollups failed: {exc}") from exc
            finally:
                con.close()

    def latest(self, series_ids: Sequence[int] | None = None) -> pa.Table:
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        if series_ids is not None:
            which, params = _ids_sql("s.series_id", series_ids)
            where.append(which)
        marks = [m for sid in series_ids if (m := self._hwm.get(int(sid))) is not None] if series_ids else []
        if series_ids is not None and marks:
            # the marks only grow: points older than the lowest are no series' newest, and
            # their row groups are skipped by their min/max
            where.append("p.ts >= ?")
            params.append(_EPOCH + timedelta(microseconds=min(marks)))
        sql = f"""SELECT p.series_id, p.ts, p.value, p.quality, p.inserted_at
                  FROM points p JOIN series s ON p.series_id = s.series_id AND p.ts = s.hwm_ts
                  WHERE {" AND ".join(where)} ORDER BY p.series_id"""
        return self._run(sql, params, "reading the latest points", None)

    def read_forecast(
        self,
        series_id: int,
        *,
        model: str | None = None,
        as_of: datetime | None = None,
        forecast_id: int | None = None,
    ) -> tuple[ForecastRun, pa.Table] | None:
        if not self._has_forecasts:
            return None
        con = self._cursor()
        try:
            con.execute("BEGIN")  # the run and its values from one snapshot
            found = forecasts.newest(con, series_id, model=model, as_of=as_of, forecast_id=forecast_id)
            con.execute("COMMIT")
            return found
        except duckdb.Error as exc:
            raise QueryError(f"reading a forecast of series {series_id} failed: {exc}") from exc
        finally:
            con.close()

    def list_forecasts(
        self, series_ids: Sequence[int] | None = None, *, model: str | None = None, limit: int = 100
    ) -> list[ForecastRun]:
        if not self._has_forecasts:
            return []
        con = self._cursor()
        try:
            return forecasts.list_runs(con, series_ids, model=model, limit=limit)
        except duckdb.Error as exc:
            raise QueryError(f"listing forecasts failed: {exc}") from exc
        finally:
            con.close()

    def newest_forecasts(
        self, series_ids: Sequence[int] | None = None, *, model: str | None = None
    ) -> list[ForecastRun]:
        if not self._has_forecasts:
            return []
        con = self._cursor()
        try:
            return forecasts.newest_per_series(con, series_ids, model=model)
        except duckdb.Error as exc:
            raise QueryError(f"listing the newest forecasts failed: {exc}") from exc
        finally:
            con.close()

    def read_current_forecast(
        self,
        series_id: int,
        *,
        start: datetime,
        end: datetime,
        model: str | None = None,
        step_s: int | None = None,
    ) -> pa.Table:
        con = self._cursor()
        try:
            if not self._has_forecasts:
                return forecasts.CURRENT_VALUES_SCHEMA.empty_table()
            return forecasts.current_values(con, series_id, start=start, end=end, model=model, step_s=step_s)
        except duckdb.Error as exc:
            raise QueryError(f"reading the forecasts of series {series_id} failed: {exc}") from exc
        finally:
            con.close()

    def read_superseded(
        self, series_ids: Sequence[int], *, start: datetime | None = None, end: datetime | None = None
    ) -> pa.Table:
        cond, id_params = _ids_sql("series_id", series_ids)
        sql, params = quality_sql.superseded_sql(cond, id_params, start, end)
        return self._run(sql, params, f"reading superseded versions of {len(series_ids)} series", None)

    def list_reference(self, kind: str) -> list[dict[str, Any]]:
        if kind not in REFERENCE_KINDS:
            raise NotFound(f"unknown reference kind {kind!r}; one of {', '.join(REFERENCE_KINDS)}")
        con = self._cursor()
        try:
            cur = con.execute(f"SELECT * FROM {kind} ORDER BY ALL")
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()
        for row in rows:
            attrs = orjson.loads(row.pop("attrs") or "{}")
            row.update(attrs)
        return rows

    def stats(self) -> dict[str, int]:
        con = self._cursor()
        try:
            row = con.execute(
                "SELECT (SELECT count(*) FROM series), (SELECT count(*) FROM points), "
                "(SELECT count(*) FROM points_history), (SELECT count(*) FROM rollup_dirty)"
            ).fetchone()
        finally:
            con.close()
        assert row is not None
        return {
            "series": int(row[0]),
            "points": int(row[1]),
            "superseded_versions": int(row[2]),
            "rollup_ranges_pending": int(row[3]),
        }
