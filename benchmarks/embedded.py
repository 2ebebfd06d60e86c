"""The in-process engines, each run in a child process so its memory is its own.

Usage: python benchmarks/embedded.py ENGINE DATASET_DIR WORK_DIR
Writes WORK_DIR/result.json: {"seconds", "rows", "disk_bytes", "note"} or {"skip": reason}.
A server-side process to watch for memory (PostgreSQL's backend) is named in WORK_DIR/rss_pids.
The clock starts before the first byte of the input file is read and stops when the rows are
committed (queryable); imports, connecting and creating the table come before it.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from procs import dir_size, disk_bytes

PG_DSN = os.environ.get("GRIDPULSE_BENCH_PG", "host=127.0.0.1 port=5432 dbname=test user=postgres")
PG_TABLE = "gp_bench_peers_meter_usage"
SQLITE_BATCH = 50_000


def postgres(ds: Path, work: Path) -> dict[str, Any]:
    """COPY the CSV into a table with PRIMARY KEY (meter_id, ts), one transaction."""
    import psycopg

    try:
        con = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        return {"skip": f"PostgreSQL not reachable at {PG_DSN!r}: {str(exc).strip()[:200]}"}
    with con:
        version = con.execute("SHOW server_version").fetchone()
        con.execute(f"DROP TABLE IF EXISTS {PG_TABLE}")
        con.execute(
            f"CREATE TABLE {PG_TABLE} (meter_id text NOT NULL, ts timestamptz NOT NULL, "
            "kwh double precision, PRIMARY KEY (meter_id, ts))"
        )
        (work / "rss_pids").write_text(str(con.info.backend_pid))
        time.sleep(0.3)  # let the parent start watching the backend
        try:
            t0 = time.perf_counter()
            with (
                con.transaction(),
                con.cursor().copy(
                    f"COPY {PG_TABLE} (ts, meter_id, kwh) FROM STDIN WITH (FORMAT csv, HEADER true)"
                ) as cp,
                (ds / "meter_usage.csv").open("rb") as f,
            ):
                while chunk := f.read(1 << 20):
                    cp.write(chunk)
            seconds = time.perf_counter() - t0
            row = con.execute(f"SELECT count(*) FROM {PG_TABLE}").fetchone()
            con.execute("CHECKPOINT")
            size = con.execute(f"SELECT pg_total_relation_size('{PG_TABLE}')").fetchone()
        finally:
            con.execute(f"DROP TABLE IF EXISTS {PG_TABLE}")
    assert row is not None and size is not None and version is not None
    return {
        "seconds": seconds,
        "rows": int(row[0]),
        "disk_bytes": int(size[0]),
        "version": str(version[0]).split()[0],
        "note": "table + primary-key index (pg_total_relation_size), WAL not counted; RSS of the backend",
    }


def sqlite(ds: Path, work: Path) -> dict[str, Any]:
    """csv.reader -> executemany in transactions of 50,000 rows, WAL mode, synchronous=NORMAL."""
    path = work / "bench.sqlite"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(
        "CREATE TABLE meter_usage (meter_id TEXT NOT NULL, ts TEXT NOT NULL, kwh REAL, PRIMARY KEY (meter_id, ts))"
    )
    t0 = time.perf_counter()
    with (ds / "meter_usage.csv").open(newline="") as f:
        reader = csv.reader(f)
        next(reader)
        while chunk := list(islice(reader, SQLITE_BATCH)):
            con.execute("BEGIN")
            con.executemany("INSERT INTO meter_usage (ts, meter_id, kwh) VALUES (?, ?, ?)", chunk)
            con.execute("COMMIT")
    seconds = time.perf_counter() - t0
    row = con.execute("SELECT count(*) FROM meter_usage").fetchone()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return {
        "seconds": seconds,
        "rows": int(row[0]),
        "disk_bytes": disk_bytes(path, Path(f"{path}-wal")),
        "version": sqlite3.sqlite_version,
        "note": "ts stored as ISO text; kwh converted by column affinity",
    }


def _duckdb(ds: Path, work: Path, *, key: bool) -> dict[str, Any]:
    import duckdb

    path = work / "bench.duckdb"
    con = duckdb.connect(str(path))
    pk = ", PRIMARY KEY (meter_id, ts)" if key else ""
    con.execute(
        f"CREATE TABLE meter_usage (meter_id VARCHAR NOT NULL, ts TIMESTAMPTZ NOT NULL, kwh DOUBLE{pk})"
    )
    t0 = time.perf_counter()
    src = pq.read_table(ds / "meter_usage.parquet")
    con.register("src", src)
    con.execute("INSERT INTO meter_usage SELECT meter_id, ts, kwh FROM src")
    con.unregister("src")
    seconds = time.perf_counter() - t0
    row = con.execute("SELECT count(*) FROM meter_usage").fetchone()
    con.execute("CHECKPOINT")
    con.close()
    assert row is not None
    return {
        "seconds": seconds,
        "rows": int(row[0]),
        "disk_bytes": disk_bytes(path, Path(f"{path}.wal")),
        "version": duckdb.__version__,
        "note": "" if key else "no key, no dedup: the floor",
    }


def duckdb_pk(ds: Path, work: Path) -> dict[str, Any]:
    """Parquet -> Arrow table -> INSERT into a table with PRIMARY KEY (meter_id, ts)."""
    return _duckdb(ds, work, key=True)


def duckdb_nokey(ds: Path, work: Path) -> dict[str, Any]:
    """Parquet -> Arrow table -> INSERT into a table without a key."""
    return _duckdb(ds, work, key=False)


def gridpulse_store(ds: Path, work: Path) -> dict[str, Any]:
    """Parquet -> KEYED_BATCH_SCHEMA batches -> the single Writer -> the DuckDB store, one request."""
    from gridpulse import __version__
    from gridpulse.ingest.writer import Writer
    from gridpulse.model import ENCODED_KEYED_BATCH_SCHEMA, Quality, SeriesMeta
    from gridpulse.store import WriteRequest, open_store

    data = work / "gp"
    data.mkdir()
    store = open_store(f"duckdb:///{data / 'gridpulse.duckdb'}")
    writer = Writer(store).start()
    meta = SeriesMeta(unit="kWh", interval=timedelta(minutes=15))

    def const(value: str, n: int) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value]))

    def batches() -> Iterator[pa.Table]:
        # ids dictionary-encoded as Parquet stores them, the way `gridpulse load` reads them
        pf = pq.ParquetFile(ds / "meter_usage.parquet", read_dictionary=["meter_id"])
        for rb in pf.iter_batches(batch_size=100_000):
            n = rb.num_rows
            yield pa.table(
                [
                    const("meter", n),
                    rb.column("meter_id"),
                    const("kwh", n),
                    rb.column("ts"),
                    rb.column("kwh"),
                    pa.array(np.full(n, int(Quality.ACTUAL), np.int8)),
                ],
                schema=ENCODED_KEYED_BATCH_SCHEMA,
            )

    # pyarrow imports pandas, when installed, on its first array from numpy: 0.16 s of start-up
    # that DuckDB's runs pay outside their clock too (it is not ingest)
    pa.array(np.zeros(1, np.int32))
    t0 = time.perf_counter()
    result = writer.write_sync(WriteRequest(batches(), lambda key: meta))
    seconds = time.perf_counter() - t0
    points = store.stats()["points"]
    writer.stop()
    store.close()
    return {
        "seconds": seconds,
        "rows": int(points),
        "disk_bytes": dir_size(data),
        "version": __version__,
        "note": f"open_store + Writer, one request of 100k-row Arrow batches; {result.inserted:,} inserted",
    }


ENGINES: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
    "postgres": postgres,
    "sqlite": sqlite,
    "duckdb-pk": duckdb_pk,
    "duckdb-nokey": duckdb_nokey,
    "gridpulse-store": gridpulse_store,
}


def main() -> None:
    engine, ds, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    result = ENGINES[engine](ds, work)
    (work / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
