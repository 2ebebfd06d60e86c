"""POST /api/v1/rollups/refresh and /api/v1/retention/run: the scheduled maintenance, on demand."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from gridpulse.api.deps import state
from gridpulse.api.responses import JSON
from gridpulse.jobs.maintenance import expire_old_data, expiry_rows, refresh_rollups

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["maintenance"])


@router.post("/rollups/refresh", summary="Refresh the rollup buckets made stale by recent writes")
async def rollups_refresh(request: Request) -> JSON:
    st = state(request)
    st.auth.check(request, "write")
    stats = await run_in_threadpool(refresh_rollups, st.store)
    return JSON({"status": "ok", **asdict(stats)})


@router.post("/retention/run", summary="Expire raw points, rollups and stored forecasts older than [retention] allows")
async def retention_run(
    request: Request, dry_run: bool = Query(False, description="count what would go, delete nothing")
) -> JSON:
    st = state(request)
    st.auth.check(request, "write")
    report = await run_in_threadpool(expire_old_data, st.store, st.settings, dry_run=dry_run)
    rows = await run_in_threadpool(expiry_rows, st.store, report)
    return JSON(
        {
            "status": "ok",
            "dry_run": report.dry_run,
            "points": sum(report.points.values()),
            "superseded_versions": sum(report.history.values()),
            "rollup_rows": sum(report.rollup_rows.values()),
            "forecast_runs": report.forecast_runs,
            "forecast_values": report.forecast_values,
            "series": rows,
        }
    )
