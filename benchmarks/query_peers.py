"""Query benchmark against the peers: five questions a utility asks of its meter data, every engine.

The data set is the ingest benchmark's (dataset.py): `--meters` meters (1,000; `--scale 10` for
10x) x 96 quarter-hours x `--days` days (30) from 2024-01-01 00:00 UTC, kWh per interval, each
reading stamped with the UTC start of its interval. It is loaded once into every engine (not
timed); then each query runs once as a warm-up and `--repeats` times (5) on the clock, or more
for a quick answer (as many as its warm-up says fit in 1 s, up to 15), engines interleaved, the
median reported. Each engine, embedded or the client of a server, runs in a
process of its own (engine_process.py): this one sends the queries, collects the timings and
checks the answers. Engines and how each says the queries: query_engines.py and
benchmarks/README.md.

The queries (all instants UTC unless said; ranges half-open [start, end)):

- Q1 daily energy per meter over the whole range: for each meter and UTC day, the sum of its kWh
  (1,000 x 30 = 30,000 rows).
- Q2 fleet hourly total for one week: for each UTC hour of the first full week in the range,
  Monday 00:00 to the next Monday 00:00 (2024-01-01 to 2024-01-08 by default), the sum of every
  meter's kWh (168 rows).
- Q3 latest reading per meter: for each meter, the timestamp and kWh of its newest reading, over
  everything stored, no time bound given (1,000 rows).
- Q4 top 10 meters by peak 15-minute demand in one UTC day (day 15, 2024-01-15, or the last day
  when --days < 15): a meter's peak is its largest interval kWh x 4 (the 15-minute window
  average in kW); the 10 highest, ties by meter id (10 rows).
- Q5 local daily profile per meter, hourly slots on the Europe/Amsterdam wall clock: each
  reading goes to the local date and hour of its start; a meter's value for a (local date,
  hour) is the energy in that hour; the profile value for hour h is the mean of those values over
  the local dates that have an hour h (1,000 x 24 = 24,000 rows). The default range, January
  2024, has no daylight-saving change (and starts at 01:00 local, so slot 0 has 30 dates, from
  the 2nd to the 31st, and the others the 1st to the 30th). On a fall-back day the repeated
  02:00 hour is two real hours: their mean is that date's 02:00 value, counted as one date; on a
  spring-forward day there is no 02:00 and that date does not count for slot 2 (gridpulse's
  average_day_profile convention; the SQL dialects say it with a per-UTC-hour sum, then a mean
  per local date and hour, then a mean per hour).

Agreement: every answer is turned into a small canonical table (sorted tuples, instants as UTC
"YYYY-MM-DDTHH:MM") and compared with one computed here from the Parquet file with pyarrow and
numpy, independent of every engine: keys exactly, sums within 1e-6 relative. For Q4, peaks
compare by rank and meters by set, except meters tied at the 10th peak. A disagreement fails that
engine's line (the difference is shown); the run goes on.

Usage: python benchmarks/query_peers.py [--meters 1000] [--days 30] [--scale 10] [--repeats 5]
       [--engine duckdb] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))

import dataset
from engine_process import EngineFailed, EngineProcess
from ingest_peers import _source_state
from procs import Skip, stop_all
from query_engines import QUERIES, CannotExpress, Engine, NoEndpoint, Spec, make_engines, spec_for

REL_TOL = 1e-6
#: a warm-up longer than this gets one timed run instead of --repeats [s]
SLOW_S = 30.0
#: a quick answer gets more timed runs than --repeats: as many as its warm-up says fit in
#: RUN_BUDGET_S, up to MAX_RUNS. Medians of 5 runs of a few ms moved 10-20 % from one run of the
#: benchmark to the next on a 2-vCPU VM; every engine gets the same rule
RUN_BUDGET_S = 1.0
MAX_RUNS = 15

TITLES = {
    "Q1": "daily energy per meter, whole range",
    "Q2": "fleet hourly total, one week",
    "Q3": "latest reading per meter",
    "Q4": "top 10 meters by peak 15-min demand, one day",
    "Q5": "local (Europe/Amsterdam) hourly profile per meter, whole range",
}

Canon = list[tuple[Any, ...]]


# ------------------------------------------------------------------------------ canonical answers
def _minute(v: Any) -> str:
    """An instant as UTC "YYYY-MM-DDTHH:MM" from a datetime, ISO text or epoch seconds."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        t = datetime.fromtimestamp(float(v), UTC)
    elif isinstance(v, datetime):
        t = v if v.tzinfo else v.replace(tzinfo=UTC)
    elif isinstance(v, str):
        s = v.strip().replace(" ", "T").replace("Z", "+00:00")
        if len(s) == 13:  # "YYYY-MM-DDTHH"
            s += ":00"
        t = datetime.fromisoformat(s)
        t = t if t.tzinfo else t.replace(tzinfo=UTC)
    else:
        raise TypeError(f"not an instant: {v!r}")
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _day(v: Any) -> str:
    if isinstance(v, date) and not isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, str) and len(v.strip()) == 10:
        return v.strip()
    return _minute(v)[:10]


