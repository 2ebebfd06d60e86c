"""The Store protocol every backend implements, and the value types it speaks.

The rest of gridpulse talks to storage only through `Store`. Each backend owns its SQL under
`gridpulse.store.<backend>`. Writes come from one writer thread (`gridpulse.ingest.writer`);
reads may come from any thread and never block the writer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from gridpulse.model import ForecastRun, Series, SeriesKey, SeriesMeta, WriteResult
from gridpulse.store.retention import ExpiryPlan, ExpiryReport

__all__ = [
    "REFERENCE_KINDS",
    "Agg",
    "ReadingsQuery",
    "Resolution",
    "SeriesFilter",
    "Store",
    "StoreOptions",
    "WriteRequest",
]


class Resolution(enum.StrEnum):
    """Bucket widths a query can ask for. day, week and month are local to the query's zone."""

    RAW = "raw"
    MIN15 = "15min"
    MIN30 = "30min"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Agg(enum.StrEnum):
    """How the points of one bucket become one value."""

    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    FIRST = "first"
    LAST = "last"
    COUNT = "count"


@dataclass(frozen=True)
class SeriesFilter:
    """Which series: every given field must match; tags must all be present with those values."""

    entity_kind: str | None = None
    entity_id: str | None = None
    metric: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    series_ids: Sequence[int] | None = None


@dataclass(frozen=True)
class ReadingsQuery:
    """One series over [start, end), bucketed and aggregated, optionally as known at `as_of`.

    Attributes:
        series_id: the series to read.
        start, end: aware instants; end is exclusive. None means unbounded.
        resolution: bucket width; RAW returns every stored point.
        agg: aggregate per bucket (ignored for RAW).
        tz: IANA zone for local buckets (day, week, month; and hours in half-hour zones).
        as_of: aware instant; read what the store knew then. None reads the latest versions.
    """

    series_id: int
    start: datetime | None = None
    end: datetime | None = None
    resolution: Resolution = Resolution.RAW
    agg: Agg = Agg.AVG
    tz: str = "UTC"
    as_of: datetime | None = None


@dataclass
class WriteRequest:
    """One client write: its Arrow batches (KEYED_BATCH_SCHEMA or ENCODED_KEYED_BATCH_SCHEMA) and
    the metadata of new series.

    `batches` may be a generator reading a spill file; it is consumed once, inside the
    transaction that commits it. `rows`, when known, lets the writer size its commit groups.
    """

    batches: Iterable[pa.Table]
    meta_for: Callable[[SeriesKey], SeriesMeta]
    rows: int | None = None


@dataclass(frozen=True)
class StoreOptions:
    """Tuning every backend receives; each uses what applies to it.

    Attributes:
        memory_limit: engine memory cap, e.g. "4GB"; empty for the engine's default.
        max_transaction_rows: rows one transaction may hold before the writer commits and goes on
            in a new one; bounds memory on very large requests (validated whole beforehand).
        read_only: open for reading only (the CLI while no server runs).
    """

    memory_limit: str = ""
    max_transaction_rows: int = 1_000_000
    read_only: bool = False


#: Reference tables and their id column.
REFERENCE_KINDS: dict[str, str] = {
    "organisations": "organisation_id",
    "sites": "site_id",
    "devices": "device_id",
    "channels": "channel_id",
    "meters": "meter_id",
    "plants": "plant_id",
    "feeders": "feeder_id",
    "meter_feeder_map": "meter_id",
}


