"""The Prometheus registry and every metric object, defined once.

One registry (`REGISTRY`, not the client library's global one) so an app built twice in one
process (the tests) counts into the same objects without duplicate-registration errors, and a
`/metrics` route can expose exactly gridpulse's metrics with `prometheus_client.generate_latest(REGISTRY)`.

Counters get `_total` appended by the client library (`gridpulse_job_runs_total`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from gridpulse import __version__

__all__ = [
    "ALERTS",
    "BUILD_INFO",
    "FORECAST_DRIFT_PSI",
    "FORECAST_LIVE_ERROR",
    "HTTP_REQUEST_SECONDS",
    "INGEST_BYTES",
    "INGEST_COMMIT_SECONDS",
    "INGEST_LAST_COMMIT",
    "INGEST_REJECTS",
    "INGEST_ROUTES",
    "INGEST_ROWS",
    "JOB_HELD_RUNS",
    "JOB_HOLDING",
    "JOB_LAST_SUCCESS",
    "JOB_RUNS",
    "JOB_RUN_SECONDS",
    "REGISTRY",
    "SOURCE_FAILED_RUNS_IN_A_ROW",
    "SOURCE_FAILURES",
    "SOURCE_REJECTS",
    "SOURCE_ROWS",
    "SOURCE_SERIES_NEWEST",
]

# no `_created` sample beside every counter and histogram: it doubles the series a scrape
# stores and nothing in deploy/ reads it
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

#: Finished runs of scheduled jobs, by job and status (ok, partial, failed).
JOB_RUNS = Counter("gridpulse_job_runs", "Finished runs of scheduled jobs.", ["job", "status"], registry=REGISTRY)
#: Wall time of job runs. [s]
JOB_RUN_SECONDS = Histogram(
    "gridpulse_job_run_seconds",
    "Wall time of job runs in seconds.",
    ["job"],
    buckets=(0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
    registry=REGISTRY,
)
#: When each job last ended without failing. [s since 1970]
JOB_LAST_SUCCESS = Gauge(
    "gridpulse_job_last_success_timestamp_seconds", "When the job last ended ok or partial (Unix time).", ["job"],
    registry=REGISTRY,
)
#: Scheduled runs that waited for the job's hold to clear (the rollup refresh during a bulk load). [runs]
JOB_HELD_RUNS = Counter(
    "gridpulse_job_held_runs", "Scheduled runs that waited for the job's hold (e.g. a bulk load) to clear.", ["job"],
    registry=REGISTRY,
)
#: 1 while a scheduled run of the job waits for its hold to clear, else 0.
JOB_HOLDING = Gauge(
    "gridpulse_job_holding", "1 while a scheduled run of the job waits for its hold to clear.", ["job"],
    registry=REGISTRY,
)
#: Points sources handed to the store (inserted, revised or unchanged). [points]
SOURCE_ROWS = Counter("gridpulse_source_rows", "Points a source handed to the store.", ["source"], registry=REGISTRY)
#: Rows sources rejected as invalid. [rows]
SOURCE_REJECTS = Counter("gridpulse_source_rejects", "Rows a source rejected as invalid.", ["source"], registry=REGISTRY)
#: Parts of source runs that failed (vendor channels, files, commits). [count]
SOURCE_FAILURES = Counter(
    "gridpulse_source_failures", "Parts of source runs that failed (channels, files, commits).", ["source"],
    registry=REGISTRY,
)
#: Runs of a source failing in a row. [runs]
SOURCE_FAILED_RUNS_IN_A_ROW = Gauge(
    "gridpulse_source_failed_runs_in_a_row", "Runs of the source that failed in a row.", ["source"], registry=REGISTRY
)
#: Newest committed reading per source key (channel or series); freshness is time() minus it. [s since 1970]
SOURCE_SERIES_NEWEST = Gauge(
    "gridpulse_source_newest_reading_timestamp_seconds",
    "Newest committed reading per source and key (vendor channel or series), Unix time; "
    "freshness = time() - this.",
    ["source", "key"],
    registry=REGISTRY,
)

# --- ingest, by route: where rows came in. One inc per request or batch, never per row.
#: The values of the `route` label of the ingest metrics: the JSON-array and NDJSON ingest routes,
#: line protocol over HTTP and TCP, MQTT subscribers, files (POST /api/v1/files, `gridpulse load`),
#: the other scheduled sources, and everything else that writes (estimates, the demo load).
INGEST_ROUTES = ("json", "ndjson", "lp_http", "lp_tcp", "mqtt", "file", "source", "api")
#: Points handed to the store (inserted, revised or unchanged), by route and configured source
#: ("" for the push routes). [points]
INGEST_ROWS = Counter(
    "gridpulse_ingest_rows",
    "Points handed to the store (inserted + revised + unchanged), by ingest route and source.",
    ["route", "source"],
    registry=REGISTRY,
)
#: Payload bytes received (a gzipped line-protocol body counts inflated, as parsed; a file as
#: uploaded). [bytes]
INGEST_BYTES = Counter(
    "gridpulse_ingest_bytes", "Payload bytes received, by ingest route.", ["route"], registry=REGISTRY
)
#: Rows or lines rejected as invalid. [rows]
INGEST_REJECTS = Counter(
    "gridpulse_ingest_rejects", "Rows or lines rejected as invalid, by ingest route.", ["route"], registry=REGISTRY
)
#: From the moment rows were received (body read, line batch cut) until their commit. [s]
INGEST_COMMIT_SECONDS = Histogram(
    "gridpulse_ingest_commit_seconds",
    "Ingest-to-commit latency in seconds: from rows received (body read, batch cut) to their commit.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
#: When the store last committed rows. [s since 1970]
INGEST_LAST_COMMIT = Gauge(
    "gridpulse_ingest_last_commit_timestamp_seconds", "When the store last committed rows (Unix time).",
    registry=REGISTRY,
)

# --- HTTP and the rest
#: HTTP request latency, by method, route template (never the raw path; "unmatched" for paths no
#: route matches) and status code. [s]
HTTP_REQUEST_SECONDS = Histogram(
    "gridpulse_http_request_duration_seconds",
    "HTTP request latency in seconds, by method, route template and status code.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
# --- forecast monitoring (gridpulse.jobs.monitoring), set by each run of the job forecast-monitor
#: Live error of the stored forecasts over the recent window, per series: measure mae and bias
#: (forecast - actual) in the series' unit, mape in %; NaN when nothing could be scored.
FORECAST_LIVE_ERROR = Gauge(
    "gridpulse_forecast_live_error",
    "Live forecast error over the recent window (arriving actuals against the stored forecast): "
    "mae and bias (forecast - actual) in the series' unit, mape in percent.",
    ["series_id", "measure"],
    registry=REGISTRY,
)
#: Population stability index of the recent values (and recorded inputs: the largest) against
#: the training window, per series; NaN when too few values. [1]
FORECAST_DRIFT_PSI = Gauge(
    "gridpulse_forecast_drift_psi",
    "Population stability index of recent inputs against the forecast model's training window.",
    ["series_id"],
    registry=REGISTRY,
)
#: Alerts by state as the store holds them, refreshed when /metrics is scraped. [alerts]
ALERTS = Gauge("gridpulse_alerts", "Alerts the store holds, by state.", ["state"], registry=REGISTRY)
#: Always 1; the version is the label. [1]
BUILD_INFO = Gauge("gridpulse_build_info", "The running gridpulse version (always 1).", ["version"], registry=REGISTRY)
BUILD_INFO.labels(__version__).set(1)
