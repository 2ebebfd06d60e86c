"""Anomaly scans of stored series: score the recent readings with each detector, turn flagged
readings into windows, store them in the anomalies table.

What `POST /api/v1/anomalies/scan`, `gridpulse anomalies scan` and the scheduled job call. A scan
judges [start, end): by default the `[anomaly] lookback_hours` before each series' newest read.
- zscore: every read against its local time-of-day slot over the `baseline_days` days before;
- residual: each complete forecast step against the stored forecast that was current for it
  (of the runs whose origin is at or before the step, the latest), scored by the median and MAD
  of the residuals of that window and the week before it.
Estimated values are never judged: they are not measurements.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from gridpulse.anomaly import Thresholds, Window, residual_scores, windows, zscores
from gridpulse.config import Settings
from gridpulse.errors import QueryError
from gridpulse.model import Anomaly, Quality, Series
from gridpulse.quality import selected
from gridpulse.store.base import Resolution, SeriesFilter, Store
from gridpulse.store.query import default_agg
from gridpulse.timeutil import zone

__all__ = [
    "DETECTORS",
    "ScanReport",
    "anomalies_answer",
    "anomaly_dict",
    "scan_series",
    "scannable",
    "scheduled_scan",
    "thresholds",
]

log = logging.getLogger(__name__)

DETECTORS = ("zscore", "residual")
#: version of the detectors' logic, part of every finding's model_version
_VERSION = 1
#: residuals from this long before a scan's window join the median and MAD it is judged by
_REFERENCE = timedelta(days=7)
_STEP_RESOLUTION = {3600: Resolution.HOUR, 1800: Resolution.MIN30}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: series whose points one zscore query reads
READ_BATCH = 100


def _us(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


def _utc(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


def _name(s: Series) -> str:
    return f"{s.key.entity_kind}:{s.key.entity_id}/{s.key.metric}"


def thresholds(settings: Settings) -> Thresholds:
    a = settings.anomaly
    return Thresholds(info=a.info_score, warning=a.warning_score, critical=a.critical_score)


@dataclass
class ScanReport:
    """What one scan did.

    Attributes:
        series: series scanned; skipped: (series, reason) left out.
        found: detector -> anomaly windows found.
        inserted, merged: new rows in the anomalies table, and stored rows the findings matched.
        anomalies: the stored anomalies the findings' windows overlap (ids, statuses, merged windows).
    """

    series: int = 0
    found: Counter[str] = field(default_factory=Counter)
    inserted: int = 0
    merged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "found": dict(sorted(self.found.items())),
            "inserted": self.inserted,
            "merged": self.merged,
            "skipped": [{"series": n, "reason": r} for n, r in self.skipped],
        }


def scannable(store: Store, settings: Settings) -> list[Series]:
    """The series the scheduled scan covers: `[anomaly] series`, or every series whose interval is
    at most an hour."""
    sel = settings.anomaly.series
    return [
        s
        for s in store.list_series()
        if (selected(sel, s.key) if sel else (s.interval is not None and s.interval <= timedelta(hours=1)))
    ]


def _finding(s: Series, w: Window, detector: str, version: str, forecast_id: int | None = None) -> Anomaly:
    return Anomaly(
        series_id=s.series_id,
        start=_utc(w.start_us),
        end=_utc(w.end_us),
        kind=w.kind,
        score=abs(w.score),
        severity=w.severity,
        detector=detector,
        model_version=version,
        value=w.value,
        expected=w.expected,
        forecast_id=forecast_id,
    )


def _zscore_batch(
    store: Store, settings: Settings, batch: Sequence[tuple[Series, datetime, datetime]]
) -> list[Anomaly]:
    """The zscore findings of several series, their points read in one query."""
    a = settings.anomaly
    lo = min(w_start for _, w_start, _ in batch) - timedelta(days=a.baseline_days + 1)
    hi = max(w_end for _, _, w_end in batch)
    frame = store.read_frame([s.series_id for s, _, _ in batch], start=lo, end=hi)
    sid = frame.column("series_id").to_numpy(zero_copy_only=False).astype(np.int64)
    ts_all = frame.column("ts").cast(pa.int64()).to_numpy().astype(np.int64)
    value_all = frame.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    quality_all = frame.column("quality").to_numpy(zero_copy_only=False)
    out: list[Anomaly] = []
    for s, w_start, w_end in batch:
        first, last = np.searchsorted(sid, s.series_id, "left"), np.searchsorted(sid, s.series_id, "right")
        ts, value, quality = ts_all[first:last], value_all[first:last], quality_all[first:last]
        keep = (
            (quality != int(Quality.ESTIMATED))
            & ~np.isnan(value)
            & (ts >= _us(w_start - timedelta(days=a.baseline_days + 1)))
            & (ts < _us(w_end))
        )
        out.extend(_zscore(settings, s, w_start, ts[keep], value[keep]))
    return out


def _zscore(
    settings: Settings, s: Series, start: datetime, ts: np.ndarray, value: np.ndarray
) -> list[Anomaly]:
    """Findings of the zscore detector from a series' reads (actual and edited, with values)."""
    a = settings.anomaly
    assert s.interval is not None
    step_s = int(s.interval.total_seconds())
    z = zscores(
        ts, value, step_s=step_s, tz=s.tz or "UTC", baseline_days=a.baseline_days, min_baseline=a.min_baseline
    )
    score = np.where(ts >= _us(start), z.score, np.nan)
    version = f"zscore/{_VERSION} baseline_days={a.baseline_days} min_baseline={a.min_baseline}"
    found = windows(ts, score, value, z.mean, step_us=step_s * 1_000_000, thresholds=thresholds(settings))
    return [_finding(s, w, "zscore", version) for w in found]


