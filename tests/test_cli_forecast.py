"""`gridpulse forecast run | show | backtest` as users run them: subprocesses on a store file with
no server, and through a live server that holds its own copy of the file.

The seasonal naive model throughout (the API tests fit LightGBM once): the plumbing is tested
here, the models in gridpulse.forecast's own tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gridpulse.store import open_store
from tests.conftest import LiveServer, start_server
from tests.test_api_forecasts import AMS, METERS, MODELS_TEXT, SHORT, write_meters
from tests.test_cli import read_only

NAIVE = ("--model", "seasonal-naive")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Run:
    code: int
    out: str
    err: str


def gridpulse(*args: str, cwd: Path, data_dir: Path | None = None) -> Run:
    # no GRIDPULSE_* settings from the caller; a wide terminal so Rich does not fold the tables
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDPULSE_") and k != "LINES"}
    env["COLUMNS"] = "250"
    cmd = [sys.executable, "-m", "gridpulse", *args]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    done = subprocess.run(cmd, capture_output=True, cwd=cwd, env=env, timeout=120, check=False)
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


def ok(run: Run) -> str:
    # stderr stays empty: the spinner shows only on a terminal
    assert (run.code, run.err) == (0, ""), run
    return run.out


def failed(run: Run) -> str:
    assert (run.code, run.out) == (1, ""), run
    assert re.fullmatch(r"error: [^\n]+\n", run.err), run.err
    return run.err.removeprefix("error: ").rstrip("\n")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file with the meters of the API tests and no forecasts; tests copy it."""
    root = tmp_path_factory.mktemp("cli-forecast")
    store = open_store(f"duckdb:///{root / 'gridpulse.duckdb'}")
    try:
        write_meters(store)
    finally:
        store.close()
    return root / "gridpulse.duckdb"


def copy_of(template: Path, root: Path) -> Path:
    data = root / "data"
    data.mkdir(parents=True)
    shutil.copy(template, data / "gridpulse.duckdb")
    return data


@pytest.fixture
def folder(template: Path, tmp_path: Path) -> Path:
    """A data folder of its own with no server on it."""
    return copy_of(template, tmp_path)


