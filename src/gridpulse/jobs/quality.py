"""Validation and estimation of stored series (VEE): read each series' points, run the rules of
`gridpulse.quality` per local day, store the results; estimate missing intervals and write the
estimates through the single writer.

What `POST /api/v1/quality/check|estimate`, `gridpulse quality check|estimate` and the scheduled
job call. Days are local to each series' zone; by default the `[quality] days` days ending today.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from gridpulse.analytics.periods import local_midnights_us
from gridpulse.config import Settings
from gridpulse.errors import QueryError
from gridpulse.model import KEYED_BATCH_SCHEMA, Quality, Series, SeriesMeta, ValidationResult, WriteResult
from gridpulse.quality import (
    RuleSettings,
    SeriesReads,
    conflicting_ts,
    estimate_gaps,
    rule_for,
    selected,
    validate_series,
)
from gridpulse.store.base import SeriesFilter, Store, WriteRequest
from gridpulse.timeutil import zone

__all__ = [
    "CONTEXT_DAYS",
    "READ_BATCH",
    "CheckReport",
    "EstimateReport",
    "check_series",
    "estimate_series",
    "parse_day",
    "quality_rows",
    "rule_settings",
    "scheduled_quality",
]

log = logging.getLogger(__name__)

#: days read before the first checked day: the neighbours of a flat line or spike at midnight,
#: and where a series' first read marks its start
CONTEXT_DAYS = 7
#: series read in one query by a check
READ_BATCH = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

#: writes a request and returns its result once committed (the app's writer, or the store itself
#: when the CLI holds the file)
Submit = Callable[[WriteRequest], WriteResult]


def _us(t: datetime) -> int:
    return (t - _EPOCH) // _US


def _utc(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


def _name(s: Series) -> str:
    return f"{s.key.entity_kind}:{s.key.entity_id}/{s.key.metric}"


def parse_day(text: str | None, param: str) -> date | None:
    """A local date from ISO text (2024-03-31), None for None.

    Raises:
        QueryError: not a date, naming the parameter.
    """
    if text is None or text == "":
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise QueryError(f"{param}={text!r} is not a date such as 2024-03-31") from None


def rule_settings(settings: Settings, s: Series) -> RuleSettings:
    """The `[quality]` thresholds that apply to series `s` (limits and allow_negative by selector)."""
    q = settings.quality
    return RuleSettings(
        stale_after_s=q.stale_after_s,
        flat_line_intervals=q.flat_line_intervals,
        flat_line_zero=q.flat_line_zero,
        spike_score=q.spike_score,
        spike_window=q.spike_window,
        allow_negative=selected(q.allow_negative, s.key),
        min_value=rule_for(q.min_value, s.key),
        max_value=rule_for(q.max_value, s.key),
    )


def _days(
    s: Series, settings: Settings, first: date | None, last: date | None, now: datetime
) -> tuple[date, date]:
    """The local days to check: as given, else `[quality] days` ending today in the series' zone."""
    today = now.astimezone(zone(s.tz or "UTC")).date()
    last_day = last or (today if first is None else max(first, today))
    first_day = first or last_day - timedelta(days=settings.quality.days - 1)
    if last_day < first_day:
        raise QueryError(f"end day {last_day} is before start day {first_day}")
    if (last_day - first_day).days > 366:
        raise QueryError(f"{first_day}..{last_day} is more than a year of days; check a year at a time")
    return first_day, last_day


def _midnight(day: date, tz: str) -> datetime:
    """The UTC instant local `day` starts in `tz` (the first instant after a skipped midnight)."""
    ordinal = day.toordinal() - date(1970, 1, 1).toordinal()
    return _utc(int(local_midnights_us(np.array([ordinal], np.int64), tz)[0]))


