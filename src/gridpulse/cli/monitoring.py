"""`gridpulse forecast error | drift SERIES`: how a series' stored forecasts fare against the
actuals that arrived, and whether its recent values drifted from the training window.

As every command, these go through the server when one holds the data folder and open the store
file read-only otherwise; the JSON they print is the API's answer
(GET /api/v1/forecasts/{series_id}/error and .../drift) either way.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gridpulse.cli.context import make_settings, open_local_store, raise_for_api, server_or_local
from gridpulse.cli.options import DATA_DIR, OUTPUT_FORMAT, TOKEN, check_format, config_option, without_none
from gridpulse.errors import NotFound, QueryError

if TYPE_CHECKING:
    import httpx

    from gridpulse.config import Settings
    from gridpulse.store.base import Store

__all__ = ["drift", "error", "series_params"]

console = Console()

_SERIES = typer.Argument(
    ...,
    help="Series id, kind:entity/metric (meter:m-01/kwh), or an entity id with --metric.",
    show_default=False,
)
_METRIC = typer.Option(None, "--metric", "-m", help="Metric, when SERIES is an entity with several.")
_MODEL = typer.Option(None, "--model", help="Only forecasts of this model (default: any).")
_WINDOW = typer.Option(
    None, "--window-days", min=1, max=90, help="Days of the recent window (default: monitor_window_days, 7)."
)
_TZ = typer.Option(None, "--tz", help="IANA zone of the days and instants (default: the series' zone).")
_CONFIG = config_option("forecast.*")
#: the error table's columns: (key, header, scale)
_COLUMNS = (
    ("steps", "steps", 1.0),
    ("mae", "MAE", 1.0),
    ("mape", "MAPE %", 1.0),
    ("bias", "bias", 1.0),
    ("coverage80", "80 % cov. %", 100.0),
    ("coverage95", "95 % cov. %", 100.0),
)


def series_params(series: str, metric: str | None) -> dict[str, Any]:
    """What SERIES names, as find_series parameters: `42` -> series 42, `meter:m-01/kwh` ->
    entity meter:m-01 and metric kwh, `m-01` -> that entity (with --metric).

    Raises:
        QueryError: a name with a metric and --metric as well.
    """
    text = series.strip()
    if text.isdigit():
        return {"series": int(text)}
    entity, slash, named = text.partition("/")
    if slash:
        if metric is not None and metric != named:
            raise QueryError(
                f"SERIES {series!r} names metric {named!r} and --metric says {metric!r}: give one"
            )
        return {"entity": entity, "metric": named}
    return {"entity": text, "metric": metric}


def _series_id(client: httpx.Client, params: Mapping[str, Any]) -> int:
    """The id of the one series `params` names, asked of the server."""
    if "series" in params:
        return int(params["series"])
    resp = client.get("/api/v1/series", params=without_none(params))
    raise_for_api(resp)
    found = resp.json()["series"]
    what = params["entity"] + (f"/{params['metric']}" if params.get("metric") else "")
    if not found:
        raise NotFound(f"no series {what}; list them with `gridpulse series`")
    if len(found) > 1:
        names = ", ".join(f"{s['entity_kind']}:{s['entity_id']}/{s['metric']}" for s in found[:20])
        raise QueryError(
            f"{what} names {len(found)} series ({names}): add --metric or give kind:entity/metric"
        )
    return int(found[0]["series_id"])


def _local_id(store: Store, params: Mapping[str, Any]) -> int:
    from gridpulse.store.query import find_series

    return find_series(
        store, series=params.get("series"), entity=params.get("entity"), metric=params.get("metric")
    ).series_id


def _answer(
    settings: Settings, token: str | None, params: Mapping[str, Any], what: str, query: Mapping[str, Any]
) -> Any:
    def ask(client: httpx.Client) -> httpx.Response:
        sid = _series_id(client, params)
        return client.get(f"/api/v1/forecasts/{sid}/{what}", params=without_none(query))

    def local() -> dict[str, Any]:
        from gridpulse.jobs.monitoring import drift_answer, error_answer

        store = open_local_store(settings)
        try:
            sid = _local_id(store, params)
            if what == "error":
                return error_answer(store, settings, sid, **query)
            return drift_answer(store, settings, sid, **query)
        finally:
            store.close()

    return server_or_local(settings, token, ask, local)


def _cell(value: Any, scale: float = 1.0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value * scale:.4g}"
    return str(value)


def _name(body: Mapping[str, Any]) -> str:
    s = body["series"]
    return f"{s['entity_kind']}:{s['entity_id']}/{s['metric']}"


def error(
    series: str = _SERIES,
    metric: str | None = _METRIC,
    days: int | None = typer.Option(
        None,
        "--days",
        min=1,
        max=366,
        help="Local days shown, ending with the newest reading (default: monitor_period_days, 30).",
    ),
    window_days: int | None = _WINDOW,
    model: str | None = _MODEL,
    tz: str | None = _TZ,
    fmt: str = OUTPUT_FORMAT,
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Live error of a series' stored forecasts: per local day and over the recent window.

    Each step against the forecast current for it (latest origin at or before it): MAE, MAPE, bias, coverage.
    """
    check_format(fmt)
    settings = make_settings(config, data_dir)
    params = series_params(series, metric)
    query = {"days": days, "window_days": window_days, "model": model, "tz": tz}
    body = _answer(settings, token, params, "error", query)
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(body) + b"\n")
        return
    unit = body["unit"]
    table = Table(title=Text(f"live forecast error · {_name(body)} · days in {body['tz']}"))
    table.add_column("day")
    for key, header, _ in _COLUMNS:
        table.add_column(
            Text(f"{header} [{unit}]" if unit and key in ("mae", "bias") else header), justify="right"
        )
    for row in body["days"]:
        table.add_row(Text(row["day"]), *(Text(_cell(row[k], scale)) for k, _, scale in _COLUMNS))
    w = body["window"]
    table.add_section()
    table.add_row(
        Text(f"last {w['days']} days"), *(Text(_cell(w[k], scale)) for k, _, scale in _COLUMNS), style="bold"
    )
    table.caption = Text(f"{body['forecast_choice']}; bias = forecast - actual")
    console.print(table)


