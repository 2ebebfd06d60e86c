"""Settings: every option declared once, with its default and help.

Load order: defaults, then a TOML file (`--config`, or `gridpulse.toml` in the working directory
when present), then environment variables `GRIDPULSE_<SECTION>_<KEY>` (e.g.
`GRIDPULSE_SERVER_PORT=8000`, `GRIDPULSE_STORE_DATA_DIR=/var/lib/gridpulse`). Lists in the
environment are comma-separated; tables are `key=value` pairs separated by commas.
Besides the sections, `[tariffs.<name>]` tables declare time-of-use tariffs (format in
`gridpulse.analytics.tariffs`); they are checked with `parse_tariffs` when settings load, and
`GRIDPULSE_TARIFFS` may hold the same tables as TOML text.
A bad value names its key and what was expected; numeric bounds are declared with the option.
A `GRIDPULSE_<SECTION>_*` variable that names no option is refused with the closest option
suggested; other GRIDPULSE_* variables (GRIDPULSE_CONFIG, GRIDPULSE_TOKEN) are not settings.
Settings are passed in, never global.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gridpulse.errors import ConfigError
from gridpulse.logs import LOG_FORMATS, LOG_LEVELS

__all__ = [
    "AlertSettings",
    "AnomalySettings",
    "AuthSettings",
    "DemoSettings",
    "ForecastSettings",
    "IlpSettings",
    "IngestSettings",
    "JobSettings",
    "LogSettings",
    "QualitySettings",
    "RetentionSettings",
    "RollupSettings",
    "ServerSettings",
    "Settings",
    "StoreSettings",
    "check_retention_days",
    "load_settings",
    "option_docs",
    "validate",
]


def _opt(
    default: Any, help: str, *, min: int | None = None, max: int | None = None, kind: str | None = None
) -> Any:
    """One option: its default, help, and for numbers the allowed range (of each item, for a list).

    `kind` names what an out-of-range value is not ("a TCP port") instead of quoting the range.
    """
    meta = {"help": help, "min": min, "max": max, "kind": kind}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def _port(default: Any, help: str) -> Any:
    """A TCP port option (or a list of them); 0 asks the system for a free one."""
    return _opt(default, help, min=0, max=65535, kind="a TCP port")


@dataclass(frozen=True)
class ServerSettings:
    host: str = _opt("127.0.0.1", "Address to bind. Anything but loopback requires auth tokens.")
    port: int = _port(7001, "HTTP port for the API, ingest routes and dashboard.")
    extra_ports: list[int] = _port(
        [7002], "More HTTP ports serving the same app (the seeds post generation output to 7002)."
    )
    max_body_bytes: int = _opt(
        2 * 1024**3, "Largest request body accepted; larger ones get 413. [bytes]", min=1
    )
    keep_alive_s: int = _opt(
        75,
        "Seconds an idle HTTP connection stays open for the client's next request (uvicorn's own "
        "default is 5): a dashboard, Grafana or a Prometheus scrape coming back within it reuses "
        "its connection instead of connecting again. [s]",
        min=1,
    )


@dataclass(frozen=True)
class StoreSettings:
    data_dir: str = _opt("./data", "Folder of the embedded store file and the server record.")
    url: str = _opt("", "Store URL, e.g. duckdb:///path/file.duckdb. Empty: <data_dir>/gridpulse.duckdb.")
    memory_limit: str = _opt("", "DuckDB memory limit, e.g. '4GB'. Empty: DuckDB's default (80 % of RAM).")
    max_transaction_rows: int = _opt(
        1_000_000,
        "Rows one transaction holds before a very large request goes on in the next (the whole request "
        "is validated first); bounds memory, since DuckDB keeps uncommitted rows in memory.",
        min=1,
    )
    keep_freed_mb: int = _opt(
        256,
        "Freed memory the process keeps for reuse instead of returning it to the kernel (glibc "
        "malloc thresholds, set when the store opens; see docs/design.md). Faster ingest and analyses, "
        "resident memory stays near its peak. 0: glibc's defaults. [MiB]",
        min=0,
    )


@dataclass(frozen=True)
class IngestSettings:
    batch_rows: int = _opt(50_000, "Rows parsed into one Arrow batch while streaming a body.", min=1)
    spill_bytes: int = _opt(
        32 * 1024**2,
        "Parsed data a request keeps in memory before spilling to a temporary Arrow file. [bytes]",
        min=0,
    )
    max_listed_rejects: int = _opt(
        1000, "Rejected rows listed in one error response (all are counted).", min=0
    )
    timezones: dict[str, str] = _opt(
        {}, "IANA zone per ingest route for naive timestamps, e.g. {meter_usage = 'Europe/Amsterdam'}."
    )
    warm_up_streams: int = _opt(
        4,
        "`gridpulse serve` parses this many synthetic bodies of batch_rows lines of each format at once "
        "before it listens (nothing is stored), so the first bodies after a start are parsed as fast as "
        "the rest. Set it to the writers you expect; 0: off.",
        min=0,
    )


@dataclass(frozen=True)
class IlpSettings:
    enabled: bool = _opt(True, "Accept Influx line protocol over TCP (as QuestDB's ILP port does).")
    tcp_port: int = _port(9009, "TCP port for line protocol (QuestDB's default); 0 picks a free one.")


@dataclass(frozen=True)
class AuthSettings:
    tokens: dict[str, str] = _opt(
        {},
        "Bearer token -> comma-separated scopes: read, write, or write:<route> "
        "(e.g. {s3cret = 'read,write'}). Empty: no auth (loopback only).",
    )


@dataclass(frozen=True)
class DemoSettings:
    load: bool = _opt(False, "Load the synthetic demo fleet at start (once per store).")
    days: int = _opt(35, "Days of demo history ending now.", min=1)
    datasets_dir: str = _opt(
        "../shared/datasets", "Folder of real public datasets loaded with the demo when present."
    )


@dataclass(frozen=True)
class RollupSettings:
    refresh_interval_s: int = _opt(
        10,
        "Seconds between rollup refreshes while serving; 0: only on demand (`gridpulse rollups`, "
        "POST /api/v1/rollups/refresh). Coarse reads use rollups only where nothing is stale, so this sets speed, not "
        "correctness. [s]",
        min=0,
    )
    hold_above_rows_per_s: int = _opt(
        50_000,
        "A scheduled refresh waits while ingest commits more rows per second than this (a bulk "
        "load or backfill), so the load keeps the cores; 0: never wait. [rows/s]",
        min=0,
    )
    max_hold_s: int = _opt(
        120,
        "The longest a scheduled refresh waits for a bulk load to end; it then runs anyway. [s]",
        min=0,
    )


@dataclass(frozen=True)
class RetentionSettings:
    raw_days: dict[str, int] = _opt(
        {},
        "Days to keep raw points by kind/metric, kind or * (most specific wins; 0 or absent: "
        "forever), e.g. {'*' = 730, 'device/StateOfChargePercentage' = 90}. Rollups survive them.",
    )
    rollup_days: dict[str, int] = _opt(
        {}, "Days to keep rollups, keyed like raw_days (0 or absent: forever); at least raw_days."
    )
    interval_s: int = _opt(
        3600, "Seconds between expiry runs while serving; 0: only `gridpulse retention`. [s]", min=0
    )
    forecast_days: int = _opt(
        90,
        "Days to keep stored forecast runs, by when they were made (0: forever); the newest run "
        "of each series and model is always kept. Hourly runs of 1,000 series add ~4 M rows a day.",
        min=0,
    )


@dataclass(frozen=True)
class ForecastSettings:
    series: list[str] = _opt(
        [],
        "Series the scheduled forecast covers: 'kind/metric' (every such series) or "
        "'kind:entity/metric', e.g. ['meter/kwh', 'feeder:f-1/kw']. Empty: no scheduled forecasts.",
    )
    model: str = _opt(
        "ensemble",
        "Model of scheduled and on-demand forecasts: seasonal-naive, lightgbm, mstl, linear or ensemble "
        "(lightgbm and linear blended).",
    )
    resolution: str = _opt("hour", "Step of the forecasts: hour (168 steps for 7 days) or 30min (336).")
    horizon_days: int = _opt(7, "Days ahead each forecast covers. [days]", min=1, max=35)
    history_days: int = _opt(365, "Days of history the models train on, ending at the newest reading. [days]", min=14)
    interval_s: int = _opt(
        0, "Seconds between scheduled forecast runs while serving; 0: none (see cron). [s]", min=0
    )
    cron: str = _opt(
        "", "Crontab schedule (UTC) of forecast runs instead of interval_s, e.g. '15 5 * * *'; empty: none."
    )
    exogenous: list[str] = _opt(
        [],
        "Series every forecast may learn from besides its own history, each 'kind:entity/metric', e.g. "
        "['site:ams/temperature_c']; read (averaged per step) only up to each forecast's origin.",
    )
    holidays: str = _opt("", "Country code of the holidays package for calendar features (e.g. NL, US); empty: none.")
    holidays_subdiv: str = _opt("", "Subdivision of that country (e.g. NSW, PA); empty: the whole country.")
    monitor_interval_s: int = _opt(
        3600,
        "Seconds between forecast monitoring runs while serving: live error and drift of every series "
        "with a stored forecast, for the gridpulse_forecast_* gauges and the forecast_error and "
        "forecast_drift alert rules; 0: none. [s]",
        min=0,
    )
    monitor_window_days: int = _opt(
        7, "Recent window of live error and drift, ending at each series' newest complete step. [days]",
        min=1, max=90,
    )  # fmt: skip
    monitor_period_days: int = _opt(
        30, "Local days of per-day live error GET /api/v1/forecasts/{id}/error answers by default. [days]",
        min=1, max=366,
    )  # fmt: skip
    monitor_keep_days: int = _opt(
        30, "Days monitoring results are kept (alert rules read their for-duration from them). [days]", min=1
    )
    mape_floor_pct: float = _opt(
        5.0,
        "Live MAPE leaves out actuals whose size is below this percentage of the mean absolute actual of "
        "the steps scored (and exact zeros): near-zero actuals would dominate it. [%]",
        min=0, max=100,
    )  # fmt: skip
    psi_bins: int = _opt(
        10, "Bins of the drift PSI, cut at quantiles of the training window (10: deciles).", min=2, max=100
    )
    psi_watch: float = _opt(0.1, "PSI from which drift reads 'watch' (moderate shift). [1]", min=0)
    psi_drift: float = _opt(
        0.25, "PSI from which drift reads 'drift'; the default threshold of forecast_drift alert rules. [1]", min=0
    )


@dataclass(frozen=True)
class QualitySettings:
    interval_s: int = _opt(
        0,
        "Seconds between validation runs while serving (the rules of docs/quality.md over the last "
        "`days` local days of every series); 0: none (see cron). [s]",
        min=0,
    )
    cron: str = _opt("", "Crontab schedule (UTC) of validation runs instead of interval_s, e.g. '*/15 * * * *'.")
    days: int = _opt(2, "Local days each validation run checks, ending today (today and yesterday). [days]", min=1, max=366)
    estimate: bool = _opt(
        False,
        "Scheduled runs also estimate missing intervals of the checked days (quality ESTIMATED, never over a read).",
    )
    stale_after_s: int = _opt(
        7200,
        "A series whose newest read is older than this fails the stale (freshness) rule; younger "
        "intervals are not yet counted missing. [s]",
        min=0,
    )
    flat_line_intervals: int = _opt(8, "Identical consecutive reads that fail the flat_line rule. [intervals]", min=2)
    flat_line_zero: bool = _opt(False, "Runs of zeros count as flat lines too (off: solar at night is not a fault).")
    spike_score: float = _opt(
        6.0, "Robust score above which a read fails the spike rule (benchmarks/README.md: the trade-off). [scaled MADs]", min=1
    )
    spike_window: int = _opt(4, "Reads on each side a read is compared with by the spike rule. [intervals]", min=1, max=96)
    allow_negative: list[str] = _opt(
        [],
        "Series where negative reads are normal (net meters, export, battery power): 'kind', "
        "'kind/metric' or 'kind:entity/metric', e.g. ['battery', 'meter/net_kwh'].",
    )
    min_value: dict[str, float] = _opt(
        {}, "Low limits of the high_low rule by 'kind:entity/metric', 'kind/metric', 'kind' or '*' (most specific wins)."
    )
    max_value: dict[str, float] = _opt(
        {}, "High limits of the high_low rule, keyed like min_value, e.g. {'meter/kwh' = 50.0}."
    )
    linear_max_intervals: int = _opt(
        4, "Longest gap estimated by linear interpolation; longer gaps use the like-day profile. [intervals]", min=1
    )
    profile_weeks: int = _opt(4, "Weeks of same-weekday history a like-day estimate averages. [weeks]", min=1, max=52)


@dataclass(frozen=True)
class AnomalySettings:
    series: list[str] = _opt(
        [],
        "Series the scheduled scan covers: 'kind', 'kind/metric' or 'kind:entity/metric'; empty: every "
        "series with an interval of at most an hour.",
    )
    interval_s: int = _opt(0, "Seconds between scheduled anomaly scans while serving; 0: none (see cron). [s]", min=0)
    cron: str = _opt("", "Crontab schedule (UTC) of anomaly scans instead of interval_s, e.g. '5 * * * *'.")
    detectors: list[str] = _opt(["zscore", "residual"], "Detectors a scan runs: zscore, residual.")
    lookback_hours: int = _opt(24, "Hours before the newest read that each scan judges. [h]", min=1, max=24 * 366)
    baseline_days: int = _opt(
        28, "Days of the same local time-of-day slot the z-score baseline averages. [days]", min=2, max=366
    )
    min_baseline: int = _opt(7, "Fewest baseline readings a z-score needs. [readings]", min=2)
    min_residuals: int = _opt(24, "Fewest forecast residuals for a robust residual score. [steps]", min=3)
    info_score: float = _opt(3.5, "|score| from which a reading is an anomaly of severity info. [1]", min=1)
    warning_score: float = _opt(5.0, "|score| from which an anomaly is a warning. [1]", min=1)
    critical_score: float = _opt(8.0, "|score| from which an anomaly is critical. [1]", min=1)


@dataclass(frozen=True)
class AlertSettings:
    enabled: bool = _opt(True, "Evaluate alert rules while serving (in the ingest path and on a schedule).")
    interval_s: int = _opt(
        30, "Seconds between evaluations of the scheduled rules (nodata, anomaly, validation, source). [s]", min=1
    )
    notify: list[str] = _opt(
        ["log:"],
        "Targets of rules that name none: webhook:<url>, alertmanager:<url> (or alertmanager: for "
        "alertmanager_url), log:[level].",
    )
    alertmanager_url: str = _opt("", "Alertmanager base URL for `alertmanager:` targets, e.g. http://127.0.0.1:9093.")
    timeout_s: int = _opt(5, "Timeout of one delivery attempt (webhook, Alertmanager). [s]", min=1)
    attempts: int = _opt(4, "Tries per delivery, the first included; retries back off exponentially.", min=1)
    backoff_ms: int = _opt(500, "Wait before the first retry, doubled after each failure (at most 30 s). [ms]", min=0)
    rules: list[dict[str, Any]] = _opt(
        [],
        "Alert rules, one [[alerts.rules]] table each: name, metric, op, threshold (or kind = rate, "
        "nodata, anomaly, validation, source), for, cooldown, clear, group_by, notify, severity (see "
        "docs/alerts.md). Read-only; rules made through the API are stored. In the environment: a "
        "JSON array of objects.",
    )
    source_rule: bool = _opt(
        True,
        "Raise an alert when a [[sources]] source fails its failure_alert_after runs in a row: the "
        "built-in rule `source-failing` (kind source), present whenever sources are configured. A "
        "rule of that name in [[alerts.rules]] or made through the API replaces it; false: no "
        "built-in rule.",
    )


@dataclass(frozen=True)
class JobSettings:
    misfire_grace_s: int = _opt(
        3600,
        "A cron job whose time passed while the server was down runs once at start-up when that time "
        "is at most this old (older misses are skipped; several misses make one run); 0: never. [s]",
        min=0,
    )
    keep_runs: int = _opt(1000, "Finished runs kept per job in the job history (GET /api/v1/jobs/runs).", min=1)
    failure_alert_after: int = _opt(
        3,
        "Runs of a source failing in a row after which it is reported as failing (an error in the log, "
        "`failing` in GET /api/v1/sources, the alert `source-failing`); a source's own "
        "failure_alert_after wins. [runs]",
        min=1,
    )


@dataclass(frozen=True)
class LogSettings:
    format: str = _opt(
        "auto",
        "Log lines of `gridpulse serve` on stderr: json (one object per line with ts, level, logger, msg, "
        "request_id), text, or auto: text on a terminal, json otherwise.",
    )
    level: str = _opt("info", "Least severe level logged: debug, info, warning or error.")


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    ilp: IlpSettings = field(default_factory=IlpSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    rollups: RollupSettings = field(default_factory=RollupSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    forecast: ForecastSettings = field(default_factory=ForecastSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    anomaly: AnomalySettings = field(default_factory=AnomalySettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    log: LogSettings = field(default_factory=LogSettings)
    #: a table option beside the sections: each tariff is its own `[tariffs.<name>]` table
    tariffs: dict[str, dict[str, Any]] = _opt(
        {},
        "Time-of-use tariffs by name, one [tariffs.<name>] table each: tz, currency, optional holidays "
        "and holidays_subdiv, and [[tariffs.<name>.periods]] with name, days, hours, price_per_kwh and "
        "optional months (see docs/analytics.md). In the environment: the same tables as TOML text.",
    )
    #: a list option beside the sections: each source is one `[[sources]]` table
    sources: list[dict[str, Any]] = _opt(
        [],
        "Sources gridpulse polls or subscribes to, one [[sources]] table each: name, type (vendor_api, "
        "http, mqtt, folder), interval_s or cron, and the type's own keys (see docs/sources.md). In the "
        "environment: a JSON array of objects.",
    )

    @property
    def data_dir(self) -> Path:
        return Path(self.store.data_dir)

    @property
    def store_url(self) -> str:
        return self.store.url or f"duckdb:///{(self.data_dir / 'gridpulse.duckdb').resolve()}"

    def replace(self, **sections: dict[str, Any]) -> Settings:
        """A copy with some options changed: `settings.replace(server={"port": 0})`.

        A table option beside the sections is replaced whole: `settings.replace(tariffs={...})`.
        """
        changed: dict[str, Any] = {}
        for name, values in sections.items():
            current = getattr(self, name)
            changed[name] = dataclasses.replace(current, **values) if _is_section(type(current)) else values
        return dataclasses.replace(self, **changed)


def _is_section(typ: Any) -> bool:
    """Whether a field of Settings is a section of options (rather than a table option such as tariffs)."""
    return dataclasses.is_dataclass(typ)


def _parse_scalar(key: str, raw: str, typ: Any) -> Any:
    try:
        if typ is bool:
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        return typ(raw.strip())
    except ValueError:
        raise ConfigError(
            f"{key}={raw!r} is not {'a boolean' if typ is bool else 'a float' if typ is float else 'an ' + typ.__name__}"
        ) from None


def _coerce(key: str, value: Any, typ: Any) -> Any:
    origin = typing.get_origin(typ)
    if typ is Any:
        return value
    if origin is list:
        (item,) = typing.get_args(typ)
        if isinstance(value, str) and typing.get_origin(item) is dict:
            # a list of tables ([[alerts.rules]]) in the environment: JSON text
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ConfigError(f"{key} is not a JSON array of objects: {exc}") from None
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{key}={value!r} is not a list")
        return [_coerce(key, v, item) for v in value]
    if origin is dict and typing.get_origin(typing.get_args(typ)[1]) is dict:
        # a table of tables ([tariffs.<name>]): the environment holds them as TOML text
        if isinstance(value, str):
            try:
                value = tomllib.loads(value)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{key} is not TOML tables such as 'name = {{ ... }}': {exc}") from None
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={value!r} is not a table: write [{key}.<name>] tables")
        return {str(k): v for k, v in value.items()}
    if origin is dict:
        if isinstance(value, str):
            # "a=x,y;b=z" and "a=x,y,b=z" both work: a comma-part without "=" continues the value
            pairs: list[str] = []
            for part in value.replace(";", ",\0").split(","):
                if "=" in part or not pairs or part.startswith("\0"):
                    pairs.append(part.lstrip("\0"))
                else:
                    pairs[-1] += "," + part
            pairs = [p for p in pairs if p.strip()]
            try:
                value = dict(p.split("=", 1) for p in pairs)
            except ValueError:
                raise ConfigError(f"{key}={value!r} is not a table of key=value pairs") from None
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={value!r} is not a table")
        item = typing.get_args(typ)[1]
        if item is str:
            return {str(k).strip(): str(v).strip() for k, v in value.items()}
        return {
            str(k).strip(): _coerce(f"{key}.{str(k).strip()}", v.strip() if isinstance(v, str) else v, item)
            for k, v in value.items()
        }
    if isinstance(value, str) and typ is not str:
        return _parse_scalar(key, value, typ)
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (typ is int and isinstance(value, bool)) or not isinstance(value, typ):
        raise ConfigError(f"{key}={value!r} is not {typ.__name__}")
    return value


def load_settings(path: str | Path | None = None, *, env: typing.Mapping[str, str] | None = None) -> Settings:
    """Settings from defaults, a TOML file and GRIDPULSE_* environment variables.

    Raises:
        ConfigError: unknown section or key, unreadable file, or a value of the wrong type.
    """
    env = os.environ if env is None else env
    _check_env_names(env)
    file_values: dict[str, Any] = {}
    if path is None and env.get("GRIDPULSE_CONFIG"):
        path = env["GRIDPULSE_CONFIG"]
    if path is None and Path("gridpulse.toml").is_file():
        path = "gridpulse.toml"
    if path is not None:
        try:
            file_values = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None

    sections: dict[str, Any] = {}
    for sec in dataclasses.fields(Settings):
        sec_cls = typing.get_type_hints(Settings)[sec.name]
        if not _is_section(sec_cls):
            env_key = f"GRIDPULSE_{sec.name.upper()}"
            if sec.name in file_values:
                sections[sec.name] = _coerce(sec.name, file_values.pop(sec.name), sec_cls)
            if env_key in env:
                sections[sec.name] = _coerce(env_key, env[env_key], sec_cls)
            continue
        hints = typing.get_type_hints(sec_cls)
        given = file_values.pop(sec.name, {})
        if not isinstance(given, dict):
            raise ConfigError(f"[{sec.name}] in the config file must be a table")
        values: dict[str, Any] = {}
        for opt in dataclasses.fields(sec_cls):
            typ = hints[opt.name]
            if opt.name in given:
                values[opt.name] = _coerce(f"{sec.name}.{opt.name}", given.pop(opt.name), typ)
            env_key = f"GRIDPULSE_{sec.name.upper()}_{opt.name.upper()}"
            if env_key in env:
                values[opt.name] = _coerce(env_key, env[env_key], typ)
        if given:
            raise ConfigError(f"unknown option(s) in [{sec.name}]: {', '.join(sorted(given))}")
        sections[sec.name] = sec_cls(**values)
    if file_values:
        raise ConfigError(f"unknown config section(s): {', '.join(sorted(file_values))}")
    settings = Settings(**sections)
    _check(settings)
    return settings


def _env_names() -> dict[str, list[str]]:
    """Section -> the GRIDPULSE_* variable of each of its options (a table option: its one variable)."""
    hints = typing.get_type_hints(Settings)
    return {
        sec.name: [
            f"GRIDPULSE_{sec.name.upper()}_{opt.name.upper()}" for opt in dataclasses.fields(hints[sec.name])
        ]
        if _is_section(hints[sec.name])
        else [f"GRIDPULSE_{sec.name.upper()}"]
        for sec in dataclasses.fields(Settings)
    }


def _check_env_names(env: typing.Mapping[str, str]) -> None:
    """Refuse a GRIDPULSE_<SECTION>_* variable that sets nothing, such as GRIDPULSE_SERVER_PROT.

    Only names that start with a known section are settings; GRIDPULSE_CONFIG, GRIDPULSE_TOKEN
    and the like are left to whoever reads them.
    """
    known = _env_names()
    for name in sorted(env):
        section = next((sec for sec in known if name.startswith(f"GRIDPULSE_{sec.upper()}_")), None)
        if section is None or name in known[section]:
            continue
        # compare the option part only: the shared GRIDPULSE_<SECTION>_ makes everything look close
        prefix = f"GRIDPULSE_{section.upper()}_"
        options = [known_name.removeprefix(prefix) for known_name in known[section]]
        close = difflib.get_close_matches(name.removeprefix(prefix), options, n=1)
        hint = (
            f"did you mean {prefix}{close[0]}?" if close else f"[{section}] has {', '.join(known[section])}"
        )
        raise ConfigError(f"{name} is not a gridpulse setting: {hint}")


def _allowed(meta: typing.Mapping[str, Any]) -> str:
    """'at least 1', 'at most 9' or 'from 0 to 65535', from an option's declared bounds."""
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and hi is not None:
        return f"from {lo} to {hi}"
    return f"at least {lo}" if lo is not None else f"at most {hi}"


