"""The scheduled jobs and their history.

- GET /api/v1/jobs: each job's schedule, next run, last run and status, failure streak;
- GET /api/v1/jobs/runs?job=&status=&limit=: the job history, newest first (rows, rejects,
  failures, duration and error of each run);
- POST /api/v1/jobs/{name}/run: run a job now and answer with its run (409 while it runs).
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from gridpulse.api.deps import state
from gridpulse.api.responses import JSON
from gridpulse.jobs.periodic import JobBusy
from gridpulse.jobs.scheduler import find_job, job_table

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["jobs"])


@router.get("/jobs", summary="Scheduled jobs: schedule, next run, last run and its status")
async def list_jobs(request: Request) -> JSON:
    st = state(request)
    st.auth.check(request, "read")
    rows = await run_in_threadpool(job_table, st.jobs, st.store)
    return JSON({"jobs": rows})


@router.get("/jobs/runs", summary="The job history, newest first")
async def list_runs(
    request: Request,
    job: str | None = Query(None, description="only this job, e.g. source:eniscope"),
    status: str | None = Query(None, description="running, ok, partial, failed or interrupted"),
    limit: int = Query(100, ge=0, le=10_000, description="at most this many runs"),
) -> JSON:
    st = state(request)
    st.auth.check(request, "read")
    runs = await run_in_threadpool(st.store.list_job_runs, job, status=status, limit=limit)
    return JSON({"runs": [r.as_dict() for r in runs]})


@router.post("/jobs/{name}/run", summary="Run a job now; answers with the run once it ended")
async def run_job(request: Request, name: str) -> JSON:
    st = state(request)
    st.auth.check(request, "write")
    job = find_job(st.jobs, name)
    try:
        run = await run_in_threadpool(job.run_now)
    except JobBusy as exc:
        return JSON({"error": str(exc)}, status_code=409)
    return JSON({"run": run.as_dict()})
