"""`gridpulse sources`: ingestion health per `[[sources]]` table (through the running server, or
from the store's history when none runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from gridpulse.cli.context import client_for, make_settings, open_local_store, raise_for_api
from gridpulse.cli.options import DATA_DIR, TOKEN

__all__ = ["sources"]

console = Console()


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def sources(
    keys: bool = typer.Option(
        False, "--keys", help="Also list each channel or series: watermark and freshness."
    ),
    data_dir: Path | None = DATA_DIR,
    config: Path | None = typer.Option(None, "--config", help="TOML config file."),
    token: str | None = TOKEN,
) -> None:
    """Show each source's last run, last success, failures in a row and data freshness."""
    settings = make_settings(config, data_dir)
    client = client_for(settings, token)
    rows: list[dict[str, Any]]
    if client is not None:
        with client:
            resp = client.get("/api/v1/sources")
            raise_for_api(resp)
            rows = resp.json()["sources"]
    else:
        from gridpulse.jobs.sources import source_health
        from gridpulse.sources import parse_sources

        store = open_local_store(settings)
        try:
            rows = source_health(store, parse_sources(settings.sources), {})
        finally:
            store.close()
    if not rows:
        console.print("no [[sources]] configured (see docs/sources.md)")
        return
    table = Table(title="sources")
    for col in (
        "source",
        "type",
        "last run",
        "status",
        "rows",
        "rejects",
        "failures",
        "last success",
        "failed in a row",
        "stalest",
    ):
        table.add_column(
            col,
            justify="right"
            if col in ("rows", "rejects", "failures", "failed in a row", "stalest")
            else "left",
        )
    for s in rows:
        last = s["last_run"] or {}
        stalest = max((k["freshness_s"] for k in s["keys"] if k["freshness_s"] is not None), default=None)
        status = (last.get("status") or "never") + (" (FAILING)" if s["failing"] else "")
        table.add_row(
            s["name"],
            s["type"],
            (last.get("started_at") or "")[:19],
            status,
            f"{last.get('rows') or 0:,}",
            f"{last.get('rejects') or 0:,}",
            f"{last.get('failures') or 0:,}",
            (s["last_success_at"] or "-")[:19],
            str(s["consecutive_failures"]),
            _age(stalest),
        )
    console.print(table)
    if keys:
        detail = Table(title="per channel / series")
        for col in ("source", "key", "watermark", "freshness", "last success", "last error"):
            detail.add_column(col)
        for s in rows:
            for k in s["keys"]:
                detail.add_row(
                    s["name"],
                    k["key"],
                    (k["watermark"] or "-")[:19],
                    _age(k["freshness_s"]),
                    (k["last_success_at"] or "-")[:19],
                    (k["last_error"] or "")[:60],
                )
        console.print(detail)