def _check_bounds(settings: Settings) -> None:
    for sec in dataclasses.fields(Settings):
        section = getattr(settings, sec.name)
        if not dataclasses.is_dataclass(section):
            continue
        for opt in dataclasses.fields(section):
            lo, hi = opt.metadata.get("min"), opt.metadata.get("max")
            if lo is None and hi is None:
                continue
            value = getattr(section, opt.name)
            for item in value if isinstance(value, list) else [value]:
                if (lo is not None and item < lo) or (hi is not None and item > hi):
                    key = f"{sec.name}.{opt.name}"
                    kind = opt.metadata.get("kind")
                    raise ConfigError(
                        f"{key}={item!r} is not {kind}"
                        if kind
                        else f"{key}={item!r} is out of range: it must be {_allowed(opt.metadata)}"
                    )


def validate(settings: Settings) -> Settings:
    """Check settings made in code (e.g. from CLI flags) as load_settings checks loaded ones.

    Raises:
        ConfigError: naming the first bad option.
    """
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    for route, tz in settings.ingest.timezones.items():
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"ingest.timezones.{route}={tz!r} is not an IANA time zone") from None
    for token, scopes in settings.auth.tokens.items():
        for scope in scopes.split(","):
            scope = scope.strip()
            if scope not in ("read", "write") and not scope.startswith("write:"):
                raise ConfigError(
                    f"auth.tokens: scope {scope!r} of token {token[:4]}… is not read, write or write:<route>"
                )
    if settings.tariffs:
        _check_tariffs(settings.tariffs)
    check_retention_days(settings.retention.raw_days, settings.retention.rollup_days)
    _check_forecast(settings.forecast)
    _check_alerts(settings.alerts)
    _check_quality(settings.quality, settings.anomaly)
    for key, value, allowed in (
        ("log.format", settings.log.format, list(LOG_FORMATS)),
        ("log.level", settings.log.level, list(LOG_LEVELS)),
    ):
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is not {', '.join(allowed[:-1])} or {allowed[-1]}")
    if settings.sources:
        _check_sources(settings.sources)
    _check_bounds(settings)


