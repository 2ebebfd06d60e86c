"""The metric names of the contract, and the metric names a PromQL expression reads.

The contract is the list of series gridpulse exposes at GET /metrics (docs/deploy.md); the shipped
rules and dashboards may read only these, plus what Prometheus adds itself (`up`) and the
recording rules the shipped rules file defines.
"""

from __future__ import annotations

import re

COUNTERS = [
    "gridpulse_job_runs",
    "gridpulse_source_rows",
    "gridpulse_source_rejects",
    "gridpulse_source_failures",
    "gridpulse_ingest_rows",
    "gridpulse_ingest_bytes",
    "gridpulse_ingest_rejects",
]
HISTOGRAMS = [
    "gridpulse_job_run_seconds",
    "gridpulse_ingest_commit_seconds",
    "gridpulse_http_request_duration_seconds",
]
GAUGES = [
    "gridpulse_job_last_success_timestamp_seconds",
    "gridpulse_source_failed_runs_in_a_row",
    "gridpulse_source_newest_reading_timestamp_seconds",
    "gridpulse_ingest_last_commit_timestamp_seconds",
    "gridpulse_alerts",
    "gridpulse_build_info",
    "gridpulse_forecast_live_error",
    "gridpulse_forecast_drift_psi",
]

#: Every series name of the contract, as Prometheus stores them (counters with _total, histograms as
#: _bucket, _count and _sum).
CONTRACT_SERIES = frozenset(
    [f"{c}_total" for c in COUNTERS]
    + [f"{h}{suffix}" for h in HISTOGRAMS for suffix in ("_bucket", "_count", "_sum")]
    + GAUGES
)
#: Series Prometheus writes itself for every target.
PROMETHEUS_SERIES = frozenset({"up"})

_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "and",
        "or",
        "unless",
        "atan2",
        "inf",
        "nan",
        "start",
        "end",
    }
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VARS = re.compile(r"\$\{[^}]*\}|\$\w+")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_NAMES = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """The metric (or recording rule) names an expression selects: identifiers that are not
    functions, aggregations, keywords, label names, durations or Grafana variables."""
    text = _STRINGS.sub('""', expr)
    text = _GRAFANA_VARS.sub("1m", text)
    text = _LABEL_LISTS.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    # `sum by (x) (...)` lost its label list above, leaving `sum   (`: an aggregation, not a name
    return {n for n in _NAMES.findall(text) if n not in _KEYWORDS}
