"""The Prometheus registry and every metric object, defined once.

One registry (`REGISTRY`, not the client library's global one) so an app built twice in one
process (the tests) counts into the same objects without duplicate-registration errors, and a
`/metrics` route can expose exactly gridpulse's metrics with `prometheus_client.generate_latest(REGISTRY)`.

Counters get `_total` appended by the client library (`gridpulse_job_runs_total`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
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
