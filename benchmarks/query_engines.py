"""The engines of the query benchmark: how each one is loaded, and Q1-Q5 in its own language.

Every engine loads the data set once (not timed), then `prepare(q, spec)` returns a `Prepared`:
`run()` answers the query and returns what the engine's client hands back (Arrow, tuples, JSON),
that is what the clock measures; `rows(result)` turns it into plain tuples for the agreement check,
after the clock. A query an engine's language cannot say raises `CannotExpress`; an API without
an endpoint answering it in one call raises `NoEndpoint`. The queries themselves are defined in
query_peers.py's docstring; `Spec` holds their ranges.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from clients import QueryClient, http_post_streams
from dataset import START, DataSet
from procs import Server, Skip, free_port, wait_for
from servers import _INFLUX_CONF, Context, _deb_version, _settle, wait_rows

if TYPE_CHECKING:
    from gridpulse.analyses.base import AnalysisRun
    from gridpulse.model import Series

__all__ = [
    "LOCAL_TZ",
    "QUERIES",
    "CannotExpress",
    "Engine",
    "NoEndpoint",
    "Prepared",
    "Spec",
    "make_engines",
    "spec_for",
]

LOCAL_TZ = "Europe/Amsterdam"
QUERIES = ("Q1", "Q2", "Q3", "Q4", "Q5")
PG_DSN = os.environ.get("GRIDPULSE_BENCH_PG", "host=127.0.0.1 port=5432 dbname=test user=postgres")
PG_TABLE = "gp_bench_query_meter_usage"
HTTP_TIMEOUT_S = 600.0


class CannotExpress(Exception):
    """The engine's query language cannot say this query (the message says why)."""


class NoEndpoint(Exception):
    """No endpoint of the HTTP API answers this query in one call (the message says why)."""


@dataclass(frozen=True)
class Spec:
    """The ranges the queries name, from the data set. All instants UTC; ends exclusive.

    Attributes:
        start, end: the whole data set [first reading, last reading + 15 min).
        week: Q2's [Monday 00:00, next Monday 00:00), the first full week in the range.
        day: Q4's UTC day start.
        tz: Q5's zone.
    """

    start: datetime
    end: datetime
    week: tuple[datetime, datetime]
    day: datetime
    tz: str = LOCAL_TZ

    @property
    def day_end(self) -> datetime:
        return self.day + timedelta(days=1)


def spec_for(ds: DataSet) -> Spec:
    """The query ranges of a data set: the first full ISO week, and day 15 (or the last day).

    Raises:
        ValueError: the range holds no full Monday-to-Monday week.
    """
    start = START
    end = start + timedelta(days=ds.days)
    monday = start + timedelta(days=(7 - start.weekday()) % 7)
    if monday + timedelta(days=7) > end:
        raise ValueError(f"--days {ds.days} holds no full Monday-to-Monday week (Q2): use --days 7 or more")
    day = start + timedelta(days=min(14, ds.days - 1))
    return Spec(start, end, (monday, monday + timedelta(days=7)), day)


@dataclass(frozen=True)
class Prepared:
    """One query ready to run: run() is timed, rows() is not; text is the query as sent."""

    run: Callable[[], Any]
    rows: Callable[[Any], list[tuple[Any, ...]]]
    text: str


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sql_ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _arrow_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    cols = [c.to_pylist() for c in table.columns]
    return list(zip(*cols, strict=True))


def _tuples(result: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in result]


@dataclass
class Engine:
    """One engine of the table. peer: False for gridpulse itself; shared: the loaded folder the
    gridpulse engines share (the harness prepares it, each engine's process attaches to it)."""

    name: str
    peer: bool = True
    version: str = ""
    how: str = ""  # one line: the engine and its language, for the notes
    notes: list[str] = field(default_factory=list)
    shared: GridpulseShared | None = None

    def load(self, ds: DataSet, work: Path) -> None:
        raise NotImplementedError

    def prepare(self, q: str, spec: Spec) -> Prepared:
        raise NotImplementedError

    def close(self, keep: bool = False) -> None:
        """Release the engine (stop its server, drop its table) unless asked to keep it."""


# ------------------------------------------------------------------------------ SQL dialects
class SqlEngine(Engine):
    """An engine answering SQL; `sql(q, spec)` is its dialect, `execute(sql)` its client call."""

    def sql(self, q: str, spec: Spec) -> str:
        raise NotImplementedError

    def execute(self, sql: str) -> Any:
        raise NotImplementedError

    def result_rows(self, result: Any) -> list[tuple[Any, ...]]:
        return _tuples(result)

    def prepare(self, q: str, spec: Spec) -> Prepared:
        text = " ".join(self.sql(q, spec).split())
        return Prepared(lambda: self.execute(text), self.result_rows, text)


