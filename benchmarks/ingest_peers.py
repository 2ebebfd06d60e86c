"""Ingest benchmark against the peers: one smart-meter data set, every engine, end-to-end rows/s.

The clock starts at the first byte sent (or read, for the embedded engines) and stops when a
count query sees every row. Engines and how each is fed are listed in ENGINES and in
benchmarks/README.md. Server peers (InfluxDB, VictoriaMetrics) are started here on loopback with
their data under a temporary folder and stopped by PID at the end, also on failure. A peer that
is not available is reported as skipped with the reason.

Usage: python benchmarks/ingest_peers.py [--meters 1000] [--days 30] [--writers 4] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import dataset
from procs import RssPoller, Server, Skip, dir_size, stop_all
from servers import Context, Run, gridpulse_serve, influxdb, victoriametrics

EMBEDDED = Path(__file__).parent / "embedded.py"
CHILD_TIMEOUT_S = 1200.0


@dataclass(frozen=True)
class Engine:
    """name: what the table shows; peer: False for gridpulse itself; feed: how the rows get in.

    floor: a peer that skips the job (no key, no dedup): shown, but not the reference for ratios.
    """

    name: str
    peer: bool
    feed: str
    run: Callable[[Context], Run]
    floor: bool = False


def _child(engine: str) -> Callable[[Context], Run]:
    """An embedded engine, run by embedded.py in its own process (its own memory)."""

    def run(ctx: Context) -> Run:
        srv = Server(
            [sys.executable, str(EMBEDDED), engine, str(ctx.ds.folder), str(ctx.work)],
            log=ctx.work / f"{engine}.log",
            cwd=ctx.work,
        )
        try:
            with ExitStack() as polls:
                own = polls.enter_context(RssPoller([srv.pid]))
                side: RssPoller | None = None  # a server-side process the child names (PostgreSQL)
                pids_file = ctx.work / "rss_pids"
                deadline = time.monotonic() + CHILD_TIMEOUT_S
                while srv.alive() and time.monotonic() < deadline:
                    if side is None and pids_file.exists() and (pids := pids_file.read_text().split()):
                        side = polls.enter_context(RssPoller([int(p) for p in pids]))
                    time.sleep(0.05)
            if srv.alive():
                raise RuntimeError(f"{engine} did not finish in {CHILD_TIMEOUT_S:.0f} s")
            result_file = ctx.work / "result.json"
            if srv.proc.returncode != 0 or not result_file.exists():
                raise RuntimeError(f"{engine} failed (exit {srv.proc.returncode}): {srv.last_line()}")
            got = json.loads(result_file.read_text())
            if "skip" in got:
                raise Skip(got["skip"])
            peak = (side or own).peak_mb
            return Run(got["seconds"], got["rows"], peak, got["disk_bytes"], got["version"], got["note"])
        finally:
            srv.stop(signal.SIGKILL)

    return run


def _gridpulse_load(fmt: str) -> Callable[[Context], Run]:
    """`gridpulse load FILE --data-dir D`, timed from the command's start to its exit."""

    def run(ctx: Context) -> Run:
        from gridpulse import __version__
        from gridpulse.store import open_store

        exe = Path(sys.executable).parent / "gridpulse"
        data = ctx.work / "gp"
        path = ctx.ds.parquet if fmt == "parquet" else ctx.ds.csv
        env = {**os.environ, "GRIDPULSE_DEMO_DATASETS_DIR": str(ctx.work / "none")}
        t0 = time.perf_counter()
        subprocess.run([str(exe), "version"], capture_output=True, env=env, timeout=60)
        startup = time.perf_counter() - t0
        argv = [str(exe), "load", str(path), "--data-dir", str(data), "--interval", "15min"]
        t0 = time.perf_counter()
        srv = Server(argv, log=ctx.work / "load.log", env=env, cwd=ctx.work)
        try:
            with RssPoller([srv.pid]) as rss:
                srv.proc.wait(CHILD_TIMEOUT_S)
            seconds = time.perf_counter() - t0
            if srv.proc.returncode != 0:
                raise RuntimeError(f"gridpulse load exited with {srv.proc.returncode}: {srv.last_line()}")
        finally:
            srv.stop(signal.SIGKILL)
        store = open_store(f"duckdb:///{data / 'gridpulse.duckdb'}", read_only=True)
        try:
            rows = int(store.stats()["points"])
        finally:
            store.close()
        note = f"wall time of the command, start-up included (`gridpulse version` takes {startup:.1f} s)"
        return Run(seconds, rows, rss.peak_mb, dir_size(data), __version__, note)

    return run


