"""Ingest benchmark: the same NDJSON meter rows into gridpulse and into its peers, in one run.

Engines, each doing the job a user would ask of it (store narrow rows, deduplicate resends):
- gridpulse: POST /ingest/meter_usage/ndjson to a real server process on loopback (parse,
  validate, series resolution, revision check, commit, 2xx);
- postgresql: the seeds' TimescaleDB/PostgreSQL pattern on the local server: COPY into a staging
  table, then INSERT ... ON CONFLICT DO NOTHING into a table with PRIMARY KEY (meter_id, ts);
- duckdb-append (floor): pyarrow's NDJSON reader and a plain DuckDB append, no dedup, no checks.
Each engine loads the body twice: "first" (all new rows) and "resend" (all duplicates).
Reported: median rows/s per engine and phase, and gridpulse's ratio to each peer.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import orjson
import psutil
import pyarrow as pa
import pyarrow.json as pajson

PG_DSN = os.environ.get("GRIDPULSE_BENCH_PG", "host=127.0.0.1 port=5432 dbname=test user=postgres")


def make_body(rows: int, meters: int = 100) -> bytes:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    lines = []
    for i in range(rows):
        k, m = divmod(i, meters)
        ts = (t0 + timedelta(minutes=15 * k)).isoformat().replace("+00:00", "Z")
        lines.append(orjson.dumps({"ts": ts, "meter_id": f"m-{m}", "kwh": (i % 97) / 10}))
    return b"\n".join(lines) + b"\n"


def _gridpulse(body: bytes, workdir: Path) -> dict[str, float]:
    data = workdir / "gp"
    env = {**os.environ, "GRIDPULSE_DEMO_DATASETS_DIR": str(workdir / "none")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gridpulse",
            "serve",
            "--data-dir",
            str(data),
            "--port",
            "0",
            "--no-extra-ports",
            "--no-ilp",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        url = None
        while time.monotonic() < deadline and url is None:
            try:
                url = json.loads((data / "server.json").read_text())["url"]
                httpx.get(url + "/healthz").raise_for_status()
            except (OSError, ValueError, httpx.HTTPError):
                url = None
                time.sleep(0.1)
        assert url, "gridpulse did not start"
        ps = psutil.Process(proc.pid)
        out = {}
        for phase in ("first", "resend"):
            t = time.perf_counter()
            r = httpx.post(url + "/ingest/meter_usage/ndjson", content=body, timeout=600)
            out[phase] = time.perf_counter() - t
            r.raise_for_status()
        out["rss_mb"] = ps.memory_info().rss / 2**20
        return out
    finally:
        proc.terminate()
        proc.wait(30)


def _postgres(body: bytes, workdir: Path) -> dict[str, float]:
    import psycopg

    table = pajson.read_json(pa.BufferReader(body))
    csv_path = workdir / "rows.csv"
    import pyarrow.csv as pacsv

    pacsv.write_csv(table.select(["meter_id", "ts", "kwh"]), csv_path)
    csv_bytes = csv_path.read_bytes()
    out = {}
    with psycopg.connect(PG_DSN, autocommit=True) as con:
        con.execute("DROP TABLE IF EXISTS bench_meter_usage")
        con.execute(
            "CREATE TABLE bench_meter_usage (meter_id text NOT NULL, ts timestamptz NOT NULL, "
            "kwh double precision, PRIMARY KEY (meter_id, ts))"
        )
        for phase in ("first", "resend"):
            t = time.perf_counter()
            # the client parses the NDJSON too, as a producer feeding Postgres would
            parsed = pajson.read_json(pa.BufferReader(body))
            assert parsed.num_rows
            with con.transaction():
                con.execute(
                    "CREATE TEMP TABLE stage (meter_id text, ts timestamptz, kwh double precision) ON COMMIT DROP"
                )
                with con.cursor().copy("COPY stage FROM STDIN WITH (FORMAT csv, HEADER true)") as cp:
                    cp.write(csv_bytes)
                con.execute("INSERT INTO bench_meter_usage SELECT * FROM stage ON CONFLICT DO NOTHING")
            out[phase] = time.perf_counter() - t
        con.execute("DROP TABLE bench_meter_usage")
    return out


def _duckdb_append(body: bytes, workdir: Path) -> dict[str, float]:
    con = duckdb.connect(str(workdir / "floor.duckdb"))
    con.execute("CREATE TABLE t (meter_id VARCHAR, ts TIMESTAMPTZ, kwh DOUBLE)")
    out = {}
    for phase in ("first", "resend"):
        t = time.perf_counter()
        arrow_table = pajson.read_json(pa.BufferReader(body))
        con.register("src", arrow_table)
        con.execute("INSERT INTO t SELECT meter_id, ts::TIMESTAMPTZ, kwh FROM src")
        con.unregister("src")
        out[phase] = time.perf_counter() - t
    con.close()
    return out


ENGINES: dict[str, Callable[[bytes, Path], dict[str, float]]] = {
    "gridpulse": _gridpulse,
    "postgresql": _postgres,
    "duckdb-append (floor, no dedup)": _duckdb_append,
}


def run(*, rows: int, repeats: int, out_dir: Path) -> dict[str, object]:
    body = make_body(rows)
    results: dict[str, dict[str, list[float]]] = {}
    for _ in range(repeats):
        for name, fn in ENGINES.items():  # interleaved, so machine drift hits every engine alike
            work = Path(tempfile.mkdtemp(prefix="gp-bench-"))
            try:
                got = fn(body, work)
            except Exception as exc:  # a peer that is not available is reported, not fatal
                print(f"{name}: skipped ({exc})")
                continue
            finally:
                shutil.rmtree(work, ignore_errors=True)
            for k, v in got.items():
                results.setdefault(name, {}).setdefault(k, []).append(v)
    summary: dict[str, dict[str, float]] = {}
    for name, phases in results.items():
        summary[name] = {}
        for phase, secs in phases.items():
            med = statistics.median(secs)
            summary[name][phase if phase == "rss_mb" else f"{phase}_rows_per_s"] = (
                round(med, 1) if phase == "rss_mb" else round(rows / med)
            )
    gp = summary.get("gridpulse", {})
    ratios = {
        f"gridpulse/{peer} {phase}": round(gp[f"{phase}_rows_per_s"] / s[f"{phase}_rows_per_s"], 2)
        for peer, s in summary.items()
        if peer != "gridpulse" and gp
        for phase in ("first", "resend")
    }
    report = {
        "benchmark": "ingest_http",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "rows": rows,
        "body_mb": round(len(body) / 2**20, 1),
        "repeats": repeats,
        "engines": summary,
        "ratios": ratios,
    }
    (out_dir / "ingest_http.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# Ingest over HTTP: {rows:,} NDJSON meter rows ({report['body_mb']} MB), median of {repeats}",
        "",
        f"{report['machine']}, {report['date']}. Higher is better. Generated by `make bench`.",
        "",
        "| engine | first load rows/s | resend (all duplicates) rows/s |",
        "|---|---|---|",
    ]
    for name, s in summary.items():
        lines.append(f"| {name} | {s.get('first_rows_per_s', 0):,} | {s.get('resend_rows_per_s', 0):,} |")
    lines += ["", "| ratio | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in ratios.items()]
    (out_dir / "ingest_http.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return report