class DuckDB(SqlEngine):
    """DuckDB, a plain table (no key, no index) loaded from the Parquet file; Arrow results.

    ts is a plain TIMESTAMP holding UTC wall time, the way DuckDB users keep UTC for speed: on
    TIMESTAMPTZ every date_trunc goes through ICU's calendar (Q1 0.7 s instead of 0.1 s here).
    """

    def __init__(self) -> None:
        super().__init__(
            "DuckDB", how="DuckDB SQL on a plain table (no key, no index; ts TIMESTAMP in UTC), Arrow results"
        )

    def load(self, ds: DataSet, work: Path) -> None:
        import duckdb

        self.version = duckdb.__version__
        self.con = duckdb.connect(str(work / "query.duckdb"))
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("CREATE TABLE meter_usage (meter_id VARCHAR, ts TIMESTAMP, kwh DOUBLE)")
        src = pq.read_table(ds.parquet)
        self.con.register("src", src)
        self.con.execute("INSERT INTO meter_usage SELECT meter_id, timezone('UTC', ts), kwh FROM src")
        self.con.unregister("src")
        self.con.execute("CHECKPOINT")

    def sql(self, q: str, spec: Spec) -> str:
        w0, w1, d0, d1 = (_sql_ts(t) for t in (*spec.week, spec.day, spec.day_end))
        return {
            "Q1": "SELECT meter_id, CAST(date_trunc('day', ts) AS DATE) AS day, sum(kwh) AS kwh "
            "FROM meter_usage GROUP BY ALL",
            "Q2": "SELECT date_trunc('hour', ts) AS hour, sum(kwh) AS kwh FROM meter_usage "
            f"WHERE ts >= TIMESTAMP '{w0}' AND ts < TIMESTAMP '{w1}' GROUP BY ALL",
            "Q3": "SELECT meter_id, max(ts) AS ts, arg_max(kwh, ts) AS kwh FROM meter_usage GROUP BY ALL",
            "Q4": "SELECT meter_id, max(kwh) * 4 AS peak_kw FROM meter_usage "
            f"WHERE ts >= TIMESTAMP '{d0}' AND ts < TIMESTAMP '{d1}' "
            "GROUP BY ALL ORDER BY peak_kw DESC, meter_id LIMIT 10",
            "Q5": "SELECT meter_id, h AS hour, avg(v) AS kwh FROM ("
            " SELECT meter_id, CAST(timezone($tz, timezone('UTC', u)) AS DATE) AS d,"
            " hour(timezone($tz, timezone('UTC', u))) AS h, avg(v) AS v"
            " FROM (SELECT meter_id, date_trunc('hour', ts) AS u, sum(kwh) AS v FROM meter_usage GROUP BY ALL)"
            " GROUP BY ALL) GROUP BY ALL".replace("$tz", f"'{spec.tz}'"),
        }[q]

    def execute(self, sql: str) -> Any:
        return self.con.sql(sql).to_arrow_table()

    def result_rows(self, result: Any) -> list[tuple[Any, ...]]:
        return _arrow_rows(result)

    def close(self, keep: bool = False) -> None:
        if hasattr(self, "con"):
            self.con.close()


class ChDB(SqlEngine):
    """chDB (embedded ClickHouse): a MergeTree table ORDER BY (meter_id, ts), Arrow results."""

    def __init__(self) -> None:
        super().__init__(
            "chDB",
            how="chDB (ClickHouse SQL), MergeTree ORDER BY (meter_id, ts), parts merged, Arrow results",
        )

    def load(self, ds: DataSet, work: Path) -> None:
        try:
            import chdb
            from chdb import session
        except ImportError as exc:
            raise Skip(f"chdb not installed (pip install chdb, in the bench extra): {exc}") from exc
        self.sess = session.Session(str(work / "chdb"))
        self.version = "chdb " + chdb.__version__
        got = self.sess.query("SELECT version()", "CSV")
        self.version += f" (ClickHouse {str(got).strip().strip(chr(34))})"
        self.sess.query(
            "CREATE TABLE meter_usage (meter_id LowCardinality(String), ts DateTime('UTC'), kwh Float64) "
            "ENGINE = MergeTree ORDER BY (meter_id, ts)"
        )
        self.sess.query(
            f"INSERT INTO meter_usage SELECT meter_id, ts, kwh FROM file('{ds.parquet}', Parquet)"
        )
        self.sess.query("OPTIMIZE TABLE meter_usage FINAL")

    def sql(self, q: str, spec: Spec) -> str:
        w0, w1, d0, d1 = (_sql_ts(t) for t in (*spec.week, spec.day, spec.day_end))
        tz = spec.tz
        return {
            "Q1": "SELECT meter_id, toDate(ts, 'UTC') AS day, sum(kwh) AS kwh FROM meter_usage "
            "GROUP BY meter_id, day",
            "Q2": "SELECT toStartOfHour(ts) AS hour, sum(kwh) AS kwh FROM meter_usage "
            f"WHERE ts >= toDateTime('{w0}', 'UTC') AND ts < toDateTime('{w1}', 'UTC') GROUP BY hour",
            "Q3": "SELECT meter_id, max(ts) AS last_ts, argMax(kwh, ts) AS kwh FROM meter_usage GROUP BY meter_id",
            "Q4": "SELECT meter_id, max(kwh) * 4 AS peak_kw FROM meter_usage "
            f"WHERE ts >= toDateTime('{d0}', 'UTC') AND ts < toDateTime('{d1}', 'UTC') "
            "GROUP BY meter_id ORDER BY peak_kw DESC, meter_id LIMIT 10",
            "Q5": "SELECT meter_id, h AS hour, avg(v) AS kwh FROM ("
            f" SELECT meter_id, toDate(u, '{tz}') AS d, toHour(u, '{tz}') AS h, avg(v) AS v FROM ("
            "  SELECT meter_id, toStartOfHour(ts) AS u, sum(kwh) AS v FROM meter_usage GROUP BY meter_id, u)"
            " GROUP BY meter_id, d, h) GROUP BY meter_id, h",
        }[q]

    def execute(self, sql: str) -> Any:
        return self.sess.query(sql, "ArrowTable")

    def result_rows(self, result: Any) -> list[tuple[Any, ...]]:
        return _arrow_rows(result)

    def close(self, keep: bool = False) -> None:
        if hasattr(self, "sess"):
            self.sess.close()


