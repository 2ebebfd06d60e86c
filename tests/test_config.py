"""Settings: defaults, TOML, GRIDPULSE_* overrides, errors that name the key, and the docs list them all."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gridpulse.config import Settings, load_settings, option_docs
from gridpulse.errors import ConfigError
from tests.conftest import REPO, skip_or_fail

FULL_TOML = """
[server]
host = "localhost"
port = 8100
extra_ports = [8101, 8102]
max_body_bytes = 1048576
keep_alive_s = 30

[store]
data_dir = "/srv/gridpulse"
url = "duckdb:///srv/gridpulse/other.duckdb"
memory_limit = "2GB"
max_transaction_rows = 5000
keep_freed_mb = 64

[ingest]
batch_rows = 1000
spill_bytes = 4096
max_listed_rejects = 5
timezones = { meter_usage = "Europe/Amsterdam", telemetry = "America/New_York" }
warm_up_streams = 0

[ilp]
enabled = false
tcp_port = 9100

[auth]
tokens = { s3cret = "read,write", feeder = "write:meter_usage" }

[demo]
load = true
days = 7
datasets_dir = "/data/public"

[rollups]
refresh_interval_s = 30
hold_above_rows_per_s = 200000
max_hold_s = 30

[retention]
raw_days = { "*" = 730, "device/StateOfChargePercentage" = 90 }
rollup_days = { "*" = 3650 }
interval_s = 600
forecast_days = 30

[forecast]
series = ["meter/kwh", "feeder:f-1/kw"]
model = "mstl"
resolution = "30min"
horizon_days = 3
history_days = 120
interval_s = 0
cron = "15 5 * * *"
exogenous = ["site:ams/temperature_c"]
holidays = "NL"
holidays_subdiv = "NH"
monitor_interval_s = 900
monitor_window_days = 14
monitor_period_days = 60
monitor_keep_days = 10
mape_floor_pct = 2.5
psi_bins = 20
psi_watch = 0.05
psi_drift = 0.2

[alerts]
enabled = false
interval_s = 60
notify = ["webhook:http://127.0.0.1:9000/hook", "log:"]
alertmanager_url = "http://127.0.0.1:9093"
timeout_s = 3
attempts = 2
backoff_ms = 100
source_rule = false
[[alerts.rules]]
name = "low-soc"
metric = "StateOfChargePercentage"
op = "<"
threshold = 20
for = "5m"
[[alerts.rules]]
name = "soc-silent"
kind = "nodata"
metric = "StateOfChargePercentage"
minutes = 30

[quality]
interval_s = 0
cron = "*/15 * * * *"
days = 3
estimate = true
stale_after_s = 3600
flat_line_intervals = 12
flat_line_zero = true
spike_score = 6.5
spike_window = 3
allow_negative = ["battery", "meter/net_kwh"]
min_value = { "meter/kwh" = 0.0 }
max_value = { "meter/kwh" = 50, "meter:m-1/kwh" = 80.5 }
linear_max_intervals = 8
profile_weeks = 6

[anomaly]
series = ["meter/kwh"]
interval_s = 900
cron = ""
detectors = ["zscore"]
lookback_hours = 48
baseline_days = 21
min_baseline = 5
min_residuals = 48
info_score = 3.0
warning_score = 4.5
critical_score = 7.0

[jobs]
misfire_grace_s = 600
keep_runs = 50
failure_alert_after = 5

[log]
format = "text"
level = "warning"

[[sources]]
name = "eniscope"
type = "vendor_api"
base_url = "https://core.eniscope.com/v1"
token_env = "ENISCOPE_TOKEN"
cron = "5 * * * *"
fields = ["E", "P", "V"]
failure_alert_after = 2

[[sources]]
name = "fleet"
type = "mqtt"
topics = ["meters/+/kwh"]
topic_pattern = "meters/{entity_id}/{metric}"
enabled = false

