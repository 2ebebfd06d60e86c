"""Run every benchmark and write benchmarks/results/.

Usage: python benchmarks/run.py [--only peers|http|query|forecast|alerts|anomaly] [--meters 1000 --days 30] [--rows 1000000]
- peers (ingest_peers.py): one smart-meter data set into gridpulse (line protocol TCP and HTTP,
  NDJSON, bulk) and into InfluxDB, VictoriaMetrics, PostgreSQL, SQLite and DuckDB;
- http (ingest_http.py): one NDJSON body, first load and resend, gridpulse vs PostgreSQL;
- query (query_peers.py): Q1-Q5 on the same data set, gridpulse (API and in process) vs DuckDB,
  chDB, PostgreSQL, SQLite, InfluxDB and VictoriaMetrics (--scale 10 for 10x the meters);
- forecast (forecast_accuracy.py): gridpulse's forecast models on PJM load against statsforecast
  and Prophet, on ETTh1 against the published DLinear figures, and a 1,000-meter training run;
  options --forecast-*. Here with fewer PJM origins than the script's own default (MAKE_BENCH in
  forecast_accuracy.py), to keep make bench short; the report's header says so.
- alerts (alert_latency.py): latency from a write's 2xx to the low state-of-charge alert's webhook
  delivery under a steady NDJSON load, p50/p99 over some hundreds of alerts; options --alerts-*.
- anomaly (anomaly_accuracy.py): precision and recall of the anomaly detectors and VEE rules on
  PJM and Ausgrid load with injected spikes, level shifts, flat lines and drop-outs; options
  --anomaly-*.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import alert_latency
import anomaly_accuracy
import forecast_accuracy
import ingest_http
import ingest_peers
import query_peers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--only",
        choices=["all", "peers", "http", "query", "forecast", "alerts", "anomaly"],
        default="all",
        help="which benchmark (default all)",
    )
    ap.add_argument("--rows", type=int, default=1_000_000, help="ingest_http: rows per NDJSON body")
    ap.add_argument("--repeats", type=int, default=3, help="ingest_http: runs per engine, median reported")
    ingest_peers.add_arguments(ap)
    query_peers.add_arguments(ap, prefix="query-")
    forecast_accuracy.add_arguments(ap, prefix="forecast-", make_bench=True)
    alert_latency.add_arguments(ap, prefix="alerts-")
    anomaly_accuracy.add_arguments(ap, prefix="anomaly-")
    args = ap.parse_args()
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    if args.only in ("all", "peers"):
        ingest_peers.run(
            meters=args.meters,
            days=args.days,
            writers=args.writers,
            batch_rows=args.batch_rows,
            repeats=args.peer_repeats,
            out_dir=out,
            only=args.engine,
            keep=args.keep,
        )
    if args.only in ("all", "http"):
        ingest_http.run(rows=args.rows, repeats=args.repeats, out_dir=out)
    if args.only in ("all", "query"):
        query_peers.run(
            meters=args.meters * args.scale,
            days=args.days,
            repeats=args.query_repeats,
            out_dir=out,
            only=args.engine,
            keep=args.keep,
        )
    if args.only in ("all", "forecast"):
        forecast_accuracy.run_from_args(
            args, prefix="forecast-", invoked_by=" ".join(["benchmarks/run.py", *sys.argv[1:]])
        )
    if args.only in ("all", "alerts"):
        alert_latency.run_from_args(args, prefix="alerts-")
    if args.only in ("all", "anomaly"):
        anomaly_accuracy.run_from_args(
            args, prefix="anomaly-", invoked_by=" ".join(["benchmarks/run.py", *sys.argv[1:]])
        )
    print(f"benchmarks done in {time.perf_counter() - t0:.0f} s; results in {out}")


if __name__ == "__main__":
    main()