class Store(Protocol):
    """What gridpulse needs from a storage backend."""

    url: str

    def close(self) -> None:
        """Flush and release the store (checkpoint, close connections)."""

    # --- writing (called from the single writer thread) ---
    def write_group(self, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Commit several requests in one transaction and return one result per request.

        Raises:
            StoreError: the transaction failed; nothing of any request is stored.
        """

    def upsert_reference(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert or replace reference rows of `kind` (see REFERENCE_KINDS) by id; returns rows written."""

    def set_meta(self, key: str, value: str) -> None:
        """Store a small key/value fact about the store (e.g. that demo data was loaded)."""

    def write_forecast(self, run: ForecastRun, values: pa.Table) -> ForecastRun:
        """Store one forecast run and its steps in one transaction; returns the run as stored, with
        forecast_id and created_at (now, UTC, when None) filled in and its instants aware UTC.

        `values` has FORECAST_VALUES_SCHEMA's columns (others are ignored): one row per step,
        run.steps of them, ts strictly increasing. Timestamps in another unit or zone and
        narrower numbers are converted.

        Raises:
            StoreError: the store is read-only, a column is missing or of the wrong type, the row
                count is not run.steps, ts is not strictly increasing, or the write failed;
                nothing is stored.
        """

    # --- reading (any thread) ---
    def get_meta(self, key: str) -> str | None:
        """The value stored by set_meta, or None."""

    def list_series(self, flt: SeriesFilter | None = None) -> list[Series]:
        """Series matching the filter, ordered by entity kind, entity id and metric."""

    def read(self, query: ReadingsQuery, *, explain: list[tuple[str, list[Any]]] | None = None) -> pa.Table:
        """Points or buckets of one series: columns ts (UTC), value, and for RAW quality and version;
        buckets also count (values in the bucket) and nulls (null values left out), and MIN and MAX
        buckets `at` (when the extreme first happened). With `explain`, the SQL and its parameters are
        appended to it."""

    def read_frame(
        self,
        series_ids: Sequence[int],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        resolution: Resolution = Resolution.RAW,
        agg: Agg = Agg.AVG,
        tz: str = "UTC",
        explain: list[tuple[str, list[Any]]] | None = None,
    ) -> pa.Table:
        """Points or buckets of several series over [start, end) as one long frame, the shape
        analytics take: series_id, ts (UTC), value, and quality (RAW) or count and nulls (buckets:
        values and null values in each); MIN and MAX buckets also have `at`, when the extreme
        first happened (UTC). Ordered by series and
        time. Buckets follow local wall time in `tz` as `read` does."""

    def read_totals(
        self,
        series_ids: Sequence[int],
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        resolution: Resolution = Resolution.RAW,
        agg: Agg = Agg.SUM,
        tz: str = "UTC",
        groups: Mapping[int, int] | None = None,
        explain: list[tuple[str, list[Any]]] | None = None,
    ) -> pa.Table:
        """Sums over groups of series, computed by the store: per group and bucket, the sum of
        each series' `agg` bucket as `read_frame` would give it (a fleet's or site's hourly kWh);
        with RAW, the sum of the series' values at each instant.

        Columns: group (int32; 0 when `groups` is None), ts (UTC), value (None when no series
        had a value), count (values behind it), series (series with a value), nulls (null
        values left out). Ordered by group and time.

        Args:
            groups: series id -> group number; series not in it are left out. None: one group 0.
        """

    def latest(self, series_ids: Sequence[int] | None = None) -> pa.Table:
        """The newest point per series: series_id, ts (UTC), value, quality, inserted_at."""

    def read_forecast(
        self,
        series_id: int,
        *,
        model: str | None = None,
        as_of: datetime | None = None,
        forecast_id: int | None = None,
    ) -> tuple[ForecastRun, pa.Table] | None:
        """The newest stored forecast of the series (largest created_at, then largest forecast_id)
        and its steps ordered by ts, in FORECAST_VALUES_SCHEMA; None when there is none.

        Args:
            model: only runs of this model.
            as_of: aware instant; only runs created at or before it (the forecast current then).
            forecast_id: exactly this run (None if it is of another series or filtered out).

        Raises:
            QueryError: as_of is naive.
        """

    def list_forecasts(
        self, series_ids: Sequence[int] | None = None, *, model: str | None = None, limit: int = 100
    ) -> list[ForecastRun]:
        """Stored forecast runs of the series (all when None), optionally of one model, newest
        first (created_at, then forecast_id), at most `limit` of them; instants aware UTC.

        Raises:
            QueryError: limit is negative.
        """

    def list_reference(self, kind: str) -> list[dict[str, Any]]:
        """All rows of one reference table."""

    def stats(self) -> dict[str, int]:
        """Counts for the overview: series, points, superseded versions, rollup ranges pending."""

    # --- retention ---
    def expire(self, plan: ExpiryPlan, *, dry_run: bool = False) -> ExpiryReport:
        """Delete raw points (and their superseded versions) and rollup rows before the plan's
        cutoffs, in one transaction, after refreshing the rollups; with dry_run only count them.
        Rollups of expired raw points are kept until their own cutoff.

        Raises:
            StoreError: nothing was deleted.
        """

    # --- rollups (any thread; one refresh at a time) ---
    def refresh_rollups(self) -> Any:
        """Recompute the rollup buckets that commits since the last refresh made stale.

        Bucketed reads use the rollups only where nothing is stale, so reads are exact whenever
        this runs; it makes coarse reads fast again. Returns the backend's refresh statistics.
        """
