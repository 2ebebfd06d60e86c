"""Alerting on DuckDB: the SQL behind DuckDBStore's alert rules, alerts, their history and
silences (schema version 6).

An alert is one row of `alerts` from firing to resolved; the evaluator replaces the row on every
transition, and `alert_events` keeps each transition and delivery. As everywhere in the store,
instants are naive UTC TIMESTAMPs and handed out aware. The functions take a cursor; the store
owns locking and transactions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

from gridpulse.errors import QueryError, StoreError
from gridpulse.store.base import ALERT_STATES, AlertRecord, SilenceRecord
from gridpulse.store.duckdb.instants import aware_utc, naive_utc

__all__ = [
    "SCHEMA_SINCE",
    "count_by_state",
    "delete_rule",
    "history",
    "insert_rule",
    "list_alerts",
    "list_rules",
    "list_silences",
    "save_alerts",
    "save_silence",
]

#: the schema version that added the alert tables (schema.py): an older read-only store has none
SCHEMA_SINCE = 6

_ALERT_COLUMNS = (
    "alert_id, rule, kind, group_key, series, state, severity, summary, labels, value, value_ts, "
    "started_at, resolved_at, updated_at, acknowledged_by, acknowledged_at, silence_id, notifications_sent"
)
_SILENCE_COLUMNS = "silence_id, rule, series, starts_at, until, created_by, comment, created_at"


def _naive_or_none(ts: datetime | None, what: str) -> datetime | None:
    return None if ts is None else naive_utc(ts, what)


def list_rules(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows = con.execute("SELECT spec FROM alert_rules ORDER BY name").fetchall()
    return [dict(orjson.loads(r[0])) for r in rows]


def insert_rule(con: duckdb.DuckDBPyConnection, name: str, spec: Mapping[str, Any], now: datetime) -> None:
    """Raises QueryError when a rule of that name is stored."""
    found = con.execute("SELECT count(*) FROM alert_rules WHERE name = ?", [name]).fetchall()
    if found[0][0]:
        raise QueryError(
            f"an alert rule named {name!r} exists already: delete it first, or pick another name"
        )
    con.execute(
        "INSERT INTO alert_rules VALUES (?, ?, ?)",
        [name, orjson.dumps(dict(spec)).decode(), _naive_or_none(now, "created_at")],
    )


def delete_rule(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute("DELETE FROM alert_rules WHERE name = ? RETURNING name", [name]).fetchall()
    return bool(rows)


def _alert_row(rec: AlertRecord, alert_id: int, now: datetime) -> list[Any]:
    if rec.state not in ALERT_STATES:
        raise StoreError(f"alert state {rec.state!r} is not one of {', '.join(ALERT_STATES)}")
    return [
        alert_id,
        rec.rule,
        rec.kind,
        rec.group_key,
        orjson.dumps(list(rec.series)).decode(),
        rec.state,
        rec.severity,
        rec.summary,
        orjson.dumps(dict(rec.labels)).decode(),
        rec.value,
        _naive_or_none(rec.value_ts, "value_ts"),
        _naive_or_none(rec.started_at, "started_at"),
        _naive_or_none(rec.resolved_at, "resolved_at"),
        now,
        rec.acknowledged_by,
        _naive_or_none(rec.acknowledged_at, "acknowledged_at"),
        rec.silence_id,
        rec.notifications_sent,
    ]


def save_alerts(
    con: duckdb.DuckDBPyConnection,
    records: Sequence[AlertRecord],
    events: Sequence[Sequence[tuple[str, Mapping[str, Any]]]],
    now: datetime,
) -> list[AlertRecord]:
    """Insert or replace the alerts and append their events; returns them as stored."""
    naive_now = _naive_or_none(now, "now")
    assert naive_now is not None
    stored: list[AlertRecord] = []
    rows: list[list[Any]] = []
    for rec in records:
        alert_id = rec.alert_id
        if alert_id is None:
            got = con.execute("SELECT nextval('alert_id_seq')").fetchall()
            alert_id = int(got[0][0])
        rows.append(_alert_row(rec, alert_id, naive_now))
        stored.append(replace(rec, alert_id=alert_id, updated_at=now))
    if rows:
        ids = [r[0] for r in rows]
        con.execute("DELETE FROM alerts WHERE alert_id IN (SELECT unnest(?::BIGINT[]))", [ids])
        placeholders = ", ".join("?" for _ in rows[0])
        con.executemany(f"INSERT INTO alerts ({_ALERT_COLUMNS}) VALUES ({placeholders})", rows)
    history = [
        [rec.alert_id, naive_now, name, orjson.dumps(dict(detail), default=str).decode()]
        for rec, evs in zip(stored, events, strict=False)
        for name, detail in evs
    ]
    if history:
        con.executemany(
            'INSERT INTO alert_events (alert_id, "at", event, detail) VALUES (?, ?, ?, ?)', history
        )
    return stored


def _record(row: Sequence[Any]) -> AlertRecord:
    return AlertRecord(
        alert_id=int(row[0]),
        rule=row[1],
        kind=row[2],
        group_key=row[3],
        series=tuple(orjson.loads(row[4])),
        state=row[5],
        severity=row[6],
        summary=row[7],
        labels=dict(orjson.loads(row[8])),
        value=row[9],
        value_ts=aware_utc(row[10]),
        started_at=aware_utc(row[11]) or datetime.now(UTC),
        resolved_at=aware_utc(row[12]),
        updated_at=aware_utc(row[13]),
        acknowledged_by=row[14],
        acknowledged_at=aware_utc(row[15]),
        silence_id=None if row[16] is None else int(row[16]),
        notifications_sent=int(row[17]),
    )


def list_alerts(
    con: duckdb.DuckDBPyConnection,
    *,
    states: Sequence[str] | None,
    rule: str | None,
    alert_id: int | None,
    limit: int,
) -> list[AlertRecord]:
    if limit < 0:
        raise QueryError(f"limit={limit} is negative; give 0 or more")
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if states is not None:
        bad = [s for s in states if s not in ALERT_STATES]
        if bad:
            raise QueryError(f"state {bad[0]!r} is not one of {', '.join(ALERT_STATES)}")
        where.append("state IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(states))
    if rule is not None:
        where.append("rule = ?")
        params.append(rule)
    if alert_id is not None:
        where.append("alert_id = ?")
        params.append(alert_id)
    rows = con.execute(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE {' AND '.join(where)} "
        "ORDER BY started_at DESC, alert_id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [_record(r) for r in rows]


def history(con: duckdb.DuckDBPyConnection, alert_id: int) -> list[dict[str, Any]]:
    rows = con.execute(
        'SELECT "at", event, detail FROM alert_events WHERE alert_id = ? ORDER BY "at", rowid', [alert_id]
    ).fetchall()
    return [{"at": aware_utc(r[0]), "event": r[1], "detail": orjson.loads(r[2])} for r in rows]


def count_by_state(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """State -> number of alerts in it (states without any are absent)."""
    rows = con.execute("SELECT state, count(*) FROM alerts GROUP BY state").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def save_silence(con: duckdb.DuckDBPyConnection, silence: SilenceRecord, now: datetime) -> SilenceRecord:
    starts, until = _naive_or_none(silence.starts_at, "starts_at"), _naive_or_none(silence.until, "until")
    assert starts is not None and until is not None
    if until <= starts:
        raise QueryError(
            f"silence until {silence.until.isoformat()} is not after its start: give a later until"
        )
    got = con.execute("SELECT nextval('silence_id_seq')").fetchall()
    silence_id = int(got[0][0])
    created = silence.created_at or now
    con.execute(
        f"INSERT INTO alert_silences ({_SILENCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [silence_id, silence.rule, silence.series, starts, until, silence.created_by, silence.comment,
         _naive_or_none(created, "created_at")],
    )  # fmt: skip
    return replace(silence, silence_id=silence_id, created_at=created)


def list_silences(con: duckdb.DuckDBPyConnection, *, active_at: datetime | None) -> list[SilenceRecord]:
    where, params = "TRUE", []
    if active_at is not None:
        where = "starts_at <= ? AND until > ?"
        at = _naive_or_none(active_at, "active_at")
        params = [at, at]
    rows = con.execute(
        f"SELECT {_SILENCE_COLUMNS} FROM alert_silences WHERE {where} ORDER BY created_at DESC, silence_id DESC",
        params,
    ).fetchall()
    return [
        SilenceRecord(
            silence_id=int(r[0]),
            rule=r[1],
            series=r[2],
            starts_at=aware_utc(r[3]) or datetime.now(UTC),
            until=aware_utc(r[4]) or datetime.now(UTC),
            created_by=r[5],
            comment=r[6],
            created_at=aware_utc(r[7]),
        )
        for r in rows
    ]