def _check_forecast(fc: ForecastSettings) -> None:
    """Raises ConfigError for an unknown model or resolution, a bad series selector or cron text,
    or PSI levels out of order."""
    if fc.model not in ("seasonal-naive", "lightgbm", "mstl", "linear", "ensemble"):
        raise ConfigError(f"forecast.model={fc.model!r} is not seasonal-naive, lightgbm, mstl, linear or ensemble")
    if fc.resolution not in ("hour", "30min"):
        raise ConfigError(f"forecast.resolution={fc.resolution!r} is not hour or 30min")
    for sel in fc.series:
        kind, _, metric = sel.partition("/")
        if not metric or not kind.split(":", 1)[0]:
            raise ConfigError(f"forecast.series: {sel!r} is not 'kind/metric' or 'kind:entity/metric'")
    for sel in fc.exogenous:
        head, _, metric = sel.partition("/")
        kind, _, entity = head.partition(":")
        if not (kind and entity and metric):
            raise ConfigError(f"forecast.exogenous: {sel!r} is not 'kind:entity/metric'")
    if fc.cron:
        if fc.interval_s:
            raise ConfigError("forecast.cron and forecast.interval_s are both set: pick one schedule")
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(fc.cron, timezone="UTC")
        except ValueError as exc:
            raise ConfigError(f"forecast.cron={fc.cron!r} is not a crontab schedule: {exc}") from None
    if fc.psi_watch > fc.psi_drift:
        raise ConfigError(
            f"forecast PSI levels must grow: psi_watch={fc.psi_watch:g} <= psi_drift={fc.psi_drift:g}"
        )