class Postgres(SqlEngine):
    """PostgreSQL (the local server): PRIMARY KEY (meter_id, ts) and an index on ts, COPY-loaded."""

    def __init__(self) -> None:
        super().__init__(
            "PostgreSQL",
            how="PostgreSQL SQL, table with PRIMARY KEY (meter_id, ts) and an index on ts, psycopg fetchall",
        )

    def load(self, ds: DataSet, work: Path) -> None:
        import psycopg

        try:
            self.con = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            raise Skip(f"PostgreSQL not reachable at {PG_DSN!r}: {str(exc).strip()[:200]}") from exc
        row = self.con.execute("SHOW server_version").fetchone()
        self.version = str(row[0]).split()[0] if row else ""
        self.con.execute("SET TIME ZONE 'UTC'")
        self.con.execute(f"DROP TABLE IF EXISTS {PG_TABLE}")
        self.con.execute(
            f"CREATE TABLE {PG_TABLE} (meter_id text NOT NULL, ts timestamptz NOT NULL, "
            "kwh double precision, PRIMARY KEY (meter_id, ts))"
        )
        with (
            self.con.transaction(),
            self.con.cursor().copy(
                f"COPY {PG_TABLE} (ts, meter_id, kwh) FROM STDIN WITH (FORMAT csv, HEADER true)"
            ) as cp,
            ds.csv.open("rb") as f,
        ):
            while chunk := f.read(1 << 20):
                cp.write(chunk)
        self.con.execute(f"CREATE INDEX {PG_TABLE}_ts ON {PG_TABLE} (ts)")
        self.con.execute(f"VACUUM ANALYZE {PG_TABLE}")

    def sql(self, q: str, spec: Spec) -> str:
        w0, w1, d0, d1 = (_sql_ts(t) for t in (*spec.week, spec.day, spec.day_end))
        t, tz = PG_TABLE, spec.tz
        return {
            "Q1": f"SELECT meter_id, (ts AT TIME ZONE 'UTC')::date AS day, sum(kwh) AS kwh FROM {t} GROUP BY 1, 2",
            "Q2": f"SELECT date_trunc('hour', ts) AS hour, sum(kwh) AS kwh FROM {t} "
            f"WHERE ts >= '{w0}+00' AND ts < '{w1}+00' GROUP BY 1",
            # a loose index scan: one index probe per meter instead of reading every row
            "Q3": f"WITH RECURSIVE m AS (SELECT min(meter_id) AS id FROM {t} UNION ALL "
            f"SELECT (SELECT min(meter_id) FROM {t} WHERE meter_id > m.id) FROM m WHERE m.id IS NOT NULL) "
            f"SELECT l.meter_id, l.ts, l.kwh FROM m CROSS JOIN LATERAL (SELECT meter_id, ts, kwh FROM {t} "
            "WHERE meter_id = m.id ORDER BY ts DESC LIMIT 1) l",
            "Q4": f"SELECT meter_id, max(kwh) * 4 AS peak_kw FROM {t} WHERE ts >= '{d0}+00' AND ts < '{d1}+00' "
            "GROUP BY 1 ORDER BY peak_kw DESC, meter_id LIMIT 10",
            "Q5": "SELECT meter_id, h AS hour, avg(v) AS kwh FROM ("
            f" SELECT meter_id, (u AT TIME ZONE '{tz}')::date AS d,"
            f" extract(hour FROM u AT TIME ZONE '{tz}')::int AS h, avg(v) AS v FROM ("
            f"  SELECT meter_id, date_trunc('hour', ts) AS u, sum(kwh) AS v FROM {t} GROUP BY 1, 2) x"
            " GROUP BY 1, 2, 3) y GROUP BY 1, 2",
        }[q]

    def execute(self, sql: str) -> Any:
        return self.con.execute(sql).fetchall()

    def close(self, keep: bool = False) -> None:
        if hasattr(self, "con"):
            if not keep:
                self.con.execute(f"DROP TABLE IF EXISTS {PG_TABLE}")
            self.con.close()


