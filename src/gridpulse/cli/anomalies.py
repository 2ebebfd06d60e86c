"""`gridpulse anomalies scan | list | status`: what the detectors found, through the running server
or on the store file.

As every command, these go through the server when one holds the data folder and open the store
file otherwise (read-only for `list`). The JSON a command prints is the API's answer either way.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gridpulse.cli.context import client_for, make_settings, open_local_store, raise_for_api, server_or_local
from gridpulse.cli.options import (
    DATA_DIR,
    ENTITY,
    KIND,
    METRIC,
    OUTPUT_FORMAT,
    SERIES_ID,
    TOKEN,
    check_format,
    config_option,
    named_series,
    selected_series,
    without_none,
)
from gridpulse.errors import QueryError

if TYPE_CHECKING:
    from gridpulse.config import Settings

__all__ = ["list_cmd", "scan", "status"]

DETECTORS = ("zscore", "residual")  # gridpulse.jobs.anomalies.DETECTORS, kept here so --help needs no numpy
STATUSES = ("open", "acknowledged", "dismissed")
console = Console()

_TZ = typer.Option(
    None, "--tz", help="IANA zone of naive --start/--end and of the times shown (default: each series' zone)."
)
_CONFIG = config_option("anomaly.*")


def _table(rows: Sequence[Mapping[str, Any]], title: str) -> Table:
    table = Table(title=Text(title))
    for col in (
        "id",
        "series",
        "start",
        "end",
        "kind",
        "score",
        "severity",
        "detector",
        "value",
        "expected",
        "status",
    ):
        table.add_column(Text(col))
    style = {"critical": "red", "warning": "yellow", "info": ""}
    for r in rows:
        table.add_row(
            Text(str(r["anomaly_id"])),
            Text(f"{r['entity_kind']}:{r['entity_id']}/{r['metric']}"),
            Text(r["start"]),
            Text(r["end"]),
            Text(r["kind"]),
            Text(f"{r['score']:.1f}"),
            Text(r["severity"], style=style.get(r["severity"], "")),
            Text(r["detector"]),
            Text("-" if r["value"] is None else f"{r['value']:.4g}"),
            Text("-" if r["expected"] is None else f"{r['expected']:.4g}"),
            Text(r["status"]),
        )
    return table


def _instant(text: str | None, tz: str | None, param: str) -> Any:
    from gridpulse.timeutil import parse_instant

    return parse_instant(text, tz=tz, param=param) if text else None


def scan(
    entity: str | None = ENTITY,
    metric: str | None = METRIC,
    kind: str | None = KIND,
    series_id: int | None = SERIES_ID,
    start: str | None = typer.Option(
        None,
        "--start",
        help="First instant judged (default: [anomaly] lookback_hours before the newest read).",
    ),
    end: str | None = typer.Option(
        None, "--end", help="End of the window judged, exclusive (default: after the newest read)."
    ),
    detector: list[str] = typer.Option(
        [], "--detector", "-d", help="zscore or residual; repeat for both (default: [anomaly] detectors)."
    ),
    tz: str | None = _TZ,
    fmt: str = OUTPUT_FORMAT,
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Scan series for anomalies now and store what the detectors find.

    zscore: each read against the same local time of day on the baseline days before it;
    residual: each complete step against the stored forecast current for it.
    """
    check_format(fmt)
    for d in detector:
        if d not in DETECTORS:
            raise QueryError(f"--detector {d!r} is not one of {', '.join(DETECTORS)}")
    settings = make_settings(config, data_dir)
    params = {
        "series": series_id,
        "entity": entity,
        "kind": kind,
        "metric": metric,
        "start": start,
        "end": end,
        "detector": ",".join(detector) or None,
        "tz": tz,
    }
    body = server_or_local(
        settings,
        token,
        lambda c: c.post("/api/v1/anomalies/scan", params=without_none(params), timeout=None),
        lambda: _scan_local(settings, params, detector),
    )
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(body) + b"\n")
        return
    console.print(_table(body["anomalies"], "anomalies of the scanned windows"))
    found = ", ".join(f"{n} {d}" for d, n in body["found"].items()) or "none"
    console.print(Text(f"{body['series']} series scanned; found {found}; {body['inserted']} new"))
    for item in body["skipped"]:
        console.print(Text(f"skipped {item['series']}: {item['reason']}"))


def _scan_local(settings: Settings, params: Mapping[str, Any], detectors: Sequence[str]) -> dict[str, Any]:
    from gridpulse.jobs.anomalies import anomalies_answer, scan_series
    from gridpulse.timeutil import zone

    tz = params.get("tz")
    if tz:
        zone(tz)
    store = open_local_store(settings, read_only=False)
    try:
        chosen = selected_series(store, params)
        if not named_series(params):
            chosen = [s for s in chosen if s.interval is not None]
        report = scan_series(
            store,
            settings,
            chosen,
            start=_instant(params.get("start"), tz, "start"),
            end=_instant(params.get("end"), tz, "end"),
            detectors=list(detectors) or None,
        )
        return {**report.as_dict(), "anomalies": anomalies_answer(store, report.anomalies, tz)}
    finally:
        store.close()