def _split(table: pa.Table, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Row range of each series in a table ordered by series_id."""
    sid = table.column("series_id").to_numpy(zero_copy_only=False).astype(np.int64)
    want = np.asarray(sorted(ids), np.int64)
    lo = np.searchsorted(sid, want, side="left")
    hi = np.searchsorted(sid, want, side="right")
    return {int(i): (int(a), int(b)) for i, a, b in zip(want.tolist(), lo.tolist(), hi.tolist(), strict=True)}


def _reads_of(
    store: Store, series: Sequence[Series], start: datetime, end: datetime
) -> dict[int, SeriesReads]:
    """Each series' points over [start, end), from one read."""
    frame = store.read_frame([s.series_id for s in series], start=start, end=end)
    ts = frame.column("ts").cast(pa.int64()).to_numpy().astype(np.int64)
    value = frame.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    quality = frame.column("quality").to_numpy(zero_copy_only=False).astype(np.int8)
    return {
        sid: SeriesReads(ts[a:b], value[a:b], quality[a:b])
        for sid, (a, b) in _split(frame, [s.series_id for s in series]).items()
    }


def _superseded_of(
    store: Store, series: Sequence[Series], start: datetime, end: datetime
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each series' superseded versions over [start, end): instants [µs] and qualities."""
    old = store.read_superseded([s.series_id for s in series], start=start, end=end)
    ts = old.column("ts").cast(pa.int64()).to_numpy().astype(np.int64)
    quality = old.column("quality").to_numpy(zero_copy_only=False).astype(np.int8)
    return {
        sid: (ts[a:b], quality[a:b]) for sid, (a, b) in _split(old, [s.series_id for s in series]).items()
    }


@dataclass
class CheckReport:
    """What one validation run did.

    Attributes:
        series: series checked.
        first_day, last_day: the local days checked (of the first series; zones may differ).
        results: ValidationResult rows as stored (by series, day and rule).
        failures: rule -> (series, day) results that failed.
    """

    series: int = 0
    first_day: date | None = None
    last_day: date | None = None
    results: list[ValidationResult] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "results": len(self.results),
            "failures": dict(sorted(self.failures.items())),
        }


def check_series(
    store: Store,
    settings: Settings,
    series: Sequence[Series],
    *,
    first_day: date | None = None,
    last_day: date | None = None,
    now: datetime | None = None,
) -> CheckReport:
    """Run every rule on each series for each local day and store the results (replacing what was
    stored for those series and days).

    Args:
        first_day, last_day: local days, both included; default `[quality] days` ending today.
        now: the current instant (tests pin it); default the clock.

    Raises:
        QueryError: end before start, or more than a year of days.
    """
    now = now or datetime.now(UTC)
    report = CheckReport()
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
    by_days: dict[tuple[date, date], list[ValidationResult]] = {}
    ids_by_days: dict[tuple[date, date], list[int]] = {}
    # series of one zone and days are read together, a batch at a time: one query per batch, not
    # three per series (1,000 meters x 2 days: 25 s one by one)
    groups: dict[tuple[str, date, date], list[Series]] = {}
    for s in series:
        tz = s.tz or "UTC"
        groups.setdefault((tz, *_days(s, settings, first_day, last_day, now)), []).append(s)
    for (tz, d0, d1), members in groups.items():
        start, end = _midnight(d0, tz), _midnight(d1 + timedelta(days=1), tz)
        for i in range(0, len(members), READ_BATCH):
            batch = members[i : i + READ_BATCH]
            reads = _reads_of(store, batch, start - timedelta(days=CONTEXT_DAYS), end)
            old = _superseded_of(store, batch, start, end)
            for s in batch:
                results = _validate(
                    s,
                    reads[s.series_id],
                    d0,
                    d1,
                    tz,
                    now,
                    newest_us.get(s.series_id),
                    rule_settings(settings, s),
                    conflicting_ts(reads[s.series_id], *old[s.series_id]),
                )
                by_days.setdefault((d0, d1), []).extend(results)
                ids_by_days.setdefault((d0, d1), []).append(s.series_id)
                report.series += 1
                if report.first_day is None:
                    report.first_day, report.last_day = d0, d1
    for (d0, d1), results in by_days.items():
        ids = ids_by_days[(d0, d1)]
        store.write_validation(ids, d0, d1, results)
        # as stored (checked_at set, in the store's order): what GET /api/v1/quality answers later
        report.results.extend(store.list_validation(ids, start_day=d0, end_day=d1))
        report.failures.update(r.rule for r in results if r.status == "fail")
    log.info(
        "quality: %d series checked, %d results, failures %s",
        report.series,
        len(report.results),
        dict(report.failures),
    )
    return report


def _validate(
    s: Series,
    reads: SeriesReads,
    d0: date,
    d1: date,
    tz: str,
    now: datetime,
    newest_us: int | None,
    rules: RuleSettings,
    conflicts: np.ndarray,
) -> list[ValidationResult]:
    return validate_series(
        s.series_id,
        reads,
        interval_s=int(s.interval.total_seconds()) if s.interval else None,
        tz=tz,
        first_day=d0,
        last_day=d1,
        now_us=_us(now),
        newest_us=newest_us,
        rules=rules,
        conflicts_us=conflicts,
    )


@dataclass
class EstimateReport:
    """What one estimation run did.

    Attributes:
        series: series looked at; skipped: (series, reason) left out (no interval).
        estimated: estimates stored (new, or changed from an earlier estimate).
        unchanged: estimates dropped by the write path: identical to a stored estimate, or for an
            interval that holds a read (an actual null read, say).
        unestimated: missing intervals left missing (a long gap with no like-day history).
        methods: "linear" / "profile" -> estimates made with it.
    """

    series: int = 0
    estimated: int = 0
    unchanged: int = 0
    unestimated: int = 0
    methods: Counter[str] = field(default_factory=Counter)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "estimated": self.estimated,
            "unchanged": self.unchanged,
            "unestimated": self.unestimated,
            "methods": dict(sorted(self.methods.items())),
            "skipped": [{"series": n, "reason": r} for n, r in self.skipped],
        }


