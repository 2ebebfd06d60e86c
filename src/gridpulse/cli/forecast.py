"""`gridpulse forecast run | show | backtest`: forecasts of stored series, through the running
server or on the store file.

Like every command, these go through the server when one holds the data folder (it holds the
file's lock, so that is the only way) and open the store file otherwise: read-only for `show`
and `backtest`, for writing for `run`. The JSON a command prints is the API's answer either way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from gridpulse.cli.context import client_for, make_settings, open_local_store, raise_for_api
from gridpulse.cli.options import DATA_DIR, TOKEN, check_format, config_option, selected_series, without_none
from gridpulse.errors import NotFound, QueryError

if TYPE_CHECKING:
    import pyarrow as pa

    from gridpulse.config import Settings
    from gridpulse.forecast import BacktestResult
    from gridpulse.model import ForecastRun, Series
    from gridpulse.store.base import Store

# the models, the store and Arrow are imported inside the commands: a command that talks to a
# running server, and `--help`, start without them

__all__ = ["backtest", "run", "show"]

#: the models by name (gridpulse.forecast.MODELS has them; kept here so --help needs no numpy)
MODELS = ("seasonal-naive", "lightgbm", "mstl", "linear", "ensemble")
SHOW_FORMATS = ("table", "csv", "json")
RUN_FORMATS = ("table", "json")
_VALUE_COLUMNS = ("mean", "lo80", "hi80", "lo95", "hi95")
#: the backtest table's columns: (metric key, header, scale)
_METRIC_COLUMNS = (
    ("mae", "MAE", 1.0),
    ("rmse", "RMSE", 1.0),
    ("mape", "MAPE %", 1.0),
    ("smape", "sMAPE %", 1.0),
    ("mase", "MASE", 1.0),
    ("coverage80", "80 % cov. %", 100.0),
    ("coverage95", "95 % cov. %", 100.0),
)

console = Console()
err_console = Console(stderr=True)

_ENTITY = typer.Option(None, "--entity", "-e", help="Entity id, or kind:id (e.g. meter:m-01).")
_METRIC = typer.Option(None, "--metric", "-m", help="Metric; optional when the entity has one.")
_KIND = typer.Option(None, "--kind", help="Entity kind when ids repeat across kinds.")
_SERIES = typer.Option(None, "--series", help="Series id instead of entity + metric.")
_MODEL = typer.Option(None, "--model", help="seasonal-naive, lightgbm, mstl, linear or ensemble (default: forecast.model).")
_TZ = typer.Option(None, "--tz", help="IANA zone of the times shown (default: the series' zone).")
_CONFIG = config_option("forecast.*")


# ----------------------------------------------------------------------------- shared


def _check_model(model: str | None) -> None:
    if model is not None and model not in MODELS:
        raise QueryError(f"model={model!r} is not one of {', '.join(MODELS)}")


@contextmanager
def _spinner(text: str) -> Iterator[None]:
    """A spinner with the seconds spent on stderr while a model trains; gone when it is done
    (and never shown when stderr is not a terminal)."""
    if not err_console.is_terminal:
        yield
        return
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True
    ) as progress:
        progress.add_task(text, total=None)
        yield


def _series_name(s: Mapping[str, Any]) -> str:
    return f"{s['entity_kind']}:{s['entity_id']}/{s['metric']}"


def _what(entity: str | None, metric: str | None, series_id: int | None) -> str:
    if series_id is not None:
        return f"series {series_id}"
    return (entity or "?") + (f"/{metric}" if metric else "")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _step_text(step_s: int) -> str:
    return f"{step_s // 3600} h" if step_s % 3600 == 0 else f"{step_s // 60} min"


def _steps_table(body: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], title: str) -> Table:
    table = Table(title=Text(title))
    table.add_column(Text(f"ts ({body['tz']})"))
    for col in _VALUE_COLUMNS:
        table.add_column(Text(f"{col} [{body['unit']}]" if body["unit"] else col), justify="right")
    for row in rows:
        table.add_row(Text(str(row["ts"])), *(Text(_cell(row[c])) for c in _VALUE_COLUMNS))
    return table


def _headline(body: Mapping[str, Any]) -> str:
    fc = body["forecast"]
    return (
        f"{_series_name(body['series'])} · {fc['model']} · origin {fc['origin']} · "
        f"{fc['steps']} steps of {_step_text(fc['step_s'])}"
    )


# ----------------------------------------------------------------------------- run


def _run_local(store: Store, settings: Settings, params: Mapping[str, Any]) -> dict[str, Any]:
    from gridpulse.jobs.forecasts import forecast_answer, run_forecasts
    from gridpulse.store.query import find_series
    from gridpulse.timeutil import zone

    s = find_series(
        store, series=params.get("series"), entity=params.get("entity"), kind=params.get("kind"),
        metric=params.get("metric"),
    )
    tz = params.get("tz") or s.tz or "UTC"
    zone(tz)
    outcome = run_forecasts(store, settings, [s], model=params.get("model"))
    (stored,) = outcome.runs
    found = store.read_forecast(s.series_id, forecast_id=stored.forecast_id)
    if found is None:
        raise NotFound(f"forecast {stored.forecast_id} of {s.key} is gone")
    return forecast_answer(s, found[0], found[1], tz)


def run(
    entity: str | None = _ENTITY,
    metric: str | None = _METRIC,
    kind: str | None = _KIND,
    series_id: int | None = _SERIES,
    model: str | None = _MODEL,
    tz: str | None = _TZ,
    fmt: str = typer.Option("table", "--format", "-f", help="table (a summary) or json (the stored forecast)."),
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Forecast one series now, store the forecast and show a summary.

    It starts after the newest complete step, covers forecast.horizon_days, has 80 % and 95 % intervals.
    """
    check_format(fmt, RUN_FORMATS)
    _check_model(model)
    if series_id is None and not entity:
        raise QueryError("name the series: -e <entity> (with -m <metric> when it has several), or --series <id>")
    settings = make_settings(config, data_dir)
    params = {"series": series_id, "entity": entity, "kind": kind, "metric": metric, "model": model, "tz": tz}
    client = client_for(settings, token)
    label = f"forecasting {_what(entity, metric, series_id)}"
    if client is not None:
        with client, _spinner(label + (f" with {model}" if model else "") + " on the server"):
            # training takes what it takes: no read timeout
            resp = client.post("/api/v1/forecasts/run", params=without_none(params), timeout=None)
            raise_for_api(resp)
            body = orjson.loads(resp.content)
    else:
        store = open_local_store(settings, read_only=False)
        try:
            with _spinner(f"{label} with {model or settings.forecast.model}"):
                body = _run_local(store, settings, params)
        finally:
            store.close()
    if fmt == "json":
        sys.stdout.buffer.write(orjson.dumps(body) + b"\n")
        return
    fc, rows = body["forecast"], body["rows"]
    console.print(Text(f"stored forecast {fc['forecast_id']}: {_headline(body)}"), soft_wrap=True)
    console.print(
        Text(f"model {fc['model_version']}; trained on {fc['train_start']} .. {fc['train_end']}"), soft_wrap=True
    )
    ends = [rows[0], rows[-1]] if len(rows) > 1 else rows
    console.print(_steps_table(body, ends, "first and last steps"))


