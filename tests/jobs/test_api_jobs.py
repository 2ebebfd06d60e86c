"""GET /api/v1/jobs, GET /api/v1/jobs/runs and POST /api/v1/jobs/{name}/run on the in-process app."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient


def test_jobs_are_listed_run_on_demand_and_recorded(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rollups={"refresh_interval_s": 3600}, retention={"raw_days": {"*": 30}, "interval_s": 3600})
    jobs = {j["name"]: j for j in client.get("/api/v1/jobs").json()["jobs"]}
    assert {"rollups", "retention"} <= set(jobs)
    assert jobs["rollups"]["interval_s"] == 3600 and jobs["rollups"]["next_run_at"] and jobs["rollups"]["scheduled"]

    resp = client.post("/api/v1/jobs/rollups/run")
    while resp.status_code == 409:  # its first scheduled run is going: runs never overlap
        time.sleep(0.05)
        resp = client.post("/api/v1/jobs/rollups/run")
    run = resp.json()["run"]
    assert run["job"] == "rollups" and run["cause"] == "manual" and run["status"] == "ok"
    assert run["run_id"] is not None and run["duration_s"] >= 0 and run["rows"] == 0

    runs = client.get("/api/v1/jobs/runs", params={"job": "rollups"}).json()["runs"]
    assert runs[0]["run_id"] == run["run_id"]
    jobs = {j["name"]: j for j in client.get("/api/v1/jobs").json()["jobs"]}
    assert jobs["rollups"]["last_status"] == "ok" and jobs["rollups"]["last_run"]["run_id"] == run["run_id"]


def test_unknown_jobs_and_statuses_are_refused_naming_what_exists(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rollups={"refresh_interval_s": 3600})
    resp = client.post("/api/v1/jobs/nope/run")
    assert resp.status_code == 404 and "no job 'nope'; jobs: " in resp.json()["error"] and "rollups" in resp.json()["error"]
    resp = client.get("/api/v1/jobs/runs", params={"status": "exploded"})
    assert resp.status_code == 400 and "running, ok, partial, failed, interrupted" in resp.json()["error"]
