"""The data model shared by every layer: series keys, series metadata, quality flags, batch schemas.

A series is an entity (meter, plant, device, channel, feeder, or any other kind) plus a metric.
Points are narrow: (series_id, ts, value, version, inserted_at, quality). `ts` is always a UTC
instant; zones are applied only where a query asks for local buckets.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import pyarrow as pa

__all__ = [
    "ENCODED_KEYED_BATCH_SCHEMA",
    "FORECAST_VALUES_SCHEMA",
    "KEYED_BATCH_SCHEMA",
    "POINTS_SCHEMA",
    "TS_TYPE",
    "Anomaly",
    "AnomalyStatus",
    "ForecastCheck",
    "ForecastRun",
    "Quality",
    "Series",
    "SeriesKey",
    "SeriesMeta",
    "Severity",
    "ValidationResult",
    "WriteResult",
]

#: Every instant in gridpulse: microseconds, UTC.
TS_TYPE = pa.timestamp("us", tz="UTC")


class Quality(enum.IntEnum):
    """How a stored value came to be. Estimates never overwrite an actual read."""

    ACTUAL = 0
    ESTIMATED = 1
    EDITED = 2


class SeriesKey(NamedTuple):
    """The canonical identity of a series: (entity kind, entity id, metric).

    Example: SeriesKey("meter", "m-1", "kwh"), SeriesKey("device", "<uuid>", "StateOfChargePercentage").
    A named tuple, not a dataclass: the write path looks keys up in dicts for every batch, and
    tuple hashing and equality run in C (about 10x faster than a frozen dataclass's).
    """

    entity_kind: str
    entity_id: str
    metric: str

    def __str__(self) -> str:
        return f"{self.entity_kind}:{self.entity_id}/{self.metric}"


@dataclass(frozen=True)
class SeriesMeta:
    """What a route or source knows about the series it creates.

    Attributes:
        unit: physical unit of the values, e.g. "kWh", "MW", "%". Empty when unknown.
        interval: nominal spacing of the points, None when irregular or unknown.
        tz: IANA zone of the site, used for local-day buckets when a query names no zone.
        tags: free key/value labels.
        organisation_id, site_id, device_id, channel_id: place in the hierarchy, when known.
    """

    unit: str = ""
    interval: timedelta | None = None
    tz: str = "UTC"
    tags: dict[str, str] = field(default_factory=dict)
    organisation_id: str | None = None
    site_id: str | None = None
    device_id: str | None = None
    channel_id: str | None = None


@dataclass(frozen=True)
class Series:
    """One row of the series catalogue.

    Attributes:
        series_id: small integer id used in the points table.
        key: the canonical (entity kind, entity id, metric).
        unit, interval, tz, tags: as in SeriesMeta.
        organisation_id, site_id, device_id, channel_id: the series' place in the hierarchy,
            None where unknown.
    """

    series_id: int
    key: SeriesKey
    unit: str
    interval: timedelta | None
    tz: str
    tags: dict[str, str]
    organisation_id: str | None = None
    site_id: str | None = None
    device_id: str | None = None
    channel_id: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "series_id": self.series_id,
            "entity_kind": self.key.entity_kind,
            "entity_id": self.key.entity_id,
            "metric": self.key.metric,
            "unit": self.unit,
            "interval_s": int(self.interval.total_seconds()) if self.interval else None,
            "tz": self.tz,
            "tags": self.tags,
            "organisation_id": self.organisation_id,
            "site_id": self.site_id,
            "device_id": self.device_id,
            "channel_id": self.channel_id,
        }


#: A parsed, validated batch before series resolution: one row per point, keyed by name.
KEYED_BATCH_SCHEMA = pa.schema(
    [
        ("entity_kind", pa.string()),
        ("entity_id", pa.string()),
        ("metric", pa.string()),
        ("ts", TS_TYPE),
        ("value", pa.float64()),
        ("quality", pa.int8()),
    ]
)

_KEY_DICT = pa.dictionary(pa.int32(), pa.string())

#: KEYED_BATCH_SCHEMA with the three key columns dictionary-encoded, as the line-protocol parser
#: makes them (it knows each row's key already); the store takes batches of either schema.
ENCODED_KEYED_BATCH_SCHEMA = pa.schema(
    [
        ("entity_kind", _KEY_DICT),
        ("entity_id", _KEY_DICT),
        ("metric", _KEY_DICT),
        ("ts", TS_TYPE),
        ("value", pa.float64()),
        ("quality", pa.int8()),
    ]
)

#: A batch resolved to series ids, as the store appends it.
POINTS_SCHEMA = pa.schema(
    [
        ("series_id", pa.int32()),
        ("ts", TS_TYPE),
        ("value", pa.float64()),
        ("quality", pa.int8()),
    ]
)


@dataclass(frozen=True)
class WriteResult:
    """What one committed write did.

    Attributes:
        inserted: points new to the store (version 1).
        revised: points whose value changed: stored as the next version, the old one kept.
        unchanged: points identical to what was stored (idempotent resends), dropped.
        series_created: series added to the catalogue by this write.
    """

    inserted: int = 0
    revised: int = 0
    unchanged: int = 0
    series_created: int = 0

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            self.inserted + other.inserted,
            self.revised + other.revised,
            self.unchanged + other.unchanged,
            self.series_created + other.series_created,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "revised": self.revised,
            "unchanged": self.unchanged,
            "series_created": self.series_created,
        }


#: The steps of one stored forecast: the interval starting at ts (UTC), the point forecast and the
#: bounds of the central 80 % and 95 % prediction intervals, in the series' unit.
FORECAST_VALUES_SCHEMA = pa.schema(
    [
        ("ts", TS_TYPE),
        ("mean", pa.float64()),
        ("lo80", pa.float64()),
        ("hi80", pa.float64()),
        ("lo95", pa.float64()),
        ("hi95", pa.float64()),
    ]
)


@dataclass(frozen=True)
class ForecastRun:
    """One stored forecast of one series: what made it, from which data, and when.

    Attributes:
        series_id: the series forecast.
        model: the model's name ("seasonal-naive", "lightgbm", "mstl").
        model_version: what produced it, e.g. "gridpulse 0.1.0, lightgbm 4.7.0".
        step_s: seconds per step (3600 hourly, 1800 half-hourly). [s]
        steps: number of steps (168 hourly or 336 half-hourly for 7 days).
        origin: aware UTC instant where the first step starts; nothing at or after it was used.
        train_start, train_end: aware UTC instants bounding the training data, end exclusive.
        created_at: aware UTC instant the forecast was stored (set by the store when None).
        params: the model's settings and notes, JSON text.
        forecast_id: assigned by the store; None before it is stored.
    """

    series_id: int
    model: str
    model_version: str
    step_s: int
    steps: int
    origin: datetime
    train_start: datetime
    train_end: datetime
    created_at: datetime | None = None
    params: str = "{}"
    forecast_id: int | None = None


@dataclass(frozen=True)
class ForecastCheck:
    """One monitoring run's verdict on one series' stored forecasts (gridpulse.jobs.monitoring):
    live error over the recent window, and drift of the recent values against the training window.

    Attributes:
        series_id: the series.
        checked_at: aware UTC instant of the monitoring run.
        window_start, window_end: aware UTC instants bounding the recent window, end exclusive.
        forecast_id: the newest stored run, whose training window the drift is measured against.
        steps: window steps with an actual and a forecast.
        mae, bias: mean absolute error, mean (forecast - actual). [series' unit]
        mape: mean absolute percentage error, near-zero actuals left out. [%]
        coverage80, coverage95: share of actuals inside the 80 % / 95 % intervals. [0..1]
        psi: population stability index of the recent values (and recorded inputs: the largest)
            against the training window. [1]
        detail: JSON-ready notes: PSI per input, steps MAPE counted, why a figure is missing.
        Figures are None when there was nothing to compute them from.
    """

    series_id: int
    checked_at: datetime
    window_start: datetime
    window_end: datetime
    forecast_id: int | None = None
    steps: int = 0
    mae: float | None = None
    mape: float | None = None
    bias: float | None = None
    coverage80: float | None = None
    coverage95: float | None = None
    psi: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


class Severity(enum.IntEnum):
    """How much an anomaly matters, ordered: a filter "at least warning" keeps warning and critical.

    Stored and shown by name (`Severity.WARNING.name.lower()` is "warning")."""

    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        """The lower-case name the tables and the API use ("info", "warning", "critical")."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """The severity named `text` (any case).

        Raises:
            ValueError: not info, warning or critical.
        """
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"severity {text!r} is not one of info, warning, critical") from None


class AnomalyStatus(enum.StrEnum):
    """Where an anomaly stands with the people who watch it: new ones are open."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class Anomaly:
    """One anomaly a detector found: a window of a series whose values are unlike what was expected.

    Attributes:
        series_id: the series.
        start, end: aware UTC instants bounding the window of flagged intervals, end exclusive
            (one interval: end - start is the series' step).
        kind: what was seen, e.g. "high" or "low" (z-score), "above_forecast" or "below_forecast"
            (forecast residuals).
        score: the largest absolute robust score in the window (standard deviations, or scaled
            MADs, from what was expected). [1]
        severity: from the score and the configured thresholds.
        detector: "zscore" or "residual".
        model_version: what judged it: the detector and its settings, and for residuals the
            forecast model and its version.
        value, expected: the value at the highest score and what was expected there, in the
            series' unit (None when not applicable).
        forecast_id: the stored forecast the residual was taken against (residual detector).
        status: open, acknowledged or dismissed.
        detected_at, updated_at: aware UTC instants (set by the store when None).
        anomaly_id: assigned by the store; None before it is stored.
    """

    series_id: int
    start: datetime
    end: datetime
    kind: str
    score: float
    severity: Severity
    detector: str
    model_version: str
    value: float | None = None
    expected: float | None = None
    forecast_id: int | None = None
    status: AnomalyStatus = AnomalyStatus.OPEN
    detected_at: datetime | None = None
    updated_at: datetime | None = None
    anomaly_id: int | None = None


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of one validation rule on one series for one local day.

    Attributes:
        series_id: the series.
        day: the local date in the series' zone (a 23- or 25-hour day on DST changes).
        rule: the rule's name, e.g. "missing_intervals", "flat_line" (docs/quality.md).
        status: "pass" or "fail".
        count: intervals (or readings) that failed the rule that day; 0 when it passed.
        expected: intervals the day should hold at the series' interval (92, 96 or 100 for a
            15-minute series), None when the interval is unknown.
        first_ts: aware UTC instant of the first failing interval, None when none failed.
        detail: a short human-readable note (the limit, the longest run, the newest reading).
        checked_at: aware UTC instant of the check.
    """

    series_id: int
    day: date
    rule: str
    status: str
    count: int = 0
    expected: int | None = None
    first_ts: datetime | None = None
    detail: str = ""
    checked_at: datetime | None = None
