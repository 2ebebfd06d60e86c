"""`gridpulse jobs` and `gridpulse run-job NAME`: the scheduled jobs, their history, one run now.

Through the running server when one holds the data folder (it knows every job and its next
run); else on the store file: the history as recorded, and run-job runs rollups, retention,
forecasts or a `[[sources]]` poller in this process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from gridpulse.cli.context import client_for, make_settings, open_local_store, raise_for_api
from gridpulse.cli.options import DATA_DIR, TOKEN, config_option
from gridpulse.errors import GridpulseError

__all__ = ["jobs", "run_job"]

console = Console()

_CONFIG = config_option()


def _duration(run: dict[str, Any] | None) -> str:
    if not run or run.get("duration_s") is None:
        return ""
    return f"{run['duration_s']:.2f} s"


def _count(value: Any) -> str:
    return "" if value is None else f"{value:,}"


def jobs(
    runs: str | None = typer.Option(None, "--runs", help="Show the history of this job instead (e.g. source:eniscope)."),
    limit: int = typer.Option(20, "--limit", help="Runs shown with --runs."),
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """List the scheduled jobs (schedule, next run, last run and its status), or one job's runs."""
    settings = make_settings(config, data_dir)
    client = client_for(settings, token)
    if client is not None:
        with client:
            if runs is not None:
                resp = client.get("/api/v1/jobs/runs", params={"job": runs, "limit": limit})
                raise_for_api(resp)
                rows = resp.json()["runs"]
            else:
                resp = client.get("/api/v1/jobs")
                raise_for_api(resp)
                rows = resp.json()["jobs"]
    else:
        from gridpulse.jobs.scheduler import job_table

        store = open_local_store(settings)
        try:
            rows = [r.as_dict() for r in store.list_job_runs(runs, limit=limit)] if runs is not None else job_table({}, store)
        finally:
            store.close()
    if runs is not None:
        table = Table(title=f"runs of {runs}")
        for col in ("started", "cause", "status", "duration", "rows", "rejects", "failures", "error"):
            table.add_column(col, justify="right" if col in ("duration", "rows", "rejects", "failures") else "left")
        for r in rows:
            table.add_row(
                r["started_at"][:19], r["cause"], r["status"], _duration(r), _count(r["rows"]),
                _count(r["rejects"]), _count(r["failures"]), (r["error"] or "")[:80],
            )
        console.print(table if rows else f"no runs of {runs} recorded")
        return
    if not rows:
        console.print("no jobs scheduled or recorded (is the server running? `gridpulse serve`)")
        return
    table = Table(title="jobs" + ("" if client is not None else " (from the history; no server runs)"))
    for col in ("job", "schedule", "next run", "last run", "status", "duration", "rows", "failed in a row"):
        table.add_column(col, justify="right" if col in ("duration", "rows", "failed in a row") else "left")
    for j in rows:
        last = j["last_run"]
        schedule = j["cron"] or (f"every {j['interval_s']:g} s" if j["interval_s"] else "-")
        table.add_row(
            j["name"], schedule, (j["next_run_at"] or "")[:19], (last["started_at"][:19] if last else "never"),
            j["last_status"] or "", _duration(last), _count(last["rows"] if last else None),
            str(j["consecutive_failures"] or ""),
        )
    console.print(table)


def run_job(
    name: str = typer.Argument(..., help="The job, as `gridpulse jobs` lists it: rollups, source:eniscope..."),
    data_dir: Path | None = DATA_DIR,
    config: Path | None = _CONFIG,
    token: str | None = TOKEN,
) -> None:
    """Run one job now and print how it went (recorded in the job history like a scheduled run)."""
    settings = make_settings(config, data_dir)
    client = client_for(settings, token)
    if client is not None:
        with client:
            resp = client.post(f"/api/v1/jobs/{name}/run")
            raise_for_api(resp)
            run = resp.json()["run"]
    else:
        from datetime import UTC, datetime

        from gridpulse.ingest.writer import Writer
        from gridpulse.jobs.history import JobHistory
        from gridpulse.jobs.scheduler import find_job, local_jobs

        store = open_local_store(settings, read_only=False)
        writer = Writer(store).start()
        try:
            JobHistory(store).interrupt_stale(datetime.now(UTC))
            table = local_jobs(settings, store, writer)
            job = find_job(table, name)
            job.attach(JobHistory(store, keep_per_job=settings.jobs.keep_runs), job=name)
            run = job.run_now().as_dict()
        finally:
            writer.stop()
            store.close()
    console.print(
        f"{run['job']}: {run['status']} in {_duration(run)}"
        + (f", {run['rows']:,} rows" if run["rows"] is not None else "")
        + (f", {run['rejects']:,} rejected" if run["rejects"] else "")
        + (f", {run['failures']:,} failed parts" if run["failures"] else "")
    )
    if run["error"]:
        console.print(f"error: {run['error']}", markup=False)
    if run["status"] == "failed":
        raise GridpulseError(f"job {name} failed: {run['error']}")