def canon(q: str, rows: list[tuple[Any, ...]]) -> Canon:
    """The engine's rows as the canonical table of query q, sorted."""
    if q == "Q1":
        out = [(str(m), _day(d), float(v)) for m, d, v in rows]
    elif q == "Q2":
        out = [(_minute(t), float(v)) for t, v in rows]
    elif q == "Q3":
        out = [(str(m), _minute(t) if t is not None else None, float(v)) for m, t, v in rows]
    elif q == "Q4":
        return sorted(((str(m), float(v)) for m, v in rows), key=lambda r: (-r[1], r[0]))
    else:
        out = [(str(m), int(h), float(v)) for m, h, v in rows]
    return sorted(out)


def expected(ds: dataset.DataSet, spec: Spec) -> dict[str, Canon]:
    """Every query's answer computed from the Parquet file with pyarrow and numpy."""
    t = pq.read_table(ds.parquet)
    ts = pc.cast(t.column("ts"), pa.int64()).to_numpy() // 1_000_000  # [s]
    meter = t.column("meter_id").combine_chunks()
    kwh = t.column("kwh").to_numpy()

    def sums(keys: dict[str, Any], values: np.ndarray, agg: str = "sum") -> pa.Table:
        return pa.table({**keys, "v": values}).group_by(list(keys)).aggregate([("v", agg)])

    out: dict[str, Canon] = {}
    g = sums({"m": meter, "d": ts // 86400}, kwh)
    out["Q1"] = canon(
        "Q1",
        [
            (m, datetime.fromtimestamp(d * 86400, UTC), v)
            for m, d, v in zip(*(c.to_pylist() for c in g.columns), strict=True)
        ],
    )
    w0, w1 = (int(x.timestamp()) for x in spec.week)
    sel = (ts >= w0) & (ts < w1)
    g = sums({"h": ts[sel] // 3600 * 3600}, kwh[sel])
    out["Q2"] = canon("Q2", list(zip(*(c.to_pylist() for c in g.columns), strict=True)))
    enc = pc.dictionary_encode(meter).indices.to_numpy()
    order = np.lexsort((ts, enc))
    last = order[np.r_[np.flatnonzero(np.diff(enc[order])), len(order) - 1]]
    names = meter.take(pa.array(last)).to_pylist()
    out["Q3"] = canon("Q3", list(zip(names, ts[last].tolist(), kwh[last].tolist(), strict=True)))
    d0, d1 = int(spec.day.timestamp()), int(spec.day_end.timestamp())
    sel = (ts >= d0) & (ts < d1)
    g = sums({"m": meter.filter(pa.array(sel))}, kwh[sel], "max")
    peaks = canon("Q4", [(m, v * 4) for m, v in zip(*(c.to_pylist() for c in g.columns), strict=True)])
    out["Q4"] = peaks[:10]
    # Q5: per UTC hour, then per local date and hour (mean), then per hour (mean)
    g = sums({"m": meter, "u": ts // 3600 * 3600}, kwh)
    u = g.column("u").to_numpy()
    zone = ZoneInfo(spec.tz)
    uniq, inv = np.unique(u, return_inverse=True)
    local = [datetime.fromtimestamp(int(x), UTC).astimezone(zone) for x in uniq]
    ld = np.array([x.toordinal() for x in local])[inv]
    lh = np.array([x.hour for x in local])[inv]
    g2 = sums({"m": g.column("m"), "d": ld, "h": lh}, g.column("v_sum").to_numpy(), "mean")
    g3 = sums({"m": g2.column("m"), "h": g2.column("h")}, g2.column("v_mean").to_numpy(), "mean")
    out["Q5"] = canon("Q5", list(zip(*(c.to_pylist() for c in g3.columns), strict=True)))
    return out


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b)) + 1e-9


def compare(q: str, want: Canon, got: Canon) -> str:
    """Empty when `got` agrees with `want`, else what differs (counts and the first difference)."""
    if q == "Q4":
        if len(got) != len(want):
            return f"{len(got)} rows, expected {len(want)}"
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            if not _close(w[1], g[1]):
                return f"rank {i + 1}: peak {g[1]!r} kW ({g[0]}), expected {w[1]!r} kW ({w[0]})"
        boundary = want[-1][1]
        above_w = {m for m, v in want if not _close(v, boundary)}
        above_g = {m for m, v in got if not _close(v, boundary)}
        if above_w != above_g:
            return f"meters {sorted(above_g - above_w)[:3]} instead of {sorted(above_w - above_g)[:3]}"
        return ""
    nkey = {"Q1": 2, "Q2": 1, "Q3": 1, "Q5": 2}[q]
    w = {r[:nkey]: r[nkey:] for r in want}
    g = {r[:nkey]: r[nkey:] for r in got}
    missing = [k for k in w if k not in g]
    extra = [k for k in g if k not in w]
    differ = []
    for k in w.keys() & g.keys():
        a, b = w[k], g[k]
        if any(
            (x != y) if isinstance(x, str) or x is None or y is None else not _close(x, y)
            for x, y in zip(a, b, strict=True)
        ):
            differ.append(k)
    if not (missing or extra or differ or len(got) != len(g)):
        return ""
    parts = []
    if missing:
        parts.append(f"{len(missing)} of {len(w)} rows missing (e.g. {missing[0]})")
    if extra:
        parts.append(f"{len(extra)} extra rows (e.g. {extra[0]})")
    if len(got) != len(g):
        parts.append(f"{len(got) - len(g)} duplicate keys")
    if differ:
        k = sorted(differ)[0]
        a, b = w[k], g[k]
        rel = ""
        if isinstance(a[-1], float) and isinstance(b[-1], float) and a[-1]:
            rel = f", relative difference {abs(b[-1] - a[-1]) / abs(a[-1]):.1e}"
        parts.append(f"{len(differ)} values differ (e.g. {k}: {b} instead of {a}{rel})")
    return "; ".join(parts)


# ------------------------------------------------------------------------------ the run
def _line(engine: Engine, status: str, **kw: Any) -> dict[str, Any]:
    return {"engine": engine.name, "version": engine.version, "peer": engine.peer, "status": status, **kw}


def run(
    *,
    meters: int,
    days: int,
    repeats: int,
    out_dir: Path,
    only: str = "",
    keep: bool = False,
) -> dict[str, Any]:
    """Generate and load the data set, run Q1-Q5 on every engine, write the report."""
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    root = Path(tempfile.mkdtemp(prefix="gp-bench-query-"))
    wanted = [o.strip().lower() for o in only.split(",") if o.strip()]
    engines = [e for e in make_engines() if not wanted or any(o in e.name.lower() for o in wanted)]
    started: list[EngineProcess] = []
    loaded: list[EngineProcess] = []
    skipped: dict[str, str] = {}
    load_failed: dict[str, str] = {}
    load_s: dict[str, float] = {}
    lines: dict[str, list[dict[str, Any]]] = {q: [] for q in QUERIES}
    load_start = os.getloadavg()[0]
    try:
        t = time.perf_counter()
        ds = dataset.generate(root / "data", meters=meters, days=days)
        spec = spec_for(ds)
        print(
            f"data set: {ds.rows:,} rows ({meters:,} meters x {days} days), {time.perf_counter() - t:.1f} s"
        )
        want = expected(ds, spec)
        work = root / "work"
        work.mkdir()
        for e in engines:
            t = time.perf_counter()
            try:
                # the gridpulse folder and server are made here, once for the three engines using them
                shared = e.shared
                if shared is not None:
                    shared.ensure(ds, work)
                proc = EngineProcess(e)
                started.append(proc)
                proc.load(ds, work, shared.state() if shared is not None else None)
            except Skip as exc:
                skipped[e.name] = " ".join(str(exc).split())
                print(f"{e.name}: skipped ({exc})", flush=True)
                continue
            except Exception as exc:
                load_failed[e.name] = _why(exc)
                print(f"{e.name}: load FAILED ({load_failed[e.name]})", flush=True)
                traceback.print_exc()
                _keep_logs(work, e.name)
                continue
            load_s[e.name] = round(time.perf_counter() - t, 1)
            loaded.append(proc)
            print(f"{e.name} {e.version}: loaded in {load_s[e.name]:.1f} s", flush=True)
        for q in QUERIES:
            lines[q] = _run_query(q, spec, loaded, want[q], repeats)
    finally:
        for proc in started:
            proc.close(keep=keep)
        for e in engines:  # the harness's own part: the gridpulse server of GridpulseShared
            try:
                e.close(keep=keep)
            except Exception as exc:
                print(f"{e.name}: close failed ({_why(exc)})", flush=True)
        stop_all()
        signal.signal(signal.SIGTERM, previous)
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report = _report(ds, spec, engines, lines, skipped, load_failed, load_s, repeats, load_start, want)
    (out_dir / "query_peers.json").write_text(json.dumps(report, indent=2) + "\n")
    md = _markdown(report)
    (out_dir / "query_peers.md").write_text(md)
    print(md)
    return report


def _why(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, EngineFailed) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:600]


def _keep_logs(work: Path, name: str) -> None:
    kept = Path(tempfile.mkdtemp(prefix="gp-bench-failed-"))
    for log in work.glob("*.log"):
        shutil.copy(log, kept)
    print(f"{name}: logs kept in {kept}", flush=True)


#: pause before each timed run: a server frees an answer's memory after sending it, and with two
#: cores that work landed on the next engine's clock (gridpulse in process: 0.31 s for a 0.1 s Q5)
SETTLE_S = 0.25


def _timed(proc: EngineProcess, q: str, *, with_rows: bool = False) -> tuple[float, Any]:
    """One run on the clock in the engine's process (timed there, garbage collector paused), after
    a pause: what the last engine's server still does after answering is not this run's."""
    time.sleep(SETTLE_S)
    return proc.run(q, with_rows=with_rows)


def timed_runs(warmup_s: float, repeats: int) -> int:
    """How many timed runs an engine's query gets after a warm-up of `warmup_s` seconds: one
    when the warm-up took over SLOW_S, else `repeats`, or more for a quick answer (RUN_BUDGET_S)."""
    if warmup_s > SLOW_S:
        return 1
    fit = math.ceil(RUN_BUDGET_S / max(warmup_s, 1e-6))
    return max(repeats, min(MAX_RUNS, fit))


def _run_query(
    q: str, spec: Spec, procs: list[EngineProcess], want: Canon, repeats: int
) -> list[dict[str, Any]]:
    """One query on every engine: prepare, warm-up (answer checked), then repeats interleaved."""
    out: dict[str, dict[str, Any]] = {}
    ready: list[EngineProcess] = []
    for proc in procs:
        e = proc.engine
        try:
            text = proc.prepare(q, spec)
        except CannotExpress as exc:
            out[e.name] = _line(e, "cannot express", note=str(exc))
            continue
        except NoEndpoint as exc:
            out[e.name] = _line(e, "no endpoint", note=str(exc))
            continue
        except Exception as exc:
            out[e.name] = _line(e, "failed", note=_why(exc))
            print(f"{q} {e.name}: FAILED to prepare ({_why(exc)})", flush=True)
            continue
        try:
            warm, rows = _timed(proc, q, with_rows=True)
            got = canon(q, rows)
        except Exception as exc:
            out[e.name] = _line(e, "failed", note=_why(exc), query=text)
            print(f"{q} {e.name}: FAILED ({_why(exc)})", flush=True)
            traceback.print_exc()
            continue
        diff = compare(q, want, got)
        out[e.name] = _line(e, "ok", query=text, warmup_s=round(warm, 4), runs=[], agrees=not diff, diff=diff)
        print(f"{q} {e.name}: warm-up {warm:.3f} s, {len(got):,} rows, {diff or 'agrees'}", flush=True)
        ready.append(proc)
    runs = {proc.engine.name: timed_runs(out[proc.engine.name]["warmup_s"], repeats) for proc in ready}
    for rep in range(max(runs.values(), default=0)):
        # interleaved, so drift on the machine hits every engine alike, and rotated, so no engine
        # always runs right after the slowest peer (the first run after SQLite's seconds-long Q5
        # was up to 2x slower, whichever engine it was)
        turn = rep % len(ready) if ready else 0
        for proc in ready[turn:] + ready[:turn]:
            line = out[proc.engine.name]
            if line["status"] != "ok" or rep >= runs[proc.engine.name]:
                continue
            try:
                seconds, _ = _timed(proc, q)
            except Exception as exc:
                out[proc.engine.name] = {**line, "status": "failed", "note": _why(exc)}
                continue
            line["runs"].append(round(seconds, 5))
    for proc in ready:
        line = out[proc.engine.name]
        if line["status"] == "ok":
            line["seconds"] = statistics.median(line["runs"])
            if line["warmup_s"] > SLOW_S:
                line["note"] = f"one timed run: the warm-up took {line['warmup_s']:.0f} s"
            print(f"{q} {proc.engine.name}: median {line['seconds']:.4f} s of {line['runs']}", flush=True)
    peers = [ln for ln in out.values() if ln["peer"] and ln["status"] == "ok" and ln["agrees"]]
    fastest = min(peers, key=lambda ln: ln["seconds"]) if peers else None
    for ln in out.values():
        if ln["status"] == "ok":
            ln["ratio_to_fastest_peer"] = round(ln["seconds"] / fastest["seconds"], 2) if fastest else None
            ln["fastest_peer"] = fastest is ln
    return [out[proc.engine.name] for proc in procs if proc.engine.name in out]


# ------------------------------------------------------------------------------ the report
def _report(
    ds: dataset.DataSet,
    spec: Spec,
    engines: list[Engine],
    lines: dict[str, list[dict[str, Any]]],
    skipped: dict[str, str],
    load_failed: dict[str, str],
    load_s: dict[str, float],
    repeats: int,
    load_start: float,
    want: dict[str, Canon],
) -> dict[str, Any]:
    queries = {}
    for q in QUERIES:
        fastest = next((ln for ln in lines[q] if ln.get("fastest_peer")), None)
        queries[q] = {
            "title": TITLES[q],
            "rows": len(want[q]),
            "fastest_peer": fastest["engine"] if fastest else None,
            "fastest_peer_s": fastest["seconds"] if fastest else None,
            "lines": lines[q],
        }
    return {
        "benchmark": "query_peers",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "gridpulse_source": _source_state(),
        "dataset": {"meters": ds.meters, "days": ds.days, "rows": ds.rows, "interval": "15 min"},
        "ranges": {
            "whole": [spec.start.isoformat(), spec.end.isoformat()],
            "Q2_week": [t.isoformat() for t in spec.week],
            "Q4_day": [spec.day.isoformat(), spec.day_end.isoformat()],
            "Q5_tz": spec.tz,
        },
        "repeats": repeats,
        "engines": [
            {"engine": e.name, "version": e.version, "peer": e.peer, "how": e.how, "notes": e.notes}
            for e in engines
        ],
        "load_seconds_not_measured": load_s,
        "queries": queries,
        "skipped": skipped,
        "load_failed": load_failed,
        "load_average_1min": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
    }


def _cell(ln: dict[str, Any] | None) -> tuple[str, str, str]:
    """(seconds, ratio, agrees) cells of one line."""
    if ln is None:
        return "-", "-", "-"
    st = ln["status"]
    if st != "ok":
        return st, "-", "-"
    ratio = f"{ln['ratio_to_fastest_peer']:.2f}" if ln["ratio_to_fastest_peer"] is not None else "-"
    agrees = "yes" if ln["agrees"] else f"**NO**: {ln['diff']}"
    return _secs(ln["seconds"]), ratio, agrees


def _secs(s: float) -> str:
    if s >= 10:
        return f"{s:.1f}"
    return f"{s:.3f}" if s >= 0.01 else f"{s:.4f}"


def _markdown(rep: dict[str, Any]) -> str:
    d, load = rep["dataset"], rep["load_average_1min"]
    r = rep["ranges"]
    out = [
        f"# Queries against the peers: {d['rows']:,} meter rows ({d['meters']:,} meters x 15 min x "
        f"{d['days']} days)",
        "",
        f"{rep['machine']}, {rep['date']}, gridpulse {rep['gridpulse_source']}, load average "
        f"{load['start']} at the start, {load['end']} at the end (other work on the machine makes "
        f"figures noisy). One warm-up, then the median of {rep['repeats']} timed runs or more (as many as "
        f"the warm-up says fit in {RUN_BUDGET_S:g} s, up to {MAX_RUNS}; one after a warm-up over "
        f"{SLOW_S:g} s; `runs` in the tables), engines "
        "interleaved, each engine (embedded, or the client of a server) in a process of its own; s = "
        "query sent -> the whole answer in the client (Arrow table, fetched rows or parsed JSON). Data from "
        f"{r['whole'][0]} to {r['whole'][1]}; Q2 week {r['Q2_week'][0]} - {r['Q2_week'][1]}; Q4 day "
        f"{r['Q4_day'][0][:10]}; Q5 zone {r['Q5_tz']}. ÷ fastest peer: the engine's seconds over the "
        "fastest peer that agrees (1.00 or less: as fast or faster). Generated by `make bench`.",
        "",
    ]
    versions = {e["engine"]: e["version"] for e in rep["engines"]}
    for q, info in rep["queries"].items():
        out += [f"## {q}: {info['title']} ({info['rows']:,} rows)", ""]
        if info["fastest_peer"]:
            out += [f"Fastest peer: {info['fastest_peer']} ({_secs(info['fastest_peer_s'])} s).", ""]
        out += [
            "| engine | version | s (median) | runs | ÷ fastest peer | agrees |",
            "|---|---|---:|---:|---:|---|",
        ]
        notes = []
        for ln in info["lines"]:
            name = ln["engine"] if ln["peer"] else f"**{ln['engine']}**"
            secs, ratio, agrees = _cell(ln)
            n = len(ln.get("runs") or ())
            out.append(
                f"| {name} | {versions.get(ln['engine'], '')} | {secs} | {n or ''} | {ratio} | {agrees} |"
            )
            if ln.get("note"):
                notes.append(f"- {ln['engine']}: {ln['note']}")
        if notes:
            out += ["", *notes]
        out.append("")
    names = [
        e["engine"]
        for e in rep["engines"]
        if any(e["engine"] in (ln["engine"] for ln in i["lines"]) for i in rep["queries"].values())
    ]
    out += ["## Summary: seconds (÷ fastest peer)", ""]
    out += ["| engine | " + " | ".join(rep["queries"]) + " |", "|---|" + "---:|" * len(rep["queries"])]
    for name in names:
        cells = []
        for info in rep["queries"].values():
            ln = next((x for x in info["lines"] if x["engine"] == name), None)
            secs, ratio, agrees = _cell(ln)
            if ln is not None and ln["status"] == "ok":
                cells.append(f"{secs} ({ratio})" + ("" if ln["agrees"] else " **disagrees**"))
            else:
                cells.append(secs)
        bold = (
            name if not any(e["engine"] == name and not e["peer"] for e in rep["engines"]) else f"**{name}**"
        )
        out.append(f"| {bold} | " + " | ".join(cells) + " |")
    out += [
        "",
        "Targets (issue 4): every query at least as fast as the fastest peer; the API within 1.5x of "
        "the in-process call.",
        "",
    ]
    for q, info in rep["queries"].items():
        by = {ln["engine"]: ln for ln in info["lines"]}
        py = by.get("gridpulse Python")
        apis = [ln for name, ln in by.items() if name.startswith("gridpulse API")]
        parts = []
        for ln in (py, *apis):
            if ln is None:
                continue
            if ln["status"] == "ok" and ln["ratio_to_fastest_peer"] is not None:
                met = "met" if ln["ratio_to_fastest_peer"] <= 1.0 and ln["agrees"] else "not met"
                parts.append(f"{ln['engine']} {ln['ratio_to_fastest_peer']:.2f}x the fastest peer ({met})")
            else:
                parts.append(f"{ln['engine']}: {ln['status']}")
        for api in apis:
            if py and py["status"] == api["status"] == "ok":
                ratio = api["seconds"] / py["seconds"]
                met = "met" if ratio <= 1.5 else "not met"
                parts.append(f"{api['engine']} ÷ Python {ratio:.2f} ({met})")
        out.append(f"- {q}: " + "; ".join(parts))
    out += ["", "## How each engine was asked", ""]
    for e in rep["engines"]:
        out.append(f"- {e['engine']}: {e['how']}" + "".join(f"; {n}" for n in e["notes"] if n))
    out += ["", "The queries as sent (JSON: `query`):", ""]
    for q, info in rep["queries"].items():
        for ln in info["lines"]:
            if ln.get("query"):
                out.append(f"- {q} {ln['engine']}: `{ln['query']}`")
    extra = [f"- skipped: {k}: {v}" for k, v in rep["skipped"].items()]
    extra += [f"- FAILED to load: {k}: {v}" for k, v in rep["load_failed"].items()]
    if rep["load_seconds_not_measured"]:
        extra.append(
            "- load times (not part of this benchmark): "
            + ", ".join(f"{k} {v:.0f} s" for k, v in rep["load_seconds_not_measured"].items())
        )
    if extra:
        out += ["", "Notes:", *extra]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ command line
def add_arguments(ap: argparse.ArgumentParser, *, prefix: str = "") -> None:
    """The options; `prefix` ("query-") when run.py shares the parser with the ingest benchmark."""
    if not prefix:
        ap.add_argument("--meters", type=int, default=1000, help="meters in the data set (default 1000)")
        ap.add_argument("--days", type=int, default=30, help="days of 15-min intervals (default 30)")
        ap.add_argument(
            "--engine",
            default="",
            help="only engines whose name contains this text (several: comma-separated)",
        )
        ap.add_argument("--keep", action="store_true", help="keep the temporary folder and the PG table")
    ap.add_argument("--scale", type=int, default=1, help="multiply the meters (--scale 10: 10x the data set)")
    ap.add_argument(
        f"--{prefix}repeats",
        type=int,
        default=5,
        help=f"timed runs per query after one warm-up (default 5; quick answers get up to {MAX_RUNS})",
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    a = ap.parse_args(argv)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    run(meters=a.meters * a.scale, days=a.days, repeats=a.repeats, out_dir=out, only=a.engine, keep=a.keep)


if __name__ == "__main__":
    main()