def _check_cron(key: str, cron: str, interval_s: int) -> None:
    if not cron:
        return
    if interval_s:
        raise ConfigError(f"{key}.cron and {key}.interval_s are both set: pick one schedule")
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(cron, timezone="UTC")
    except ValueError as exc:
        raise ConfigError(f"{key}.cron={cron!r} is not a crontab schedule: {exc}") from None


def _check_quality(q: QualitySettings, a: AnomalySettings) -> None:
    """Raises ConfigError for a bad schedule, selector, detector or threshold order."""
    _check_cron("quality", q.cron, q.interval_s)
    _check_cron("anomaly", a.cron, a.interval_s)
    for key, selectors in (
        ("quality.allow_negative", q.allow_negative),
        ("quality.min_value", list(q.min_value)),
        ("quality.max_value", list(q.max_value)),
        ("anomaly.series", a.series),
    ):
        for sel in selectors:
            head, slash, metric = sel.partition("/")
            if sel != "*" and (not head.split(":", 1)[0] or (slash and not metric)):
                raise ConfigError(f"{key}: {sel!r} is not '*', 'kind', 'kind/metric' or 'kind:entity/metric'")
    for key in set(q.min_value) & set(q.max_value):
        if q.min_value[key] > q.max_value[key]:
            raise ConfigError(
                f"quality.min_value.{key}={q.min_value[key]} is above quality.max_value.{key}={q.max_value[key]}"
            )
    for d in a.detectors:
        if d not in ("zscore", "residual"):
            raise ConfigError(f"anomaly.detectors: {d!r} is not zscore or residual")
    if not a.info_score <= a.warning_score <= a.critical_score:
        raise ConfigError(
            f"anomaly scores must grow: info_score={a.info_score} <= warning_score={a.warning_score} "
            f"<= critical_score={a.critical_score}"
        )


