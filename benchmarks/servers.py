"""The server engines: gridpulse serve, InfluxDB 1.x and VictoriaMetrics, started on loopback.

Each function starts its server with its data under the run's temporary folder, sends the
prepared bodies with the clients of `clients.py`, waits until a count query sees every row,
then stops the server by PID (also on failure) and measures its data folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from clients import http_post_streams, tcp_send_streams
from dataset import START, DataSet
from procs import RssPoller, Server, Skip, dir_size, free_port, wait_for

__all__ = ["Context", "Run", "gridpulse_serve", "influxdb", "victoriametrics", "wait_rows"]

STALL_S = 120.0


@dataclass
class Run:
    """One measured load. seconds: first byte sent -> every row queryable. [s]"""

    seconds: float
    rows: int
    peak_rss_mb: float | None
    disk_bytes: int | None
    version: str = ""
    note: str = ""


@dataclass
class Context:
    """What every engine gets: the data set, a fresh folder, the prepared bodies."""

    ds: DataSet
    work: Path
    writers: int
    batch_rows: int
    _cache: dict[str, list[list[bytes]]] = field(default_factory=dict)

    def streams(self, fmt: str) -> list[list[bytes]]:
        """The file of `fmt` ("lp" or "ndjson") split by meter over the writers, in bodies."""
        from dataset import split_lines

        if fmt not in self._cache:
            path = self.ds.lineprotocol if fmt == "lp" else self.ds.ndjson
            self._cache[fmt] = split_lines(
                path.read_bytes(),
                rows=self.ds.rows,
                meters=self.ds.meters,
                writers=self.writers,
                batch_rows=self.batch_rows,
            )
        return self._cache[fmt]


def wait_rows(count: Callable[[], int], expected: int, server: Server, *, poll_s: float = 0.05) -> int:
    """Poll `count` until it reaches `expected`; fail if the server dies or the count stalls.

    Raises:
        RuntimeError: the server exited, or no progress for STALL_S seconds.
    """
    last, last_change = -1, time.monotonic()
    while True:
        server.check_alive()
        n = count()
        if n >= expected:
            return n
        if n != last:
            last, last_change = n, time.monotonic()
        elif time.monotonic() - last_change > STALL_S:
            raise RuntimeError(f"stalled at {n:,} of {expected:,} rows for {STALL_S:.0f} s")
        time.sleep(poll_s)


def _deb_version(package: str) -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.split("~")[0].split("+")[0] if out.returncode == 0 else ""


# -- gridpulse ------------------------------------------------------------------------------------


def gridpulse_serve(ctx: Context, protocol: str) -> Run:
    """`gridpulse serve` as a user runs it; protocol: "ilp-tcp", "ilp-http" or "ndjson-http"."""
    from gridpulse import __version__

    data = ctx.work / "gp"
    env = {**os.environ, "GRIDPULSE_DEMO_DATASETS_DIR": str(ctx.work / "none")}
    argv = [sys.executable, "-m", "gridpulse", "serve", "--data-dir", str(data), "--port", "0"]
    argv += ["--no-extra-ports", "--ilp-port", "0"]
    streams = ctx.streams("ndjson" if protocol == "ndjson-http" else "lp")
    srv = Server(argv, log=ctx.work / "gridpulse.log", env=env, cwd=ctx.work)
    try:

        def started() -> dict[str, str] | None:
            srv.check_alive()
            rec: dict[str, str] = json.loads((data / "server.json").read_text())
            httpx.get(rec["url"] + "/healthz", timeout=5).raise_for_status()
            return rec

        rec = wait_for(started, timeout=60, interval=0.1, what="gridpulse serve")
        url = rec["url"]
        host, port = rec["ilp"].rsplit(":", 1)

        def count() -> int:
            return int(httpx.get(url + "/api/v1/status", timeout=60).json()["points"])

        with RssPoller([srv.pid]) as rss:
            t0 = time.perf_counter()
            if protocol == "ilp-tcp":
                tcp_send_streams(host, int(port), streams)
            elif protocol == "ilp-http":
                http_post_streams(url + "/write?precision=ns", streams)
            else:
                http_post_streams(
                    url + "/ingest/meter_usage/ndjson",
                    streams,
                    headers={"content-type": "application/x-ndjson"},
                )
            rows = wait_rows(count, ctx.ds.rows, srv)
            seconds = time.perf_counter() - t0
        srv.stop(signal.SIGTERM)  # closes the store: WAL checkpointed into the file
        return Run(seconds, rows, rss.peak_mb, dir_size(data), __version__, "")
    finally:
        srv.stop(signal.SIGKILL)


# -- InfluxDB 1.x ---------------------------------------------------------------------------------

_INFLUX_CONF = """\
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root}/meta"
  logging-enabled = false

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  trace-logging-enabled = false
  # snapshot the cache to TSM and compact soon after the writes stop, so the size on disk
  # is the settled one; while writes go on these do nothing
  cache-snapshot-write-cold-duration = "2s"
  compact-full-write-cold-duration = "5s"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
  pprof-enabled = false

