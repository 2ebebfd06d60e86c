"""`gridpulse analyze NAME`: one analysis, through the running server or on the store file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gridpulse.cli.context import client_for, make_settings, open_local_store, raise_for_api
from gridpulse.cli.options import DATA_DIR, TOKEN
from gridpulse.errors import QueryError

if TYPE_CHECKING:
    pass

# the analyses, the store and Arrow are imported inside the command: a command that talks to a
# running server, and `--help`, start without them

__all__ = ["analyze"]

FORMATS = ("table", "json", "csv")

console = Console()
err_console = Console(stderr=True)


def _params(pairs: list[str], named: dict[str, str | None]) -> dict[str, str]:
    """`--param key=value` pairs and the named options as one mapping; a key given twice is refused."""
    out = {k: v for k, v in named.items() if v is not None}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise QueryError(f"--param {pair!r} is not key=value, e.g. --param period=week")
        if key in out:
            raise QueryError(f"{key} is given twice (--{key} or --param {key}=...): give it once")
        out[key] = value.strip()
    return out


def _print_listing(body: dict[str, Any]) -> None:
    table = Table(title=f"{body['count']} analyses")
    for col in ("analysis", "description", "parameters"):
        table.add_column(col)
    common = {"entity", "kind", "metric", "site", "organisation", "start", "end", "tz"}
    for a in body["analyses"]:
        own = [
            p["name"]
            + (f"={p['default']}" if p["default"] is not None else "")
            + ("*" if p["required"] else "")
            for p in a["params"]
            if p["name"] not in common
        ]
        table.add_row(Text(a["name"]), Text(a["description"]), Text(", ".join(own)))
    console.print(table)
    console.print(
        Text(
            "All take start, end and tz; entity or site/organisation/kind (with metric) pick the series "
            "(feeder-balance: feeder). * required. GET /api/v1/analytics has the help of each."
        )
    )


def _cell(value: Any) -> str:
    """Text of one table cell: floats to 6 significant digits (json and csv keep every digit)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _print_table(body: dict[str, Any]) -> None:
    params = body["params"]
    names = ", ".join(f"{s['entity_kind']}:{s['entity_id']}/{s['metric']}" for s in params["series"][:4])
    more = f" +{len(params['series']) - 4}" if len(params["series"]) > 4 else ""
    title = f"{body['analysis']} · {names}{more} · {params['tz']}"
    if not body["rows"]:
        console.print(Text(f"{title}: no rows"), style="yellow")
    else:
        table = Table(title=Text(title))
        first = body["rows"][0]
        for col in body["columns"]:
            unit = body["units"].get(col)
            numeric = isinstance(first[col], int | float) and not isinstance(first[col], bool)
            table.add_column(Text(f"{col} [{unit}]" if unit else col), justify="right" if numeric else "left")
        for row in body["rows"]:
            table.add_row(*(Text(_cell(row[c])) for c in body["columns"]))
        console.print(table)
    for note in body["notes"]:
        console.print(Text(f"note: {note}"), style="yellow")


def _print_sql(body: dict[str, Any], out: Console) -> None:
    for i, stmt in enumerate(body.get("sql", []), 1):
        out.print(Text(f"-- statement {i}, parameters: {orjson.dumps(stmt['params']).decode()}"))
        out.print(Text(stmt["sql"]))


def analyze(
    name: str | None = typer.Argument(None, help="The analysis, e.g. energy; --list shows them all."),
    entity: str | None = typer.Option(
        None, "--entity", "-e", help="Entity id, or kind:id (e.g. meter:m-01)."
    ),
    start: str | None = typer.Option(
        None, help="Inclusive start: ISO 8601 with offset, or a date read in --tz."
    ),
    end: str | None = typer.Option(None, help="Exclusive end, as --start."),
    tz: str | None = typer.Option(None, help="IANA zone of local periods (default: the series' zone)."),
    param: list[str] | None = typer.Option(
        None,
        "--param",
        "-p",
        help="Parameter of the analysis as key=value, repeatable (e.g. -p period=week).",
    ),
    explain: bool = typer.Option(
        False, "--explain", help="Also print the SQL the store ran, with parameters."
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or csv."),
    list_all: bool = typer.Option(False, "--list", help="List the analyses and their parameters."),
    data_dir: Path | None = DATA_DIR,
    config: Path | None = typer.Option(None, "--config", help="TOML config file (tariffs live there)."),
    token: str | None = TOKEN,
) -> None:
    """Run one analysis (energy, peak-demand, tou, feeder-balance, ...) over stored series."""
    if fmt not in FORMATS:
        raise QueryError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if list_all:
        from gridpulse.analyses import listing

        body = listing()
        if fmt == "table":
            _print_listing(body)
        else:
            sys.stdout.buffer.write(orjson.dumps(body) + b"\n")
        return
    if not name:
        raise QueryError(
            "name an analysis, e.g. `gridpulse analyze energy -e m-01`, or list them with --list"
        )
    params = _params(param or [], {"entity": entity, "start": start, "end": end, "tz": tz})
    settings = make_settings(config, data_dir)
    client = client_for(settings, token)
    if client is not None:
        with client:
            resp = client.get(
                f"/api/v1/analytics/{name}",
                params={**params, "format": "json", "explain": "true" if explain else "false"},
            )
            raise_for_api(resp)
            body = orjson.loads(resp.content)
    else:
        from gridpulse.analyses import answer, run

        store = open_local_store(settings)
        try:
            body = answer(run(store, settings, name, params), explain=explain)
        finally:
            store.close()
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(body) + b"\n")
        return
    if fmt == "csv":
        from gridpulse.analyses.render import answer_csv

        sys.stdout.write(answer_csv(body))
        # stdout stays plain CSV; the statements go to stderr
        _print_sql(body, err_console)
        return
    _print_table(body)
    _print_sql(body, console)
