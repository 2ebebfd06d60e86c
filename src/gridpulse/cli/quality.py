"""`gridpulse quality check | estimate | show`: validation results per series and local day, and
estimates for missing intervals, through the running server or on the store file.

As every command, these go through the server when one holds the data folder and open the store
file otherwise (read-only for `show`). The JSON a command prints is the API's answer either way.
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

__all__ = ["check", "estimate", "show"]

console = Console()

_START = typer.Option(
    None, "--start", help="First local day, e.g. 2024-03-31 (default: [quality] days ending today)."
)
_END = typer.Option(None, "--end", help="Last local day, inclusive (default: today).")
_TZ = typer.Option(None, "--tz", help="IANA zone of the instants shown (default: each series' zone).")
_CONFIG = config_option("quality.*")


def _rows_table(rows: Sequence[Mapping[str, Any]], title: str, *, failures_only: bool = False) -> Table:
    table = Table(title=Text(title))
    for col, justify in (
        ("series", "left"),
        ("day", "left"),
        ("rule", "left"),
        ("status", "left"),
        ("count", "right"),
        ("expected", "right"),
        ("first", "left"),
        ("detail", "left"),
    ):
        table.add_column(Text(col), justify=justify)  # type: ignore[arg-type]
    for r in rows:
        if failures_only and r["status"] != "fail":
            continue
        table.add_row(
            Text(f"{r['entity_kind']}:{r['entity_id']}/{r['metric']}"),
            Text(r["day"]),
            Text(r["rule"]),
            Text(r["status"], style="red" if r["status"] == "fail" else "green"),
            Text(str(r["count"])),
            Text("-" if r["expected"] is None else str(r["expected"])),
            Text(r["first_ts"] or "-"),
            Text(r["detail"]),
        )
    return table


def _print(body: Mapping[str, Any], fmt: str, title: str, *, failures_only: bool) -> None:
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(body) + b"\n")
        return
    rows = body.get("rows", [])
    shown = [r for r in rows if r["status"] == "fail"] if failures_only else rows
    console.print(_rows_table(shown, title))
    fails = sum(1 for r in rows if r["status"] == "fail")
    console.print(
        Text(
            f"{len(rows)} results, {fails} failing"
            + (" (passing ones hidden; --all shows them)" if failures_only and fails < len(rows) else "")
        )
    )


def check(
    entity: str | None = ENTITY,
    metric: str | None = METRIC,
    kind: str | None = KIND,
    series_id: int | None = SERIES_ID,
    start: str | None = _START,
    end: str | None = _END,
    tz: str | None = _TZ,
    all_rows: bool = typer.Option(False, "--all", help="Show passing results too."),
    fmt: str = OUTPUT_FORMAT,
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Run the validation rules now on series and local days and store the results.

    Missing intervals, off-grid timestamps, conflicting duplicates, negative and out-of-limit
    reads, flat lines, spikes and staleness, per series and local day (docs/quality.md).
    """
    check_format(fmt)
    settings = make_settings(config, data_dir)
    params = {
        "series": series_id,
        "entity": entity,
        "kind": kind,
        "metric": metric,
        "start": start,
        "end": end,
        "tz": tz,
    }
    body = server_or_local(
        settings,
        token,
        lambda c: c.post("/api/v1/quality/check", params=without_none(params), timeout=None),
        lambda: _check_local(settings, params),
    )
    _print(body, fmt, "validation", failures_only=not all_rows)


def _check_local(settings: Settings, params: Mapping[str, Any]) -> dict[str, Any]:
    from gridpulse.jobs.quality import check_series, parse_day, quality_rows
    from gridpulse.quality import RULES
    from gridpulse.timeutil import zone

    if params.get("tz"):
        zone(params["tz"])
    store = open_local_store(settings, read_only=False)
    try:
        report = check_series(
            store,
            settings,
            selected_series(store, params),
            first_day=parse_day(params.get("start"), "start"),
            last_day=parse_day(params.get("end"), "end"),
        )
        return {
            **report.as_dict(),
            "rules": RULES,
            "rows": quality_rows(store, report.results, params.get("tz")),
        }
    finally:
        store.close()


