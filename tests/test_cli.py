"""The command line as users run it: `python -m gridpulse ...` in a subprocess, on real data folders.

`query` and `series` read the DuckDB file when no server runs on the folder, and go through the
running server otherwise (the server process holds the file's lock, so that is the only way).
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from gridpulse.cli.main import app
from gridpulse.config import Settings, load_settings, option_docs
from gridpulse.errors import StoreUnavailable
from gridpulse.store import open_store
from tests.conftest import LiveServer, start_server

METER_ROWS = [
    {"ts": "2024-01-01T00:00:00Z", "meter_id": "m-1", "kwh": 1.25},
    {"ts": "2024-01-01T00:15:00Z", "meter_id": "m-1", "kwh": 1.10},
    {"ts": "2024-01-01T00:30:00Z", "meter_id": "m-1", "kwh": 0.5},
    {"ts": "2024-01-01T01:00:00Z", "meter_id": "m-1", "kwh": 2.0},
]
PLANT_ROWS = [{"ts": "2024-01-01T00:00:00Z", "plant_id": "plant-1", "mw": 10.0}]

RAW_CSV_UTC = (
    '"ts","value","quality","version"\n'
    '"2024-01-01T00:00:00+00:00",1.25,0,1\n'
    '"2024-01-01T00:15:00+00:00",1.1,0,1\n'
    '"2024-01-01T00:30:00+00:00",0.5,0,1\n'
    '"2024-01-01T01:00:00+00:00",2,0,1\n'
)
RAW_CSV_AMSTERDAM = (
    '"ts","value","quality","version"\n'
    '"2024-01-01T01:00:00+01:00",1.25,0,1\n'
    '"2024-01-01T01:15:00+01:00",1.1,0,1\n'
    '"2024-01-01T01:30:00+01:00",0.5,0,1\n'
    '"2024-01-01T02:00:00+01:00",2,0,1\n'
)
HOURLY_CSV = (
    '"ts","value","count","nulls","estimated"\n"2024-01-01T00:00:00+00:00",2.85,3,0,0\n'
    '"2024-01-01T01:00:00+00:00",2,1,0,0\n'
)
POINTS = [
    {"ts": "2024-01-01T00:00:00+00:00", "value": 1.25, "quality": 0, "version": 1},
    {"ts": "2024-01-01T00:15:00+00:00", "value": 1.1, "quality": 0, "version": 1},
    {"ts": "2024-01-01T00:30:00+00:00", "value": 0.5, "quality": 0, "version": 1},
    {"ts": "2024-01-01T01:00:00+00:00", "value": 2.0, "quality": 0, "version": 1},
]


def cli_env() -> dict[str, str]:
    """The caller's environment without gridpulse settings or a terminal width (Rich then uses 80)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GRIDPULSE_") and k not in ("COLUMNS", "LINES")}


@dataclass
class Run:
    code: int
    out: str
    err: str


def gridpulse(*args: str, cwd: Path, data_dir: Path | None = None) -> Run:
    cmd = [sys.executable, "-m", "gridpulse", *args]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    done = subprocess.run(cmd, capture_output=True, cwd=cwd, env=cli_env(), timeout=120, check=False)
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


@functools.cache
def read_only(*args: str, cwd: Path, data_dir: Path | None = None) -> Run:
    """`gridpulse` for commands that change nothing, run once per argument list: each start costs ~1 s."""
    return gridpulse(*args, cwd=cwd, data_dir=data_dir)


@pytest.fixture(scope="module")
def cwd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty working directory (no gridpulse.toml) for commands that only read."""
    return tmp_path_factory.mktemp("cwd")


def ok(run: Run) -> str:
    assert (run.code, run.err) == (0, ""), run
    return run.out


def write_sample(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        for path, rows in (("/ingest/meter_usage/ndjson", METER_ROWS), ("/ingest/generation_output", PLANT_ROWS)):
            body = b"".join(json.dumps(r).encode() + b"\n" for r in rows) if "ndjson" in path else json.dumps(rows)
            r = http.post(path, content=body)
            assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def stopped_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder written through a real server that has since stopped (its server record is gone)."""
    root = tmp_path_factory.mktemp("cli")
    srv = start_server(root / "data")
    try:
        write_sample(srv.url)
    finally:
        srv.stop()
    assert srv.proc.returncode == 0
    assert not (root / "data" / "server.json").exists()
    return root / "data"