def _check_alerts(alerts: AlertSettings) -> None:
    """Raises ConfigError naming the rule and field of a bad `[[alerts.rules]]` table, or a bad target."""
    for target in alerts.notify:
        if ":" not in target:
            raise ConfigError(f"alerts.notify: {target!r} is not scheme:address (webhook:<url>, alertmanager:, log:)")
    if alerts.rules:
        # the rule parser lives with the alerts (standard library only), imported when rules exist
        from gridpulse.alerts.rules import parse_rules

        parse_rules(alerts.rules)


def _check_sources(tables: list[dict[str, Any]]) -> None:
    """Raises ConfigError naming the `[[sources]]` table (index and name) and the key at fault."""
    # imported here, only when sources are configured: each type checks its own keys
    from gridpulse.sources.base import parse_sources

    parse_sources(tables)


def check_retention_days(raw_days: typing.Mapping[str, int], rollup_days: typing.Mapping[str, int]) -> None:
    """Raises ConfigError for a negative number of days, or rollups kept shorter than raw points."""
    for name, rules in (("retention.raw_days", raw_days), ("retention.rollup_days", rollup_days)):
        for key, days in rules.items():
            if not isinstance(days, int) or isinstance(days, bool) or days < 0:
                raise ConfigError(f"{name}.{key}={days!r} is not a number of days (0: keep forever)")
    for key, raw in raw_days.items():
        kept = rollup_days.get(key, 0)
        if raw and kept and kept < raw:
            raise ConfigError(
                f"retention.rollup_days.{key}={kept} is shorter than retention.raw_days.{key}={raw}: "
                "rollups are the long-term record; keep them at least as long"
            )


