"""Keeping the store in shape: rollup refresh and retention expiry, from Settings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gridpulse.config import Settings
from gridpulse.store.base import Store
from gridpulse.store.retention import ExpiryReport, RetentionPolicy, plan_expiry

__all__ = ["expire_old_data", "expiry_rows", "refresh_rollups", "retention_policy"]


def refresh_rollups(store: Store) -> Any:
    """Recompute the rollup buckets made stale since the last refresh (see store/duckdb/rollups.py)."""
    return store.refresh_rollups()


def retention_policy(settings: Settings) -> RetentionPolicy:
    r = settings.retention
    return RetentionPolicy(raw_days=r.raw_days, rollup_days=r.rollup_days, forecast_days=r.forecast_days)


def expire_old_data(
    store: Store, settings: Settings, *, dry_run: bool = False, now: datetime | None = None
) -> ExpiryReport:
    """Apply `[retention]`: raw points, rollups and stored forecasts older than their rules allow
    go (or, dry run, are counted). Series no rule limits are untouched."""
    policy = retention_policy(settings)
    plan = plan_expiry(store.list_series(), policy, now or datetime.now(UTC))
    return store.expire(plan, dry_run=dry_run)


def expiry_rows(store: Store, report: ExpiryReport) -> list[dict[str, Any]]:
    """One row per series the report touched: its key and what went (or would go)."""
    ids = sorted(set(report.points) | set(report.history) | set(report.rollup_rows))
    keys = {s.series_id: s.key for s in store.list_series()} if ids else {}
    return [
        {
            "series_id": i,
            "entity_kind": keys[i].entity_kind,
            "entity_id": keys[i].entity_id,
            "metric": keys[i].metric,
            "points": report.points.get(i, 0),
            "superseded_versions": report.history.get(i, 0),
            "rollup_rows": report.rollup_rows.get(i, 0),
        }
        for i in ids
        if i in keys
    ]