[tariffs.nl-tou]
tz = "Europe/Amsterdam"
currency = "EUR"
holidays = "NL"
[[tariffs.nl-tou.periods]]
name = "peak"
days = "weekday"
hours = "07:00-23:00"
price_per_kwh = 0.32
[[tariffs.nl-tou.periods]]
name = "offpeak"
days = "all"
hours = "00:00-24:00"
price_per_kwh = 0.21
"""

NL_TOU = {
    "tz": "Europe/Amsterdam",
    "currency": "EUR",
    "holidays": "NL",
    "periods": [
        {"name": "peak", "days": "weekday", "hours": "07:00-23:00", "price_per_kwh": 0.32},
        {"name": "offpeak", "days": "all", "hours": "00:00-24:00", "price_per_kwh": 0.21},
    ],
}


@pytest.fixture(autouse=True)
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder: load_settings reads ./gridpulse.toml when there is one."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    s = load_settings(env={})
    assert dataclasses.asdict(s) == {
        "server": {"host": "127.0.0.1", "port": 7001, "extra_ports": [7002], "max_body_bytes": 2 * 1024**3,
                   "keep_alive_s": 75},
        "store": {"data_dir": "./data", "url": "", "memory_limit": "", "max_transaction_rows": 1_000_000,
                  "keep_freed_mb": 256},
        "ingest": {"batch_rows": 50_000, "spill_bytes": 32 * 1024**2, "max_listed_rejects": 1000, "timezones": {},
                   "warm_up_streams": 4},
        "ilp": {"enabled": True, "tcp_port": 9009},
        "auth": {"tokens": {}},
        "demo": {"load": False, "days": 35, "datasets_dir": "../shared/datasets"},
        "rollups": {"refresh_interval_s": 10, "hold_above_rows_per_s": 50_000, "max_hold_s": 120},
        "retention": {"raw_days": {}, "rollup_days": {}, "interval_s": 3600, "forecast_days": 90},
        "forecast": {"series": [], "model": "ensemble", "resolution": "hour", "horizon_days": 7,
                     "history_days": 365, "interval_s": 0, "cron": "", "exogenous": [], "holidays": "",
                     "holidays_subdiv": "", "monitor_interval_s": 3600, "monitor_window_days": 7,
                     "monitor_period_days": 30, "monitor_keep_days": 30, "mape_floor_pct": 5.0, "psi_bins": 10,
                     "psi_watch": 0.1, "psi_drift": 0.25},
        "alerts": {"enabled": True, "interval_s": 30, "notify": ["log:"], "alertmanager_url": "", "timeout_s": 5,
                   "attempts": 4, "backoff_ms": 500, "rules": [], "source_rule": True},
        "quality": {"interval_s": 0, "cron": "", "days": 2, "estimate": False, "stale_after_s": 7200,
                    "flat_line_intervals": 8, "flat_line_zero": False, "spike_score": 6.0, "spike_window": 4,
                    "allow_negative": [], "min_value": {}, "max_value": {}, "linear_max_intervals": 4,
                    "profile_weeks": 4},
        "anomaly": {"series": [], "interval_s": 0, "cron": "", "detectors": ["zscore", "residual"],
                    "lookback_hours": 24, "baseline_days": 28, "min_baseline": 7, "min_residuals": 24,
                    "info_score": 3.5, "warning_score": 5.0, "critical_score": 8.0},
        "jobs": {"misfire_grace_s": 3600, "keep_runs": 1000, "failure_alert_after": 3},
        "log": {"format": "auto", "level": "info"},
        "tariffs": {},
        "sources": [],
    }
    assert s.store_url == f"duckdb:///{tmp_path / 'data' / 'gridpulse.duckdb'}"
    assert s == Settings()


def test_toml_file_sets_every_option(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path / "conf.toml", FULL_TOML), env={})
    assert dataclasses.asdict(s) == {
        "server": {"host": "localhost", "port": 8100, "extra_ports": [8101, 8102], "max_body_bytes": 1048576,
                   "keep_alive_s": 30},
        "store": {"data_dir": "/srv/gridpulse", "url": "duckdb:///srv/gridpulse/other.duckdb", "memory_limit": "2GB",
                  "max_transaction_rows": 5000, "keep_freed_mb": 64},
        "ingest": {"batch_rows": 1000, "spill_bytes": 4096, "max_listed_rejects": 5,
                   "timezones": {"meter_usage": "Europe/Amsterdam", "telemetry": "America/New_York"},
                   "warm_up_streams": 0},
        "ilp": {"enabled": False, "tcp_port": 9100},
        "auth": {"tokens": {"s3cret": "read,write", "feeder": "write:meter_usage"}},
        "demo": {"load": True, "days": 7, "datasets_dir": "/data/public"},
        "rollups": {"refresh_interval_s": 30, "hold_above_rows_per_s": 200_000, "max_hold_s": 30},
        "retention": {"raw_days": {"*": 730, "device/StateOfChargePercentage": 90}, "rollup_days": {"*": 3650},
                      "interval_s": 600, "forecast_days": 30},
        "forecast": {"series": ["meter/kwh", "feeder:f-1/kw"], "model": "mstl", "resolution": "30min",
                     "horizon_days": 3, "history_days": 120, "interval_s": 0, "cron": "15 5 * * *",
                     "exogenous": ["site:ams/temperature_c"], "holidays": "NL", "holidays_subdiv": "NH",
                     "monitor_interval_s": 900, "monitor_window_days": 14, "monitor_period_days": 60,
                     "monitor_keep_days": 10, "mape_floor_pct": 2.5, "psi_bins": 20, "psi_watch": 0.05,
                     "psi_drift": 0.2},
        "alerts": {"enabled": False, "interval_s": 60, "notify": ["webhook:http://127.0.0.1:9000/hook", "log:"],
                   "alertmanager_url": "http://127.0.0.1:9093", "timeout_s": 3, "attempts": 2, "backoff_ms": 100,
                   "rules": [{"name": "low-soc", "metric": "StateOfChargePercentage", "op": "<", "threshold": 20,
                              "for": "5m"},
                             {"name": "soc-silent", "kind": "nodata", "metric": "StateOfChargePercentage",
                              "minutes": 30}], "source_rule": False},
        "quality": {"interval_s": 0, "cron": "*/15 * * * *", "days": 3, "estimate": True, "stale_after_s": 3600,
                    "flat_line_intervals": 12, "flat_line_zero": True, "spike_score": 6.5, "spike_window": 3,
                    "allow_negative": ["battery", "meter/net_kwh"], "min_value": {"meter/kwh": 0.0},
                    "max_value": {"meter/kwh": 50.0, "meter:m-1/kwh": 80.5}, "linear_max_intervals": 8,
                    "profile_weeks": 6},
        "anomaly": {"series": ["meter/kwh"], "interval_s": 900, "cron": "", "detectors": ["zscore"],
                    "lookback_hours": 48, "baseline_days": 21, "min_baseline": 5, "min_residuals": 48,
                    "info_score": 3.0, "warning_score": 4.5, "critical_score": 7.0},
        "jobs": {"misfire_grace_s": 600, "keep_runs": 50, "failure_alert_after": 5},
        "log": {"format": "text", "level": "warning"},
        "tariffs": {"nl-tou": NL_TOU},
        "sources": [
            {"name": "eniscope", "type": "vendor_api", "base_url": "https://core.eniscope.com/v1",
             "token_env": "ENISCOPE_TOKEN", "cron": "5 * * * *", "fields": ["E", "P", "V"], "failure_alert_after": 2},
            {"name": "fleet", "type": "mqtt", "topics": ["meters/+/kwh"], "topic_pattern": "meters/{entity_id}/{metric}",
             "enabled": False},
        ],
    }
    assert s.store_url == "duckdb:///srv/gridpulse/other.duckdb"


def test_config_file_is_found_in_the_working_directory_or_through_gridpulse_config(tmp_path: Path) -> None:
    write(tmp_path / "gridpulse.toml", "[server]\nport = 7100\n")
    assert load_settings(env={}).server.port == 7100
    other = write(tmp_path / "other.toml", "[server]\nport = 7200\n")
    assert load_settings(env={"GRIDPULSE_CONFIG": str(other)}).server.port == 7200
    # an explicit path wins over both
    explicit = write(tmp_path / "explicit.toml", "[server]\nport = 7300\n")
    assert load_settings(explicit, env={"GRIDPULSE_CONFIG": str(other)}).server.port == 7300


def test_environment_overrides_win_over_the_file(tmp_path: Path) -> None:
    env = {
        "GRIDPULSE_SERVER_PORT": "9000",
        "GRIDPULSE_SERVER_EXTRA_PORTS": "9001, 9002",
        "GRIDPULSE_STORE_DATA_DIR": "/var/lib/gridpulse",
        "GRIDPULSE_INGEST_TIMEZONES": "meter_usage=UTC,readings=Asia/Kolkata",
        "GRIDPULSE_DEMO_LOAD": "no",
        "GRIDPULSE_DEMO_DAYS": "3",
        "GRIDPULSE_AUTH_TOKENS": "tok-a=read;tok-b=write:telemetry",
    }
    s = load_settings(write(tmp_path / "conf.toml", FULL_TOML), env=env)
    assert (s.server.port, s.server.extra_ports, s.store.data_dir) == (9000, [9001, 9002], "/var/lib/gridpulse")
    assert s.ingest.timezones == {"meter_usage": "UTC", "readings": "Asia/Kolkata"}
    assert (s.demo.load, s.demo.days) == (False, 3)
    assert s.auth.tokens == {"tok-a": "read", "tok-b": "write:telemetry"}
    # what the environment does not name keeps the file's value
    assert (s.server.host, s.ingest.batch_rows, s.store.memory_limit) == ("localhost", 1000, "2GB")


@pytest.mark.parametrize("raw", ["1", "true", "Yes", "ON"])
def test_boolean_spellings_in_the_environment(raw: str) -> None:
    assert load_settings(env={"GRIDPULSE_DEMO_LOAD": raw}).demo.load is True


def test_tokens_with_several_scopes_in_the_documented_environment_form() -> None:
    env = {"GRIDPULSE_AUTH_TOKENS": "s3cret=read,write;ingest-only=write:meter_usage"}
    assert load_settings(env=env).auth.tokens == {"s3cret": "read,write", "ingest-only": "write:meter_usage"}


def test_tokens_with_several_scopes_in_the_form_serve_suggests() -> None:
    # `gridpulse serve --host 0.0.0.0` without tokens tells users to set exactly this
    assert load_settings(env={"GRIDPULSE_AUTH_TOKENS": "s3cret=read,write"}).auth.tokens == {"s3cret": "read,write"}
    env = {"GRIDPULSE_AUTH_TOKENS": "a=read,write,b=write:meter_usage,write:telemetry"}
    assert load_settings(env=env).auth.tokens == {"a": "read,write", "b": "write:meter_usage,write:telemetry"}


# ----------------------------------------------------------------------------- bad values

BAD_ENV = [
    ({"GRIDPULSE_SERVER_PORT": "80x"}, "GRIDPULSE_SERVER_PORT='80x' is not an int"),
    ({"GRIDPULSE_SERVER_PORT": ""}, "GRIDPULSE_SERVER_PORT='' is not an int"),
    ({"GRIDPULSE_SERVER_PORT": "70000"}, "server.port=70000 is not a TCP port"),
    ({"GRIDPULSE_SERVER_EXTRA_PORTS": "7002,x"}, "GRIDPULSE_SERVER_EXTRA_PORTS='x' is not an int"),
    ({"GRIDPULSE_DEMO_LOAD": "maybe"}, "GRIDPULSE_DEMO_LOAD='maybe' is not a boolean"),
    ({"GRIDPULSE_INGEST_BATCH_ROWS": "1e3"}, "GRIDPULSE_INGEST_BATCH_ROWS='1e3' is not an int"),
    ({"GRIDPULSE_INGEST_TIMEZONES": "meter_usage"},
     "GRIDPULSE_INGEST_TIMEZONES='meter_usage' is not a table of key=value pairs"),
    ({"GRIDPULSE_INGEST_TIMEZONES": "meter_usage=Mars/Olympus"},
     "ingest.timezones.meter_usage='Mars/Olympus' is not an IANA time zone"),
]


@pytest.mark.parametrize(("env", "message"), BAD_ENV, ids=[m.split("=")[0].split(" ")[0] + str(i)
                                                           for i, (_, m) in enumerate(BAD_ENV)])
def test_bad_environment_value_is_refused_naming_the_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    assert str(info.value) == message


@pytest.mark.parametrize("key", ["GRIDPULSE_INGEST_BATCH_ROWS", "GRIDPULSE_SERVER_MAX_BODY_BYTES"])
@pytest.mark.parametrize("raw", ["0", "-5"])
def test_batch_size_and_body_limit_below_one_are_refused_naming_the_key(key: str, raw: str) -> None:
    section, option = key.removeprefix("GRIDPULSE_").lower().split("_", 1)
    with pytest.raises(ConfigError, match=f"{key}|{section}.{option}"):
        load_settings(env={key: raw})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GRIDPULSE_INGEST_SPILL_BYTES": "-1"}, "ingest.spill_bytes=-1 is out of range: it must be at least 0"),
        ({"GRIDPULSE_INGEST_MAX_LISTED_REJECTS": "-1"},
         "ingest.max_listed_rejects=-1 is out of range: it must be at least 0"),
        ({"GRIDPULSE_DEMO_DAYS": "0"}, "demo.days=0 is out of range: it must be at least 1"),
        ({"GRIDPULSE_INGEST_BATCH_ROWS": "0"}, "ingest.batch_rows=0 is out of range: it must be at least 1"),
        ({"GRIDPULSE_SERVER_EXTRA_PORTS": "7002,70000"}, "server.extra_ports=70000 is not a TCP port"),
        ({"GRIDPULSE_ILP_TCP_PORT": "-1"}, "ilp.tcp_port=-1 is not a TCP port"),
    ],
)
def test_value_out_of_its_declared_range_is_refused_saying_what_is_allowed(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    assert str(info.value) == message


def test_values_at_the_edge_of_their_range_are_accepted() -> None:
    env = {"GRIDPULSE_INGEST_SPILL_BYTES": "0", "GRIDPULSE_INGEST_MAX_LISTED_REJECTS": "0",
           "GRIDPULSE_INGEST_BATCH_ROWS": "1", "GRIDPULSE_SERVER_MAX_BODY_BYTES": "1", "GRIDPULSE_DEMO_DAYS": "1",
           "GRIDPULSE_SERVER_PORT": "0", "GRIDPULSE_ILP_TCP_PORT": "65535"}
    s = load_settings(env=env)
    assert (s.ingest.spill_bytes, s.ingest.max_listed_rejects, s.ingest.batch_rows) == (0, 0, 1)
    assert (s.server.max_body_bytes, s.demo.days, s.server.port, s.ilp.tcp_port) == (1, 1, 0, 65535)


def test_out_of_range_value_in_the_file_is_refused_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^server\.max_body_bytes=0 is out of range: it must be at least 1$"):
        load_settings(write(tmp_path / "conf.toml", "[server]\nmax_body_bytes = 0\n"), env={})


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("GRIDPULSE_SERVER_PROT", "GRIDPULSE_SERVER_PROT is not a gridpulse setting: did you mean GRIDPULSE_SERVER_PORT?"),
        ("GRIDPULSE_AUTH_TOKEN", "GRIDPULSE_AUTH_TOKEN is not a gridpulse setting: did you mean GRIDPULSE_AUTH_TOKENS?"),
        ("GRIDPULSE_ILP_PORT", "GRIDPULSE_ILP_PORT is not a gridpulse setting: did you mean GRIDPULSE_ILP_TCP_PORT?"),
        ("GRIDPULSE_DEMO_XYZZY",
         "GRIDPULSE_DEMO_XYZZY is not a gridpulse setting: [demo] has GRIDPULSE_DEMO_LOAD, GRIDPULSE_DEMO_DAYS, "
         "GRIDPULSE_DEMO_DATASETS_DIR"),
    ],
)
def test_misspelt_setting_in_the_environment_is_refused_suggesting_the_closest(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={name: "1"})
    assert str(info.value) == message


def test_gridpulse_variables_outside_the_settings_sections_are_left_alone(tmp_path: Path) -> None:
    conf = write(tmp_path / "conf.toml", "[server]\nport = 7100\n")
    env = {"GRIDPULSE_CONFIG": str(conf), "GRIDPULSE_TOKEN": "s3cret", "GRIDPULSE_BENCH_PG": "postgresql://x",
           "GRIDPULSE_SERVERLESS": "1"}
    assert load_settings(env=env).server.port == 7100


BAD_TOML = [
    ('[log]\nformat = "xml"\n', "log.format='xml' is not auto, json or text"),
    ('[log]\nlevel = "verbose"\n', "log.level='verbose' is not debug, info, warning or error"),
    ('[quality]\ncron = "*/15 * * * *"\ninterval_s = 60\n',
     "quality.cron and quality.interval_s are both set: pick one schedule"),
    ('[anomaly]\ncron = "every hour"\n', "anomaly.cron='every hour' is not a crontab schedule: Wrong number of fields; got 2, expected 5"),
    ("[quality]\ndays = 0\n", "quality.days=0 is out of range: it must be from 1 to 366"),
    ('[quality]\nallow_negative = ["/kwh"]\n',
     "quality.allow_negative: '/kwh' is not '*', 'kind', 'kind/metric' or 'kind:entity/metric'"),
    ('[quality]\nmin_value = { "meter/kwh" = 5 }\nmax_value = { "meter/kwh" = 1 }\n',
     "quality.min_value.meter/kwh=5.0 is above quality.max_value.meter/kwh=1.0"),
    ('[quality]\nmax_value = { "meter/kwh" = "high" }\n', "quality.max_value.meter/kwh='high' is not a float"),
    ('[anomaly]\ndetectors = ["isolation-forest"]\n', "anomaly.detectors: 'isolation-forest' is not zscore or residual"),
    ("[anomaly]\nwarning_score = 9.0\n",
     "anomaly scores must grow: info_score=3.5 <= warning_score=9.0 <= critical_score=8.0"),
    ('[server]\nport = "80x"\n', "server.port='80x' is not an int"),
    ("[server]\nport = true\n", "server.port=True is not int"),
    ("[server]\nport = 1.5\n", "server.port=1.5 is not int"),
    ("[server]\nport = -1\n", "server.port=-1 is not a TCP port"),
    ("[server]\nhost = 5\n", "server.host=5 is not str"),
    ("[server]\nextra_ports = 7002\n", "server.extra_ports=7002 is not a list"),
    ('[demo]\nload = "maybe"\n', "demo.load='maybe' is not a boolean"),
    ('[ingest]\ntimezones = { meter_usage = "Europe/Amsterdm" }\n',
     "ingest.timezones.meter_usage='Europe/Amsterdm' is not an IANA time zone"),
    ("[ingest]\ntimezones = 5\n", "ingest.timezones=5 is not a table"),
    ('[auth]\ntokens = "abc"\n', "auth.tokens='abc' is not a table of key=value pairs"),
    ('[forecast]\nmodel = "prophet"\n', "forecast.model='prophet' is not seasonal-naive, lightgbm, mstl, linear or ensemble"),
    ('[forecast]\nresolution = "day"\n', "forecast.resolution='day' is not hour or 30min"),
    ('[forecast]\nseries = ["meter"]\n', "forecast.series: 'meter' is not 'kind/metric' or 'kind:entity/metric'"),
    ('[forecast]\ncron = "5 * *"\n',
     "forecast.cron='5 * *' is not a crontab schedule: Wrong number of fields; got 3, expected 5"),
    ('[forecast]\ncron = "5 * * * *"\ninterval_s = 60\n',
     "forecast.cron and forecast.interval_s are both set: pick one schedule"),
    ('[forecast]\nexogenous = ["weather/temp"]\n', "forecast.exogenous: 'weather/temp' is not 'kind:entity/metric'"),
    ("[forecast]\nhorizon_days = 60\n", "forecast.horizon_days=60 is out of range: it must be from 1 to 35"),
    ("[forecast]\npsi_watch = 0.3\n", "forecast PSI levels must grow: psi_watch=0.3 <= psi_drift=0.25"),
    ("[forecast]\npsi_bins = 1\n", "forecast.psi_bins=1 is out of range: it must be from 2 to 100"),
    ("[forecast]\nmonitor_window_days = 0\n", "forecast.monitor_window_days=0 is out of range: it must be from 1 to 90"),
    ("[retention]\nforecast_days = -1\n", "retention.forecast_days=-1 is out of range: it must be at least 0"),
    ('[alerts]\nnotify = ["hook"]\n', "alerts.notify: 'hook' is not scheme:address (webhook:<url>, alertmanager:, log:)"),
    ("[alerts]\ninterval_s = 0\n", "alerts.interval_s=0 is out of range: it must be at least 1"),
    ('[[alerts.rules]]\nname = "low-soc"\nmetric = "soc"\nop = "<<"\nthreshold = 20\n',
     "alerts.rules[0] 'low-soc': op='<<' is not one of < <= > >= == !="),
    ('[[alerts.rules]]\nname = "low-soc"\nop = "<"\nthreshold = 20\n',
     "alerts.rules[0] 'low-soc': metric is required for a threshold rule (e.g. 'StateOfChargePercentage')"),
    ('[[alerts.rules]]\nname = "a"\nmetric = "soc"\nop = "<"\nthreshold = "low"\n',
     "alerts.rules[0] 'a': threshold='low' is not a number"),
    ('[[alerts.rules]]\nname = "a"\nmetric = "soc"\nop = "<"\nthreshold = 20\nfor = "5 parsecs"\n',
     "alerts.rules[0] 'a': for='5 parsecs' is not a duration: give seconds or text such as '90s', '5m', '1h'"),
    ('[[alerts.rules]]\nname = "a"\nmetric = "soc"\nop = "<"\nthreshold = 20\nclear = 10\n',
     "alerts.rules[0] 'a': clear=10 itself meets < 20: an alert could never resolve; give a level on the "
     "other side of the threshold"),
    ('[[alerts.rules]]\nname = "a"\nmetric = "soc"\nop = "<"\nthreshold = 20\ngroup_by = ["region"]\n',
     "alerts.rules[0] 'a': group_by region not among series, entity_kind, entity_id, metric, "
     "organisation_id, site_id, device_id, channel_id"),
    ('[[alerts.rules]]\nname = "a"\nkind = "nodata"\nmetric = "soc"\n',
     "alerts.rules[0] 'a': minutes=None is not a number"),
    ('[[alerts.rules]]\nname = "down"\nkind = "source"\nthreshold = 0\n',
     "alerts.rules[0] 'down': threshold=0 is not a whole number of failed runs of 1 or more"),
    ('[[alerts.rules]]\nname = "a"\nmetric = "soc"\nop = "<"\nthreshold = 1\n[[alerts.rules]]\nname = "a"\n'
     'metric = "soc"\nop = ">"\nthreshold = 2\n', "alerts.rules[1] name 'a' is used by an earlier rule: names are unique"),
    ("[jobs]\nfailure_alert_after = 0\n", "jobs.failure_alert_after=0 is out of range: it must be at least 1"),
    ('[[sources]]\nname = "x"\ntype = "ftp"\n', "sources[0] (x): type='ftp' is not one of folder, http, mqtt, vendor_api"),
    ('[[sources]]\nname = "x"\ntype = "folder"\n', "sources[0] (x): path is required"),
    ('[[sources]]\nname = "x"\ntype = "mqtt"\ntopics = ["a/#"]\nqos = "one"\n', "sources[0] (x): qos='one' is not an integer"),
    ('[[sources]]\nname = "x"\ntype = "http"\nurl = "http://h/feed.csv"\ninterval = 60\n',
     "sources[0] (x): unknown key(s) interval"),
    ('[[sources]]\ntype = "http"\nurl = "http://h/feed.csv"\n',
     "sources[0]: name=None must be text of letters, digits, '.', '_' or '-'"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TOML, ids=[m.split("=")[0] + str(i) for i, (_, m) in
                                                            enumerate(BAD_TOML)])
def test_bad_file_value_is_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path / "conf.toml", text), env={})
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nprot = 7001\n", "unknown option(s) in [server]: prot"),
        ("[server]\nport = 7001\nhots = 'x'\nprot = 1\n", "unknown option(s) in [server]: hots, prot"),
        ("[sever]\nport = 7001\n", "unknown config section(s): sever"),
        ("port = 7001\n", "unknown config section(s): port"),
        ("server = 5\n", "[server] in the config file must be a table"),
    ],
)
def test_unknown_key_or_section_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path / "conf.toml", text), env={})
    assert str(info.value) == message


def test_missing_or_broken_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"config file {tmp_path / 'nope.toml'} does not exist")):
        load_settings(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(write(tmp_path / "broken.toml", "[server\nport = 1\n"), env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"GRIDPULSE_CONFIG": str(tmp_path / "gone.toml")})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tariffs.nl-tou]\ntz = "Europe/Amsterdm"\ncurrency = "EUR"\n',
         "tariffs.nl-tou.tz='Europe/Amsterdm' is not an IANA time zone (e.g. Europe/Amsterdam)"),
        ('[tariffs.flat]\ntz = "UTC"\ncurrency = "EUR"\n[[tariffs.flat.periods]]\nname = "all"\ndays = "all"\n'
         'hours = "00:00-25:00"\nprice_per_kwh = 0.2\n',
         "tariffs.flat.periods[0].hours='00:00-25:00' is not a time range: write HH:MM-HH:MM such as 07:00-23:00, "
         "23:00-07:00 (across midnight) or 00:00-24:00"),
        ('[tariffs.day-only]\ntz = "UTC"\ncurrency = "EUR"\n[[tariffs.day-only.periods]]\nname = "day"\n'
         'days = "all"\nhours = "07:00-23:00"\nprice_per_kwh = 0.3\n',
         "tariffs.day-only.periods cover no price for mon 00:00 in month 1: add a catch-all period last, "
         'e.g. days = "all", hours = "00:00-24:00"'),
        ("tariffs = 5\n", "tariffs=5 is not a table: write [tariffs.<name>] tables"),
    ],
    ids=["zone", "hours", "incomplete", "not-a-table"],
)
def test_bad_tariff_is_refused_at_load_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path / "conf.toml", text), env={})
    assert str(info.value) == message


def test_tariffs_in_the_environment_are_toml_tables() -> None:
    env = {"GRIDPULSE_TARIFFS": 'flat = { tz = "UTC", currency = "EUR", periods = [{ name = "all", days = "all", '
                                'hours = "00:00-24:00", price_per_kwh = 0.25 }] }'}
    s = load_settings(env=env)
    assert s.tariffs["flat"]["periods"][0]["price_per_kwh"] == 0.25
    with pytest.raises(ConfigError, match=r"^GRIDPULSE_TARIFFS is not TOML tables"):
        load_settings(env={"GRIDPULSE_TARIFFS": "flat = {"})
    with pytest.raises(ConfigError, match=r"^tariffs\.flat\.periods is missing or empty"):
        load_settings(env={"GRIDPULSE_TARIFFS": 'flat = { tz = "UTC", currency = "EUR" }'})


def test_settings_replace_sets_a_table_option_whole() -> None:
    s = load_settings(env={}).replace(tariffs={"nl-tou": NL_TOU}, server={"port": 1})
    assert (s.tariffs, s.server.port) == ({"nl-tou": NL_TOU}, 1)


def test_unknown_token_scope_is_refused_without_showing_the_token(tmp_path: Path) -> None:
    conf = write(tmp_path / "conf.toml", '[auth]\ntokens = { abcdef123456 = "read,admin" }\n')
    with pytest.raises(ConfigError) as info:
        load_settings(conf, env={})
    assert str(info.value) == "auth.tokens: scope 'admin' of token abcd… is not read, write or write:<route>"
    assert "abcdef123456" not in str(info.value)


# ----------------------------------------------------------------------------- through the CLI


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPULSE_") and k not in ("COLUMNS", "LINES")}
    return {**env, **extra}


def run_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gridpulse", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=60, check=False)


def test_serve_refuses_to_bind_beyond_loopback_without_tokens(tmp_path: Path) -> None:
    done = run_cli("serve", "--host", "0.0.0.0", "--port", "0", "--no-extra-ports", "--data-dir", str(tmp_path / "d"),
                   cwd=tmp_path, env=cli_env())
    assert done.returncode == 1
    assert done.stdout == ""
    message = " ".join(done.stderr.split())
    assert message.startswith("error: server.host='0.0.0.0' is reachable from other machines: configure auth.tokens")
    assert "bind to 127.0.0.1" in message
    assert not (tmp_path / "d" / "server.json").exists()


def test_cli_reports_a_bad_environment_value_and_exits_1(tmp_path: Path) -> None:
    done = run_cli("serve", "--data-dir", str(tmp_path / "d"), cwd=tmp_path,
                   env=cli_env(GRIDPULSE_SERVER_PORT="80x"))
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "error: GRIDPULSE_SERVER_PORT='80x' is not an int\n")


def test_cli_reports_a_config_error_verbatim(tmp_path: Path) -> None:
    write(tmp_path / "bad.toml", "server = 5\n")
    done = run_cli("series", "--config", str(tmp_path / "bad.toml"), cwd=tmp_path, env=cli_env())
    assert done.returncode == 1
    assert done.stderr == "error: [server] in the config file must be a table\n"


# ----------------------------------------------------------------------------- docs


def test_every_option_has_help_and_a_documented_default() -> None:
    rows = option_docs()
    keys = [key for key, _, _, _ in rows]
    declared: list[str] = []
    for sec in dataclasses.fields(Settings):
        section = getattr(Settings(), sec.name)
        if dataclasses.is_dataclass(section):
            declared += [f"{sec.name}.{opt.name}" for opt in dataclasses.fields(section)]
        else:  # a table of tables beside the sections ([tariffs.<name>]) is one entry
            declared.append(f"{sec.name}.<name>")
    assert keys == declared
    for key, env, default, help_text in rows:
        # a table of tables has one variable for all its tables: GRIDPULSE_TARIFFS
        assert env == "GRIDPULSE_" + key.removesuffix(".<name>").replace(".", "_").upper()
        assert help_text.strip(), f"{key} has no help"
        assert default


def test_every_option_appears_in_docs_configuration_md() -> None:
    doc = REPO / "docs" / "configuration.md"
    if not doc.is_file():
        skip_or_fail(f"{doc} does not exist yet")
    text = doc.read_text()
    missing = [
        key for key, env, default, _ in option_docs()
        if f"`{key}`" not in text or f"`{env}`" not in text or f"`{default}`" not in text
    ]
    assert missing == [], f"options missing from docs/configuration.md (or with another default): {missing}"