class SQLite(SqlEngine):
    """SQLite (WAL): PRIMARY KEY (meter_id, ts), an index on ts, ts as ISO text ("...Z")."""

    def __init__(self) -> None:
        super().__init__(
            "SQLite (WAL)",
            how="SQLite SQL, PRIMARY KEY (meter_id, ts) and an index on ts, ts as ISO 8601 text, fetchall",
        )

    def load(self, ds: DataSet, work: Path) -> None:
        self.version = sqlite3.sqlite_version
        self.con = sqlite3.connect(work / "query.sqlite", isolation_level=None, check_same_thread=False)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.execute(
            "CREATE TABLE meter_usage (meter_id TEXT NOT NULL, ts TEXT NOT NULL, kwh REAL, "
            "PRIMARY KEY (meter_id, ts))"
        )
        with ds.csv.open(newline="") as f:
            reader = csv.reader(f)
            next(reader)
            while chunk := list(islice(reader, 200_000)):
                self.con.execute("BEGIN")
                self.con.executemany("INSERT INTO meter_usage (ts, meter_id, kwh) VALUES (?, ?, ?)", chunk)
                self.con.execute("COMMIT")
        self.con.execute("CREATE INDEX meter_usage_ts ON meter_usage (ts)")
        self.con.execute("ANALYZE")
        self.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def sql(self, q: str, spec: Spec) -> str:
        w0, w1, d0, d1 = (_iso(t) for t in (*spec.week, spec.day, spec.day_end))
        return {
            "Q1": "SELECT meter_id, substr(ts, 1, 10) AS day, sum(kwh) AS kwh FROM meter_usage GROUP BY 1, 2",
            "Q2": "SELECT substr(ts, 1, 13) AS hour, sum(kwh) AS kwh FROM meter_usage "
            f"WHERE ts >= '{w0}' AND ts < '{w1}' GROUP BY 1",
            "Q3": "WITH RECURSIVE m(id) AS (SELECT min(meter_id) FROM meter_usage UNION ALL "
            "SELECT (SELECT min(meter_id) FROM meter_usage WHERE meter_id > m.id) FROM m WHERE m.id IS NOT NULL) "
            "SELECT m.id, (SELECT ts FROM meter_usage WHERE meter_id = m.id ORDER BY ts DESC LIMIT 1) AS ts, "
            "(SELECT kwh FROM meter_usage WHERE meter_id = m.id ORDER BY ts DESC LIMIT 1) AS kwh "
            "FROM m WHERE m.id IS NOT NULL",
            "Q4": "SELECT meter_id, max(kwh) * 4 AS peak_kw FROM meter_usage "
            f"WHERE ts >= '{d0}' AND ts < '{d1}' GROUP BY 1 ORDER BY peak_kw DESC, meter_id LIMIT 10",
            # SQLite has no zone database: 'localtime' is the process' zone, so Q5 runs with
            # TZ=Europe/Amsterdam set for the process (see execute)
            "Q5": "SELECT meter_id, h AS hour, avg(v) AS kwh FROM ("
            " SELECT meter_id, date(u, 'localtime') AS d, CAST(strftime('%H', u, 'localtime') AS INTEGER) AS h,"
            " avg(v) AS v FROM ("
            "  SELECT meter_id, substr(ts, 1, 13) || ':00:00Z' AS u, sum(kwh) AS v FROM meter_usage GROUP BY 1, 2)"
            " GROUP BY 1, 2, 3) GROUP BY 1, 2",
        }[q]

    def prepare(self, q: str, spec: Spec) -> Prepared:
        p = super().prepare(q, spec)
        if q != "Q5":
            return p

        def run() -> Any:
            before = os.environ.get("TZ")
            os.environ["TZ"] = spec.tz
            time.tzset()
            try:
                return p.run()
            finally:
                if before is None:
                    os.environ.pop("TZ", None)
                else:
                    os.environ["TZ"] = before
                time.tzset()

        return Prepared(run, p.rows, p.text + f"  -- with TZ={spec.tz} in the process environment")

    def execute(self, sql: str) -> Any:
        return self.con.execute(sql).fetchall()

    def close(self, keep: bool = False) -> None:
        if hasattr(self, "con"):
            self.con.close()


