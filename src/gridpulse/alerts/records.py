"""Alerts and silences as JSON (the API's answers, which the CLI prints), and a silence from a
request body: shared by the routes and the CLI's local path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gridpulse.alerts.rules import parse_duration_s
from gridpulse.errors import ConfigError, NotFound, QueryError
from gridpulse.store.base import ALERT_STATES, OPEN_ALERT_STATES, AlertRecord, SilenceRecord, Store

__all__ = ["acknowledge_in_store", "alert_dict", "parse_silence", "parse_states", "silence_dict"]

_SILENCE_KEYS = ("rule", "series", "until", "duration", "starts_at", "by", "comment")


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def alert_dict(rec: AlertRecord) -> dict[str, Any]:
    """One alert as the API shows it."""
    return {
        "alert_id": rec.alert_id,
        "rule": rec.rule,
        "kind": rec.kind,
        "state": rec.state,
        "severity": rec.severity,
        "group": rec.group_key,
        "series": list(rec.series),
        "summary": rec.summary,
        "labels": dict(rec.labels),
        "value": rec.value,
        "value_ts": _iso(rec.value_ts),
        "started_at": _iso(rec.started_at),
        "resolved_at": _iso(rec.resolved_at),
        "updated_at": _iso(rec.updated_at),
        "acknowledged_by": rec.acknowledged_by,
        "acknowledged_at": _iso(rec.acknowledged_at),
        "silence_id": rec.silence_id,
        "notifications_sent": rec.notifications_sent,
    }


def silence_dict(s: SilenceRecord) -> dict[str, Any]:
    return {
        "silence_id": s.silence_id,
        "rule": s.rule,
        "series": s.series,
        "starts_at": _iso(s.starts_at),
        "until": _iso(s.until),
        "created_by": s.created_by,
        "comment": s.comment,
        "created_at": _iso(s.created_at),
    }


def parse_states(text: str | None) -> list[str] | None:
    """`firing,acknowledged` -> the list; `open` stands for every open state; None or '' -> None.

    Raises:
        QueryError: naming an unknown state.
    """
    if not text:
        return None
    states: list[str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "open":
            states.extend(OPEN_ALERT_STATES)
        elif part in ALERT_STATES:
            states.append(part)
        else:
            raise QueryError(f"state={part!r} is not one of open, {', '.join(ALERT_STATES)}")
    return states


def _instant(value: Any, key: str) -> datetime:
    if not isinstance(value, str):
        raise QueryError(f"silence {key}={value!r} is not an ISO 8601 instant with an offset")
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(
            f"silence {key}={value!r} is not an ISO 8601 instant, e.g. 2026-11-26T18:00:00Z"
        ) from None
    if ts.tzinfo is None:
        raise QueryError(f"silence {key}={value!r} has no zone offset; add Z or +01:00")
    return ts.astimezone(UTC)


def parse_silence(body: Mapping[str, Any], *, now: datetime | None = None) -> SilenceRecord:
    """A silence from `{"rule": "low-soc", "series": "device:b-*/*", "duration": "2h", "by": "ops"}`:
    `until` (an instant) or `duration` (from now or `starts_at`), and at least a rule or series glob.

    Raises:
        QueryError: naming the key that is missing, unknown or malformed.
    """
    unknown = sorted(set(body) - set(_SILENCE_KEYS))
    if unknown:
        raise QueryError(f"silence key(s) {', '.join(unknown)} unknown; known: {', '.join(_SILENCE_KEYS)}")
    now = now or datetime.now(UTC)
    rule, series = body.get("rule") or "", body.get("series") or ""
    for key, val in (
        ("rule", rule),
        ("series", series),
        ("by", body.get("by") or ""),
        ("comment", body.get("comment") or ""),
    ):
        if not isinstance(val, str):
            raise QueryError(f"silence {key}={val!r} is not a text")
    if not rule and not series:
        raise QueryError('a silence needs a rule or a series glob (or both), e.g. {"rule": "low-soc"}')
    starts = _instant(body["starts_at"], "starts_at") if body.get("starts_at") else now
    if body.get("until") and body.get("duration"):
        raise QueryError("give the silence's until or its duration, not both")
    if body.get("until"):
        until = _instant(body["until"], "until")
    elif body.get("duration"):
        try:
            until = starts + timedelta(seconds=parse_duration_s(body["duration"], "silence duration"))
        except ConfigError as exc:
            raise QueryError(str(exc)) from None
    else:
        raise QueryError("a silence needs until (an instant) or duration (e.g. '2h')")
    if until <= starts:
        raise QueryError(f"silence until {until.isoformat()} is not after its start {starts.isoformat()}")
    return SilenceRecord(
        rule=rule, series=series, starts_at=starts, until=until,
        created_by=str(body.get("by") or ""), comment=str(body.get("comment") or ""),
    )  # fmt: skip


def acknowledge_in_store(store: Store, alert_id: int, by: str) -> AlertRecord:
    """Acknowledge an open alert straight in the store (the CLI while no server runs; a server
    does it through AlertEngine.acknowledge, which also updates its state).

    Raises:
        NotFound: no such alert. QueryError: it is resolved already.
    """
    found = store.list_alerts(alert_id=alert_id, limit=1)
    if not found:
        raise NotFound(f"no alert {alert_id}; `gridpulse alerts list` shows them")
    rec = found[0]
    if rec.state not in OPEN_ALERT_STATES:
        raise QueryError(f"alert {alert_id} is {rec.state}: only open alerts can be acknowledged")
    done = replace(rec, state="acknowledged", acknowledged_by=by, acknowledged_at=datetime.now(UTC))
    return store.save_alerts([done], [[("acknowledged", {"by": by})]])[0]
