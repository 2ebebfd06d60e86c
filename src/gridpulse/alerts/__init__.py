"""Alerting: rules (rules.py), their evaluation in the ingest path and on a schedule (evaluate.py,
state.py, engine.py), failing data sources (source_failures.py) and notification channels
(notify/). See docs/alerts.md."""

from __future__ import annotations

from gridpulse.alerts.engine import AlertEngine
from gridpulse.alerts.evaluate import MetricSelector, Reading, newest_readings
from gridpulse.alerts.notify import NOTIFIERS, AlertEvent, Notifier, NotifyError, NotifyOptions, make_notifier
from gridpulse.alerts.rules import GROUP_LABELS, OPS, Rule, RuleKind, parse_rule, parse_rules, series_name
from gridpulse.alerts.source_failures import (
    BUILTIN_SOURCE_RULE,
    WatchedSource,
    source_series,
    watched_sources,
)
from gridpulse.alerts.state import RuleBook, matching_silence

__all__ = [
    "BUILTIN_SOURCE_RULE",
    "GROUP_LABELS",
    "NOTIFIERS",
    "OPS",
    "AlertEngine",
    "AlertEvent",
    "MetricSelector",
    "Notifier",
    "NotifyError",
    "NotifyOptions",
    "Reading",
    "Rule",
    "RuleBook",
    "RuleKind",
    "WatchedSource",
    "make_notifier",
    "matching_silence",
    "newest_readings",
    "parse_rule",
    "parse_rules",
    "series_name",
    "source_series",
    "watched_sources",
]