# ------------------------------------------------------------------------------ InfluxDB 1.x
class InfluxDB(Engine):
    """InfluxDB 1.x on loopback, loaded over /write, queried in InfluxQL over GET /query."""

    def __init__(self) -> None:
        super().__init__("InfluxDB", how="InfluxDB 1.x, InfluxQL over GET /query (JSON, epoch=s)")

    def load(self, ds: DataSet, work: Path) -> None:
        exe = shutil.which("influxd")
        if exe is None:
            raise Skip("influxd not found (Debian package influxdb; `make bench` installs it with apt)")
        self.version = _deb_version("influxdb")
        root = work / "influxdb"
        root.mkdir()
        port, rpc_port = free_port(), free_port()
        conf = work / "influxdb.conf"
        conf.write_text(_INFLUX_CONF.format(root=root, port=port, rpc_port=rpc_port))
        self.base = f"http://127.0.0.1:{port}"
        self.srv = Server([exe, "run", "-config", str(conf)], log=work / "influxd.log", cwd=work)

        def up() -> bool:
            self.srv.check_alive()
            return httpx.get(self.base + "/ping", timeout=5).status_code == 204

        wait_for(up, timeout=60, interval=0.1, what="influxd")
        self.client = httpx.Client(base_url=self.base, timeout=HTTP_TIMEOUT_S)
        self.query = QueryClient(self.base, HTTP_TIMEOUT_S)
        self.client.post("/query", params={"q": "CREATE DATABASE bench"}).raise_for_status()
        http_post_streams(
            self.base + "/write?db=bench&precision=ns", Context(ds, work, 4, 50_000).streams("lp")
        )

        def count() -> int:
            got = self._get("SELECT count(kwh) FROM meter_usage")
            series = got["results"][0].get("series")
            return int(series[0]["values"][0][1]) if series else 0

        wait_rows(count, ds.rows, self.srv)
        _settle(root, self.srv, timeout=120)  # cache snapshotted to TSM and compacted

    def _get(self, q: str) -> Any:
        body = self.query.get_json("/query", {"db": "bench", "q": q, "epoch": "s"})
        err = body["results"][0].get("error") if body.get("results") else body.get("error")
        if err:
            raise RuntimeError(f"InfluxQL error: {err}")
        return body

    def prepare(self, q: str, spec: Spec) -> Prepared:
        a, b, w0, w1, d0, d1 = (_iso(t) for t in (spec.start, spec.end, *spec.week, spec.day, spec.day_end))
        if q == "Q5":
            raise CannotExpress(
                "InfluxQL 1.x groups by time buckets (GROUP BY time(1h) tz(...)) and tags only: it has no "
                "hour-of-day function to fold the days onto 24 local hours (Flux is not in 1.6)"
            )
        text = {
            # GROUP BY time() needs a bounded range (else it starts at the epoch); the data set's range
            "Q1": f"SELECT sum(kwh) FROM meter_usage WHERE time >= '{a}' AND time < '{b}' "
            "GROUP BY time(1d), meter_id fill(none)",
            "Q2": f"SELECT sum(kwh) FROM meter_usage WHERE time >= '{w0}' AND time < '{w1}' "
            "GROUP BY time(1h) fill(none)",
            "Q3": "SELECT last(kwh) FROM meter_usage GROUP BY meter_id",
            "Q4": "SELECT top(peak_kw, meter_id, 10) AS peak_kw FROM (SELECT max(kwh) * 4 AS peak_kw "
            f"FROM meter_usage WHERE time >= '{d0}' AND time < '{d1}' GROUP BY meter_id)",
        }[q]

        def rows(body: Any) -> list[tuple[Any, ...]]:
            out: list[tuple[Any, ...]] = []
            for s in body["results"][0].get("series", []):
                tags = s.get("tags", {})
                cols = s["columns"]
                for v in s["values"]:
                    rec = dict(zip(cols, v, strict=True))
                    if q == "Q1":
                        out.append((tags["meter_id"], rec["time"], rec["sum"]))
                    elif q == "Q2":
                        out.append((rec["time"], rec["sum"]))
                    elif q == "Q3":
                        out.append((tags["meter_id"], rec["time"], rec["last"]))
                    else:
                        out.append((rec["meter_id"], rec["peak_kw"]))
            return out

        return Prepared(lambda: self._get(text), rows, text)

    def close(self, keep: bool = False) -> None:
        if hasattr(self, "client"):
            self.client.close()
            self.query.close()
        if hasattr(self, "srv"):
            self.srv.stop(signal.SIGTERM)


# ------------------------------------------------------------------------------ VictoriaMetrics
class VictoriaMetrics(Engine):
    """VictoriaMetrics single node on loopback, loaded over /write, queried in MetricsQL."""

    def __init__(self) -> None:
        super().__init__(
            "VictoriaMetrics",
            how="VictoriaMetrics, MetricsQL over /api/v1/query and /api/v1/query_range (nocache=1)",
        )

    def load(self, ds: DataSet, work: Path) -> None:
        exe = shutil.which("victoria-metrics")
        if exe is None:
            raise Skip(
                "victoria-metrics not found (Debian package victoria-metrics; `make bench` installs it)"
            )
        self.version = _deb_version("victoria-metrics")
        root = work / "vm"
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        argv = [
            exe,
            f"-storageDataPath={root}",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=100y",  # the data set is from 2024; the default keeps one month
            "-search.disableCache",
            "-loggerLevel=ERROR",
        ]
        self.srv = Server(argv, log=work / "victoria-metrics.log", cwd=work)

        def up() -> bool:
            self.srv.check_alive()
            return httpx.get(self.base + "/health", timeout=5).status_code == 200

        wait_for(up, timeout=60, interval=0.1, what="victoria-metrics")
        self.client = httpx.Client(base_url=self.base, timeout=HTTP_TIMEOUT_S)
        self.query = QueryClient(self.base, HTTP_TIMEOUT_S)
        http_post_streams(self.base + "/write?precision=ns", Context(ds, work, 4, 50_000).streams("lp"))
        end = int((START + timedelta(days=ds.days)).timestamp())
        query = f"sum(count_over_time(meter_usage_kwh[{ds.days + 1}d]))"

        def count() -> int:
            self.client.get("/internal/force_flush").raise_for_status()
            got = self._get("/api/v1/query", {"query": query, "time": str(end)})
            result = got["data"]["result"]
            return int(float(result[0]["value"][1])) if result else 0

        wait_rows(count, ds.rows, self.srv, poll_s=0.2)

    def _get(self, path: str, params: dict[str, str]) -> Any:
        return self.query.get_json(path, {**params, "nocache": "1"})

    def prepare(self, q: str, spec: Spec) -> Prepared:
        if q == "Q5":
            raise CannotExpress(
                "PromQL/MetricsQL evaluate at instants and aggregate over labels, never over a time-of-day "
                "key: folding 30 days onto 24 local hours takes one subquery per hour (24 queries)"
            )
        span = (datetime.now(UTC) - spec.start).days + 2
        # a [w] window at t holds the samples in (t - w, t]; offset 1s makes it [t - w, t), so the
        # point at t = D + 1 day is day D (samples stamp the start of their interval)
        if q == "Q1":
            path = "/api/v1/query_range"
            params = {
                "query": "sum_over_time(meter_usage_kwh[1d] offset 1s)",
                "start": str(int((spec.start + timedelta(days=1)).timestamp())),
                "end": str(int(spec.end.timestamp())),
                "step": "1d",
            }
        elif q == "Q2":
            path = "/api/v1/query_range"
            params = {
                "query": "sum(sum_over_time(meter_usage_kwh[1h] offset 1s))",
                "start": str(int((spec.week[0] + timedelta(hours=1)).timestamp())),
                "end": str(int(spec.week[1].timestamp())),
                "step": "1h",
            }
        elif q == "Q3":
            # every sample since the data set's start: the latest reading without knowing when it was
            path = "/api/v1/query"
            w = f"meter_usage_kwh[{span}d]"
            params = {
                "query": f'label_set(last_over_time({w}), "q", "kwh") or label_set(tlast_over_time({w}), "q", "ts")'
            }
        else:
            path = "/api/v1/query"
            params = {
                "query": "topk(10, max_over_time(meter_usage_kwh[1d] offset 1s)) * 4",
                "time": str(int(spec.day_end.timestamp())),
            }
        text = f"{path} " + " ".join(f"{k}={v}" for k, v in params.items())

        def rows(body: Any) -> list[tuple[Any, ...]]:
            result = body["data"]["result"]
            if q == "Q1":
                return [
                    (r["metric"]["meter_id"], float(t) - 86400, float(v))
                    for r in result
                    for t, v in r["values"]
                ]
            if q == "Q2":
                return [(float(t) - 3600, float(v)) for r in result for t, v in r["values"]]
            if q == "Q3":
                got: dict[str, dict[str, float]] = {}
                for r in result:
                    m = r["metric"]
                    got.setdefault(m["meter_id"], {})[m["q"]] = float(r["value"][1])
                return [(meter, d.get("ts"), d.get("kwh")) for meter, d in got.items()]
            return [(r["metric"]["meter_id"], float(r["value"][1])) for r in result]

        return Prepared(lambda: self._get(path, params), rows, text)

    def close(self, keep: bool = False) -> None:
        if hasattr(self, "client"):
            self.client.close()
            self.query.close()
        if hasattr(self, "srv"):
            self.srv.stop(signal.SIGINT)


