"""The state of each rule's series and groups, and the transitions that make alerts.

Per rule, each series is inactive or active (it meets the condition, for-duration included), and
series with equal group labels form a group. A group with an active series and no open alert
fires one (unless its cooldown since the last firing has not passed); an open alert whose group
has no active series left resolves. An alert holds the series that joined it while it was open.
Silences turn a new alert's notifications off (state silenced); acknowledging one marks it
(state acknowledged) without changing when it resolves.

The book is plain data driven by one thread (alerts.engine); it does no I/O: each transition comes
back as a Change the engine stores and delivers.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gridpulse.alerts.evaluate import Reading
from gridpulse.alerts.rules import Rule, RuleKind
from gridpulse.store.base import OPEN_ALERT_STATES, AlertRecord, SilenceRecord

__all__ = ["Change", "GroupState", "RuleBook", "SeriesState", "matching_silence", "us_to_datetime"]

_NEVER = -(2**62)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def us_to_datetime(us: int) -> datetime:
    """µs since 1970 -> aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=us)


def _us(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(microseconds=1)


def matching_silence(
    silences: Sequence[SilenceRecord], rule: str, series: Sequence[str], now: datetime
) -> SilenceRecord | None:
    """The first silence in force at `now` whose rule glob matches and whose series glob matches
    one of the series (an empty glob matches anything), or None."""
    for s in silences:
        if not (s.starts_at <= now < s.until):
            continue
        if s.rule and not fnmatch.fnmatchcase(rule, s.rule):
            continue
        if s.series and not any(fnmatch.fnmatchcase(name, s.series) for name in series):
            continue
        return s
    return None


@dataclass
class SeriesState:
    """One series under one rule.

    Attributes:
        last_us: newest reading evaluated. [µs since 1970, UTC]
        last_value: its value.
        since_us: start of the breaching run it is in, None when not breaching. [µs since 1970]
        active: meets the condition (for-duration included); a member of its group's alert.
        group: its group key.
    """

    last_us: int = _NEVER
    last_value: float = float("nan")
    since_us: int | None = None
    active: bool = False
    group: str = ""


@dataclass
class GroupState:
    """One group of one rule: its active series, its open alert, when it last fired."""

    labels: dict[str, str]
    members: set[str] = field(default_factory=set)
    record: AlertRecord | None = None
    last_fired: datetime | None = None
    notified: bool = False
    trigger: tuple[float | None, int | None] = (None, None)  # value, ts [µs] of the newest active reading


@dataclass(frozen=True)
class Change:
    """A transition to store (the record replaces the stored row) and maybe to deliver.

    Attributes:
        record: the alert after the transition.
        events: (name, detail) appended to its history.
        notify: "firing" or "resolved" when notifiers are told, else None.
        rule: the rule it belongs to.
    """

    record: AlertRecord
    events: list[tuple[str, dict[str, Any]]]
    notify: str | None
    rule: Rule


class RuleBook:
    """Series and group state of one rule."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.series: dict[str, SeriesState] = {}
        self.groups: dict[str, GroupState] = {}
        #: series -> (ts [µs], value) of the newest reading evaluated, for newest_readings (kept
        #: as it changes: building it per commit would cost a loop over every series)
        self.seen: dict[str, tuple[int, float]] = {}

    def last_seen(self) -> dict[str, tuple[int, float]]:
        """series -> (ts [µs], value) of the newest reading evaluated, for newest_readings."""
        return self.seen

    def group_of(self, labels: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        """The group key (`site_id=ams,metric=soc`; '' for one group per rule) and its labels."""
        chosen = {g: str(labels.get(g, "")) for g in self.rule.group_by}
        return ",".join(f"{k}={v}" for k, v in chosen.items()), chosen

    def _set(
        self, name: str, active: bool, labels: Mapping[str, str], value: float | None, ts_us: int | None
    ) -> str:
        s = self.series.setdefault(name, SeriesState())
        if not s.group:
            s.group, glabels = self.group_of(labels)
            self.groups.setdefault(s.group, GroupState(labels=glabels))
        g = self.groups[s.group]
        s.active = active
        if active:
            g.members.add(name)
            g.trigger = (value, ts_us)
        else:
            g.members.discard(name)
        return s.group

    def apply_readings(
        self, readings: Sequence[Reading], labels_of: Callable[[Reading], Mapping[str, str]]
    ) -> set[str]:
        """Take in-stream readings; returns the keys of the groups they touched."""
        touched: set[str] = set()
        for r in readings:
            s = self.series.setdefault(r.series, SeriesState())
            if r.breach:
                s.since_us = s.since_us if (s.since_us is not None and r.run_from_first) else r.run_start_us
            else:
                s.since_us = None
            s.last_us, s.last_value = r.ts_us, r.value
            self.seen[r.series] = (r.ts_us, r.value)
            met = s.since_us is not None and r.ts_us - s.since_us >= self.rule.for_s * 1e6
            # a firing threshold series stays active until it passes the clear level
            active = r.hold if (s.active and self.rule.kind is RuleKind.THRESHOLD) else met
            if active != s.active or active:
                touched.add(self._set(r.series, active, labels_of(r), r.value, r.ts_us))
        return touched

    def apply_states(
        self,
        states: Mapping[str, tuple[bool, float | None, int | None]],
        labels: Mapping[str, Mapping[str, str]],
    ) -> set[str]:
        """Take what a scheduled evaluation found: series -> (condition met, value, ts [µs]);
        series of the rule it did not mention are left as they are."""
        touched: set[str] = set()
        for name, (met, value, ts_us) in states.items():
            s = self.series.get(name)
            if s is None and not met:
                continue
            if s is None or s.active != met or met:
                touched.add(self._set(name, met, labels.get(name, {}), value, ts_us))
        return touched

    def settle(
        self,
        touched: set[str],
        now: datetime,
        *,
        next_id: Callable[[], int],
        silences: Sequence[SilenceRecord],
    ) -> list[Change]:
        """Fire, extend or resolve the alerts of the touched groups."""
        changes: list[Change] = []
        rule = self.rule
        for key in sorted(touched):
            g = self.groups[key]
            rec = g.record
            if rec is not None and not g.members:
                done = replace(rec, state="resolved", resolved_at=now)
                changes.append(Change(done, [("resolved", {})], "resolved" if g.notified else None, rule))
                g.record = None
                continue
            if rec is None and g.members:
                if g.last_fired is not None and now - g.last_fired < timedelta(seconds=rule.cooldown_s):
                    continue  # cooling down: it fires on a reading after the cooldown, if still active
                value, ts_us = g.trigger
                members = tuple(sorted(g.members))
                labels = {"alertname": rule.name, "severity": rule.severity, **g.labels}
                silence = matching_silence(silences, rule.name, members, now)
                rec = AlertRecord(
                    rule=rule.name,
                    kind=rule.kind.value,
                    group_key=key,
                    state="silenced" if silence else "firing",
                    severity=rule.severity,
                    started_at=now,
                    series=members,
                    summary=rule.describe(),
                    labels=labels,
                    value=value,
                    value_ts=us_to_datetime(ts_us) if ts_us is not None else None,
                    silence_id=silence.silence_id if silence else None,
                    alert_id=next_id(),
                )
                events: list[tuple[str, dict[str, Any]]] = [
                    ("fired", {"series": list(members), "value": value})
                ]
                if silence:
                    events.append(("silenced", {"silence_id": silence.silence_id}))
                g.record, g.last_fired, g.notified = rec, now, silence is None
                changes.append(Change(rec, events, None if silence else "firing", rule))
                continue
            if rec is not None:
                joined = sorted(g.members - set(rec.series))
                if joined:
                    g.record = replace(rec, series=(*rec.series, *joined))
                    changes.append(Change(g.record, [("series joined", {"series": joined})], None, rule))
        return changes

    def restore(self, record: AlertRecord) -> None:
        """Take a stored alert back after a restart: an open one becomes the group's alert again
        with its series active; any one sets the group's last firing (for the cooldown) and the
        series' newest reading seen (so resends of what fired it do not fire again)."""
        g = self.groups.setdefault(record.group_key, GroupState(labels=self.group_of(record.labels)[1]))
        if g.last_fired is None or record.started_at > g.last_fired:
            g.last_fired = record.started_at
        for name in record.series:
            s = self.series.setdefault(name, SeriesState(group=record.group_key))
            if record.value_ts is not None:
                s.last_us = max(s.last_us, _us(record.value_ts))
                if s.last_us == _us(record.value_ts) and record.value is not None:
                    s.last_value = record.value
                self.seen[name] = (s.last_us, s.last_value)
        if record.state in OPEN_ALERT_STATES and g.record is None:
            g.record = record
            g.notified = record.state != "silenced" or record.notifications_sent > 0
            for name in record.series:
                self.series[name].active = True
                g.members.add(name)

    def open_alerts(self) -> list[AlertRecord]:
        return [g.record for g in self.groups.values() if g.record is not None]

    def replace_record(self, record: AlertRecord) -> None:
        """Put a changed open alert (acknowledged, silenced) back into its group."""
        g = self.groups.get(record.group_key)
        if g is not None and g.record is not None and g.record.alert_id == record.alert_id:
            g.record = record
