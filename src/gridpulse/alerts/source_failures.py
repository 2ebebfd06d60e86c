"""Failing data sources as alerts: the `source` rule kind and the built-in rule `source-failing`.

A `[[sources]]` source runs as the job `source:<name>`, and every run lands in the store's
job_runs table (jobs/history.py). A source rule reads that history at each scheduled evaluation:
a source whose newest runs failed `threshold` times in a row (default: the source's own
`failure_alert_after`, else `[jobs] failure_alert_after`) meets the condition, and the alert
resolves at the first evaluation after a run that did not fail (the streak is back to 0). Reading
the stored history rather than being told by the runner means a restart neither loses nor
repeats an alert: the streak is still in the table, the open alert still in the alerts table.

`source-failing` is the rule that exists whenever `[[sources]]` are configured (so a failing
source raises an alert without anyone writing a rule); `[alerts] source_rule = false` turns it
off, and a config or API rule of that name replaces it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from gridpulse.alerts.rules import Rule, RuleKind
from gridpulse.alerts.state import _us
from gridpulse.store.base import JobRun

if TYPE_CHECKING:
    from gridpulse.config import Settings

__all__ = [
    "BUILTIN_SOURCE_RULE",
    "SourceFailure",
    "WatchedSource",
    "builtin_source_rule",
    "failing_sources",
    "source_series",
    "source_summary",
    "watched_sources",
]

#: the name of the built-in rule; a rule of this name in the config or the API replaces it
BUILTIN_SOURCE_RULE = "source-failing"

#: run statuses that continue a failing streak (as the store's latest_job_runs counts them)
_FAILED = ("failed", "interrupted")
#: a source's state as an alert evaluation takes it: condition met, value, ts [µs since 1970]
State = tuple[bool, float | None, int | None]


@dataclass(frozen=True)
class WatchedSource:
    """A configured, enabled `[[sources]]` source, as the source rules see it.

    Attributes:
        name: the table's name (`eniscope`).
        type: its type (`vendor_api`, `http`, `mqtt`, `folder`, ...).
        job: the job its runs are recorded under (`source:eniscope`).
        alert_after: failed runs in a row that make it failing (its failure_alert_after, else
            `[jobs] failure_alert_after`). [runs]
    """

    name: str
    type: str
    job: str
    alert_after: int


@dataclass(frozen=True)
class SourceFailure:
    """Why a source meets a source rule: for the alert's summary.

    Attributes:
        source: the source's name.
        streak: its newest runs that failed in a row. [runs]
        error: the newest failed run's error ('' when it gave none).
    """

    source: str
    streak: int
    error: str


def source_series(name: str) -> str:
    """A source as alerts and silences name it: `source:eniscope` (its job's name)."""
    return f"source:{name}"


def watched_sources(settings: Settings) -> dict[str, WatchedSource]:
    """The enabled `[[sources]]` by name, each with its failure limit.

    Raises:
        ConfigError: a source table is bad (names the table and key).
    """
    from gridpulse.sources import parse_sources

    return {
        spec.name: WatchedSource(
            spec.name, spec.type, spec.job, spec.failure_alert_after or settings.jobs.failure_alert_after
        )
        for spec in parse_sources(settings.sources)
        if spec.enabled
    }


def builtin_source_rule(settings: Settings, sources: Mapping[str, WatchedSource]) -> Rule | None:
    """The rule `source-failing` when `[[sources]]` are configured and `[alerts] source_rule` is
    on: every source, each at its own failure_alert_after, one alert per source, severity
    warning, to the default targets. None otherwise."""
    if not settings.alerts.source_rule or not sources:
        return None
    return Rule(
        name=BUILTIN_SOURCE_RULE,
        kind=RuleKind.SOURCE,
        group_by=("source",),
        severity="warning",
        source="builtin",
    )


def _failed_runs(runs: Sequence[JobRun]) -> list[JobRun]:
    """The streak's failed runs, newest first, from a job's newest runs: a run still going is not
    part of it (as the store counts it), and the first run that did not fail ends it."""
    done = [r for r in runs if r.status != "running"]
    return list(itertools.takewhile(lambda r: r.status in _FAILED, done))


def failing_sources(
    rule: Rule,
    sources: Mapping[str, WatchedSource],
    latest: Mapping[str, tuple[JobRun, JobRun | None, int]],
    runs_of: Callable[[str, int], Sequence[JobRun]],
    *,
    now: datetime,
    known: Sequence[str] = (),
) -> tuple[dict[str, State], dict[str, dict[str, str]], dict[str, SourceFailure]]:
    """What a source rule finds in the job history.

    Args:
        rule: a source rule.
        sources: the configured sources by name.
        latest: the store's latest_job_runs(): job -> (newest run, newest good run, failed runs
            in a row).
        runs_of: (job, n) -> the job's newest n runs, newest first (the store's list_job_runs);
            read only for sources that meet the rule, for their newest error and `for`.
        now: the evaluation's instant (aware UTC), for the rule's `for`.
        known: series the rule already tracks; one whose source is no longer configured (or no
            longer matches) is given as not met, so its open alert resolves.

    Returns:
        (states, labels, failures): per series `source:<name>`, (condition met, failed runs in a
        row [runs], end of the newest failed run, else of the newest run [µs since 1970, UTC]);
        its labels (`source`, `source_type`, `series`); and, for those that meet it, why.
    """
    states: dict[str, State] = {name: (False, None, None) for name in known}
    labels: dict[str, dict[str, str]] = {}
    failures: dict[str, SourceFailure] = {}
    for src in sources.values():
        if not rule.matches_source(src.name):
            continue
        series = source_series(src.name)
        labels[series] = {"source": src.name, "source_type": src.type, "series": series}
        newest, _, streak = latest.get(src.job, (None, None, 0))
        limit = src.alert_after if math.isnan(rule.threshold) else rule.threshold
        if newest is None or streak < limit:
            ts = None if newest is None else _us(newest.ended_at or newest.started_at)
            states[series] = (False, float(streak), ts)
            continue
        # the newest run may be one still going, with no error yet: the streak's own runs say why
        failed = _failed_runs(runs_of(src.job, streak + 1)) or [newest]
        met = rule.for_s <= 0 or now - failed[-1].started_at >= timedelta(seconds=rule.for_s)
        states[series] = (met, float(streak), _us(failed[0].ended_at or failed[0].started_at))
        if met:
            failures[series] = SourceFailure(src.name, streak, failed[0].error or "")
    return states, labels, failures


def source_summary(series: Sequence[str], failures: Mapping[str, SourceFailure], fallback: str) -> str:
    """The line a source alert's notification carries: which source failed how many runs in a
    row, and its newest error; `fallback` (the rule's description) when none is known."""
    parts = []
    for name in series:
        f = failures.get(name)
        if f is not None:
            parts.append(
                f"source {f.source} failed {f.streak} run{'' if f.streak == 1 else 's'} in a row"
                + (f": {f.error}" if f.error else "")
            )
    return "; ".join(parts) or fallback