# ------------------------------------------------------------------------------ gridpulse
def _gridpulse_env(work: Path) -> dict[str, str]:
    return {**os.environ, "GRIDPULSE_DEMO_DATASETS_DIR": str(work / "none")}


def _pending(stats: dict[str, Any]) -> int:
    """Work the store reports as still to do (e.g. rollup ranges pending), 0 when none is reported."""
    return sum(int(v) for k, v in stats.items() if "pending" in k and isinstance(v, int | float))


class GridpulseServer:
    """`gridpulse serve` on a data folder, on a free port, stopped by PID."""

    def __init__(self, data: Path, work: Path, log: str) -> None:
        argv = [sys.executable, "-m", "gridpulse", "serve", "--data-dir", str(data), "--port", "0"]
        argv += ["--no-extra-ports", "--no-ilp"]
        (data / "server.json").unlink(missing_ok=True)
        self.srv = Server(argv, log=work / log, env=_gridpulse_env(work), cwd=work)

        def started() -> str:
            self.srv.check_alive()
            url: str = json.loads((data / "server.json").read_text())["url"]
            httpx.get(url + "/healthz", timeout=5).raise_for_status()
            return url

        self.url: str = wait_for(started, timeout=120, interval=0.1, what="gridpulse serve")

    def settle(self, timeout: float = 300) -> str:
        """Wait until /api/v1/status reports nothing pending (whatever the store does after a load).

        Returns what was pending at first and how long it took, for the notes.
        """
        t0 = time.perf_counter()
        first: dict[str, Any] = {}

        def done() -> bool:
            self.srv.check_alive()
            status = httpx.get(self.url + "/api/v1/status", timeout=60).json()
            if not first:
                first.update({k: v for k, v in status.items() if "pending" in k})
            return _pending(status) == 0

        wait_for(done, timeout=timeout, interval=0.5, what="gridpulse to settle")
        what = ", ".join(f"{k} {v:,}" for k, v in first.items()) or "nothing reported"
        return f"{what} at start-up, settled in {time.perf_counter() - t0:.1f} s"

    def stop(self) -> None:
        self.srv.stop(signal.SIGTERM)  # closes the store: WAL checkpointed into the file