@pytest.fixture(scope="module")
def served(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server holding a copy of the store (so the CLI must go through it)."""
    srv = start_server(copy_of(template, tmp_path_factory.mktemp("cli-forecast-live")))
    yield srv
    srv.stop()


# ----------------------------------------------------------------------------- run and show


def test_run_then_show_on_the_store_file(folder: Path, tmp_path: Path) -> None:
    out = ok(gridpulse("forecast", "run", "-e", "m-1", "-m", "kwh", *NAIVE, cwd=tmp_path, data_dir=folder))
    head = out.splitlines()[:2]
    assert re.fullmatch(
        r"stored forecast \d+: meter:m-1/kwh · seasonal-naive · origin 2024-10-30T01:00:00\+01:00 · 168 steps of 1 h",
        head[0],
    ), out
    assert head[1].startswith("model gridpulse ") and "trained on 2024-10-08T02:00:00+02:00 .. 2024-10-30T01:00:00+01:00" in head[1]
    # the first and the last step, with their bounds
    assert "first and last steps" in out and "mean [kWh]" in out and "hi95 [kWh]" in out
    assert "2024-10-30T01:00:00+01:00" in out.split("first and last steps")[1]
    assert "2024-11-06T00:00:00+01:00" in out

    body = json.loads(ok(gridpulse("forecast", "show", "-e", "m-1", "-f", "json", cwd=tmp_path, data_dir=folder)))
    assert body["forecast"]["model"] == "seasonal-naive" and body["tz"] == AMS
    assert len(body["rows"]) == 168
    assert body["rows"][0]["ts"] == "2024-10-30T01:00:00+01:00" and body["rows"][-1]["ts"] == "2024-11-06T00:00:00+01:00"
    for row in body["rows"]:
        assert row["lo95"] <= row["lo80"] <= row["hi80"] <= row["hi95"], row

    csv = ok(gridpulse("forecast", "show", "-e", "m-1", "-f", "csv", "--tz", "UTC", cwd=tmp_path, data_dir=folder))
    lines = csv.splitlines()
    assert lines[0] == '"ts","mean","lo80","hi80","lo95","hi95"' and len(lines) == 169
    assert lines[1].startswith('"2024-10-30T00:00:00+00:00",')

    table = ok(gridpulse("forecast", "show", "-e", "m-1", cwd=tmp_path, data_dir=folder))
    assert "meter:m-1/kwh · seasonal-naive · origin 2024-10-30T01:00:00+01:00" in table
    assert table.count("+01:00 ") >= 168  # a row per step
    assert "lo80 [kWh]" in table


def test_show_as_of_gives_the_forecast_current_then(folder: Path, tmp_path: Path) -> None:
    first = json.loads(ok(gridpulse("forecast", "run", "-e", "m-2", *NAIVE, "-f", "json", cwd=tmp_path, data_dir=folder)))
    second = json.loads(ok(gridpulse("forecast", "run", "-e", "m-2", *NAIVE, "-f", "json", cwd=tmp_path, data_dir=folder)))
    assert second["forecast"]["forecast_id"] > first["forecast"]["forecast_id"]
    now = json.loads(ok(gridpulse("forecast", "show", "-e", "m-2", "-f", "json", cwd=tmp_path, data_dir=folder)))
    assert now == second
    then = json.loads(
        ok(gridpulse("forecast", "show", "-e", "m-2", "--as-of", first["forecast"]["created_at"], "-f", "json",
                     cwd=tmp_path, data_dir=folder))
    )
    assert then == first


def test_the_same_answer_from_the_file_and_through_the_server(template: Path, tmp_path: Path) -> None:
    """The CLI builds the API's answer itself when it reads the file: both must agree."""
    data = copy_of(template, tmp_path / "a")
    made = json.loads(ok(gridpulse("forecast", "run", "-e", "m-3", *NAIVE, "-f", "json", cwd=tmp_path, data_dir=data)))
    backtest = ("forecast", "backtest", "-e", "m-3", *NAIVE, "--origins", "2", "--stride-days", "1", "--png")

    def answers(png: Path) -> list[str]:
        return [
            *(ok(gridpulse("forecast", "show", "-e", "m-3", "-f", fmt, cwd=tmp_path, data_dir=data)) for fmt in ("json", "csv")),
            ok(gridpulse(*backtest, str(png), cwd=tmp_path, data_dir=data)).replace(str(png), "PNG"),
        ]

    from_file = answers(tmp_path / "file.png")
    assert json.loads(from_file[0]) == made
    srv = start_server(data)
    try:
        through = answers(tmp_path / "server.png")
    finally:
        srv.stop()
    assert json.loads(through[0]) == json.loads(from_file[0])
    assert through[1:] == from_file[1:]
    # the server sends what the plot needs, and the CLI draws the same picture from it
    assert (tmp_path / "server.png").read_bytes() == (tmp_path / "file.png").read_bytes()


def test_run_and_show_through_the_server(served: LiveServer, tmp_path: Path) -> None:
    out = ok(gridpulse("forecast", "run", "-e", "meter:m-4", *NAIVE, cwd=tmp_path, data_dir=served.data_dir))
    assert out.startswith("stored forecast ") and "meter:m-4/kwh · seasonal-naive" in out
    body = json.loads(ok(gridpulse("forecast", "show", "-e", "m-4", "-f", "json", cwd=tmp_path, data_dir=served.data_dir)))
    assert body["forecast"]["model"] == "seasonal-naive" and len(body["rows"]) == 168


# ----------------------------------------------------------------------------- backtest


def test_backtest_prints_the_table_and_writes_the_png(folder: Path, tmp_path: Path) -> None:
    out = ok(
        gridpulse("forecast", "backtest", "--kind", "meter", "--metric", "kwh", *NAIVE, "--origins", "2",
                  "--stride-days", "1", cwd=tmp_path, data_dir=folder)
    )
    png = tmp_path / "forecast-backtest.png"  # the default: in the working directory
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 10_000
    assert out.rstrip().splitlines()[-1] == f"wrote {png}"
    assert "backtest · seasonal-naive · 2 origins (2024-10-22 00:00, 2024-10-23 00:00 UTC) · 168 steps of 1 h" in out
    for header in ("MAE [kWh]", "RMSE [kWh]", "MAPE %", "sMAPE %", "MASE", "80 % cov. %", "95 % cov. %"):
        assert header in out, header
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 8}
    assert set(rows) == {"overall", *(f"meter:{m}/kwh" for m in METERS)}  # the header row is ┃-ruled
    cells = [c.strip() for c in rows["overall"].split("│")[2:-1]]
    assert cells[0] == str(len(METERS) * 2 * 168)  # n: every step of every origin
    assert all(re.fullmatch(r"[0-9.e+-]+", c) for c in cells), cells
    # the short meter has too little history to sit in
    assert SHORT not in out