def _check_tariffs(tariffs: dict[str, dict[str, Any]]) -> None:
    """Raises ConfigError naming the key (`tariffs.nl-tou.periods[1].hours=...`) of a bad tariff."""
    # imported here: numpy, pyarrow and holidays load only when tariffs are configured, so
    # `gridpulse --help` stays fast; the parser lives with the analytics that price energy
    from gridpulse.analytics.tariffs import parse_tariffs

    parse_tariffs(tariffs)


def _with_range(help_text: str, meta: typing.Mapping[str, Any]) -> str:
    """The help with its allowed range, before a closing unit such as "[bytes]", which ends the line."""
    allowed = f" Allowed: {_allowed(meta)}."
    text, sep, unit = help_text.rpartition(" [")
    if sep and unit.endswith("]"):
        return f"{text}{allowed} [{unit}"
    return help_text + allowed


def option_docs() -> list[tuple[str, str, str, str]]:
    """(key, environment variable, default, help) for every option, for the configuration docs."""
    rows = []
    for sec in dataclasses.fields(Settings):
        sec_cls = typing.get_type_hints(Settings)[sec.name]
        if not _is_section(sec_cls):
            assert sec.default_factory is not dataclasses.MISSING
            help_text = str(sec.metadata.get("help", ""))
            # one row for the table of tables: `tariffs.<name>` reads as the TOML header it stands for
            rows.append(
                (
                    f"{sec.name}.<name>",
                    f"GRIDPULSE_{sec.name.upper()}",
                    repr(sec.default_factory()),
                    help_text,
                )
            )
            continue
        for opt in dataclasses.fields(sec_cls):
            if opt.default is not dataclasses.MISSING:
                default: Any = opt.default
            else:
                assert opt.default_factory is not dataclasses.MISSING
                default = opt.default_factory()
            help_text = str(opt.metadata.get("help", ""))
            if opt.metadata.get("min") is not None or opt.metadata.get("max") is not None:
                help_text = _with_range(help_text, opt.metadata)
            rows.append(
                (
                    f"{sec.name}.{opt.name}",
                    f"GRIDPULSE_{sec.name.upper()}_{opt.name.upper()}",
                    repr(default),
                    help_text,
                )
            )
    return rows
