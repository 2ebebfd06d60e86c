"""Forecast monitoring as alerts: the `forecast_error` and `forecast_drift` rule kinds.

The monitoring job (gridpulse.jobs.monitoring) stores one check per series per run in the
forecast_checks table: live error over the recent window and the drift PSI. At each scheduled
evaluation a rule reads the newest check of each of its series:

- forecast_error: the check's `measure` (mape [%], mae, bias [series' unit], coverage80,
  coverage95 [0..1]) `<op> threshold`;
- forecast_drift: its PSI at or above `threshold` (default `[forecast] psi_drift`, 0.25).

A figure the check could not compute (no actuals yet, too few values for a PSI) does not meet
the condition. `for` is wall-clock time: every check of the last `for` span meets the condition
and so does the newest one before it (the streak began at least `for` ago), read from the stored
checks, so a restart neither loses a streak nor repeats an alert, as source rules do with the job
history.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from gridpulse.alerts.rules import OPS, Rule, RuleKind
from gridpulse.alerts.state import _us
from gridpulse.model import ForecastCheck

__all__ = ["check_value", "forecast_states", "meets"]

#: a series' state as an alert evaluation takes it: condition met, value, ts [µs since 1970]
State = tuple[bool, float | None, int | None]
#: (series ids, since, until, newest) -> stored checks: the store's list_forecast_checks
ReadChecks = Callable[[Sequence[int], datetime | None, datetime | None, bool], Sequence[ForecastCheck]]


def check_value(rule: Rule, check: ForecastCheck) -> float | None:
    """The figure of `check` the rule compares: its measure (forecast_error) or its PSI."""
    if rule.kind is RuleKind.FORECAST_DRIFT:
        return check.psi
    value = getattr(check, rule.measure or "mape")
    return None if value is None else float(value)


def meets(rule: Rule, check: ForecastCheck, *, psi_drift: float) -> bool:
    """Whether the check meets the rule's condition (a missing figure never does)."""
    value = check_value(rule, check)
    if value is None or math.isnan(value):
        return False
    if rule.kind is RuleKind.FORECAST_DRIFT:
        return value >= (psi_drift if math.isnan(rule.threshold) else rule.threshold)
    return OPS[rule.op](value, rule.threshold)


def forecast_states(
    rule: Rule,
    names: Mapping[int, str],
    read: ReadChecks,
    *,
    now: datetime,
    psi_drift: float,
    known: Sequence[str] = (),
) -> dict[str, State]:
    """What a forecast rule finds in the stored checks of its series.

    Args:
        rule: a forecast_error or forecast_drift rule.
        names: series id -> series name (`kind:entity/metric`) of the series the rule watches.
        read: the store's list_forecast_checks as (ids, since, until, newest).
        now: the evaluation's instant (aware UTC), for `for`.
        psi_drift: the PSI a drift rule without a threshold compares with. [1]
        known: series the rule already tracks; one without a check now is given as not met, so
            its open alert resolves.

    Returns:
        Per series name: (condition met, for included; the figure of the newest check; the end
        of its window [µs since 1970, UTC]).
    """
    states: dict[str, State] = {name: (False, None, None) for name in known}
    if not names:
        return states
    ids = sorted(names)
    newest = {c.series_id: c for c in read(ids, None, None, True)}
    held = {sid for sid, c in newest.items() if meets(rule, c, psi_drift=psi_drift)}
    if held and rule.for_s > 0:
        cutoff = now - timedelta(seconds=rule.for_s)
        watched = sorted(held)
        before = {c.series_id: c for c in read(watched, None, cutoff, True)}
        broken = {
            c.series_id for c in read(watched, cutoff, None, False) if not meets(rule, c, psi_drift=psi_drift)
        }
        held = {
            sid for sid in held
            if sid in before and meets(rule, before[sid], psi_drift=psi_drift) and sid not in broken
        }  # fmt: skip
    for sid, c in newest.items():
        states[names[sid]] = (sid in held, check_value(rule, c), _us(c.window_end))
    return states