# ----------------------------------------------------------------------------- show


def _show_local(store: Store, params: Mapping[str, Any]) -> tuple[Series, ForecastRun, pa.Table, str]:
    from gridpulse.jobs.forecasts import stored_forecast

    return stored_forecast(
        store, series=params.get("series"), entity=params.get("entity"), kind=params.get("kind"),
        metric=params.get("metric"), model=params.get("model"), as_of=params.get("as_of"),
        forecast_id=params.get("forecast_id"), tz=params.get("tz"),
    )


def show(
    entity: str | None = _ENTITY,
    metric: str | None = _METRIC,
    kind: str | None = _KIND,
    series_id: int | None = _SERIES,
    model: str | None = typer.Option(None, "--model", help="Only forecasts of this model."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="The forecast current at this instant (ISO 8601; naive read in --tz)."
    ),
    forecast_id: int | None = typer.Option(None, "--forecast-id", help="Exactly this stored forecast."),
    tz: str | None = _TZ,
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Show the newest stored forecast of one series, or the one current at --as-of.

    Each step with its mean and the bounds of its 80 % and 95 % prediction intervals.
    """
    check_format(fmt, SHOW_FORMATS)
    _check_model(model)
    settings = make_settings(config, data_dir)
    params = {
        "series": series_id, "entity": entity, "kind": kind, "metric": metric, "model": model,
        "as_of": as_of, "forecast_id": forecast_id, "tz": tz,
    }
    client = client_for(settings, token)
    wire = "csv" if fmt == "csv" else "json"
    if client is not None:
        with client:
            resp = client.get("/api/v1/forecasts", params=without_none({**params, "format": wire}))
            raise_for_api(resp)
            data = resp.content
    else:
        store = open_local_store(settings)
        try:
            found = _show_local(store, params)
        finally:
            store.close()
        if fmt == "csv":
            from gridpulse.export import to_csv

            data = to_csv(found[2], found[3])
        else:
            from gridpulse.jobs.forecasts import forecast_answer

            data = orjson.dumps(forecast_answer(*found))
    if fmt == "csv":
        sys.stdout.buffer.write(data)
        return
    if fmt == "json":
        sys.stdout.buffer.write(data + b"\n")
        return
    body = orjson.loads(data)
    fc = body["forecast"]
    table = _steps_table(body, body["rows"], _headline(body))
    table.caption = Text(f"made {fc['created_at']} by {fc['model_version']}")
    console.print(table)


# ----------------------------------------------------------------------------- backtest


def _selection(
    store: Store, *, series: int | None, entity: str | None, kind: str | None, metric: str | None
) -> list[Series]:
    """As GET /api/v1/forecasts/backtest picks them: one series, or every one of kind and metric."""
    found = selected_series(store, {"series": series, "entity": entity, "kind": kind, "metric": metric})
    if not found:  # an empty store, no kind or metric given
        raise NotFound(f"no series of kind {kind!r} with metric {metric!r}; list them with GET /api/v1/series")
    return found


def _us(text: str) -> int:
    return (datetime.fromisoformat(text) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _result_from(body: Mapping[str, Any]) -> BacktestResult:
    """The parts of a BacktestResult the PNG needs, from the API's answer with plot=true."""
    import numpy as np

    from gridpulse.forecast import BacktestResult, Forecast, History

    step_s = int(body["step_s"])
    result = BacktestResult(
        body["model"], body["params"], int(body["steps"]), step_s, [_us(o) for o in body["origins"]],
        per_series=list(body["per_series"]), overall=dict(body["overall"]),
    )
    for p in body.get("plot") or []:
        h = History(p["name"], _us(p["start"]), step_s, np.array(p["actual"], dtype=np.float64), tz=p["tz"])
        for f in p["forecasts"]:
            mean, lo80, hi80, lo95, hi95 = (np.array(f[c], dtype=np.float64) for c in _VALUE_COLUMNS)
            fc = Forecast(p["name"], _us(f["origin"]), step_s, mean, lo80, hi80, lo95, hi95)
            result.forecasts.append((int(f["origin_index"]), h, fc))
    return result


def _backtest_table(result: BacktestResult, unit: str | None) -> Table:
    origins = ", ".join(
        datetime.fromtimestamp(o / 1e6, tz=UTC).strftime("%Y-%m-%d %H:%M") for o in result.origins_us
    )
    table = Table(
        title=Text(
            f"backtest · {result.model} · {len(result.origins_us)} origins ({origins} UTC) · "
            f"{result.steps} steps of {_step_text(result.step_s)}"
        )
    )
    table.add_column("series")
    table.add_column("n", justify="right")
    for key, header, _ in _METRIC_COLUMNS:
        table.add_column(Text(f"{header} [{unit}]" if unit and key in ("mae", "rmse") else header), justify="right")
    for row in result.per_series:
        table.add_row(
            Text(str(row["name"])), str(row.get("n", "")),
            *(_cell(_scaled(row.get(key), scale)) for key, _, scale in _METRIC_COLUMNS),
        )
    table.add_section()
    table.add_row(
        Text("overall"), str(sum(int(r.get("n", 0)) for r in result.per_series)),
        *(_cell(_scaled(result.overall.get(key), scale)) for key, _, scale in _METRIC_COLUMNS),
        style="bold",
    )
    return table


def _scaled(value: Any, scale: float) -> Any:
    return value * scale if isinstance(value, int | float) else value


def backtest(
    entity: str | None = _ENTITY,
    metric: str | None = _METRIC,
    kind: str | None = typer.Option(
        None, "--kind", help="Entity kind; with --metric and no --entity: every series of that kind."
    ),
    series_id: int | None = _SERIES,
    model: str | None = _MODEL,
    origins: int = typer.Option(4, "--origins", min=1, max=52, help="Number of forecast origins."),
    stride_days: int | None = typer.Option(
        None, "--stride-days", min=1, max=365, help="Days between origins (default: the horizon)."
    ),
    png: Path = typer.Option(
        Path("forecast-backtest.png"), "--png", help="Where to write the PNG of forecast against actual."
    ),
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Backtest a model on stored series by rolling origin, with a PNG of forecast against actual.

    The model is fitted at each origin on what was known then. Stores nothing.

    Per series and overall: MAE, RMSE, MAPE, sMAPE, MASE, coverage of the 80 % and 95 % intervals.
    """
    _check_model(model)
    if series_id is None and not entity and not (kind and metric):
        raise QueryError("name the series: -e <entity> (with -m <metric> when it has several), or --kind and --metric")
    settings = make_settings(config, data_dir)
    params = {
        "series": series_id, "entity": entity, "kind": kind, "metric": metric, "model": model,
        "origins": origins, "stride_days": stride_days,
    }
    label = f"backtesting {_what(entity, metric, series_id) if entity or series_id else f'{kind}/{metric}'}"
    client = client_for(settings, token)
    if client is not None:
        with client, _spinner(label + " on the server"):
            resp = client.get("/api/v1/forecasts/backtest", params=without_none({**params, "plot": "true"}), timeout=None)
            raise_for_api(resp)
            body = orjson.loads(resp.content)
        result, unit = _result_from(body), body["unit"]
    else:
        from gridpulse.jobs.forecasts import backtest_series

        store = open_local_store(settings)
        try:
            chosen = _selection(store, series=series_id, entity=entity, kind=kind, metric=metric)
            with _spinner(f"{label} with {model or settings.forecast.model}"):
                result = backtest_series(
                    store, settings, chosen, model=model, origins=origins, stride_days=stride_days
                )
        finally:
            store.close()
        units = {s.unit for s in chosen}
        unit = units.pop() if len(units) == 1 else None
    console.print(_backtest_table(result, unit))
    from gridpulse.forecast.plot import plot_backtest

    written = plot_backtest(result, png, unit=unit or "")
    console.print(Text(f"wrote {written.resolve()}"), soft_wrap=True)
