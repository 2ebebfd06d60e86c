"""`gridpulse analyze` as users run it: on a store file with no server, and through a live server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gridpulse.analyses import ANALYSES
from gridpulse.analytics.demand import peak_demand_kw
from gridpulse.analytics.energy import energy_kwh
from gridpulse.analytics.tariffs import parse_tariffs
from gridpulse.analytics.tou import tou_energy_cost
from gridpulse.store import open_store
from gridpulse.store.base import Agg, Resolution, SeriesFilter
from tests.conftest import LiveServer, start_server
from tests.test_api_analytics import AMS, M15, NL_TOU, expected_rows, load_fleet

CONFIG = """
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


@dataclass
class Run:
    code: int
    out: str
    err: str


def gridpulse(*args: str, cwd: Path) -> Run:
    # no GRIDPULSE_* settings from the caller; a wide terminal so Rich does not fold the headers
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPULSE_") and k != "LINES"}
    env["COLUMNS"] = "250"
    done = subprocess.run([sys.executable, "-m", "gridpulse", *args], capture_output=True, cwd=cwd, env=env,
                          timeout=120, check=False)
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


def ok(run: Run) -> str:
    assert (run.code, run.err) == (0, ""), run
    return run.out


@dataclass
class Folder:
    root: Path
    data: Path
    config: Path
    expected: dict[str, list[dict[str, object]]]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Folder:
    """A data folder holding the fleet (no server), a config with a tariff, and answers worked out directly."""
    root = tmp_path_factory.mktemp("cli-analyze")
    data = root / "data"
    data.mkdir()
    store = open_store(f"duckdb:///{data / 'gridpulse.duckdb'}")
    try:
        load_fleet(store)
        (m01,) = store.list_series(SeriesFilter(entity_id="m-01", metric="kwh"))
        (m10,) = store.list_series(SeriesFilter(entity_id="m-10", metric="kwh"))
        expected = {
            # interval kWh per week is what the store buckets itself (from the rollups when fresh)
            "energy": expected_rows(
                energy_kwh(
                    store.read_frame([m01.series_id], resolution=Resolution.WEEK, agg=Agg.SUM, tz=AMS),
                    period="week",
                    tz=AMS,
                    count="count",
                    nulls="nulls",
                    estimated="estimated",
                )
            ),
            "peak-demand": expected_rows(
                peak_demand_kw(store.read_frame([m10.series_id]), window=M15, tz=AMS, input_unit="kwh", interval=M15)
            ),
            "tou": expected_rows(
                tou_energy_cost(store.read_frame([m10.series_id]), tariff=parse_tariffs({"nl-tou": NL_TOU})["nl-tou"])
            ),
        }
    finally:
        store.close()
    config = root / "gridpulse-test.toml"
    config.write_text(CONFIG)
    return Folder(root, data, config, expected)