class GridpulseShared:
    """What the gridpulse engines share: one `gridpulse load`, then a served folder and a copy.

    load -> serve, settle, stop -> copy the folder (the Python engine opens the copy read-only)
    -> serve the original again for the API engines (Arrow and JSON). Both hold the same state.
    The harness runs `ensure` and owns the server; each engine's process `attach`es to what it
    made.
    """

    def __init__(self) -> None:
        self.loaded = False
        self.server: GridpulseServer | None = None
        self.url = ""
        self.copy: Path | None = None
        self.note = ""

    def state(self) -> dict[str, Any]:
        """What an engine's process needs to use the folder this harness prepared (`attach`)."""
        return {"url": self.url, "copy": self.copy, "note": self.note}

    def attach(self, url: str, copy: Path | None, note: str) -> None:
        """Use a folder and server prepared by the harness's `ensure` (the server stays its own)."""
        self.url, self.copy, self.note, self.loaded = url, copy, note, True

    def ensure(self, ds: DataSet, work: Path) -> None:
        if self.loaded:
            return
        exe = Path(sys.executable).parent / "gridpulse"
        data = work / "gp"
        argv = [str(exe), "load", str(ds.parquet), "--data-dir", str(data), "--interval", "15min"]
        srv = Server(argv, log=work / "gridpulse-load.log", env=_gridpulse_env(work), cwd=work)
        srv.proc.wait(1800)
        if srv.proc.returncode != 0:
            raise RuntimeError(f"gridpulse load exited with {srv.proc.returncode}: {srv.last_line()}")
        srv.stop()
        first = GridpulseServer(data, work, "gridpulse-serve-1.log")
        try:
            self.note = "served after `gridpulse load`, status pending: " + first.settle()
        finally:
            first.stop()
        self.copy = work / "gp-copy"
        shutil.copytree(data, self.copy, ignore=shutil.ignore_patterns("server.json", "*.lock"))
        self.server = GridpulseServer(data, work, "gridpulse-serve-2.log")
        self.server.settle()
        self.url = self.server.url
        self.loaded = True

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def _gp_version() -> str:
    from gridpulse import __version__

    return __version__


#: Q -> the analysis of GET /api/v1/analytics/{name} answering it, and its parameters.
def _analysis_params(q: str, spec: Spec) -> tuple[str, dict[str, str]]:
    w0, w1, d0, d1 = (_iso(t) for t in (*spec.week, spec.day, spec.day_end))
    return {
        "Q1": ("energy", {"kind": "meter", "metric": "kwh", "period": "day", "tz": "UTC"}),
        "Q2": (
            "energy",
            {
                "kind": "meter",
                "metric": "kwh",
                "period": "hour",
                "by": "all",
                "tz": "UTC",
                "start": w0,
                "end": w1,
            },
        ),
        "Q4": (
            "peak-demand",
            {
                "kind": "meter",
                "metric": "kwh",
                "window": "15min",
                "period": "day",
                "tz": "UTC",
                "start": d0,
                "end": d1,
                "top": "10",
            },
        ),
        "Q5": (
            "profile",
            {"kind": "meter", "metric": "kwh", "points": "24", "day_types": "all", "tz": spec.tz},
        ),
    }[q]


def _names(series: list[Series]) -> dict[int, str]:
    """Series id -> meter name, for the agreement check (off the clock)."""
    return {s.series_id: s.key.entity_id for s in series}


def _top10(pairs: list[tuple[str, float]]) -> list[tuple[str, float]]:
    return sorted(pairs, key=lambda p: (-p[1], p[0]))[:10]


def _analysis_rows(q: str, table: pa.Table, names: dict[int, str]) -> list[tuple[Any, ...]]:
    """The rows of an analysis' table in the shape the peers answer (Q4's top 10 taken already)."""
    cols = {c: table.column(c).to_pylist() for c in table.column_names}
    if q == "Q1":
        return [
            (names[s], d.isoformat() if hasattr(d, "isoformat") else d, e)
            for s, d, e in zip(cols["series_id"], cols["local_date"], cols["energy_kwh"], strict=True)
        ]
    if q == "Q2":
        return list(zip(cols["start"], cols["energy_kwh"], strict=True))
    return [
        (names[s], slot, e)
        for s, slot, e in zip(cols["series_id"], cols["slot"], cols["energy_kwh"], strict=True)
    ]


def _top10_of(table: pa.Table, names: dict[int, str]) -> list[tuple[str, float]]:
    """Q4: the 10 highest daily peaks of the peak-demand table, ties by meter name."""
    sid = table.column("series_id").to_pylist()
    kw = table.column("peak_kw").to_pylist()
    return _top10([(names[s], k) for s, k in zip(sid, kw, strict=True)])


