"""`gridpulse query` and `gridpulse series`: the API's filters, against the server or the file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from gridpulse.cli.context import client_for, make_settings, open_local_store, raise_for_api
from gridpulse.cli.options import DATA_DIR, TOKEN, config_option
from gridpulse.errors import QueryError

if TYPE_CHECKING:
    pass

# the store, Arrow and the exporters are imported inside the commands: a command that talks to a
# running server, and `--help`, start without them
FORMATS = ("json", "csv", "parquet")

__all__ = ["query", "series"]

console = Console()

_CONFIG = config_option()


def _print_table(rows: list[dict[str, Any]], title: str) -> None:
    if not rows:
        console.print(f"[yellow]{title}: nothing found[/yellow]")
        return
    table = Table(title=title)
    for col in rows[0]:
        table.add_column(col, justify="right" if isinstance(rows[0][col], (int, float)) else "left")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


def query(
    entity: str | None = typer.Option(None, "--entity", "-e", help="Entity id, or kind:id (e.g. meter:m-1)."),
    metric: str | None = typer.Option(
        None, "--metric", "-m", help="Metric; optional when the entity has one."
    ),
    series_id: int | None = typer.Option(None, "--series", help="Series id instead of entity + metric."),
    kind: str | None = typer.Option(None, "--kind", help="Entity kind when ids repeat across kinds."),
    start: str | None = typer.Option(
        None, help="Inclusive start: ISO 8601 with offset, or a date read in --tz."
    ),
    end: str | None = typer.Option(None, help="Exclusive end, as --start."),
    resolution: str = typer.Option(
        "raw", "--resolution", "-r", help="raw, 15min, 30min, hour, day, week, month."
    ),
    agg: str | None = typer.Option(None, help="sum, avg, min, max, first, last, count."),
    tz: str | None = typer.Option(None, help="IANA zone for buckets and output times."),
    as_of: str | None = typer.Option(None, "--as-of", help="Read what was known at this instant."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or parquet."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Read one series, raw or bucketed, in any time zone."""
    if fmt not in (*FORMATS, "table"):
        raise QueryError(f"--format {fmt!r} is not one of table, {', '.join(FORMATS)}")
    settings = make_settings(config, data_dir)
    params = {
        "series": series_id,
        "entity": entity,
        "kind": kind,
        "metric": metric,
        "start": start,
        "end": end,
        "resolution": resolution,
        "agg": agg,
        "tz": tz,
        "as_of": as_of,
    }
    client = client_for(settings, token)
    if client is not None:
        with client:
            wire = "json" if fmt == "table" else fmt
            resp = client.get(
                "/api/v1/readings",
                params={k: v for k, v in {**params, "format": wire}.items() if v is not None},
            )
            raise_for_api(resp)
            data = resp.content
            if fmt == "table":
                body = orjson.loads(data)
                _print_table(
                    body["points"],
                    f"{body['series']['entity_kind']}:{body['series']['entity_id']}/"
                    f"{body['series']['metric']} [{body['series']['unit']}] {body['resolution']} {body['tz']}",
                )
                return
    else:
        from gridpulse.export import to_csv, to_json_chunks, to_parquet, with_local_ts
        from gridpulse.store.query import ReadingsRequest, read_readings, readings_head

        store = open_local_store(settings)
        req = ReadingsRequest(series_id, entity, kind, metric, start, end, resolution, agg, tz, as_of)
        try:
            s, q, table = read_readings(store, req)
        finally:
            store.close()
        if fmt == "table":
            _print_table(
                with_local_ts(table, q.tz).to_pylist(), f"{s.key} [{s.unit}] {q.resolution.value} {q.tz}"
            )
            return
        if fmt == "csv":
            data = to_csv(table, q.tz)
        elif fmt == "parquet":
            data = to_parquet(table, q.tz)
        else:
            head = readings_head(s, q, req, count=table.num_rows)
            data = b"".join(to_json_chunks(head, table, q.tz))
    if output is not None:
        output.write_bytes(data)
        console.print(f"wrote {len(data)} bytes to {output}")
    else:
        sys.stdout.buffer.write(data if fmt != "json" else data + b"\n")


def series(
    kind: str | None = typer.Option(
        None, "--kind", help="Entity kind: meter, plant, device, channel, feeder..."
    ),
    entity: str | None = typer.Option(None, "--entity", "-e", help="Entity id, or kind:id."),
    metric: str | None = typer.Option(None, "--metric", "-m", help="Metric name."),
    tag: list[str] | None = typer.Option(None, "--tag", help="key:value, repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """List series in the catalogue."""
    settings = make_settings(config, data_dir)
    client = client_for(settings, token)
    if client is not None:
        with client:
            params: dict[str, Any] = {
                k: v for k, v in {"kind": kind, "entity": entity, "metric": metric}.items() if v
            }
            if tag:
                params["tag"] = tag
            resp = client.get("/api/v1/series", params=params)
            raise_for_api(resp)
            rows = resp.json()["series"]
    else:
        from gridpulse.store.query import series_filter

        store = open_local_store(settings)
        try:
            rows = [
                s.as_dict()
                for s in store.list_series(series_filter(kind=kind, entity=entity, metric=metric, tags=tag))
            ]
        finally:
            store.close()
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n")
        return
    slim = [
        {k: r[k] for k in ("series_id", "entity_kind", "entity_id", "metric", "unit", "interval_s", "tz")}
        for r in rows
    ]
    _print_table(slim, f"{len(rows)} series")
