"""`gridpulse run-job`, `gridpulse jobs` and `gridpulse sources` as users run them, without a server
(in process on the store file) and through a running one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import start_server

CONFIG = """
[rollups]
refresh_interval_s = 0

[[sources]]
name = "drop"
type = "folder"
path = "{inbox}"
interval_s = 3600
settle_s = 0

[sources.mapping]
entity_kind = "meter"
"""


def _gp(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridpulse", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "m.csv").write_text("ts,meter_id,kwh\n2024-01-01T00:00:00Z,m-1,1.5\n2024-01-01T01:00:00Z,m-1,2.5\n")
    config = tmp_path / "gridpulse.toml"
    config.write_text(CONFIG.format(inbox=inbox))
    return inbox, config


def test_run_job_without_a_server_runs_in_process_and_records_the_run(tmp_path: Path) -> None:
    inbox, config = _setup(tmp_path)
    data = tmp_path / "data"
    assert _gp(tmp_path, "init", "--data-dir", str(data)).returncode == 0
    done = _gp(tmp_path, "run-job", "source:drop", "--config", str(config), "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert "source:drop: ok" in done.stdout and "2 rows" in done.stdout
    assert (inbox / "done" / "m.csv").exists()
    runs = _gp(tmp_path, "jobs", "--runs", "source:drop", "--config", str(config), "--data-dir", str(data))
    assert runs.returncode == 0 and "manual" in runs.stdout and " ok " in runs.stdout
    health = _gp(tmp_path, "sources", "--keys", "--config", str(config), "--data-dir", str(data))
    assert health.returncode == 0, health.stderr
    assert "meter:m-1/kwh" in health.stdout and "2024-01-01T01:00:00" in health.stdout
    unknown = _gp(tmp_path, "run-job", "nope", "--config", str(config), "--data-dir", str(data))
    assert unknown.returncode == 1 and "no job 'nope'; jobs: forecast-monitor, forecasts, retention, rollups, source:drop" in (
        unknown.stderr
    )


@pytest.mark.e2e
def test_jobs_and_run_job_go_through_the_running_server(tmp_path: Path) -> None:
    inbox, config = _setup(tmp_path)
    data = tmp_path / "data"
    server = start_server(data, "--config", str(config))
    try:
        listed = _gp(tmp_path, "jobs", "--config", str(config), "--data-dir", str(data))
        assert listed.returncode == 0, listed.stderr
        assert "source:drop" in listed.stdout and "every 3600 s" in listed.stdout
        ran = _gp(tmp_path, "run-job", "source:drop", "--config", str(config), "--data-dir", str(data))
        while ran.returncode == 1 and "409" in ran.stderr and "is running" in ran.stderr:  # the first scheduled run
            ran = _gp(tmp_path, "run-job", "source:drop", "--config", str(config), "--data-dir", str(data))
        assert ran.returncode == 0, ran.stderr
        assert "source:drop:" in ran.stdout and (inbox / "done" / "m.csv").exists()
    finally:
        server.stop()
