"""`gridpulse rollups` and `gridpulse retention`: the server's scheduled maintenance, by hand.

Through the running server when one holds the data folder, else on the store file directly.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from gridpulse.cli.context import client_for, make_settings, open_local_store, raise_for_api
from gridpulse.cli.options import DATA_DIR, TOKEN, config_option

__all__ = ["retention", "rollups"]

console = Console()

_CONFIG = config_option()


def rollups(data_dir: Path | None = DATA_DIR, config: Path | None = _CONFIG, token: str | None = TOKEN) -> None:
    """Refresh the rollup buckets that writes since the last refresh made stale."""
    settings = make_settings(config, data_dir)
    client = client_for(settings, token)
    if client is not None:
        with client:
            resp = client.post("/api/v1/rollups/refresh")
            raise_for_api(resp)
            body = resp.json()
    else:
        from dataclasses import asdict

        from gridpulse.jobs.maintenance import refresh_rollups

        store = open_local_store(settings, read_only=False)
        try:
            body = asdict(refresh_rollups(store))
        finally:
            store.close()
    console.print(
        f"rollups refreshed: {body['ranges']:,} dirty ranges, {body['series']:,} series, "
        f"{body['rows']:,} bucket rows written"
    )


def retention(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go; delete nothing."),
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Expire raw points, rollups and stored forecasts older than the retention rules allow
    (rollups outlive raw points; each series' newest forecast stays).

    Example: gridpulse retention --dry-run
    """
    settings = make_settings(config, data_dir)
    r = settings.retention
    if not (r.raw_days or r.rollup_days or r.forecast_days):
        console.print("no [retention] rules: everything is kept (set retention.raw_days, e.g. {'*' = 730})")
        return
    client = client_for(settings, token)
    if client is not None:
        with client:
            resp = client.post("/api/v1/retention/run", params={"dry_run": str(dry_run).lower()})
            raise_for_api(resp)
            body = resp.json()
            rows, forecast_runs, forecast_values = body["series"], body["forecast_runs"], body["forecast_values"]
    else:
        from gridpulse.jobs.maintenance import expire_old_data, expiry_rows

        store = open_local_store(settings, read_only=dry_run)
        try:
            report = expire_old_data(store, settings, dry_run=dry_run)
            rows = expiry_rows(store, report)
            forecast_runs, forecast_values = report.forecast_runs, report.forecast_values
        finally:
            store.close()
    verb = "would go" if dry_run else "deleted"
    if forecast_runs:
        console.print(
            f"forecasts: {forecast_runs:,} runs ({forecast_values:,} steps) made over "
            f"{r.forecast_days} days ago {verb}"
        )
    if not rows:
        if not forecast_runs:
            console.print(f"nothing {verb}: no data older than the rules allow")
        return
    table = Table(title=f"retention: {verb}")
    for col in ("series", "raw points", "superseded versions", "rollup rows"):
        table.add_column(col, justify="left" if col == "series" else "right")
    for r_ in rows:
        table.add_row(
            f"{r_['entity_kind']}:{r_['entity_id']}/{r_['metric']}",
            f"{r_['points']:,}",
            f"{r_['superseded_versions']:,}",
            f"{r_['rollup_rows']:,}",
        )
    console.print(table)