def estimate(
    entity: str | None = ENTITY,
    metric: str | None = METRIC,
    kind: str | None = KIND,
    series_id: int | None = SERIES_ID,
    start: str | None = _START,
    end: str | None = _END,
    fmt: str = OUTPUT_FORMAT,
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Estimate missing intervals now: linear across short gaps, like-day profile across long ones.

    Estimates are stored with quality 1 (estimated); one never replaces a read, and a read that
    arrives later replaces it as a new version.
    """
    check_format(fmt)
    settings = make_settings(config, data_dir)
    params = {
        "series": series_id,
        "entity": entity,
        "kind": kind,
        "metric": metric,
        "start": start,
        "end": end,
    }
    client = client_for(settings, token)
    if client is not None:
        with client:
            resp = client.post("/api/v1/quality/estimate", params=without_none(params), timeout=None)
            raise_for_api(resp)
            body = orjson.loads(resp.content)
    else:
        from gridpulse.jobs.quality import estimate_series, parse_day

        store = open_local_store(settings, read_only=False)
        try:
            report = estimate_series(
                store,
                settings,
                selected_series(store, params),
                lambda req: store.write_group([req])[0],
                first_day=parse_day(start, "start"),
                last_day=parse_day(end, "end"),
            )
            body = report.as_dict()
        finally:
            store.close()
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(body) + b"\n")
        return
    methods = ", ".join(f"{n} {m}" for m, n in body["methods"].items()) or "none"
    console.print(
        Text(
            f"{body['estimated']} estimates stored ({methods}), {body['unchanged']} unchanged, "
            f"{body['unestimated']} missing intervals left without an estimate, {body['series']} series"
        )
    )
    for item in body["skipped"]:
        console.print(Text(f"skipped {item['series']}: {item['reason']}"))


def show(
    entity: str | None = ENTITY,
    metric: str | None = METRIC,
    kind: str | None = KIND,
    series_id: int | None = SERIES_ID,
    start: str | None = _START,
    end: str | None = _END,
    rule: str | None = typer.Option(None, "--rule", help="Only this rule, e.g. missing_intervals."),
    status: str | None = typer.Option(None, "--status", help="pass or fail."),
    tz: str | None = _TZ,
    fmt: str = OUTPUT_FORMAT,
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Show stored validation results per series, local day and rule."""
    check_format(fmt)
    settings = make_settings(config, data_dir)
    params = {
        "series": series_id,
        "entity": entity,
        "kind": kind,
        "metric": metric,
        "start": start,
        "end": end,
        "rule": rule,
        "status": status,
        "tz": tz,
    }
    body = server_or_local(
        settings,
        token,
        lambda c: c.get("/api/v1/quality", params=without_none(params)),
        lambda: _show_local(settings, params),
    )
    _print(body, fmt, "stored validation results", failures_only=False)


def _show_local(settings: Settings, params: Mapping[str, Any]) -> dict[str, Any]:
    from gridpulse.jobs.quality import parse_day, quality_rows
    from gridpulse.quality import RULES
    from gridpulse.timeutil import zone

    rule, status = params.get("rule"), params.get("status")
    if rule is not None and rule not in RULES:
        raise QueryError(f"rule={rule!r} is not one of {', '.join(RULES)}")
    if status is not None and status not in ("pass", "fail"):
        raise QueryError(f"status={status!r} is not pass or fail")
    if params.get("tz"):
        zone(params["tz"])
    store = open_local_store(settings)
    try:
        chosen = selected_series(store, params) if named_series(params) else None
        results = store.list_validation(
            [s.series_id for s in chosen] if chosen is not None else None,
            start_day=parse_day(params.get("start"), "start"),
            end_day=parse_day(params.get("end"), "end"),
            rule=rule,
            status=status,
        )
        rows = quality_rows(store, results, params.get("tz"))
        return {"rules": RULES, "count": len(rows), "rows": rows}
    finally:
        store.close()