class GridpulseAPI(Engine):
    """`gridpulse serve`: GET /api/v1/analytics/{name} (and /api/v1/latest), Arrow IPC or JSON answers."""

    def __init__(self, shared: GridpulseShared, fmt: str = "arrow") -> None:
        wire = {"arrow": "Arrow IPC stream (format=arrow)", "json": "JSON"}[fmt]
        super().__init__(
            f"gridpulse API ({fmt})",
            peer=False,
            how=f"`gridpulse serve`: GET /api/v1/analytics/{{name}} and /api/v1/latest over HTTP, {wire}",
        )
        self.shared: GridpulseShared = shared
        self.fmt = fmt

    def load(self, ds: DataSet, work: Path) -> None:
        self.version = _gp_version()
        self.shared.ensure(ds, work)
        self.query = QueryClient(self.shared.url, HTTP_TIMEOUT_S)
        self.notes.append(self.shared.note)
        status, body = self.query.get("/api/v1/analytics")
        self.analyses = (
            {a["name"] for a in orjson.loads(body).get("analyses", [])} if status == 200 else set()
        )

    def _answer(self, path: str, params: dict[str, str]) -> Any:
        """What the client has once the answer is in: a decoded Arrow table, or parsed JSON."""
        body = self.query.get_ok(path, params)
        return pa.ipc.open_stream(body).read_all() if self.fmt == "arrow" else orjson.loads(body)

    def _table(self, answer: Any) -> tuple[pa.Table, dict[int, str]]:
        """The answer as a table and its series' names, off the clock (as the peers' rows are)."""
        if self.fmt == "arrow":  # each row names its series (entity_id beside series_id)
            table: pa.Table = answer
            if "series_id" not in table.column_names:
                return table, {}
            pairs = table.select(["series_id", "entity_id"]).to_pydict()
            return table, dict(zip(pairs["series_id"], pairs["entity_id"], strict=True))
        rows = answer["rows"]
        table = pa.Table.from_pylist(rows) if rows else pa.table({c: [] for c in answer["columns"]})
        return table, {s["series_id"]: s["entity_id"] for s in answer["params"]["series"]}

    def prepare(self, q: str, spec: Spec) -> Prepared:
        if q == "Q3":
            path, params = "/api/v1/latest", {"kind": "meter", "metric": "kwh"}
            if self.fmt == "arrow":
                params["format"] = "arrow"

                def latest() -> pa.Table:
                    return pa.ipc.open_stream(self.query.get_ok(path, params)).read_all()

                return Prepared(
                    latest,
                    lambda t: _arrow_rows(t.select(["entity_id", "ts", "value"])),
                    f"GET {path}?kind=meter&metric=kwh&format=arrow",
                )
            return Prepared(
                lambda: self.query.get_json(path, params),
                lambda body: [(r["entity_id"], r["ts"], r["value"]) for r in body["latest"]],
                f"GET {path}?kind=meter&metric=kwh",
            )
        name, params = _analysis_params(q, spec)
        if name not in self.analyses:
            raise NoEndpoint(
                f"GET /api/v1/analytics lists no {name!r} analysis"
                + ("" if self.analyses else " (the route is not there)")
                + "; GET /api/v1/readings reads one series per call"
            )
        path = f"/api/v1/analytics/{name}"
        if self.fmt != "json":
            params = {**params, "format": self.fmt}
        text = f"GET {path}?" + "&".join(f"{k}={v}" for k, v in params.items())
        if q == "Q4":  # the answer holds the day's top 10; ordered by name for ties off the clock
            return Prepared(lambda: self._answer(path, params), lambda r: _top10_of(*self._table(r)), text)
        return Prepared(
            lambda: self._answer(path, params), lambda r: _analysis_rows(q, *self._table(r)), text
        )

    def close(self, keep: bool = False) -> None:
        if hasattr(self, "query"):
            self.query.close()
        self.shared.close()


class GridpulsePython(Engine):
    """The same analyses in process: open_store(read_only=True) on a copy of the served folder,
    gridpulse.analyses.run (what the API route calls), and store.latest for Q3."""

    def __init__(self, shared: GridpulseShared) -> None:
        super().__init__(
            "gridpulse Python",
            peer=False,
            how="in process: open_store(url, read_only=True); gridpulse.analyses.run(store, settings, name, "
            "params), the call the API route makes; store.latest for Q3",
        )
        self.shared: GridpulseShared = shared

    def load(self, ds: DataSet, work: Path) -> None:
        from gridpulse.config import load_settings
        from gridpulse.store import open_store

        self.version = _gp_version()
        self.shared.ensure(ds, work)
        assert self.shared.copy is not None
        self.store = open_store(f"duckdb:///{self.shared.copy / 'gridpulse.duckdb'}", read_only=True)
        self.settings = load_settings(env={})

    def prepare(self, q: str, spec: Spec) -> Prepared:
        from gridpulse.analyses import run
        from gridpulse.store.base import SeriesFilter

        store = self.store
        if q == "Q3":

            def run3() -> tuple[pa.Table, list[Series]]:
                found = store.list_series(SeriesFilter(entity_kind="meter", metric="kwh"))
                return store.latest([s.series_id for s in found]), found

            def rows3(r: tuple[pa.Table, list[Series]]) -> list[tuple[Any, ...]]:
                table, names = r[0], _names(r[1])  # made Python rows off the clock, as DuckDB's Arrow
                sid, ts, value = (table.column(c).to_pylist() for c in ("series_id", "ts", "value"))
                return [(names[s], t, v) for s, t, v in zip(sid, ts, value, strict=True)]

            return Prepared(run3, rows3, "store.latest(meters)")
        name, params = _analysis_params(q, spec)
        text = f"run(store, settings, {name!r}, {params})"

        def answer() -> AnalysisRun:  # the table and its series: what the API's answer holds
            return run(store, self.settings, name, params)

        if q == "Q4":
            return Prepared(answer, lambda r: _top10_of(r.result.table, _names(r.series)), text)
        return Prepared(answer, lambda r: _analysis_rows(q, r.result.table, _names(r.series)), text)

    def close(self, keep: bool = False) -> None:
        if hasattr(self, "store"):
            self.store.close()


def make_engines() -> list[Engine]:
    """Every engine, gridpulse first; the three gridpulse engines share one loaded folder."""
    shared = GridpulseShared()
    return [
        GridpulseAPI(shared, "arrow"),
        GridpulseAPI(shared, "json"),
        GridpulsePython(shared),
        DuckDB(),
        ChDB(),
        Postgres(),
        SQLite(),
        InfluxDB(),
        VictoriaMetrics(),
    ]