[logging]
  level = "warn"

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false
"""


def influxdb(ctx: Context) -> Run:
    """InfluxDB 1.x: line protocol over HTTP (POST /write?precision=ns), as its clients send it."""
    exe = shutil.which("influxd")
    if exe is None:
        raise Skip("influxd not found (Debian package influxdb; `make bench` installs it with apt)")
    root = ctx.work / "influxdb"
    root.mkdir()
    port, rpc_port = free_port(), free_port()
    conf = ctx.work / "influxdb.conf"
    conf.write_text(_INFLUX_CONF.format(root=root, port=port, rpc_port=rpc_port))
    base = f"http://127.0.0.1:{port}"
    srv = Server([exe, "run", "-config", str(conf)], log=ctx.work / "influxd.log", cwd=ctx.work)
    try:

        def up() -> bool:
            srv.check_alive()
            return httpx.get(base + "/ping", timeout=5).status_code == 204

        wait_for(up, timeout=60, interval=0.1, what="influxd")
        httpx.post(base + "/query", params={"q": "CREATE DATABASE bench"}, timeout=30).raise_for_status()
        streams = ctx.streams("lp")

        def count() -> int:
            r = httpx.get(
                base + "/query",
                params={"db": "bench", "q": "SELECT count(kwh) FROM meter_usage"},
                timeout=120,
            )
            r.raise_for_status()
            series = r.json()["results"][0].get("series")
            return int(series[0]["values"][0][1]) if series else 0

        with RssPoller([srv.pid]) as rss:
            t0 = time.perf_counter()
            http_post_streams(base + "/write?db=bench&precision=ns", streams)
            rows = wait_rows(count, ctx.ds.rows, srv)
            seconds = time.perf_counter() - t0
            _settle(root, srv, timeout=90)
        srv.stop(signal.SIGTERM)
        return Run(seconds, rows, rss.peak_mb, dir_size(root), _deb_version("influxdb"), "")
    finally:
        srv.stop(signal.SIGKILL)


def _settle(root: Path, srv: Server, *, timeout: float) -> None:
    """Wait until the data folder stops changing for 5 s (snapshot and compaction done)."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        srv.check_alive()
        size = dir_size(root)
        if size != last:
            last, since = size, time.monotonic()
        elif time.monotonic() - since >= 5:
            return
        time.sleep(0.5)


# -- VictoriaMetrics ------------------------------------------------------------------------------


def victoriametrics(ctx: Context, protocol: str) -> Run:
    """VictoriaMetrics single node: line protocol over HTTP /write or its TCP influx listener."""
    exe = shutil.which("victoria-metrics")
    if exe is None:
        raise Skip("victoria-metrics not found (Debian package victoria-metrics; `make bench` installs it)")
    root = ctx.work / "vm"
    port, influx_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [
        exe,
        f"-storageDataPath={root}",
        f"-httpListenAddr=127.0.0.1:{port}",
        "-retentionPeriod=100y",  # the data set is from 2024; the default keeps one month
        "-search.disableCache",
        "-loggerLevel=ERROR",
    ]
    if protocol == "ilp-tcp":
        argv.append(f"-influxListenAddr=127.0.0.1:{influx_port}")
    srv = Server(argv, log=ctx.work / "victoria-metrics.log", cwd=ctx.work)
    try:

        def up() -> bool:
            srv.check_alive()
            return httpx.get(base + "/health", timeout=5).status_code == 200

        wait_for(up, timeout=60, interval=0.1, what="victoria-metrics")
        streams = ctx.streams("lp")
        end = START + timedelta(days=ctx.ds.days)
        query = f"sum(count_over_time(meter_usage_kwh[{ctx.ds.days + 1}d]))"

        def count() -> int:
            # rows sit in in-memory buffers for a second or two before a search sees them
            httpx.get(base + "/internal/force_flush", timeout=60).raise_for_status()
            r = httpx.get(
                base + "/api/v1/query",
                params={"query": query, "time": str(int(end.timestamp())), "nocache": "1"},
                timeout=120,
            )
            r.raise_for_status()
            result = r.json()["data"]["result"]
            return int(float(result[0]["value"][1])) if result else 0

        with RssPoller([srv.pid]) as rss:
            t0 = time.perf_counter()
            if protocol == "ilp-tcp":
                tcp_send_streams("127.0.0.1", influx_port, streams)
            else:
                http_post_streams(base + "/write?precision=ns", streams)
            rows = wait_rows(count, ctx.ds.rows, srv, poll_s=0.1)
            seconds = time.perf_counter() - t0
        srv.stop(signal.SIGINT)  # graceful: flushes its buffers and parts to disk
        return Run(seconds, rows, rss.peak_mb, dir_size(root), _deb_version("victoria-metrics"), "")
    finally:
        srv.stop(signal.SIGKILL)
