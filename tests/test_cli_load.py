"""`gridpulse load` as users run it, POST /api/v1/files, and the public datasets' counts.

The CLI opens the store file when no server runs on the data folder and goes through the server
(which holds the file's lock) when one does. Counts of the public datasets come from their READMEs
(see tests/test_datasets.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from gridpulse.cli import load as load_cli
from gridpulse.cli.main import app
from gridpulse.datasets import LOADERS
from gridpulse.ingest.files import load_paths
from gridpulse.ingest.mapping import Mapping
from gridpulse.ingest.writer import Writer
from gridpulse.loaders import load_named_dataset
from gridpulse.model import Quality
from gridpulse.store import open_store
from gridpulse.store.base import ReadingsQuery, Store
from tests.conftest import LiveServer, start_server
from tests.test_cli import cli_env

METERS_CSV = "ts;meter_id;kwh;kvarh\n2024-01-01T00:00:00Z;m-1;1.25;0.5\n2024-01-01T00:15:00Z;m-1;1.5;\n"
NAIVE_CSV = "ts,meter_id,kwh\n2024-01-01 00:00,m-2,1\n"

#: README figures: data rows of the source files and points the reader writes.
DATASET_COUNTS = {
    "pjm_hourly": (830_772, 830_772),
    "ett_small": (2 * 17_420, 2 * 17_420 * 7),
    "enerpos_pv": (94_227 + 2 * 2_160, 2 * 94_227 + 4 * 2_160 + 9 * 2_160),
    "ausgrid_solar_home_c12": (17_568, 2 * 17_568),
}

runner = CliRunner()


def cli(*args: str) -> Any:
    """`gridpulse ...` in this process (fast); exceptions come back in result.exception.

    The summary table is 160 columns wide so that a long temporary path stays on one line: the
    CLI's console read COLUMNS when its module was imported, which may have been by another test."""
    with _wide(load_cli.console):
        return runner.invoke(app, list(args), env={"COLUMNS": "160"})


@contextmanager
def _wide(console: Console) -> Iterator[None]:
    before = console._width
    console.width = 160
    try:
        yield
    finally:
        console._width = before


