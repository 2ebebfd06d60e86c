"""Scans of stored series: findings land in the anomalies table, re-scans add nothing new and keep
the status people gave, and the store's filters (since, severity, status) answer alert rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from gridpulse.config import Settings
from gridpulse.jobs.anomalies import scan_series
from gridpulse.model import FORECAST_VALUES_SCHEMA, AnomalyStatus, ForecastRun, Quality, Severity
from gridpulse.store.base import Store
from tests.quality.points import grid, write

T0 = datetime(2024, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)


def _load(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    slot = np.arange(n) % 96
    return 50 + 20 * np.sin(2 * np.pi * slot / 96) + rng.normal(0, 1, n)


def _fleet(store: Store, days: int = 35) -> tuple[list[datetime], np.ndarray]:
    ts = grid(T0, days * 96)
    value = _load(len(ts))
    value[-96 + 40] += 30  # a spike on the last day at 10:00
    write(store, "m-1", ts, value.tolist())
    return ts, value


def test_zscore_scan_stores_the_spike_and_a_rescan_adds_nothing(store: Store, settings: Settings) -> None:
    ts, _ = _fleet(store)
    (s,) = store.list_series()
    report = scan_series(store, settings, [s], detectors=["zscore"])
    spikes = [a for a in report.anomalies if a.severity >= Severity.WARNING]
    assert [(a.start, a.kind, a.detector) for a in spikes] == [(ts[-96 + 40], "high", "zscore")]
    assert spikes[0].end == ts[-96 + 40] + timedelta(minutes=15)
    assert spikes[0].model_version.startswith("zscore/1 baseline_days=28")
    assert report.inserted == len(report.anomalies)
    stored = store.list_anomalies()
    again = scan_series(store, settings, [s], detectors=["zscore"])
    assert (again.inserted, again.merged) == (0, len(stored))
    assert len(store.list_anomalies()) == len(stored)


def test_a_rescan_keeps_an_acknowledged_anomaly_acknowledged(store: Store, settings: Settings) -> None:
    _fleet(store)
    (s,) = store.list_series()
    scan_series(store, settings, [s], detectors=["zscore"])
    top = max(store.list_anomalies(), key=lambda a: a.score)
    assert top.anomaly_id is not None
    acked = store.set_anomaly_status(top.anomaly_id, AnomalyStatus.ACKNOWLEDGED)
    assert acked.status is AnomalyStatus.ACKNOWLEDGED
    scan_series(store, settings, [s], detectors=["zscore"])
    (same,) = [a for a in store.list_anomalies() if a.anomaly_id == top.anomaly_id]
    assert same.status is AnomalyStatus.ACKNOWLEDGED
    assert store.list_anomalies(status=[AnomalyStatus.OPEN]) == [
        a for a in store.list_anomalies() if a.anomaly_id != top.anomaly_id
    ]


def test_estimates_are_never_judged(store: Store, settings: Settings) -> None:
    ts = grid(T0, 35 * 96)
    value = _load(len(ts))
    gap = len(ts) - 96 + 60
    write(store, "m-1", ts[:gap] + ts[gap + 1 :], np.r_[value[:gap], value[gap + 1 :]].tolist())
    write(store, "m-1", [ts[gap]], [500.0], quality=Quality.ESTIMATED)  # far off, but an estimate
    (s,) = store.list_series()
    found = scan_series(store, settings, [s], detectors=["zscore"]).anomalies
    assert all(not (a.start <= ts[gap] < a.end) for a in found)
    # the same value as a read is flagged
    write(store, "m-1", [ts[gap]], [500.0])
    found = scan_series(store, settings, [s], detectors=["zscore"]).anomalies
    assert any(a.start <= ts[gap] < a.end and a.severity is Severity.CRITICAL for a in found)


def test_filters_since_min_severity_and_detector(store: Store, settings: Settings) -> None:
    _fleet(store)
    (s,) = store.list_series()
    before = datetime.now(UTC)
    scan_series(store, settings, [s], detectors=["zscore"])
    everything = store.list_anomalies()
    assert everything and store.list_anomalies(since=before) == everything
    assert store.list_anomalies(since=datetime.now(UTC) + timedelta(seconds=1)) == []
    warn = store.list_anomalies(min_severity=Severity.WARNING)
    assert warn == [a for a in everything if a.severity >= Severity.WARNING]
    assert store.list_anomalies(detector="residual") == []
    with pytest.raises(Exception, match="no zone offset"):
        store.list_anomalies(since=datetime(2024, 1, 1))


def test_residual_scan_judges_actuals_against_the_forecast_current_for_them(
    store: Store, settings: Settings
) -> None:
    # hourly kWh: the actuals equal the forecast +-1 except one hour 40 kWh above it
    hours = 24 * 10
    ts = grid(T0, hours, H)
    expected = 100 + 30 * np.sin(2 * np.pi * np.arange(hours) / 24)
    actual = expected + np.where(np.arange(hours) % 2 == 0, 1.0, -1.0)
    actual[-10] += 40
    write(store, "m-1", ts, actual.tolist(), interval=H)
    (s,) = store.list_series()
    origin = T0 + timedelta(days=3)
    steps = hours - 72
    values = pa.table(
        {
            "ts": pa.array(ts[72:], pa.timestamp("us", tz="UTC")),
            "mean": expected[72:],
            "lo80": expected[72:] - 5,
            "hi80": expected[72:] + 5,
            "lo95": expected[72:] - 8,
            "hi95": expected[72:] + 8,
        },
        schema=FORECAST_VALUES_SCHEMA,
    )
    run = store.write_forecast(
        ForecastRun(s.series_id, "seasonal-naive", "test 1", 3600, steps, origin, T0, origin), values
    )
    report = scan_series(store, settings, [s], detectors=["residual"])
    (a,) = report.anomalies
    assert (a.start, a.end, a.kind, a.detector, a.forecast_id) == (
        ts[-10],
        ts[-10] + H,
        "above_forecast",
        "residual",
        run.forecast_id,
    )
    assert a.severity is Severity.CRITICAL
    assert a.expected == pytest.approx(expected[-10]) and a.value == pytest.approx(actual[-10])
    assert a.model_version == "residual/1 seasonal-naive test 1"


def test_residual_scan_without_a_forecast_says_so(store: Store, settings: Settings) -> None:
    _fleet(store, days=3)
    (s,) = store.list_series()
    report = scan_series(store, settings, [s], detectors=["residual"])
    assert report.anomalies == [] and "no stored forecast" in report.skipped[0][1]