def list_cmd(
    entity: str | None = ENTITY,
    metric: str | None = METRIC,
    kind: str | None = KIND,
    series_id: int | None = SERIES_ID,
    start: str | None = typer.Option(None, "--start", help="Anomalies whose window ends after this instant."),
    end: str | None = typer.Option(None, "--end", help="Anomalies whose window starts before this instant."),
    since: str | None = typer.Option(
        None, "--since", help="Anomalies detected or updated at or after this instant."
    ),
    min_severity: str | None = typer.Option(
        None, "--min-severity", help="info, warning or critical: this or above."
    ),
    status: list[str] = typer.Option(
        [], "--status", help="open, acknowledged or dismissed; repeat for several."
    ),
    detector: str | None = typer.Option(None, "--detector", "-d", help="zscore or residual."),
    limit: int = typer.Option(100, "--limit", help="At most this many, newest window first."),
    tz: str | None = _TZ,
    fmt: str = OUTPUT_FORMAT,
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """List stored anomalies, newest window first."""
    check_format(fmt)
    for st in status:
        if st not in STATUSES:
            raise QueryError(f"--status {st!r} is not one of {', '.join(STATUSES)}")
    if detector is not None and detector not in DETECTORS:
        raise QueryError(f"--detector {detector!r} is not one of {', '.join(DETECTORS)}")
    settings = make_settings(config, data_dir)
    params = {
        "series": series_id,
        "entity": entity,
        "kind": kind,
        "metric": metric,
        "start": start,
        "end": end,
        "since": since,
        "min_severity": min_severity,
        "status": ",".join(status) or None,
        "detector": detector,
        "limit": limit,
        "tz": tz,
    }
    body = server_or_local(
        settings,
        token,
        lambda c: c.get("/api/v1/anomalies", params=without_none(params)),
        lambda: _list_local(settings, params, status),
    )
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(body) + b"\n")
        return
    console.print(_table(body["anomalies"], "anomalies"))
    console.print(Text(f"{body['count']} shown"))


def _list_local(settings: Settings, params: Mapping[str, Any], statuses: Sequence[str]) -> dict[str, Any]:
    from gridpulse.jobs.anomalies import anomalies_answer
    from gridpulse.model import AnomalyStatus, Severity
    from gridpulse.timeutil import zone

    tz = params.get("tz")
    if tz:
        zone(tz)
    try:
        severity = Severity.parse(params["min_severity"]) if params.get("min_severity") else None
    except ValueError as exc:
        raise QueryError(f"--min-severity: {exc}") from None
    store = open_local_store(settings)
    try:
        chosen = selected_series(store, params) if named_series(params) else None
        found = store.list_anomalies(
            [s.series_id for s in chosen] if chosen is not None else None,
            start=_instant(params.get("start"), tz, "start"),
            end=_instant(params.get("end"), tz, "end"),
            since=_instant(params.get("since"), tz, "since"),
            min_severity=severity,
            status=[AnomalyStatus(s) for s in statuses] or None,
            detector=params.get("detector"),
            limit=int(params["limit"]),
        )
        rows = anomalies_answer(store, found, tz)
        return {"count": len(rows), "anomalies": rows}
    finally:
        store.close()


def status(
    anomaly_id: int = typer.Argument(..., help="The anomaly's id (from `gridpulse anomalies list`)."),
    new_status: str = typer.Argument(..., metavar="STATUS", help="open, acknowledged or dismissed."),
    fmt: str = OUTPUT_FORMAT,
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Set an anomaly's status: acknowledged (seen, being handled), dismissed (not a problem) or open."""
    check_format(fmt)
    if new_status not in STATUSES:
        raise QueryError(f"status {new_status!r} is not one of {', '.join(STATUSES)}")
    settings = make_settings(config, data_dir)
    client = client_for(settings, token)
    if client is not None:
        with client:
            resp = client.patch(f"/api/v1/anomalies/{anomaly_id}", json={"status": new_status})
            raise_for_api(resp)
            body = orjson.loads(resp.content)
    else:
        from gridpulse.jobs.anomalies import anomalies_answer
        from gridpulse.model import AnomalyStatus

        store = open_local_store(settings, read_only=False)
        try:
            updated = store.set_anomaly_status(anomaly_id, AnomalyStatus(new_status))
            body = anomalies_answer(store, [updated])[0]
        finally:
            store.close()
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(body) + b"\n")
        return
    console.print(_table([body], f"anomaly {anomaly_id}"))
