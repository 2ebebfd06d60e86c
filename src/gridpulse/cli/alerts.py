"""`gridpulse alerts list | ack | silence | rules`: alerts and their rules, through the running
server or on the store file.

As every command: through the server when one holds the data folder, else on the store file
(read-only for `list` and `rules`). The JSON printed is the API's answer either way.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from gridpulse.cli.context import client_for, make_settings, open_local_store, raise_for_api, server_or_local
from gridpulse.cli.options import DATA_DIR, OUTPUT_FORMAT, TOKEN, config_option
from gridpulse.errors import QueryError

__all__ = ["ack", "list_alerts", "rules", "silence"]

console = Console()

_CONFIG = config_option("alerts.*")


def _emit(body: dict[str, Any], fmt: str, render: Any) -> None:
    if fmt not in ("table", "json"):
        raise QueryError(f"--format {fmt!r} is not one of table, json")
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(body) + b"\n")
    else:
        render(body)


def _alerts_table(body: dict[str, Any]) -> None:
    table = Table("id", "rule", "state", "severity", "series", "value", "started", "resolved", title="alerts")
    for a in body["alerts"]:
        series = ", ".join(a["series"][:3]) + (f" (+{len(a['series']) - 3})" if len(a["series"]) > 3 else "")
        table.add_row(
            str(a["alert_id"]), a["rule"], a["state"], a["severity"], series,
            "-" if a["value"] is None else f"{a['value']:g}", a["started_at"][:19], (a["resolved_at"] or "-")[:19],
        )  # fmt: skip
    console.print(table)


def list_alerts(
    state: str = typer.Option(
        "open", "--state", "-s", help="open, all, or states such as firing,acknowledged."
    ),
    rule: str | None = typer.Option(None, "--rule", "-r", help="Only alerts of this rule."),
    limit: int = typer.Option(100, "--limit", help="At most this many, newest first."),
    fmt: str = OUTPUT_FORMAT,
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """List alerts, open ones by default."""
    settings = make_settings(config, data_dir)
    states = None if state == "all" else state
    client = client_for(settings, token)
    if client is not None:
        with client:
            params: dict[str, Any] = {"limit": limit}
            if states:
                params["state"] = states
            if rule:
                params["rule"] = rule
            resp = client.get("/api/v1/alerts", params=params)
            raise_for_api(resp)
            body = resp.json()
    else:
        from gridpulse.alerts.records import alert_dict, parse_states

        store = open_local_store(settings)
        try:
            found = store.list_alerts(states=parse_states(states), rule=rule, limit=limit)
        finally:
            store.close()
        body = {"alerts": [alert_dict(a) for a in found]}
    _emit(body, fmt, _alerts_table)


def ack(
    alert_id: int = typer.Argument(..., help="The alert's id (from `gridpulse alerts list`)."),
    by: str = typer.Option("cli", "--by", help="Who acknowledges it."),
    fmt: str = OUTPUT_FORMAT,
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Acknowledge an open alert: it stays open until its condition clears."""
    settings = make_settings(config, data_dir)

    def local() -> dict[str, Any]:
        from gridpulse.alerts.records import acknowledge_in_store, alert_dict

        store = open_local_store(settings, read_only=False)
        try:
            return alert_dict(acknowledge_in_store(store, alert_id, by))
        finally:
            store.close()

    body = server_or_local(
        settings, token, lambda c: c.post(f"/api/v1/alerts/{alert_id}/ack", json={"by": by}), local
    )
    _emit(body, fmt, lambda b: console.print(f"alert {b['alert_id']} acknowledged by {b['acknowledged_by']}"))


def silence(
    rule: str | None = typer.Option(None, "--rule", "-r", help="Glob on rule names, e.g. low-soc."),
    series: str | None = typer.Option(
        None, "--series", help="Glob on series names, e.g. 'device:b-*/StateOfChargePercentage'."
    ),
    until: str | None = typer.Option(
        None, "--until", help="ISO 8601 instant with offset, e.g. 2026-11-27T08:00Z."
    ),
    duration: str | None = typer.Option(None, "--for", help="How long from now, e.g. 2h, 30m."),
    comment: str = typer.Option("", "--comment", help="Why."),
    by: str = typer.Option("cli", "--by", help="Who silences."),
    fmt: str = OUTPUT_FORMAT,
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Silence the notifications of matching alerts until a time (open ones become silenced)."""
    settings = make_settings(config, data_dir)
    req = {k: v for k, v in {"rule": rule, "series": series, "until": until, "duration": duration,
                             "comment": comment, "by": by}.items() if v}  # fmt: skip

    def local() -> dict[str, Any]:
        from gridpulse.alerts.records import parse_silence, silence_dict

        record = parse_silence(req)
        store = open_local_store(settings, read_only=False)
        try:
            return silence_dict(store.save_silence(record))
        finally:
            store.close()

    body = server_or_local(settings, token, lambda c: c.post("/api/v1/alerts/silences", json=req), local)
    _emit(body, fmt, lambda b: console.print(f"silence {b['silence_id']} until {b['until']}"))


def rules(
    fmt: str = OUTPUT_FORMAT,
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """List the alert rules: from the config file and made through the API."""
    settings = make_settings(config, data_dir)
    client = client_for(settings, token)
    if client is not None:
        with client:
            resp = client.get("/api/v1/alerts/rules")
            raise_for_api(resp)
            body = resp.json()
    else:
        from gridpulse.alerts.rules import parse_rule, parse_rules
        from gridpulse.alerts.source_failures import builtin_source_rule, watched_sources

        found = [r.as_dict() for r in parse_rules(settings.alerts.rules)]
        names = {r["name"] for r in found}
        store = open_local_store(settings)
        try:
            stored = store.list_alert_rules()
        finally:
            store.close()
        found += [
            parse_rule(s, where="stored rule", source="api").as_dict()
            for s in stored
            if s.get("name") not in names
        ]
        # as the server has it: the built-in source rule, unless a config or API rule took its name
        builtin = builtin_source_rule(settings, watched_sources(settings))
        if builtin is not None and builtin.name not in {r["name"] for r in found}:
            found.append(builtin.as_dict())
        body = {"rules": sorted(found, key=lambda r: r["name"])}

    def render(b: dict[str, Any]) -> None:
        table = Table(
            "name",
            "kind",
            "condition",
            "for",
            "cooldown",
            "group by",
            "notify",
            "source",
            title="alert rules",
        )
        from gridpulse.alerts.rules import parse_rule
        from gridpulse.errors import ConfigError

        for r in b["rules"]:
            try:  # the rule's own words: every kind (source, anomaly, forecast...) has a condition
                cond = parse_rule(r, where=f"rule {r.get('name')!r}", source=str(r.get("source", "api"))).describe()
            except ConfigError:
                cond = f"{r.get('metric', '')} {r.get('op', '')} {r.get('threshold', r.get('minutes', ''))}".strip()
            table.add_row(
                r["name"], r["kind"], cond, f"{r['for_s']:g} s", f"{r['cooldown_s']:g} s",
                ",".join(r["group_by"]) or "-", ",".join(r["notify"]) or "(defaults)", r["source"],
            )  # fmt: skip
        console.print(table)

    _emit(body, fmt, render)
