"""The Typer app. Any GridpulseError becomes one readable line and exit code 1, here only."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from gridpulse import __version__
from gridpulse.cli import admin, query, serve, settings_cmd
from gridpulse.errors import GridpulseError

__all__ = ["app", "main"]

app = typer.Typer(
    name="gridpulse",
    help="Interval data for electric utilities: ingest, store with revisions, query in any time zone.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("query")(query.query)
app.command("series")(query.series)
app.command("init")(admin.init)
app.command("demo")(admin.demo)
app.command("config")(settings_cmd.config_cmd)


@app.command("version")
def version() -> None:
    """Print the gridpulse version."""
    print(__version__)


def main() -> None:
    try:
        app(standalone_mode=False)
    except GridpulseError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