def has_load_command() -> bool:
    exe = Path(sys.executable).parent / "gridpulse"
    try:
        return subprocess.run([str(exe), "load", "--help"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def engines(writers: int, *, load_command: bool) -> list[Engine]:
    """Every engine, gridpulse first; `gridpulse load` rows only when that command exists."""
    w = f"{writers} writers"
    out = [
        Engine("gridpulse", False, f"line protocol, TCP, {w}", lambda c: gridpulse_serve(c, "ilp-tcp")),
        Engine(
            "gridpulse", False, f"line protocol, HTTP /write, {w}", lambda c: gridpulse_serve(c, "ilp-http")
        ),
        Engine("gridpulse", False, f"NDJSON, HTTP, {w}", lambda c: gridpulse_serve(c, "ndjson-http")),
    ]
    if load_command:
        out += [
            Engine("gridpulse", False, "Parquet, `gridpulse load`", _gridpulse_load("parquet")),
            Engine("gridpulse", False, "CSV, `gridpulse load`", _gridpulse_load("csv")),
        ]
    out.append(
        Engine("gridpulse", False, "Parquet, store API (Writer, no server)", _child("gridpulse-store"))
    )
    out += [
        Engine("InfluxDB", True, f"line protocol, HTTP /write, {w}", influxdb),
        Engine(
            "VictoriaMetrics",
            True,
            f"line protocol, HTTP /write, {w}",
            lambda c: victoriametrics(c, "ilp-http"),
        ),
        Engine("VictoriaMetrics", True, f"line protocol, TCP, {w}", lambda c: victoriametrics(c, "ilp-tcp")),
        Engine("PostgreSQL", True, "CSV, COPY, primary key", _child("postgres")),
        Engine("SQLite (WAL)", True, "CSV, executemany, primary key", _child("sqlite")),
        Engine("DuckDB", True, "Parquet, Arrow insert, primary key", _child("duckdb-pk")),
        Engine("DuckDB", True, "Parquet, Arrow insert, no key (floor)", _child("duckdb-nokey"), floor=True),
    ]
    return out


def _label(e: Engine) -> str:
    return f"{e.name} · {e.feed}"


def run(
    *,
    meters: int,
    days: int,
    writers: int,
    batch_rows: int,
    repeats: int,
    out_dir: Path,
    only: str = "",
    keep: bool = False,
) -> dict[str, object]:
    """Generate the data set, run every engine `repeats` times interleaved, write the report."""
    # a plain SIGTERM would skip the `finally` below and leave the started servers running
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    root = Path(tempfile.mkdtemp(prefix="gp-bench-peers-"))
    load_command = has_load_command()
    chosen = [
        e
        for e in engines(writers, load_command=load_command)
        if not only or only.lower() in _label(e).lower()
    ]
    samples: dict[str, list[Run]] = {}
    skipped: dict[str, str] = {}
    failed: dict[str, list[str]] = {}
    load_start = os.getloadavg()[0]
    try:
        t = time.perf_counter()
        ds = dataset.generate(root / "data", meters=meters, days=days)
        file_mib = ds.sizes_mb()
        print(
            f"data set: {ds.rows:,} rows ({meters:,} meters x {days} days), {file_mib} MiB, "
            f"{time.perf_counter() - t:.1f} s",
            flush=True,
        )
        ctx_cache: dict[str, list[list[bytes]]] = {}
        for rep in range(repeats):
            for e in chosen:  # interleaved, so machine drift hits every engine alike
                label = _label(e)
                if label in skipped:
                    continue
                work = Path(tempfile.mkdtemp(prefix="engine-", dir=root))
                ctx = Context(ds, work, writers, batch_rows, ctx_cache)
                try:
                    r = e.run(ctx)
                except Skip as exc:
                    skipped[label] = " ".join(str(exc).split())
                    print(f"{label}: skipped ({exc})", flush=True)
                    continue
                except Exception as exc:
                    why = " ".join(f"{type(exc).__name__}: {exc}".split())[:600]
                    failed.setdefault(label, []).append(why)
                    print(f"{label}: FAILED ({why})", flush=True)
                    traceback.print_exc()
                    kept = Path(tempfile.mkdtemp(prefix="gp-bench-failed-"))
                    for log in work.glob("*.log"):
                        shutil.copy(log, kept)
                    print(f"{label}: logs kept in {kept}", flush=True)
                    continue
                finally:
                    stop_all()
                    if not keep:
                        shutil.rmtree(work, ignore_errors=True)
                if r.rows != ds.rows:
                    r.note = (r.note + "; " if r.note else "") + f"counted {r.rows:,} of {ds.rows:,} rows"
                samples.setdefault(label, []).append(r)
                print(
                    f"[{rep + 1}/{repeats}] {label}: {ds.rows / r.seconds:,.0f} rows/s ({r.seconds:.1f} s), "
                    f"peak RSS {r.peak_rss_mb} MiB, disk {r.disk_bytes or 0:,} B",
                    flush=True,
                )
    finally:
        stop_all()
        signal.signal(signal.SIGTERM, previous)
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}")
    report = _report(
        ds,
        file_mib,
        chosen,
        samples,
        skipped,
        failed,
        writers=writers,
        batch_rows=batch_rows,
        repeats=repeats,
        load_start=load_start,
        load_command=load_command,
    )
    (out_dir / "ingest_peers.json").write_text(json.dumps(report, indent=2) + "\n")
    md = _markdown(report)
    (out_dir / "ingest_peers.md").write_text(md)
    print(md)
    return report


def _report(
    ds: dataset.DataSet,
    file_mib: dict[str, float],
    chosen: list[Engine],
    samples: dict[str, list[Run]],
    skipped: dict[str, str],
    failed: dict[str, list[str]],
    *,
    writers: int,
    batch_rows: int,
    repeats: int,
    load_start: float,
    load_command: bool,
) -> dict[str, object]:
    rows_out: list[dict[str, object]] = []
    for e in chosen:
        label = _label(e)
        runs = samples.get(label)
        if not runs:
            continue
        secs = statistics.median(r.seconds for r in runs)
        disk = [r.disk_bytes for r in runs if r.disk_bytes is not None]
        rss = [r.peak_rss_mb for r in runs if r.peak_rss_mb is not None]
        rows_out.append(
            {
                "engine": e.name,
                "version": runs[-1].version,
                "feed": e.feed,
                "peer": e.peer,
                "floor": e.floor,
                "seconds": round(secs, 2),
                "rows_per_s": round(ds.rows / secs),
                "peak_rss_mb": max(rss) if rss else None,
                "disk_bytes_per_row": round(statistics.median(disk) / ds.rows, 1) if disk else None,
                "runs": [asdict(r) for r in runs],
                "note": runs[-1].note,
            }
        )
    peers = [r for r in rows_out if r["peer"] and not r["floor"]]
    fastest = max(peers, key=lambda r: r["rows_per_s"]) if peers else None  # type: ignore[arg-type,return-value]
    for r in rows_out:
        r["ratio_to_fastest_peer"] = round(r["rows_per_s"] / fastest["rows_per_s"], 2) if fastest else None  # type: ignore[operator]
    return {
        "benchmark": "ingest_peers",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "gridpulse_source": _source_state(),
        "dataset": {
            "meters": ds.meters,
            "days": ds.days,
            "rows": ds.rows,
            "interval": "15 min",
            "file_mib": file_mib,
        },
        "writers": writers,
        "batch_rows": batch_rows,
        "repeats": repeats,
        "fastest_peer": f"{fastest['engine']} · {fastest['feed']}" if fastest else None,
        "gridpulse_load_command": load_command,
        "engines": rows_out,
        "skipped": skipped,
        "failed": {k: f"{len(v)} of {repeats} runs: {v[-1]}" for k, v in failed.items()},
        "load_average_1min": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
    }


def _source_state() -> str:
    """The commit measured, and whether the work tree had uncommitted changes (read-only git)."""
    here = Path(__file__).parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "../src"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return f"{head}{' + uncommitted changes in src/' if dirty else ''}" if head else "unknown"


def _markdown(rep: dict[str, object]) -> str:
    d, load = rep["dataset"], rep["load_average_1min"]
    assert isinstance(d, dict) and isinstance(load, dict)
    lines = [
        f"# Ingest against the peers: {d['rows']:,} meter rows ({d['meters']:,} meters x 15 min x "
        f"{d['days']} days)",
        "",
        f"{rep['machine']}, {rep['date']}, gridpulse {rep['gridpulse_source']}, load average "
        f"{load['start']} at the start, {load['end']} at the end (other work on the machine makes "
        f"figures noisy). Median of {rep['repeats']} run(s); {rep['writers']} writer "
        f"connections where the protocol has them, HTTP bodies of {rep['batch_rows']:,} rows. "
        "rows/s = rows / (first byte sent -> every row counted by a query). "
        f"Files (MiB): {d['file_mib']}. Generated by `make bench`.",
        "",
        f"Fastest peer (the reference for the ratio; the no-key floor is not a candidate): "
        f"{rep['fastest_peer']}.",
        "",
        "| engine | version | input | rows/s | ÷ fastest peer | peak RSS MiB | disk B/row | s |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    engines_ = rep["engines"]
    assert isinstance(engines_, list)
    for r in engines_:
        name = r["engine"] if r["peer"] else f"**{r['engine']}**"
        rss = f"{r['peak_rss_mb']:,.0f}" if r["peak_rss_mb"] is not None else "-"
        disk = f"{r['disk_bytes_per_row']:.1f}" if r["disk_bytes_per_row"] is not None else "-"
        ratio = f"{r['ratio_to_fastest_peer']:.2f}" if r["ratio_to_fastest_peer"] is not None else "-"
        lines.append(
            f"| {name} | {r['version']} | {r['feed']} | {r['rows_per_s']:,} | {ratio} | {rss} | {disk} | "
            f"{r['seconds']:.1f} |"
        )
    notes = [f"- {r['engine']} · {r['feed']}: {r['note']}" for r in engines_ if r["note"]]
    if not rep["gridpulse_load_command"]:
        notes.insert(
            0, "- `gridpulse load` did not exist at this run: bulk Parquet is measured through the store API"
        )
    skipped = rep["skipped"]
    failed = rep["failed"]
    assert isinstance(skipped, dict) and isinstance(failed, dict)
    notes += [f"- skipped: {k}: {v}" for k, v in skipped.items()]
    notes += [f"- FAILED: {k}: {v}" for k, v in failed.items()]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    a = ap.parse_args(argv)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    run(
        meters=a.meters,
        days=a.days,
        writers=a.writers,
        batch_rows=a.batch_rows,
        repeats=a.peer_repeats,
        out_dir=out,
        only=a.engine,
        keep=a.keep,
    )


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--meters", type=int, default=1000, help="meters in the data set (default 1000)")
    ap.add_argument("--days", type=int, default=30, help="days of 15-min intervals (default 30)")
    ap.add_argument("--writers", type=int, default=4, help="concurrent writer connections (default 4)")
    ap.add_argument("--batch-rows", type=int, default=50_000, help="rows per HTTP body (default 50000)")
    ap.add_argument(
        "--peer-repeats", type=int, default=3, help="runs per engine, median reported (default 3)"
    )
    ap.add_argument("--engine", default="", help="only engines whose label contains this text")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (data set, logs)")


if __name__ == "__main__":
    main()