def test_backtest_through_the_server_writes_the_same_kind_of_png(served: LiveServer, tmp_path: Path) -> None:
    target = tmp_path / "plots" / "m-5.png"
    out = ok(
        gridpulse("forecast", "backtest", "-e", "m-5", "-m", "kwh", *NAIVE, "--origins", "2", "--stride-days", "2",
                  "--png", str(target), cwd=tmp_path, data_dir=served.data_dir)
    )
    assert target.read_bytes().startswith(PNG_MAGIC) and target.stat().st_size > 10_000
    assert f"wrote {target}" in out
    assert "meter:m-5/kwh" in out and "overall" in out
    assert "2 origins (2024-10-21 00:00, 2024-10-23 00:00 UTC)" in out


# ----------------------------------------------------------------------------- errors


def test_errors_are_one_line_naming_the_problem(folder: Path, served: LiveServer, tmp_path: Path) -> None:
    def run(*args: str, data: Path = folder) -> str:
        return failed(gridpulse("forecast", *args, cwd=tmp_path, data_dir=data))

    assert run("run", "-e", "m-1", "--model", "prophet") == f"model='prophet' is not one of {MODELS_TEXT}"
    assert run("run", "-e", SHORT, *NAIVE) == f"nothing to forecast: meter:{SHORT}/kwh: less than two weeks of history"
    assert run("run") == "name the series: -e <entity> (with -m <metric> when it has several), or --series <id>"
    assert run("show", "-e", "m-6") == "no stored forecast of meter:m-6/kwh; make one with POST /api/v1/forecasts/run"
    assert run("show", "-e", "m-6", "-f", "xml") == "--format 'xml' is not one of table, csv, json"
    assert run("backtest", "--kind", "meter") == (
        "name the series: -e <entity> (with -m <metric> when it has several), or --kind and --metric"
    )
    assert run("backtest", "-e", SHORT, *NAIVE) == "no series has 336 steps of history before the first origin"
    # through the server, the server's answer
    assert run("show", "-e", "m-6", data=served.data_dir) == (
        "server answered 404: no stored forecast of meter:m-6/kwh; make one with POST /api/v1/forecasts/run"
    )
    assert run("run", "-e", "nope", *NAIVE, data=served.data_dir) == (
        "server answered 404: no series for entity 'nope'; list them with GET /api/v1/series"
    )


# ----------------------------------------------------------------------------- help

COMMANDS = [
    ("forecast",), ("forecast", "run"), ("forecast", "show"), ("forecast", "backtest"), ("forecast", "error"),
    ("forecast", "drift"),
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_exits_0_and_ends_with_a_one_line_example(command: tuple[str, ...], tmp_path: Path) -> None:
    # as tests/test_cli.py checks every top-level command (it does not see a sub-app's commands)
    run = read_only(*command, "--help", cwd=tmp_path)
    assert (run.code, run.err) == (0, ""), run
    assert "Usage:" in run.out and "--help" in run.out
    lines = [line.strip(" │╰╯─") for line in run.out.splitlines()]
    last = [line for line in lines if line][-1]
    assert last.startswith("Example: gridpulse forecast"), run.out
    if command != ("forecast",):
        assert f"gridpulse {' '.join(command)}" in last


def test_the_forecast_group_lists_its_commands(tmp_path: Path) -> None:
    out = read_only("forecast", "--help", cwd=tmp_path).out
    for name in ("run", "show", "backtest", "error", "drift"):
        assert re.search(rf"│ {name}\s+\S", out), out
    assert "forecast" in read_only("--help", cwd=tmp_path).out