def _residual(
    store: Store, settings: Settings, s: Series, start: datetime, end: datetime
) -> tuple[list[Anomaly], str | None]:
    """Findings of the residual detector, or none and the reason."""
    ref_start = start - _REFERENCE
    runs = [
        r
        for r in store.list_forecasts([s.series_id], limit=500)
        if r.origin < end and r.origin + timedelta(seconds=r.step_s * r.steps) > ref_start
    ]
    if not runs:
        return [], "no stored forecast covers the window (make one with POST /api/v1/forecasts/run)"
    step_s = runs[0].step_s
    runs = [r for r in runs if r.step_s == step_s]
    parts_ts, parts_mean, parts_origin, parts_id = [], [], [], []
    for r in runs:
        got = store.read_forecast(s.series_id, forecast_id=r.forecast_id)
        if got is None:
            continue
        vals = got[1]
        t = vals.column("ts").cast(pa.int64()).to_numpy().astype(np.int64)
        parts_ts.append(t)
        parts_mean.append(vals.column("mean").to_numpy(zero_copy_only=False).astype(np.float64))
        parts_origin.append(np.full(len(t), _us(r.origin), np.int64))
        parts_id.append(np.full(len(t), r.forecast_id or 0, np.int64))
    f_ts, f_mean, f_origin, f_id = (np.concatenate(p) for p in (parts_ts, parts_mean, parts_origin, parts_id))
    # each step takes the run with the latest origin at or before it: the newest knowledge
    order = np.lexsort((f_origin, f_ts))
    f_ts, f_mean, f_id = f_ts[order], f_mean[order], f_id[order]
    last = np.r_[f_ts[1:] != f_ts[:-1], True]
    f_ts, f_mean, f_id = f_ts[last], f_mean[last], f_id[last]
    resolution = _STEP_RESOLUTION.get(step_s)
    if resolution is None:
        return [], f"forecast step {step_s} s is not an hour or 30 minutes"
    frame = store.read_frame(
        [s.series_id], start=ref_start, end=end, resolution=resolution, agg=default_agg(s.unit)
    )
    a_ts = frame.column("ts").cast(pa.int64()).to_numpy().astype(np.int64)
    actual = frame.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    if s.interval:  # only complete steps: a half-arrived hour is no low reading
        per_step = max(step_s // int(s.interval.total_seconds()), 1)
        actual = np.where(frame.column("count").to_numpy(zero_copy_only=False) >= per_step, actual, np.nan)
    pos = np.searchsorted(f_ts, a_ts)
    ok = pos < len(f_ts)
    ok[ok] = f_ts[pos[ok]] == a_ts[ok]
    expected = np.full(len(a_ts), np.nan)
    expected[ok] = f_mean[pos[ok]]
    used = np.zeros(len(a_ts), np.int64)
    used[ok] = f_id[pos[ok]]
    a = settings.anomaly
    scores = residual_scores(actual, expected, min_residuals=a.min_residuals)
    if scores is None:
        return [], f"fewer than {a.min_residuals} forecast steps with actuals (anomaly.min_residuals)"
    score = np.where(a_ts >= _us(start), scores.score, np.nan)
    found = windows(
        a_ts,
        score,
        actual,
        expected,
        step_us=step_s * 1_000_000,
        thresholds=thresholds(settings),
        high_kind="above_forecast",
        low_kind="below_forecast",
    )
    by_id = {r.forecast_id: r for r in runs}
    out = []
    for w in found:
        fid = int(used[np.searchsorted(a_ts, w.start_us)]) or None
        run = by_id.get(fid)
        version = f"residual/{_VERSION} {run.model} {run.model_version}" if run else f"residual/{_VERSION}"
        out.append(_finding(s, w, "residual", version, fid))
    return out, None


def scan_series(
    store: Store,
    settings: Settings,
    series: Sequence[Series],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    detectors: Sequence[str] | None = None,
) -> ScanReport:
    """Scan the series with the detectors and store what they find.

    Args:
        start, end: aware instants of the window judged; default the `[anomaly] lookback_hours`
            up to each series' newest read.
        detectors: default `[anomaly] detectors`.
    """
    chosen = list(detectors or settings.anomaly.detectors)
    for d in chosen:
        if d not in DETECTORS:
            raise QueryError(f"detector={d!r} is not one of {', '.join(DETECTORS)}")
    report = ScanReport()
    newest = store.latest([s.series_id for s in series]) if series else None
    newest_us = (
        dict(
            zip(
                newest.column("series_id").to_pylist(),
                newest.column("ts").cast(pa.int64()).to_pylist(),
                strict=True,
            )
        )
        if newest is not None
        else {}
    )
    findings: list[Anomaly] = []
    pending: list[tuple[Series, datetime, datetime]] = []  # zscore's, read a batch at a time
    for s in series:
        if s.interval is None:
            report.skipped.append((_name(s), "its interval is unknown"))
            continue
        last = newest_us.get(s.series_id)
        if last is None and end is None:
            report.skipped.append((_name(s), "no readings"))
            continue
        w_end = end or _utc(int(last or 0)) + s.interval
        w_start = start or w_end - timedelta(hours=settings.anomaly.lookback_hours)
        report.series += 1
        if "zscore" in chosen:
            pending.append((s, w_start, w_end))
            if len(pending) == READ_BATCH:
                got = _zscore_batch(store, settings, pending)
                report.found["zscore"] += len(got)
                findings.extend(got)
                pending = []
        if "residual" in chosen:
            got, why = _residual(store, settings, s, w_start, w_end)
            if why is not None and detectors is not None:
                report.skipped.append((_name(s), f"residual: {why}"))
            report.found["residual"] += len(got)
            findings.extend(got)
    if pending:
        got = _zscore_batch(store, settings, pending)
        report.found["zscore"] += len(got)
        findings.extend(got)
    if findings:
        report.inserted, report.merged = store.write_anomalies(findings)
        # as stored: with ids, statuses, and windows merged with earlier findings
        report.anomalies = store.list_anomalies(
            sorted({f.series_id for f in findings}),
            start=min(f.start for f in findings),
            end=max(f.end for f in findings),
            limit=10_000,
        )
    log.info("anomaly scan: %d series, found %s, %d new", report.series, dict(report.found), report.inserted)
    return report


def scheduled_scan(store: Store, settings: Settings) -> ScanReport:
    """The scheduled job: scan the series `scannable` picks with the configured detectors."""
    return scan_series(store, settings, scannable(store, settings))


def anomaly_dict(a: Anomaly, s: Series | None, tz: str | None = None) -> dict[str, Any]:
    """One anomaly for an answer: its series' key beside the id, instants in `tz` (default the
    series' zone)."""
    out_tz = zone(tz or (s.tz if s else "UTC") or "UTC")
    return {
        "anomaly_id": a.anomaly_id,
        "series_id": a.series_id,
        "entity_kind": s.key.entity_kind if s else None,
        "entity_id": s.key.entity_id if s else None,
        "metric": s.key.metric if s else None,
        "start": a.start.astimezone(out_tz).isoformat(),
        "end": a.end.astimezone(out_tz).isoformat(),
        "kind": a.kind,
        "score": round(a.score, 3),
        "severity": a.severity.label,
        "detector": a.detector,
        "model_version": a.model_version,
        "value": a.value,
        "expected": a.expected,
        "forecast_id": a.forecast_id,
        "status": a.status.value,
        "detected_at": a.detected_at.astimezone(out_tz).isoformat() if a.detected_at else None,
        "updated_at": a.updated_at.astimezone(out_tz).isoformat() if a.updated_at else None,
    }


def anomalies_answer(store: Store, found: Sequence[Anomaly], tz: str | None = None) -> list[dict[str, Any]]:
    """The anomalies as answer rows (anomaly_dict), each with its series' key."""
    ids = sorted({a.series_id for a in found})
    series = {s.series_id: s for s in store.list_series(SeriesFilter(series_ids=ids))} if ids else {}
    return [anomaly_dict(a, series.get(a.series_id), tz) for a in found]