def estimate_series(
    store: Store,
    settings: Settings,
    series: Sequence[Series],
    submit: Submit,
    *,
    first_day: date | None = None,
    last_day: date | None = None,
    now: datetime | None = None,
) -> EstimateReport:
    """Estimate the missing intervals of each series on the local days and write the estimates
    (quality ESTIMATED) through `submit`, one request per batch of series.

    Only intervals before now and with a read after them are estimated; the write path drops an
    estimate for any interval that holds a read.

    Raises:
        QueryError: end before start, or more than a year of days.
    """
    now = now or datetime.now(UTC)
    q = settings.quality
    report = EstimateReport()
    groups: dict[tuple[str, date, date], list[Series]] = {}
    for s in series:
        if not s.interval:
            report.skipped.append((_name(s), "its interval is unknown, so nothing is missing"))
            continue
        tz = s.tz or "UTC"
        groups.setdefault((tz, *_days(s, settings, first_day, last_day, now)), []).append(s)
    history = timedelta(weeks=q.profile_weeks, days=1)
    for (tz, d0, d1), members in groups.items():
        start, end = _midnight(d0, tz), min(_midnight(d1 + timedelta(days=1), tz), now)
        for i in range(0, len(members), READ_BATCH):
            batch = members[i : i + READ_BATCH]
            # a day past the range: the read that closes a gap at its end
            reads = _reads_of(store, batch, start - history, end + timedelta(days=1))
            tables = []
            for s in batch:
                assert s.interval is not None
                est = estimate_gaps(
                    reads[s.series_id],
                    interval_s=int(s.interval.total_seconds()),
                    tz=tz,
                    start_us=_us(start),
                    end_us=_us(end),
                    linear_max_intervals=q.linear_max_intervals,
                    profile_weeks=q.profile_weeks,
                )
                report.series += 1
                report.unestimated += est.unestimated
                if len(est.ts_us):
                    report.methods.update(est.method.tolist())
                    tables.append(_estimate_rows(s, est.ts_us, est.value))
            if tables:
                # one request per batch of series: the writer takes many series in one commit
                rows = pa.concat_tables(tables)
                result = submit(
                    WriteRequest(batches=[rows], meta_for=lambda _k: SeriesMeta(), rows=rows.num_rows)
                )
                report.estimated += result.inserted + result.revised
                report.unchanged += result.unchanged
    log.info(
        "quality: %d estimates written, %d unchanged, %d intervals left missing",
        report.estimated,
        report.unchanged,
        report.unestimated,
    )
    return report


def _estimate_rows(s: Series, ts_us: np.ndarray, value: np.ndarray) -> pa.Table:
    """Estimates of one series as a keyed batch with quality ESTIMATED."""
    n = len(ts_us)
    return pa.table(
        {
            "entity_kind": pa.array([s.key.entity_kind] * n, pa.string()),
            "entity_id": pa.array([s.key.entity_id] * n, pa.string()),
            "metric": pa.array([s.key.metric] * n, pa.string()),
            "ts": pa.array(ts_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "value": pa.array(value, pa.float64()),
            "quality": pa.array(np.full(n, int(Quality.ESTIMATED), np.int8), pa.int8()),
        },
        schema=KEYED_BATCH_SCHEMA,
    )


def scheduled_quality(store: Store, settings: Settings, submit: Submit) -> CheckReport:
    """The scheduled job: estimate (when `[quality] estimate`) and validate every series."""
    series = store.list_series()
    if settings.quality.estimate:
        estimate_series(store, settings, series, submit)
    return check_series(store, settings, series)


def quality_rows(
    store: Store, results: Sequence[ValidationResult], tz: str | None = None
) -> list[dict[str, Any]]:
    """ValidationResult rows for an answer: the series' key beside its id, instants as ISO 8601 in
    `tz` (default each series' zone)."""
    names = {
        s.series_id: s
        for s in store.list_series(SeriesFilter(series_ids=sorted({r.series_id for r in results})))
    }
    out = []
    for r in results:
        s = names.get(r.series_id)
        out_tz = zone(tz or (s.tz if s else "UTC") or "UTC")
        out.append(
            {
                "series_id": r.series_id,
                "entity_kind": s.key.entity_kind if s else None,
                "entity_id": s.key.entity_id if s else None,
                "metric": s.key.metric if s else None,
                "day": r.day.isoformat(),
                "rule": r.rule,
                "status": r.status,
                "count": r.count,
                "expected": r.expected,
                "first_ts": r.first_ts.astimezone(out_tz).isoformat() if r.first_ts else None,
                "detail": r.detail,
                "checked_at": r.checked_at.astimezone(out_tz).isoformat() if r.checked_at else None,
            }
        )
    return out
