"""The watched folder end to end, through the server's own scheduler and the jobs/sources API."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from gridpulse.metrics import REGISTRY


def _wait(
    client: TestClient, predicate: Callable[[dict[str, Any]], bool], what: str, url: str = "/api/v1/sources"
) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = client.get(url, params={"job": "source:drop"}).json()
        if predicate(body):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within 30 s: {body}")


def _csv(path: Path, meter: str, start: datetime, hours: int) -> None:
    lines = ["ts,meter_id,kwh"] + [
        f"{(start + timedelta(hours=h)).isoformat()},{meter},{1.0 + h}" for h in range(hours)
    ]
    path.write_text("\n".join(lines) + "\n")


def test_files_dropped_in_the_folder_load_once_and_move_to_done_or_failed(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    start = datetime(2024, 3, 1, tzinfo=UTC)
    # the files are there before the server starts: its first run sees them all
    _csv(inbox / "m1.csv", "m-1", start, 24)
    pq.write_table(
        pa.table({"ts": [start + timedelta(hours=h) for h in range(6)], "meter_id": ["m-2"] * 6, "kwh": [2.0] * 6}),
        inbox / "m2.parquet",
    )
    (inbox / "broken.csv").write_text("this is,not\na meter file,at all\n")
    (inbox / "notes.txt").write_text("left alone")
    client = make_client(
        sources=[
            {
                "name": "drop",
                "type": "folder",
                "path": str(inbox),
                "interval_s": 0.2,
                "settle_s": 0,
                "mapping": {"entity_kind": "meter"},
            }
        ],
        rollups={"refresh_interval_s": 0},
    )

    def loaded_run(b: dict[str, Any]) -> bool:
        return any(r["rows"] and r["status"] != "running" for r in b["runs"])

    _wait(client, loaded_run, "loading", url="/api/v1/jobs/runs")
    body = client.get("/api/v1/sources").json()
    assert sorted(p.name for p in (inbox / "done").iterdir() if ".rejects." not in p.name) == ["m1.csv", "m2.parquet"]
    assert [p.name for p in (inbox / "failed").iterdir()] == sorted(["broken.csv", "broken.csv.reason.txt"])
    assert (inbox / "notes.txt").exists()

    series = {s["entity_id"]: s for s in client.get("/api/v1/series").json()["series"]}
    assert {"m-1", "m-2"} <= set(series)
    runs = client.get("/api/v1/jobs/runs", params={"job": "source:drop"}).json()["runs"]
    loaded = [r for r in runs if r["rows"]]
    assert len(loaded) == 1 and loaded[0]["rows"] == 30 and loaded[0]["status"] == "partial"
    assert loaded[0]["failures"] == 1 and "broken.csv" in loaded[0]["error"]
    reason = (inbox / "failed" / "broken.csv.reason.txt").read_text().strip()
    assert reason and reason in loaded[0]["error"]

    # the same numbers as Prometheus metrics (one registry; other tests may have counted into it)
    assert (REGISTRY.get_sample_value("gridpulse_source_rows_total", {"source": "drop"}) or 0) >= 30
    assert (REGISTRY.get_sample_value("gridpulse_job_runs_total", {"job": "source:drop", "status": "partial"}) or 0) >= 1
    newest = REGISTRY.get_sample_value(
        "gridpulse_source_newest_reading_timestamp_seconds", {"source": "drop", "key": "meter:m-1/kwh"}
    )
    assert newest == (start + timedelta(hours=23)).timestamp()

    source = body["sources"][0]
    keys = {k["key"]: k for k in source["keys"]}
    assert keys["meter:m-1/kwh"]["watermark"] == (start + timedelta(hours=23)).isoformat()
    assert keys["meter:m-1/kwh"]["freshness_s"] > 0

    # the same file dropped again is loaded again, and the store keeps one copy of each point
    _csv(tmp_path / "m1.csv", "m-1", start, 24)
    (tmp_path / "m1.csv").replace(inbox / "m1.csv")  # appears whole: settle_s is 0 here
    _wait(client, lambda b: any(r["detail"].get("unchanged") for r in b["runs"]), "reloading", url="/api/v1/jobs/runs")
    again = client.get("/api/v1/jobs/runs", params={"job": "source:drop"}).json()["runs"]
    reloaded = next(r for r in again if r["detail"].get("unchanged"))
    assert reloaded["detail"]["unchanged"] == 24 and reloaded["detail"]["inserted"] == 0
    assert len(list((inbox / "done").glob("m1*.csv"))) == 2

    jobs = {j["name"]: j for j in client.get("/api/v1/jobs").json()["jobs"]}
    assert jobs["source:drop"]["interval_s"] == 0.2 and jobs["source:drop"]["scheduled"]
    assert jobs["source:drop"]["last_status"] in ("ok", "partial")