def gridpulse(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`gridpulse ...` as a separate process, for exit codes and error lines."""
    return subprocess.run(
        [sys.executable, "-m", "gridpulse", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(),
        timeout=120,
        check=False,
    )


def read_all(store: Store) -> dict[tuple[str, str, str], list[tuple[str, float | None]]]:
    out = {}
    for s in store.list_series():
        rows = store.read(ReadingsQuery(s.series_id)).to_pylist()
        out[(s.key.entity_kind, s.key.entity_id, s.key.metric)] = [
            (r["ts"].isoformat(), r["value"]) for r in rows
        ]
    return out


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "meters.csv").write_text(METERS_CSV)
    (folder / "naive.csv").write_text(NAIVE_CSV)
    return folder


# ----------------------------------------------------------------------------------- local store
def test_load_opens_the_store_and_prints_a_summary(files: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = cli("load", str(files / "meters.csv"), "--wide", "--data-dir", str(data))
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("file"))
    assert header.split() == ["file", "rows", "points", "inserted", "revised", "unchanged", "rejected", "s"]
    row = next(line for line in result.output.splitlines() if "meters.csv" in line)
    assert row.split()[1:7] == ["2", "4", "4", "0", "0", "0"]
    again = cli("load", str(files / "meters.csv"), "--wide", "--data-dir", str(data))
    row = next(line for line in again.output.splitlines() if "meters.csv" in line)
    assert row.split()[1:7] == ["2", "4", "0", "0", "4", "0"]  # nothing new: every point unchanged
    store = open_store(f"duckdb:///{data / 'gridpulse.duckdb'}", read_only=True)
    try:
        assert read_all(store)[("meter", "m-1", "kvarh")] == [
            ("2024-01-01T00:00:00+00:00", 0.5),
            ("2024-01-01T00:15:00+00:00", None),
        ]
    finally:
        store.close()


def test_exit_code_1_when_a_file_fails_entirely_the_others_still_load(files: Path, tmp_path: Path) -> None:
    run = gridpulse("load", str(files), "--wide", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert run.returncode == 1, run
    assert run.stderr.startswith("error: 1 of 2 files failed entirely:"), run.stderr
    assert "naive.csv" in run.stderr and "has no zone offset" in run.stderr
    assert "meters.csv" in run.stdout
    # with the zone given, the naive file loads
    run = gridpulse(
        "load",
        str(files / "naive.csv"),
        "--tz",
        "Europe/Amsterdam",
        "--data-dir",
        str(tmp_path / "data"),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run


def test_mapping_file_rejects_option_and_reference(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (tmp_path / "plant.csv").write_text("date,output\n01/02/2024 10:00,5\n01/02/2024 10:15,x\n")
    (tmp_path / "plant.toml").write_text(
        'time_format = "%d/%m/%Y %H:%M"\ntz = "Europe/Paris"\n'
        'entity_kind = "plant"\nentity = "p-1"\nunit = "MW"\n'
    )
    result = cli(
        "load",
        str(tmp_path / "plant.csv"),
        "--mapping",
        str(tmp_path / "plant.toml"),
        "--value-columns",
        "output=mw",
        "--rejects",
        str(tmp_path / "bad.csv"),
        "--data-dir",
        str(data),
    )
    assert result.exit_code == 0, result.output
    assert (
        (tmp_path / "bad.csv").read_text().splitlines()[1].startswith(f"{tmp_path / 'plant.csv'},3,output,")
    )
    (tmp_path / "plants.json").write_text('[{"plant_id": "p-1", "name": "PV", "capacity_mw": 12}]')
    result = cli("load", "--reference", "plants", str(tmp_path / "plants.json"), "--data-dir", str(data))
    assert result.exit_code == 0, result.output
    store = open_store(f"duckdb:///{data / 'gridpulse.duckdb'}", read_only=True)
    try:
        [series] = store.list_series()
        assert (str(series.key), series.unit, series.tz) == ("plant:p-1/mw", "MW", "Europe/Paris")
        assert store.list_reference("plants")[0]["capacity_mw"] == 12.0
    finally:
        store.close()


def test_the_battery_layout_loads_with_one_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "assets").mkdir(parents=True)
    (data / "telemetry").mkdir()
    (data / "assets" / "batteries.json").write_text('[{"id": "b-1", "name": "Battery 1"}]')
    (data / "telemetry" / "t.json").write_text(
        json.dumps(
            [
                {
                    "recorded_at": "2024-01-01T00:00:00Z",
                    "device_id": "b-1",
                    "metric_name": "StateOfChargePercentage",
                    "value": 19.5,
                }
            ]
        )
    )
    result = cli("load", str(data), "--data-dir", str(tmp_path / "store"))
    assert result.exit_code == 0, result.output
    store = open_store(f"duckdb:///{tmp_path / 'store' / 'gridpulse.duckdb'}", read_only=True)
    try:
        assert read_all(store) == {
            ("device", "b-1", "StateOfChargePercentage"): [("2024-01-01T00:00:00+00:00", 19.5)]
        }
        assert [d["device_id"] for d in store.list_reference("devices")] == ["b-1"]
    finally:
        store.close()


# ----------------------------------------------------------------------------------- through a server
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("load-live") / "data")
    yield srv
    srv.stop()


def test_the_cli_sends_files_to_the_server_that_holds_the_store(
    server: LiveServer, files: Path, tmp_path: Path
) -> None:
    data_dir = str(server.data_dir)
    result = cli(
        "load", str(files / "meters.csv"), str(files / "naive.csv"), "--wide", "--data-dir", data_dir
    )
    assert result.exit_code != 0  # naive.csv: every row rejected
    assert "1 of 2 files failed entirely" in str(result.exception)
    # the rejected rows come back from the server into the local rejects file
    [bad] = [json.loads(line) for line in (files / "naive.csv.rejects.ndjson").read_text().splitlines()]
    assert (bad["file"], bad["line"], bad["column"]) == (str(files / "naive.csv"), 2, "ts")
    result = cli("load", str(files / "meters.csv"), "--wide", "--data-dir", data_dir)
    row = next(line for line in result.output.splitlines() if "meters.csv" in line)
    assert row.split()[1:7] == ["2", "4", "0", "0", "4", "0"], result.output
    (tmp_path / "devices.csv").write_text("device_id,name\nb-9,Battery 9\n")
    assert (
        cli("load", "--reference", "devices", str(tmp_path / "devices.csv"), "--data-dir", data_dir).exit_code
        == 0
    )
    with httpx.Client(base_url=server.url) as http:
        series = http.get("/api/v1/series", params={"entity": "m-1"}).json()["series"]
        assert sorted(s["metric"] for s in series) == ["kvarh", "kwh"]
        devices = http.get("/api/v1/reference/devices").json()["rows"]
        assert [d["device_id"] for d in devices] == ["b-9"]


def test_a_dataset_goes_through_the_server_too(server: LiveServer, shared_datasets: Path) -> None:
    result = cli(
        "load",
        "--dataset",
        "ausgrid_solar_home_c12",
        str(shared_datasets / "ausgrid_solar_home_c12"),
        "--data-dir",
        str(server.data_dir),
    )
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "ausgrid_solar_home_c12" in line)
    assert "17,568" in row and "35,136" in row
    with httpx.Client(base_url=server.url) as http:
        series = http.get("/api/v1/series", params={"entity": "ausgrid-c12"}).json()["series"]
        assert {(s["metric"], s["unit"], s["tz"], s["interval_s"]) for s in series} == {
            ("consumption_kw", "kW", "Australia/Sydney", 1800),
            ("pv_kw", "kW", "Australia/Sydney", 1800),
        }
        estimated = http.get(
            "/api/v1/readings",
            params={
                "entity": "ausgrid-c12",
                "metric": "pv_kw",
                "start": "2012-03-31T15:00:00Z",
                "end": "2012-03-31T17:00:00Z",
            },
        ).json()["points"]
        assert [p["quality"] for p in estimated] == [1, 1, 1, 1]


# ----------------------------------------------------------------------------------- the HTTP route
def test_post_files_takes_the_mapping_as_query_parameters(client: TestClient) -> None:
    body = METERS_CSV.encode()
    r = client.post("/api/v1/files", params={"filename": "meters.csv", "wide": "true"}, content=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert {k: got[k] for k in ("path", "rows", "points", "nulls", "inserted", "rejected")} == {
        "path": "meters.csv",
        "rows": 2,
        "points": 4,
        "nulls": 1,
        "inserted": 4,
        "rejected": 0,
    }
    mapping = json.dumps({"value_columns": {"kwh": "energy_kwh"}, "tags": {"src": "upload"}})
    r = client.post("/api/v1/files", params={"filename": "x.csv", "mapping": mapping}, content=body)
    assert r.json()["inserted"] == 2
    r = client.post(
        "/api/v1/files",
        params={"filename": "x.csv", "mapping": 'entity = "m-9"\nentity_kind = "meter"\nwide = true'},
        content=body,
    )
    assert r.json()["series_created"] == 2


def test_post_files_lists_rejects_and_refuses_bad_requests(client: TestClient) -> None:
    body = (METERS_CSV + "2024-01-01 00:30;m-1;2;1\n").encode()
    r = client.post("/api/v1/files", params={"filename": "m.csv", "wide": "true"}, content=body)
    assert r.status_code == 200
    [bad] = r.json()["rejects"]
    assert (bad["line"], bad["column"], bad["file"]) == (4, "ts", "m.csv")
    assert r.json()["rejects_path"] is None
    r = client.post("/api/v1/files", params={"filename": "n.csv"}, content=NAIVE_CSV.encode())
    assert r.status_code == 400 and r.json()["errors"][0]["line"] == 2
    r = client.post("/api/v1/files", params={"filename": "m.csv", "colour": "red"}, content=body)
    assert r.status_code == 400 and "unknown key 'colour'" in r.json()["error"]
    r = client.post("/api/v1/files", params={"filename": "m.xyz"}, content=body)
    assert r.status_code == 400 and "--format" in r.json()["error"]
    r = client.post("/api/v1/reference/gadgets", params={"filename": "g.csv"}, content=b"id\n1\n")
    assert r.status_code == 400


def test_post_reference_upserts_rows(client: TestClient) -> None:
    r = client.post(
        "/api/v1/reference/meter_feeder_map",
        params={"filename": "map.csv", "tz": "Europe/Amsterdam"},
        content=b"meter_id,feeder_id,scaling_factor,valid_from\nm-1,f-1,0.5,2024-01-01\n",
    )
    assert r.status_code == 200 and r.json()["upserted"] == 1, r.text
    [row] = client.get("/api/v1/reference/meter_feeder_map").json()["rows"]
    assert (row["scaling_factor"], row["valid_from"]) == (0.5, "2023-12-31T23:00:00")


def test_post_files_needs_the_write_scope(make_client: Callable[..., TestClient]) -> None:
    c = make_client(auth={"tokens": {"r-token": "read", "w-token": "write"}})
    params = {"filename": "meters.csv", "wide": "true"}
    assert c.post("/api/v1/files", params=params, content=METERS_CSV).status_code == 401
    r = c.post(
        "/api/v1/files", params=params, content=METERS_CSV, headers={"Authorization": "Bearer r-token"}
    )
    assert r.status_code == 403
    r = c.post(
        "/api/v1/files", params=params, content=METERS_CSV, headers={"Authorization": "Bearer w-token"}
    )
    assert r.status_code == 200
    r = c.post(
        "/api/v1/reference/devices",
        params={"filename": "d.csv"},
        content="device_id\nb-1\n",
        headers={"Authorization": "Bearer r-token"},
    )
    assert r.status_code == 403


def test_post_files_refuses_a_body_over_the_limit(make_client: Callable[..., TestClient]) -> None:
    c = make_client(server={"max_body_bytes": 64})
    r = c.post("/api/v1/files", params={"filename": "meters.csv", "wide": "true"}, content=METERS_CSV * 4)
    assert r.status_code == 413


# ----------------------------------------------------------------------------------- public datasets
@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Store, Writer]]:
    store = open_store(f"duckdb:///{tmp_path / 'store.duckdb'}")
    writer = Writer(store).start()
    yield store, writer
    writer.stop()
    store.close()


@pytest.mark.parametrize("name", list(LOADERS))
def test_each_public_dataset_loads_with_the_readme_counts(name: str, shared_datasets: Path, db: Any) -> None:
    store, writer = db
    report = load_named_dataset(writer, store, name, shared_datasets / name)
    rows, points = DATASET_COUNTS[name]
    assert (report.rows, report.points, report.inserted, report.rejected) == (rows, points, points, 0)
    assert store.stats()["points"] == points


def test_the_dataset_command_of_the_docs_runs(shared_datasets: Path, tmp_path: Path) -> None:
    run = gridpulse(
        "load",
        "--dataset",
        "ett_small",
        str(shared_datasets / "ett_small"),
        "--data-dir",
        str(tmp_path / "data"),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run
    assert "34,840" in run.stdout and "243,880" in run.stdout


def _reader_points(
    name: str, folder: Path
) -> dict[tuple[str, str, str], list[tuple[str, float | None, int]]]:
    ds = LOADERS[name](folder)
    table = pa.concat_tables(ds.batches).sort_by(
        [("entity_id", "ascending"), ("metric", "ascending"), ("ts", "ascending")]
    )
    out: dict[tuple[str, str, str], list[tuple[str, float | None, int]]] = {}
    for r in table.to_pylist():
        out.setdefault((r["entity_kind"], r["entity_id"], r["metric"]), []).append(
            (r["ts"].isoformat(), r["value"], r["quality"])
        )
    return out


def test_ett_with_generic_flags_gives_the_readers_points(shared_datasets: Path, db: Any) -> None:
    store, writer = db
    mapping = Mapping(wide=True, tz="Asia/Shanghai", entity_kind="transformer", entity="{stem}")
    reports = load_paths(writer, store, [shared_datasets / "ett_small"], mapping)
    assert [(r.rows, r.points, r.rejected) for r in reports] == [(17_420, 121_940, 0)] * 2
    expected = {
        k: [(ts, v) for ts, v, _ in pts]
        for k, pts in _reader_points("ett_small", shared_datasets / "ett_small").items()
    }
    assert read_all(store) == expected


def test_enerpos_energy_with_generic_flags_gives_the_readers_points(shared_datasets: Path, db: Any) -> None:
    store, writer = db
    mapping = Mapping(
        delimiter=";",
        time_format="%d/%m/%Y %H:%M",
        tz="Indian/Reunion",
        time_label="end",
        interval=timedelta(minutes=10),
        entity_kind="plant",
        entity="enerpos",
        value_columns=(("produced_energy_kWh", "energy_kwh"),),
    )
    [report] = load_paths(
        writer, store, [shared_datasets / "enerpos_pv" / "Prod_ENERPOS_Sunzil.txt"], mapping
    )
    assert (report.rows, report.points, report.nulls, report.rejected) == (94_227, 94_227, 78, 0)
    expected = _reader_points("enerpos_pv", shared_datasets / "enerpos_pv")[
        ("plant", "enerpos", "energy_kwh")
    ]
    assert read_all(store)[("plant", "enerpos", "energy_kwh")] == [(ts, v) for ts, v, _ in expected]


def test_ausgrid_with_generic_flags_rejects_only_the_dst_slots_the_reader_repairs(
    shared_datasets: Path, db: Any, tmp_path: Path
) -> None:
    store, writer = db
    mapping = Mapping(
        tz="Australia/Sydney",
        entity_kind="meter",
        entity="ausgrid-c12",
        value_columns=(("GC", "consumption_kw"), ("GG", "pv_kw")),
    )
    rejects = tmp_path / "rejects.ndjson"  # never beside the shared dataset
    [report] = load_paths(writer, store, [shared_datasets / "ausgrid_solar_home_c12"], mapping, rejects=rejects)
    assert (report.rows, report.rejected, report.points) == (17_568, 4, 2 * 17_564)
    assert len(rejects.read_text().splitlines()) == 4
    got = read_all(store)[("meter", "ausgrid-c12", "consumption_kw")]
    expected = _reader_points("ausgrid_solar_home_c12", shared_datasets / "ausgrid_solar_home_c12")
    actual_reads = [
        (ts, v) for ts, v, q in expected[("meter", "ausgrid-c12", "consumption_kw")] if q == Quality.ACTUAL
    ]
    assert got == actual_reads  # the reader drops the 2 spring-forward fillers and splits the 2 doubled slots
