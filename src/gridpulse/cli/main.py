"""The Typer app. Any GridpulseError becomes one readable line and exit code 1, here only."""

from __future__ import annotations

import sys

import typer

from gridpulse import __version__
from gridpulse.cli import admin, alerts, analyze, forecast, load, maintenance, query, serve, settings_cmd
from gridpulse.cli import anomalies as anomalies_cmd
from gridpulse.cli import jobs as jobs_cmd
from gridpulse.cli import monitoring as monitoring_cmd
from gridpulse.cli import quality as quality_cmd
from gridpulse.cli import sources as sources_cmd
from gridpulse.errors import GridpulseError

__all__ = ["app", "main"]

app = typer.Typer(
    name="gridpulse",
    help="Interval data for electric utilities: ingest, store with revisions, query in any time zone.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    epilog="Example: gridpulse query -e m-1 -r day --tz Europe/Amsterdam",
)
# Typer prints the docstring above the options and the epilog below them, so the one-line example
# each command's help ends with goes here (short enough not to wrap at 80 columns).
app.command("serve", epilog="Example: gridpulse serve --data-dir ./data --port 7001 --demo")(serve.serve)
app.command("query", epilog="Example: gridpulse query -e m-1 -r day --tz Europe/Amsterdam -f csv")(
    query.query
)
app.command("series", epilog="Example: gridpulse series --kind meter --tag segment:residential")(query.series)
app.command("analyze", epilog="Example: gridpulse analyze peak-demand -e m-01 -p period=week --explain")(
    analyze.analyze
)
app.command("load", epilog="Example: gridpulse load meters.csv --wide --tz Europe/Amsterdam")(load.load)
app.command("rollups", epilog="Example: gridpulse rollups --data-dir ./data")(maintenance.rollups)
app.command("retention", epilog="Example: gridpulse retention --dry-run")(maintenance.retention)
app.command("init", epilog="Example: gridpulse init --data-dir /var/lib/gridpulse")(admin.init)
app.command("demo", epilog="Example: gridpulse demo --data-dir ./data")(admin.demo)
app.command("config", epilog="Example: GRIDPULSE_SERVER_PORT=8000 gridpulse config")(settings_cmd.config_cmd)
app.command("jobs", epilog="Example: gridpulse jobs --runs source:eniscope")(jobs_cmd.jobs)
app.command("run-job", epilog="Example: gridpulse run-job source:eniscope")(jobs_cmd.run_job)
app.command("sources", epilog="Example: gridpulse sources --keys")(sources_cmd.sources)

forecast_app = typer.Typer(
    name="forecast",
    help="Forecast stored series 7 days ahead, show stored forecasts, backtest the models, monitor live error "
    "and drift.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
forecast_app.command("run", epilog="Example: gridpulse forecast run -e m-01 -m kwh --model lightgbm")(forecast.run)
forecast_app.command("show", epilog="Example: gridpulse forecast show -e m-01 -m kwh -f csv")(forecast.show)
forecast_app.command(
    "backtest", epilog="Example: gridpulse forecast backtest --kind meter --metric kwh --origins 4"
)(forecast.backtest)
forecast_app.command("error", epilog="Example: gridpulse forecast error meter:m-01/kwh --days 14")(
    monitoring_cmd.error
)
forecast_app.command("drift", epilog="Example: gridpulse forecast drift meter:m-01/kwh -f json")(
    monitoring_cmd.drift
)
app.add_typer(forecast_app, name="forecast", epilog="Example: gridpulse forecast show -e m-01 --tz Europe/Amsterdam")

quality_app = typer.Typer(
    name="quality",
    help="Data quality (VEE): validate series per local day, estimate missing intervals, show the results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
quality_app.command("check", epilog="Example: gridpulse quality check -e m-01 --start 2024-03-30 --end 2024-03-31")(
    quality_cmd.check
)
quality_app.command("estimate", epilog="Example: gridpulse quality estimate --kind meter --start 2024-03-30")(
    quality_cmd.estimate
)
quality_app.command("show", epilog="Example: gridpulse quality show --status fail -f json")(quality_cmd.show)
app.add_typer(quality_app, name="quality", epilog="Example: gridpulse quality check --all")

anomalies_app = typer.Typer(
    name="anomalies",
    help="Anomalies: scan series with the detectors, list what they found, set a status.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
anomalies_app.command("scan", epilog="Example: gridpulse anomalies scan -e m-01 -d zscore")(anomalies_cmd.scan)
anomalies_app.command("list", epilog="Example: gridpulse anomalies list --min-severity warning --status open")(
    anomalies_cmd.list_cmd
)
anomalies_app.command("status", epilog="Example: gridpulse anomalies status 12 acknowledged")(anomalies_cmd.status)
app.add_typer(anomalies_app, name="anomalies", epilog="Example: gridpulse anomalies list -f json")

alerts_app = typer.Typer(
    name="alerts",
    help="Alerts and alert rules: list, acknowledge, silence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
alerts_app.command("list", epilog="Example: gridpulse alerts list --state firing")(alerts.list_alerts)
alerts_app.command("ack", epilog="Example: gridpulse alerts ack 12 --by alice")(alerts.ack)
alerts_app.command("silence", epilog="Example: gridpulse alerts silence --rule low-soc --for 2h")(alerts.silence)
alerts_app.command("rules", epilog="Example: gridpulse alerts rules -f json")(alerts.rules)
app.add_typer(alerts_app, name="alerts", epilog="Example: gridpulse alerts list -f json")


@app.command("version", epilog="Example: gridpulse version")
def version() -> None:
    """Print the gridpulse version."""
    print(__version__)


def main() -> None:
    """Run the CLI: usage errors are Click's (usage line, message, exit 2), a GridpulseError one line."""
    try:
        # standalone: Click itself prints usage errors and Ctrl-C; its exception classes are
        # vendored inside Typer (0.29), so catching them here by class would miss them
        app()
    except GridpulseError as exc:
        # plain text, not Rich: markup would eat "[server]" in a message and wrapping would split it
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
