"""Alert latency: from the 2xx of the write that crossed the threshold to the webhook's receipt.

A real `gridpulse serve` process on loopback with the seed's low state-of-charge rule
(StateOfChargePercentage < 20) notifying a webhook receiver in this process. While writer
threads keep a steady NDJSON load of meter rows going (bodies of --load-rows rows, back to
back), the probe writes, every --interval-ms, one body with a state-of-charge reading below 20 of
a new battery (so each one fires a new alert) among readings above it of other batteries,
alternately as NDJSON (/ingest/telemetry/ndjson) and as line protocol (/api/v2/write). For each
alert: latency = time the receiver got the webhook POST - time the client got the write's 2xx
(both on this process's monotonic clock). A negative latency means the alert arrived before the
client read the response: the writer answers the request and hands the rows to the alert
engine at the same moment.

Usage: python benchmarks/alert_latency.py [--count 300] [--interval-ms 40] [--load-writers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson

SOC = "StateOfChargePercentage"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Receiver:
    """Webhook receiver: series name -> monotonic time of the first firing POST."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                at = time.monotonic()
                body = orjson.loads(raw)
                if body["status"] == "firing":
                    with outer.lock:
                        for s in body["series"]:
                            outer.first.setdefault(s, at)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _start_server(data: Path, receiver: Receiver) -> tuple[subprocess.Popen[bytes], str]:
    rule = {
        "name": "low-soc",
        "metric": SOC,
        "op": "<",
        "threshold": 20,
        "notify": [f"webhook:{receiver.url}"],
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPULSE_")}
    env.update(GRIDPULSE_ALERTS_RULES=json.dumps([rule]), GRIDPULSE_DEMO_DATASETS_DIR=str(data / "none"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridpulse", "serve", "--data-dir", str(data), "--port", "0", "--no-extra-ports",
         "--no-ilp"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            url = str(json.loads((data / "server.json").read_text())["url"])
            httpx.get(url + "/healthz").raise_for_status()
            return proc, url
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gridpulse did not start in 60 s")


def _load_body(writer: int, k: int, rows: int, meters: int = 200) -> bytes:
    """NDJSON meter rows of the writer's own meters, the k-th block of intervals (all new rows)."""
    steps = max(1, rows // meters)
    start = T0 + timedelta(minutes=15 * k * steps)
    stamps = [(start + timedelta(minutes=15 * s)).isoformat().replace("+00:00", "Z") for s in range(steps)]
    return "".join(
        f'{{"ts":"{stamps[s]}","meter_id":"w{writer}-m{m}","kwh":{(s * meters + m) % 97 / 10}}}\n'
        for s in range(steps)
        for m in range(meters)
    ).encode()


def _probe_body(i: int, fmt: str, others: int = 20) -> tuple[str, bytes]:
    """One low SoC reading of battery i among `others` readings above the threshold."""
    ts = T0 + timedelta(minutes=i)
    rows = [(f"ok-{j}", 40.0 + j) for j in range(others)]
    rows.insert(others // 2, (f"bat-{i}", 12.5))
    if fmt == "ndjson":
        body = b"".join(
            orjson.dumps({"recorded_at": ts.isoformat(), "device_id": dev, "metric_name": SOC, "value": v})
            + b"\n"
            for dev, v in rows
        )
    else:
        ns = int(ts.timestamp()) * 10**9
        body = b"".join(f"telemetry,device_id={dev} {SOC}={v} {ns}\n".encode() for dev, v in rows)
    return f"device:bat-{i}/{SOC}", body


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def _summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": _pct(ms, 50),
        "p90_ms": _pct(ms, 90),
        "p99_ms": _pct(ms, 99),
        "max_ms": max(ms),
        "min_ms": min(ms),
        "mean_ms": statistics.fmean(ms),
    }


def run(
    *, alerts: int, interval_ms: float, load_writers: int, load_rows: int, out_dir: Path, max_s: float = 75.0
) -> dict[str, Any]:
    receiver = Receiver()
    load_avg_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="gp-alert-bench-") as tmp:
        proc, url = _start_server(Path(tmp) / "data", receiver)
        stop = threading.Event()
        loaded = [0] * load_writers

        def load(w: int) -> None:
            with httpx.Client(base_url=url, timeout=120) as http:
                k = 0
                while not stop.is_set():
                    resp = http.post("/ingest/meter_usage/ndjson", content=_load_body(w, k, load_rows))
                    resp.raise_for_status()
                    loaded[w] += load_rows
                    k += 1

        try:
            with httpx.Client(base_url=url, timeout=60) as http:  # warm-up: parsers, first series
                http.post("/ingest/telemetry/ndjson", content=_probe_body(-1, "ndjson")[1]).raise_for_status()
                http.post(
                    "/api/v2/write", content=_probe_body(-2, "ilp")[1], params={"precision": "ns"}
                ).raise_for_status()
            threads = [threading.Thread(target=load, args=(w,), daemon=True) for w in range(load_writers)]
            for t in threads:
                t.start()
            time.sleep(1.0)  # the load is steady before the first probe
            load_t0, load_rows0 = time.monotonic(), sum(loaded)
            acked: dict[str, tuple[str, float]] = {}
            probe_deadline = time.monotonic() + max_s
            with httpx.Client(base_url=url, timeout=60) as http:
                for i in range(alerts):
                    if time.monotonic() > probe_deadline:  # a busy machine: keep the run short
                        break
                    fmt = "ndjson" if i % 2 == 0 else "ilp"
                    name, body = _probe_body(i, fmt)
                    if fmt == "ndjson":
                        resp = http.post("/ingest/telemetry/ndjson", content=body)
                    else:
                        resp = http.post("/api/v2/write", content=body, params={"precision": "ns"})
                    at = time.monotonic()
                    resp.raise_for_status()
                    acked[name] = (fmt, at)
                    time.sleep(interval_ms / 1000)
            load_s, load_done = time.monotonic() - load_t0, sum(loaded) - load_rows0
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(receiver.first.keys() & acked.keys()) < len(acked):
                time.sleep(0.05)
            stop.set()
            for t in threads:
                t.join(timeout=120)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            receiver.server.shutdown()
    lat = {
        name: (fmt, (receiver.first[name] - at) * 1000)
        for name, (fmt, at) in acked.items()
        if name in receiver.first
    }
    missing = len(acked) - len(lat)
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "when": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "load_average_1min": [round(load_avg_before, 1), round(os.getloadavg()[0], 1)],
        "alerts_sent": len(acked),
        "alerts_missing": missing,
        "interval_ms": interval_ms,
        "load_writers": load_writers,
        "load_rows_per_body": load_rows,
        "load_rows_per_s": load_done / load_s if load_s else 0.0,
        "all": _summary([ms for _, ms in lat.values()]),
        "ndjson": _summary([ms for f, ms in lat.values() if f == "ndjson"]),
        "line_protocol": _summary([ms for f, ms in lat.values() if f == "ilp"]),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "alert_latency.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# Alert latency: write acknowledgement to webhook receipt, {len(acked)} alerts under load",
        "",
        f"{report['machine']}, {report['when']}, load average {load_avg_before:.1f} before and "
        f"{report['load_average_1min'][1]:.1f} after. Lower is better. Generated by "
        "`python benchmarks/run.py --only alerts`.",
        "",
        f"Steady load: {load_writers} writers posting NDJSON bodies of {load_rows:,} meter rows back to back, "
        f"{report['load_rows_per_s']:,.0f} rows/s committed while the probes ran. Probe: every {interval_ms:g} ms one "
        "body of 21 state-of-charge readings, one of them below 20 (a new battery each time), alternately NDJSON and "
        f"line protocol over HTTP, for at most {max_s:g} s. Alerts not received within 30 s: {missing}.",
        "",
        "| route | alerts | p50 ms | p90 ms | p99 ms | max ms | min ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, key in (("all", "all"), ("NDJSON", "ndjson"), ("line protocol (HTTP)", "line_protocol")):
        s = report[key]
        lines.append(
            f"| {label} | {s['n']} | {s['p50_ms']:.1f} | {s['p90_ms']:.1f} | {s['p99_ms']:.1f} | {s['max_ms']:.1f} "
            f"| {s['min_ms']:.1f} |"
        )
    (out_dir / "alert_latency.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return report


def add_arguments(ap: argparse.ArgumentParser, prefix: str = "") -> None:
    ap.add_argument(f"--{prefix}count", type=int, default=300, help="alerts to measure (default 300)")
    ap.add_argument(f"--{prefix}interval-ms", type=float, default=40.0, help="pause between probes [ms]")
    ap.add_argument(f"--{prefix}load-writers", type=int, default=2, help="threads posting the steady load")
    ap.add_argument(f"--{prefix}load-rows", type=int, default=20_000, help="rows per load body")
    ap.add_argument(f"--{prefix}max-seconds", type=float, default=75.0, help="longest probing phase [s]")


def run_from_args(args: argparse.Namespace, prefix: str = "") -> dict[str, Any]:
    p = prefix.replace("-", "_")
    return run(
        alerts=getattr(args, f"{p}count"),
        interval_ms=getattr(args, f"{p}interval_ms"),
        load_writers=getattr(args, f"{p}load_writers"),
        load_rows=getattr(args, f"{p}load_rows"),
        max_s=getattr(args, f"{p}max_seconds"),
        out_dir=Path(__file__).parent / "results",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    run_from_args(parser.parse_args())