@pytest.fixture(scope="module")
def running_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server holding its data folder, with the same sample written through it."""
    srv = start_server(tmp_path_factory.mktemp("cli-live") / "data")
    write_sample(srv.url)
    yield srv
    srv.stop()


@pytest.fixture(params=["file", "server"])
def data_dir(request: pytest.FixtureRequest) -> Path:
    """The same data, read from the file (no server) or through the server that holds it."""
    if request.param == "file":
        path: Path = request.getfixturevalue("stopped_store")
        return path
    srv: LiveServer = request.getfixturevalue("running_server")
    return srv.data_dir


# ----------------------------------------------------------------------------- init


def test_init_creates_the_store_and_a_config_listing_every_option(tmp_path: Path) -> None:
    out = ok(gridpulse("init", cwd=tmp_path, data_dir=tmp_path / "data"))
    store_file = tmp_path / "data" / "gridpulse.duckdb"
    assert store_file.is_file()
    assert "store ready" in out
    store = open_store(f"duckdb:///{store_file}", read_only=True)
    try:
        assert store.stats() == {"series": 0, "points": 0, "superseded_versions": 0, "rollup_ranges_pending": 0}
    finally:
        store.close()
    config = (tmp_path / "gridpulse.toml").read_text()
    for key, env, _, _ in option_docs():
        assert f"# {key.split('.', 1)[1]} = " in config and env in config, key
    # the file it writes is a valid config that changes nothing
    assert load_settings(tmp_path / "gridpulse.toml", env={}) == Settings()


def test_init_on_an_existing_store_keeps_its_data_and_the_config(stopped_store: Path, tmp_path: Path) -> None:
    (tmp_path / "gridpulse.toml").write_text("[server]\nport = 7011\n")
    ok(gridpulse("init", cwd=tmp_path, data_dir=stopped_store))
    assert (tmp_path / "gridpulse.toml").read_text() == "[server]\nport = 7011\n"
    out = ok(gridpulse("series", "--json", cwd=tmp_path, data_dir=stopped_store))
    assert [s["entity_id"] for s in json.loads(out)] == ["m-1", "plant-1"]


def test_init_refuses_a_folder_a_server_holds(running_server: LiveServer, tmp_path: Path) -> None:
    run = gridpulse("init", cwd=tmp_path, data_dir=running_server.data_dir)
    assert run.code == 1
    # compared without whitespace: Rich may fold a long path
    expected = f"error: a server is running on {running_server.data_dir}"
    assert "".join(run.err.split()).startswith("".join(expected.split()))


# ----------------------------------------------------------------------------- query and series


def test_server_holds_the_file_so_the_cli_must_go_through_it(running_server: LiveServer) -> None:
    with pytest.raises(StoreUnavailable, match="held by another process"):
        open_store(f"duckdb:///{running_server.data_dir / 'gridpulse.duckdb'}", read_only=True)


def test_query_csv_gives_exact_rows(data_dir: Path, cwd: Path) -> None:
    run = read_only("query", "-e", "m-1", "-m", "kwh", "--format", "csv", cwd=cwd, data_dir=data_dir)
    assert ok(run) == RAW_CSV_UTC


def test_query_json_gives_the_points(data_dir: Path, cwd: Path) -> None:
    out = ok(read_only("query", "-e", "m-1", "--format", "json", cwd=cwd, data_dir=data_dir))
    body = json.loads(out)
    assert out.endswith("}\n")
    assert body["points"] == POINTS
    assert body["tz"] == "UTC"
    assert (body["series"]["entity_id"], body["series"]["metric"], body["series"]["unit"]) == ("m-1", "kwh", "kWh")


def test_series_json_lists_the_catalogue(data_dir: Path, cwd: Path) -> None:
    rows = json.loads(ok(read_only("series", "--json", cwd=cwd, data_dir=data_dir)))
    assert [(s["entity_kind"], s["entity_id"], s["metric"], s["unit"], s["interval_s"]) for s in rows] == [
        ("meter", "m-1", "kwh", "kWh", 900),
        ("plant", "plant-1", "mw", "MW", 900),
    ]


def test_query_csv_in_a_zone_gives_local_times(stopped_store: Path, cwd: Path) -> None:
    run = read_only("query", "-e", "m-1", "-f", "csv", "--tz", "Europe/Amsterdam", cwd=cwd, data_dir=stopped_store)
    assert ok(run) == RAW_CSV_AMSTERDAM


def test_query_hourly_sums_energy(stopped_store: Path, cwd: Path) -> None:
    run = read_only("query", "-e", "meter:m-1", "-r", "hour", "-f", "csv", cwd=cwd, data_dir=stopped_store)
    assert ok(run) == HOURLY_CSV


def test_query_reads_a_naive_start_in_tz_and_an_end_with_its_offset(stopped_store: Path, cwd: Path) -> None:
    # --end 02:00+01:00 is 01:00 UTC, and the end is exclusive
    out = ok(read_only("query", "-e", "m-1", "-f", "csv", "--tz", "UTC", "--start", "2024-01-01T00:15:00",
                       "--end", "2024-01-01T02:00:00+01:00", cwd=cwd, data_dir=stopped_store))
    assert out.splitlines()[1:] == ['"2024-01-01T00:15:00+00:00",1.1,0,1', '"2024-01-01T00:30:00+00:00",0.5,0,1']


def test_query_parquet_to_a_file(stopped_store: Path, tmp_path: Path) -> None:
    target = tmp_path / "m-1.parquet"
    out = ok(gridpulse("query", "-e", "m-1", "-f", "parquet", "-o", str(target), cwd=tmp_path, data_dir=stopped_store))
    assert "wrote" in out
    table = pq.read_table(io.BytesIO(target.read_bytes()))
    assert table.column("value").to_pylist() == [1.25, 1.1, 0.5, 2.0]
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"


def test_query_and_series_tables_name_what_they_show(stopped_store: Path, cwd: Path) -> None:
    out = ok(read_only("query", "-e", "m-1", cwd=cwd, data_dir=stopped_store))
    assert "meter:m-1/kwh" in out
    assert "2024-01-01T00:15:00+00:00" in out and "1.1" in out
    out = ok(read_only("series", "--kind", "plant", cwd=cwd, data_dir=stopped_store))
    assert "1 series" in out and "plant-1" in out and "m-1" not in out


def test_query_json_is_the_same_with_or_without_a_server(
    stopped_store: Path, running_server: LiveServer, cwd: Path
) -> None:
    args = ("query", "-e", "m-1", "--format", "json")
    from_file = json.loads(ok(read_only(*args, cwd=cwd, data_dir=stopped_store)))
    from_server = json.loads(ok(read_only(*args, cwd=cwd, data_dir=running_server.data_dir)))
    assert from_file == from_server


def test_query_with_no_store_says_how_to_make_one(tmp_path: Path) -> None:
    run = gridpulse("query", "-e", "m-1", cwd=tmp_path, data_dir=tmp_path / "empty")
    assert run.code == 1
    assert "run `gridpulse init` or `gridpulse serve` first" in " ".join(run.err.split())


# ----------------------------------------------------------------------------- errors

ERRORS = {
    "unknown-entity": (("query", "-e", "nope"), "no series for entity 'nope'; list them with GET /api/v1/series"),
    "naive-start": (
        ("query", "-e", "m-1", "--start", "2024-01-01"),
        "start='2024-01-01' has no zone offset: add Z or +01:00, or pass tz=",
    ),
    "bad-format": (("query", "-e", "m-1", "-f", "xml"), "--format 'xml' is not one of table, json, csv, parquet"),
    "bad-resolution": (
        ("query", "-e", "m-1", "-r", "fortnight"),
        "resolution='fortnight' is not one of raw, 15min, 30min, hour, day, week, month",
    ),
    "long-entity": (
        ("query", "-e", "meter-with-a-rather-long-identifier-0001"),
        "no series for entity 'meter-with-a-rather-long-identifier-0001'; list them with GET /api/v1/series",
    ),
}
# the server answers these itself, and the CLI says so
THROUGH_SERVER = {"unknown-entity": 404, "naive-start": 400}

CASES = [(name, "file") for name in sorted(ERRORS)] + [(name, "server") for name in sorted(THROUGH_SERVER)]


def _run_error(name: str, where: str, stopped_store: Path, running_server: LiveServer, cwd: Path) -> Run:
    args, _ = ERRORS[name]
    return read_only(*args, cwd=cwd, data_dir=stopped_store if where == "file" else running_server.data_dir)


@pytest.mark.parametrize(("name", "where"), CASES)
def test_error_names_the_problem_and_exits_1(
    name: str, where: str, stopped_store: Path, running_server: LiveServer, cwd: Path
) -> None:
    run = _run_error(name, where, stopped_store, running_server, cwd)
    assert (run.code, run.out) == (1, "")
    text = " ".join(run.err.split())  # wrapping is test_error_is_one_line_on_stderr's business
    message = ERRORS[name][1]
    if where == "server":
        message = f"server answered {THROUGH_SERVER[name]}: {message}"
    assert text == f"error: {message}"


@pytest.mark.parametrize(("name", "where"), CASES)
def test_error_is_one_line_on_stderr(
    name: str, where: str, stopped_store: Path, running_server: LiveServer, cwd: Path
) -> None:
    run = _run_error(name, where, stopped_store, running_server, cwd)
    assert run.code == 1
    assert re.fullmatch(r"error: [^\n]+\n", run.err), run.err


@pytest.mark.parametrize("entity", ["m[b]1", "m[/x]1"])
def test_error_shows_the_message_verbatim(entity: str, stopped_store: Path, cwd: Path) -> None:
    run = read_only("query", "-e", entity, cwd=cwd, data_dir=stopped_store)
    assert run.code == 1
    assert f"no series for entity '{entity}'" in run.err, run.err


@pytest.mark.parametrize("args", [("analyze", "energy", "--nope"), ("load",), ("query", "--resolution")])
def test_usage_error_is_a_usage_line_not_a_traceback(args: tuple[str, ...], cwd: Path) -> None:
    run = read_only(*args, cwd=cwd)
    assert run.code == 2, run.err
    assert "Traceback" not in run.err
    assert "Error" in run.err, run.err


# ----------------------------------------------------------------------------- help

COMMANDS = [None, *sorted(c.name for c in app.registered_commands if c.name)]


def help_of(command: str | None, cwd: Path) -> Run:
    return read_only(*([command] if command else []), "--help", cwd=cwd)


@pytest.mark.parametrize("command", COMMANDS, ids=[c or "gridpulse" for c in COMMANDS])
def test_help_exits_0_and_describes_the_command(command: str | None, cwd: Path) -> None:
    run = help_of(command, cwd)
    assert (run.code, run.err) == (0, ""), run
    assert "Usage:" in run.out and "--help" in run.out


@pytest.mark.parametrize("command", COMMANDS, ids=[c or "gridpulse" for c in COMMANDS])
def test_help_ends_with_a_one_line_example(command: str | None, cwd: Path) -> None:
    run = help_of(command, cwd)
    lines = [line.strip(" │╰╯─") for line in run.out.splitlines()]
    last = [line for line in lines if line][-1]
    assert last.startswith("Example: "), run.out
    assert "gridpulse" in last


def test_query_command_lists_the_formats_the_exporter_writes() -> None:
    # the command keeps its own copy so that starting it does not import Arrow
    from gridpulse.cli import query as query_cmd
    from gridpulse.export import FORMATS

    assert query_cmd.FORMATS == FORMATS