@pytest.fixture(scope="module")
def served(folder: Folder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server on a copy of the folder (the server holds its file, so the copy keeps the file tests free)."""
    data = tmp_path_factory.mktemp("cli-analyze-live") / "data"
    data.mkdir()
    shutil.copy(folder.data / "gridpulse.duckdb", data / "gridpulse.duckdb")
    # no rollup refresh in the server: the folder's rollups are stale, so both sides read the same
    # raw points with the same SQL (a refresh a second after start raced the comparison)
    srv = start_server(data, env={"GRIDPULSE_ROLLUPS_REFRESH_INTERVAL_S": "0"})
    yield srv
    srv.stop()


def test_analyze_reads_the_store_file_when_no_server_runs(folder: Folder) -> None:
    out = ok(gridpulse("analyze", "energy", "-e", "m-01", "-p", "period=week", "-f", "json",
                       "--data-dir", str(folder.data), cwd=folder.root))
    body = json.loads(out)
    assert body["rows"] == folder.expected["energy"]
    assert (body["analysis"], body["params"]["period"], body["params"]["tz"]) == ("energy", "week", AMS)
    assert "sql" not in body


def test_table_shows_units_in_the_headers_and_explain_prints_the_sql(folder: Folder) -> None:
    out = ok(gridpulse("analyze", "energy", "--entity", "m-01", "--start", "2024-10-26", "--end", "2024-10-29",
                       "--explain", "--data-dir", str(folder.data), cwd=folder.root))
    table, _, sql = out.partition("-- statement 1")
    assert "energy_kwh [kWh]" in table
    for day in ("2024-10-26", "2024-10-27", "2024-10-28"):
        assert day in table
    assert "FROM points" in sql
    assert "parameters:" in sql and "BETWEEN 1 AND 1" in sql  # the series id is in the SQL


def test_csv_and_a_tariff_from_the_config(folder: Folder) -> None:
    out = ok(gridpulse("analyze", "tou", "-e", "m-10", "-p", "tariff=nl-tou", "-f", "csv",
                       "--config", str(folder.config), "--data-dir", str(folder.data), cwd=folder.root))
    lines = out.splitlines()
    columns = ("series_id", "period", "energy_kwh", "cost", "price_per_kwh", "estimated_intervals", "estimated_share")
    assert lines[0] == ",".join(columns)
    rows = folder.expected["tou"]
    assert lines[1:] == [",".join(str(r[c]) for c in columns) for r in rows]


def test_bad_parameter_is_one_line_and_exit_1(folder: Folder) -> None:
    run = gridpulse("analyze", "energy", "-e", "m-01", "-p", "period=fortnight", "--data-dir", str(folder.data),
                    cwd=folder.root)
    assert (run.code, run.out, run.err) == (1, "", "error: period='fortnight' is not one of hour, day, week, month\n")
    run = gridpulse("analyze", "energy", "-e", "m-01", "-p", "period", "--data-dir", str(folder.data),
                    cwd=folder.root)
    assert (run.code, run.err) == (1, "error: --param 'period' is not key=value, e.g. --param period=week\n")
    run = gridpulse("analyze", "tou", "-e", "m-01", "-p", "tariff=nl-tou", "--data-dir", str(folder.data),
                    cwd=folder.root)
    assert run.code == 1
    assert "configured tariffs: none" in run.err


def test_list_names_every_analysis(folder: Folder) -> None:
    out = ok(gridpulse("analyze", "--list", cwd=folder.root))
    for name in ANALYSES:
        assert name in out
    assert "threshold_pct=20" in out
    listed = json.loads(ok(gridpulse("analyze", "--list", "-f", "json", cwd=folder.root)))
    assert [a["name"] for a in listed["analyses"]] == list(ANALYSES)


def test_through_a_live_server_the_answer_is_the_same(folder: Folder, served: LiveServer) -> None:
    args = ("analyze", "peak-demand", "-e", "m-10", "-f", "json", "--explain")
    local = json.loads(ok(gridpulse(*args, "--data-dir", str(folder.data), cwd=folder.root)))
    remote = json.loads(ok(gridpulse(*args, "--data-dir", str(served.data_dir), cwd=folder.root)))
    assert remote["rows"] == local["rows"] == folder.expected["peak-demand"]
    # the series ids are the same in the copy, so the SQL and its parameters are too
    assert remote == local
    out = ok(gridpulse("analyze", "peak-demand", "-e", "m-10", "--explain", "--data-dir", str(served.data_dir),
                       cwd=folder.root))
    assert "peak_kw [kW]" in out
    assert "FROM rollups" in out or "FROM points" in out  # the SQL is printed
    run = gridpulse("analyze", "peak-demand", "-e", "m-10", "-p", "window=20min", "--data-dir",
                    str(served.data_dir), cwd=folder.root)
    assert (run.code, run.err) == (
        1, "error: server answered 400: window='20min' is not one of 15min, 30min, 60min\n")
