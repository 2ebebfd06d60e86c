"""The scheduled jobs: estimation then validation of every series, scans of the series with an
interval of at most an hour, and both started by the server when `[quality]` and `[anomaly]` have
a schedule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
from fastapi.testclient import TestClient

from gridpulse.config import Settings
from gridpulse.jobs.anomalies import scannable, scheduled_scan
from gridpulse.jobs.quality import scheduled_quality
from gridpulse.model import Quality
from gridpulse.store.base import ReadingsQuery, Store
from tests.quality.points import grid, write


def test_scheduled_quality_estimates_first_then_checks_every_series(store: Store, settings: Settings) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    start = (now - timedelta(days=3)).replace(minute=0, second=0)
    ts = grid(start, 3 * 96)
    ts = [t for t in ts if t < now - timedelta(hours=3)]
    keep = [t for i, t in enumerate(ts) if i not in (100, 101)]
    write(store, "m-1", keep, [1.0 + (i % 7) for i in range(len(keep))])
    write(
        store, "m-2", ts, list(np.linspace(1, 2, len(ts))), interval=None
    )  # no interval: checked, not estimated
    on = settings.replace(quality={"estimate": True, "days": 4})
    report = scheduled_quality(store, on, lambda req: store.write_group([req])[0])
    assert report.series == 2
    rows = store.read(ReadingsQuery(1, start=ts[99], end=ts[103])).to_pylist()
    assert [r["quality"] for r in rows] == [0, int(Quality.ESTIMATED), int(Quality.ESTIMATED), 0]
    stored = {(r.series_id, r.rule) for r in store.list_validation()}
    assert (1, "missing_intervals") in stored and (2, "flat_line") in stored
    assert (2, "missing_intervals") not in stored  # no interval, nothing expected


def test_scheduled_scan_covers_series_of_an_hour_or_finer(store: Store, settings: Settings) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    write(store, "m-1", grid(t0, 4), [1.0] * 4)
    write(store, "d-1", grid(t0, 4, timedelta(days=1)), [1.0] * 4, interval=timedelta(days=1))
    write(store, "x-1", grid(t0, 4), [1.0] * 4, interval=None)
    assert [s.key.entity_id for s in scannable(store, settings)] == ["m-1"]
    chosen = settings.replace(anomaly={"series": ["meter:d-1/kwh"]})
    assert [s.key.entity_id for s in scannable(store, chosen)] == ["d-1"]
    assert scheduled_scan(store, settings).series == 1


def test_the_server_starts_the_jobs_when_they_have_a_schedule(make_client: Callable[..., TestClient]) -> None:
    off = make_client().get("/api/v1/status").json()["jobs"]
    assert "quality" not in off and "anomalies" not in off
    on = (
        make_client(quality={"interval_s": 3600}, anomaly={"cron": "5 * * * *"})
        .get("/api/v1/status")
        .json()["jobs"]
    )
    assert on["quality"]["interval_s"] == 3600 and on["anomalies"]["cron"] == "5 * * * *"