def drift(
    series: str = _SERIES,
    metric: str | None = _METRIC,
    window_days: int | None = _WINDOW,
    model: str | None = _MODEL,
    tz: str | None = _TZ,
    fmt: str = OUTPUT_FORMAT,
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Drift of a series' recent values (and recorded inputs) from its forecast's training window.

    PSI on the training window's deciles: below psi_watch stable, below psi_drift watch, else drift.
    """
    check_format(fmt)
    settings = make_settings(config, data_dir)
    params = series_params(series, metric)
    body = _answer(settings, token, params, "drift", {"window_days": window_days, "model": model, "tz": tz})
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(body) + b"\n")
        return
    table = Table(title=Text(f"drift · {_name(body)} · forecast {body['forecast']['forecast_id']}"))
    for col, justify in (("input", "left"), ("PSI", "right"), ("level", "left"), ("training values", "right"),
                         ("recent values", "right")):  # fmt: skip
        table.add_column(Text(col), justify=justify)  # type: ignore[arg-type]
    for i in body["inputs"]:
        style = {"drift": "red", "watch": "yellow"}.get(i["level"] or "", "")
        table.add_row(
            Text(i["input"]), Text(_cell(i["psi"])), Text(i["level"] or "-", style=style),
            Text(str(i["training_values"])), Text(str(i["recent_values"])),
        )  # fmt: skip
    t, r = body["training"], body["recent"]
    table.caption = Text(
        f"training {t['start']} .. {t['end']}; recent {r['start']} .. {r['end']}; "
        f"watch >= {body['thresholds']['watch']:g}, drift >= {body['thresholds']['drift']:g}"
    )
    console.print(table)
