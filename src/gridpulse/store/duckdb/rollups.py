"""Continuous rollups on DuckDB: per series 15-minute, hourly, daily and monthly aggregates, daily
and monthly both in UTC and in the series' own zone.

Each commit appends the (series, earliest ts, latest ts) it wrote to `rollup_dirty`, in the same
transaction, so a crash never loses the fact that buckets are stale. `refresh` recomputes exactly
the buckets those ranges touch, from the points, and deletes the dirty rows it handled (their ids
are the watermark: rows committed later wait for the next refresh). New, late and revised data
are all the same to it.

A bucketed read takes the rollups only when they give what the raw query gives: `as_of` is not
set, the query zone fits the grain (UTC buckets for sub-day widths in zones whose offset is a
multiple of the width; local day and month in the series' zone or UTC), and the range starts and
ends on bucket boundaries. Even then, a series with a dirty range overlapping the query is read
from its points, in the same statement (the store's read SQL). Sums agree with the raw query up
to floating-point summation order.

Fleet totals (`rollup_fleet`): per grain, entity kind, metric and bucket, the sum of every such
series' bucket sums, with the counts a total reports. A total over a whole fleet ("every meter's
kWh per hour") then reads one row per bucket instead of one per series and bucket (a week of
1,000 meters: 168 rows, not 168,000). They are recomputed from the rollups in the same
transaction that rewrites the rollups under them (refresh, retention), so they are never staler
than the rollups.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from gridpulse.store.base import Agg, Resolution
from gridpulse.timeutil import offsets_minutes, zone

__all__ = [
    "ESTIMATED_SINCE",
    "ESTIMATED_SQL",
    "FLEET_SINCE",
    "MAX_AT_SQL",
    "MAX_EST_SQL",
    "MIN_AT_SQL",
    "MIN_EST_SQL",
    "Grain",
    "RefreshStats",
    "RollupRead",
    "fleet_read_sql",
    "plan_read",
    "read_sql",
    "refresh",
    "refresh_fleet",
    "zone_fits",
]


class Grain(enum.IntEnum):
    """Bucket widths kept; the value is the `grain` column."""

    MIN15 = 1
    HOUR = 2
    DAY_UTC = 3
    DAY_LOCAL = 4
    MONTH_UTC = 5
    MONTH_LOCAL = 6


# bucket start of a point (p.ts naive UTC; s.tz the series' zone) per grain, as naive UTC
_LOCAL = "timezone(s.tz, p.ts AT TIME ZONE 'UTC')"
_BUCKET_SQL = {
    Grain.MIN15: "time_bucket(INTERVAL '15 minutes', p.ts)",
    Grain.HOUR: "date_trunc('hour', p.ts)",
    Grain.DAY_UTC: "date_trunc('day', p.ts)",
    Grain.MONTH_UTC: "date_trunc('month', p.ts)",
    Grain.DAY_LOCAL: f"timezone(s.tz, date_trunc('day', {_LOCAL}))::TIMESTAMP",
    Grain.MONTH_LOCAL: f"timezone(s.tz, date_trunc('month', {_LOCAL}))::TIMESTAMP",
}
# rows of a refresh go in time chunks of this width (per grain), series by series within a chunk:
# a fleet read of a week of hours then scans 2 row groups of 122,880 rows instead of 6 of 7
# (Q2 9.3 -> 7.4 ms), and a read of one day skips the other days (day buckets: one chunk per
# day, for the top-N-meters-of-a-day reads); a month of hours for every series is sorted by the
# reader (+24 ms on 720,000 rows) where it came in series order before
_CHUNK_SQL = {
    Grain.MIN15: "date_trunc('day', bucket)",
    Grain.HOUR: "date_trunc('day', bucket)",
    Grain.DAY_UTC: "bucket",
    Grain.DAY_LOCAL: "bucket",
    Grain.MONTH_UTC: "date_trunc('year', bucket)",
    Grain.MONTH_LOCAL: "date_trunc('year', bucket)",
}
# the span of whole buckets covering [r.lo, r.hi] (naive UTC) per grain
_SPAN_SQL = {
    Grain.MIN15: (
        "time_bucket(INTERVAL '15 minutes', r.lo)",
        "time_bucket(INTERVAL '15 minutes', r.hi) + INTERVAL '15 minutes'",
    ),
    Grain.HOUR: ("date_trunc('hour', r.lo)", "date_trunc('hour', r.hi) + INTERVAL '1 hour'"),
    Grain.DAY_UTC: ("date_trunc('day', r.lo)", "date_trunc('day', r.hi) + INTERVAL '1 day'"),
    Grain.MONTH_UTC: ("date_trunc('month', r.lo)", "date_trunc('month', r.hi) + INTERVAL '1 month'"),
    Grain.DAY_LOCAL: (
        "timezone(s.tz, date_trunc('day', timezone(s.tz, r.lo AT TIME ZONE 'UTC')))::TIMESTAMP",
        "timezone(s.tz, date_trunc('day', timezone(s.tz, r.hi AT TIME ZONE 'UTC')) + INTERVAL '1 day')::TIMESTAMP",
    ),
    Grain.MONTH_LOCAL: (
        "timezone(s.tz, date_trunc('month', timezone(s.tz, r.lo AT TIME ZONE 'UTC')))::TIMESTAMP",
        "timezone(s.tz, date_trunc('month', timezone(s.tz, r.hi AT TIME ZONE 'UTC')) + INTERVAL '1 month')::TIMESTAMP",
    ),
}
#: non-null values of a bucket that are estimates (quality 1, gridpulse.quality): a part of
#: `count`, so estimated / count is the estimated share of what the bucket's value rests on
ESTIMATED_SQL = "count({value}) FILTER (WHERE {q} = 1)"
#: the schema version whose rollups count estimates as above and flag estimated extremes (schema.py)
ESTIMATED_SINCE = 9
#: the schema version that keeps fleet totals (rollup_fleet)
FLEET_SINCE = 11
#: when a bucket's extreme first happened (ties go to the earliest instant, as in the analytics)
MIN_AT_SQL = "arg_min({ts}, ({value}, epoch_us({ts}))) FILTER (WHERE {value} IS NOT NULL)"
MAX_AT_SQL = "arg_max({ts}, ({value}, -epoch_us({ts}))) FILTER (WHERE {value} IS NOT NULL)"
#: whether the value at that first extreme is an estimate ({flag}: a boolean per row); the _null
#: variants keep an unknown flag unknown (rollup rows of expired points from before schema 9)
MIN_EST_SQL = "arg_min_null({flag}, ({value}, epoch_us({ts}))) FILTER (WHERE {value} IS NOT NULL)"
MAX_EST_SQL = "arg_max_null({flag}, ({value}, -epoch_us({ts}))) FILTER (WHERE {value} IS NOT NULL)"

#: 15-minute buckets are kept only for series finer than that: for 15-minute (or coarser) data a
#: 15-minute bucket is the point itself, and keeping it doubled the store's size on disk.
_FINER_THAN_15MIN = "(s.interval_s IS NULL OR s.interval_s < 900)"
FINE_SECONDS = 900

#: Ranges of one series closer than this are refreshed as one: after widening to whole months
#: (local or UTC, offsets up to 14 h) two ranges further apart can never share a bucket.
_MERGE_GAP = timedelta(days=33)


@dataclass
class RefreshStats:
    """What one refresh did: dirty ranges handled, series touched, rollup rows written."""

    ranges: int = 0
    series: int = 0
    rows: int = 0
    watermark: int = 0


def _merged(ranges: pa.Table) -> pa.Table:
    """Dirty ranges (series_id, ts_min, ts_max) -> non-overlapping (series_id, lo, hi) per series."""
    out_sid: list[int] = []
    out_lo: list[datetime] = []
    out_hi: list[datetime] = []
    rows = ranges.sort_by([("series_id", "ascending"), ("ts_min", "ascending")]).to_pydict()
    for sid, lo, hi in zip(rows["series_id"], rows["ts_min"], rows["ts_max"], strict=True):
        if out_sid and out_sid[-1] == sid and lo - out_hi[-1] <= _MERGE_GAP:
            out_hi[-1] = max(out_hi[-1], hi)
            continue
        out_sid.append(sid)
        out_lo.append(lo)
        out_hi.append(hi)
    return pa.table(
        {
            "series_id": pa.array(out_sid, pa.int32()),
            "lo": pa.array(out_lo, pa.timestamp("us")),
            "hi": pa.array(out_hi, pa.timestamp("us")),
        }
    )


def refresh(con: duckdb.DuckDBPyConnection) -> RefreshStats:
    """Recompute the buckets the dirty ranges touch, in one transaction on `con`.

    Returns:
        RefreshStats; ranges 0 when nothing was dirty.
    """
    con.execute("BEGIN")
    try:
        watermark = con.execute("SELECT max(id) FROM rollup_dirty").fetchall()[0][0]
        if watermark is None:
            con.execute("COMMIT")
            return RefreshStats()
        dirty = con.sql(
            "SELECT series_id, ts_min, ts_max FROM rollup_dirty WHERE id <= ?", params=[watermark]
        ).to_arrow_table()
        merged = _merged(dirty)
        con.register("gp_ranges", merged)
        written = 0
        try:
            for grain in Grain:
                lo, hi = _SPAN_SQL[grain]
                finer = f" WHERE {_FINER_THAN_15MIN}" if grain is Grain.MIN15 else ""
                con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE gp_span AS
                        SELECT r.series_id, {lo} AS lo, {hi} AS hi, s.raw_floor AS floor
                        FROM gp_ranges r JOIN series s ON s.series_id = r.series_id{finer}"""
                )
                # buckets that start before a series' raw floor lost raw points to retention: their
                # rollups stay as they were computed from the whole bucket
                con.execute(
                    """DELETE FROM rollups WHERE grain = ? AND EXISTS (
                           SELECT 1 FROM gp_span x WHERE x.series_id = rollups.series_id
                           AND rollups.bucket >= x.lo AND rollups.bucket < x.hi
                           AND rollups.bucket >= coalesce(x.floor, rollups.bucket))""",
                    [int(grain)],
                ).fetchall()
                # rows go in (time chunk, series, bucket) order (_CHUNK_SQL): time ranges skip row
                # groups, and a scan of one chunk returns the rows in the reader's order
                inserted = con.execute(
                    f"""INSERT INTO rollups
                        SELECT ?, p.series_id, {_BUCKET_SQL[grain]} AS bucket,
                               sum(p.value), count(p.value), min(p.value), max(p.value),
                               min(p.ts) FILTER (WHERE p.value IS NOT NULL), arg_min(p.value, p.ts),
                               max(p.ts) FILTER (WHERE p.value IS NOT NULL), arg_max(p.value, p.ts),
                               count(*), {MIN_AT_SQL.format(ts="p.ts", value="p.value")},
                               {MAX_AT_SQL.format(ts="p.ts", value="p.value")},
                               {ESTIMATED_SQL.format(q="p.quality", value="p.value")},
                               {MIN_EST_SQL.format(flag="p.quality = 1", ts="p.ts", value="p.value")},
                               {MAX_EST_SQL.format(flag="p.quality = 1", ts="p.ts", value="p.value")}
                        FROM points p
                        JOIN gp_span x ON p.series_id = x.series_id AND p.ts >= x.lo AND p.ts < x.hi
                        JOIN series s ON s.series_id = p.series_id
                        GROUP BY p.series_id, bucket
                        HAVING bucket >= coalesce(any_value(x.floor), bucket)
                        ORDER BY {_CHUNK_SQL[grain]}, p.series_id, bucket""",
                    [int(grain)],
                ).fetchall()
                written += int(inserted[0][0]) if inserted else 0
                spans = con.execute(
                    """SELECT DISTINCT s.entity_kind, s.metric, x.lo, x.hi
                       FROM gp_span x JOIN series s ON s.series_id = x.series_id"""
                ).fetchall()
                refresh_fleet(con, grain, spans)
            con.execute("DROP TABLE IF EXISTS gp_span")
        finally:
            con.unregister("gp_ranges")
        con.execute("DELETE FROM rollup_dirty WHERE id <= ?", [watermark]).fetchall()
        con.execute("INSERT OR REPLACE INTO meta VALUES ('rollups.watermark', ?)", [str(watermark)])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return RefreshStats(
        ranges=dirty.num_rows,
        series=len(set(merged.column("series_id").to_pylist())),
        rows=written,
        watermark=int(watermark),
    )


def _fleet_spans(spans: Iterable[tuple[str, str, datetime, datetime]]) -> pa.Table:
    """(kind, metric, lo, hi) spans -> the same instants as non-overlapping spans per fleet: the
    statements below then match each bucket to at most one span with a few comparisons."""
    out: dict[str, list[Any]] = {"kind": [], "metric": [], "lo": [], "hi": []}
    for kind, metric, lo, hi in sorted(spans):
        if out["kind"] and (out["kind"][-1], out["metric"][-1]) == (kind, metric) and lo <= out["hi"][-1]:
            out["hi"][-1] = max(out["hi"][-1], hi)
            continue
        for col, v in zip(out, (kind, metric, lo, hi), strict=True):
            out[col].append(v)
    return pa.table(
        {
            "kind": pa.array(out["kind"], pa.string()),
            "metric": pa.array(out["metric"], pa.string()),
            "lo": pa.array(out["lo"], pa.timestamp("us")),
            "hi": pa.array(out["hi"], pa.timestamp("us")),
        }
    )


def refresh_fleet(
    con: duckdb.DuckDBPyConnection, grain: Grain, spans: Iterable[tuple[str, str, datetime, datetime]]
) -> None:
    """Recompute the fleet totals of `grain` for the buckets starting in the spans (entity kind,
    metric, lo, hi: [lo, hi) naive UTC) from the rollups as they are now, in `con`'s transaction.
    Call it after rewriting or deleting those rollups."""
    table = _fleet_spans(spans)
    if not table.num_rows:
        return
    con.register("gp_fleet_span", table)
    try:
        match = """EXISTS (SELECT 1 FROM gp_fleet_span t WHERE t.kind = {kind} AND t.metric = {metric}
                           AND {bucket} >= t.lo AND {bucket} < t.hi)"""
        con.execute(
            "DELETE FROM rollup_fleet WHERE grain = ? AND "
            + match.format(kind="rollup_fleet.entity_kind", metric="rollup_fleet.metric", bucket="rollup_fleet.bucket"),
            [int(grain)],
        ).fetchall()
        # the outer bounds let the scan skip row groups before matching spans row by row
        con.execute(
            f"""INSERT INTO rollup_fleet
                SELECT ?, s.entity_kind, s.metric, r.bucket, sum(r.sum), sum(r.count), count(r.sum),
                       sum(r.rows), sum(r.estimated)
                FROM rollups r JOIN series s ON s.series_id = r.series_id
                WHERE r.grain = ? AND r.bucket >= ? AND r.bucket < ?
                  AND {match.format(kind="s.entity_kind", metric="s.metric", bucket="r.bucket")}
                GROUP BY s.entity_kind, s.metric, r.bucket
                ORDER BY r.bucket, s.entity_kind, s.metric""",
            [int(grain), int(grain), min(table.column("lo").to_pylist()), max(table.column("hi").to_pylist())],
        ).fetchall()
    finally:
        con.unregister("gp_fleet_span")


# ------------------------------------------------------------------------------------ reading
_COMBINE = {
    Agg.SUM: "sum(r.sum)",
    Agg.AVG: "sum(r.sum) / nullif(sum(r.count), 0)",
    Agg.MIN: "min(r.min)",
    Agg.MAX: "max(r.max)",
    Agg.FIRST: "arg_min(r.first, r.first_ts)",
    Agg.LAST: "arg_max(r.last, r.last_ts)",
    Agg.COUNT: "sum(r.count)::DOUBLE",
}
#: the same, when one rollup row is one output bucket: no GROUP BY over the rollups
#: for MIN and MAX, the `at` column: when the bucket's extreme first happened
_COMBINE_AT = {
    Agg.MIN: MIN_AT_SQL.format(ts="r.min_at", value="r.min"),
    Agg.MAX: MAX_AT_SQL.format(ts="r.max_at", value="r.max"),
}
_ONE_ROW_AT = {Agg.MIN: "r.min_at", Agg.MAX: "r.max_at"}
#: and `at_estimated`: whether the value at `at` is an estimate
_COMBINE_AT_EST = {
    Agg.MIN: MIN_EST_SQL.format(flag="r.min_estimated", ts="r.min_at", value="r.min"),
    Agg.MAX: MAX_EST_SQL.format(flag="r.max_estimated", ts="r.max_at", value="r.max"),
}
_ONE_ROW_AT_EST = {Agg.MIN: "r.min_estimated", Agg.MAX: "r.max_estimated"}
_NULLS_ONE_ROW = "r.rows - r.count AS nulls, r.estimated AS estimated"
_NULLS_COMBINED = "(sum(r.rows) - sum(r.count))::BIGINT AS nulls, sum(r.estimated)::BIGINT AS estimated"
_ONE_ROW = {
    Agg.SUM: "r.sum",
    Agg.AVG: "r.sum / nullif(r.count, 0)",
    Agg.MIN: "r.min",
    Agg.MAX: "r.max",
    Agg.FIRST: "r.first",
    Agg.LAST: "r.last",
    Agg.COUNT: "r.count::DOUBLE",
}
_SUBDAY_MINUTES = {Resolution.MIN15: 15, Resolution.MIN30: 30, Resolution.HOUR: 60}


def zone_fits(tz: str, minutes: int) -> bool:
    """Whether every UTC offset the zone has had since 1970 is a multiple of `minutes`: then its
    local buckets of that width are UTC buckets (and with 1440, its days are UTC days)."""
    return all(off % minutes == 0 for off in offsets_minutes(tz))


def _offsets_fit(tz: str, minutes: int, start: datetime | None, end: datetime | None) -> bool:
    """Whether the zone's UTC offset is a multiple of `minutes` over the range (sampled weekly)."""
    if zone_fits(tz, minutes):
        return True  # the usual case: whole-hour zones
    info = zone(tz)
    lo = start or datetime(1970, 1, 1, tzinfo=UTC)
    hi = end or datetime.now(UTC) + timedelta(days=366)
    step = timedelta(days=7)
    t = lo
    while t <= hi + step:
        off = t.astimezone(info).utcoffset() or timedelta()
        if (off.total_seconds() / 60) % minutes:
            return False
        t += step
        if t - lo > timedelta(days=366 * 30):  # beyond 30 years the zone rules repeat
            break
    return True


def _aligned(ts: datetime | None, resolution: Resolution, tz: str) -> bool:
    """Whether an instant is a bucket boundary of `resolution` in `tz` (None: unbounded)."""
    if ts is None:
        return True
    local = ts.astimezone(zone(tz))
    if resolution in _SUBDAY_MINUTES:
        return (
            local.second == 0 and local.microsecond == 0 and local.minute % _SUBDAY_MINUTES[resolution] == 0
        )
    midnight = local.hour == 0 and local.minute == 0 and local.second == 0 and local.microsecond == 0
    if resolution is Resolution.DAY:
        return midnight
    if resolution is Resolution.WEEK:
        return midnight and local.weekday() == 0
    return midnight and local.day == 1


@dataclass(frozen=True)
class RollupRead:
    """How to answer a bucketed read from the rollups: the grain and the target bucket of a row."""

    grain: Grain
    bucket_sql: str  # target bucket start (naive UTC) of a rollup row r.bucket
    params: tuple[Any, ...]
    #: each rollup row is one output bucket (the grain is the resolution): nothing to combine
    one_row: bool = False


def plan_read(
    resolution: Resolution,
    agg: Agg,
    tz: str,
    series_tz: AbstractSet[str],
    start: datetime | None,
    end: datetime | None,
    *,
    coarsest_interval_s: int | None = None,
) -> RollupRead | None:
    """The rollup grain that answers this read exactly, or None when raw points must.

    Args:
        series_tz: the zones of the series read (local grains need all of them equal to tz).
        coarsest_interval_s: the largest nominal interval among them (None: some unknown);
            15-minute buckets exist only for series finer than 15 minutes.
    """
    if resolution is Resolution.RAW or agg not in _COMBINE:
        return None
    if not (_aligned(start, resolution, tz) and _aligned(end, resolution, tz)):
        return None
    utc_bucket = "r.bucket"
    if resolution in _SUBDAY_MINUTES:
        minutes = _SUBDAY_MINUTES[resolution]
        if not _offsets_fit(tz, minutes, start, end):
            return None
        grain = Grain.MIN15 if minutes < 60 else Grain.HOUR
        if grain is Grain.MIN15 and coarsest_interval_s is not None and coarsest_interval_s >= FINE_SECONDS:
            return None  # 15-minute data has no 15-minute rollups: its points are the buckets
        if resolution is Resolution.MIN30:
            return RollupRead(grain, "time_bucket(INTERVAL '30 minutes', r.bucket)", ())
        return RollupRead(grain, utc_bucket, (), one_row=True)
    is_utc = zone(tz).utcoffset(datetime(2000, 1, 1)) == timedelta() and _offsets_fit(tz, 24 * 60, start, end)
    if series_tz == {tz}:
        day, month = Grain.DAY_LOCAL, Grain.MONTH_LOCAL
    elif is_utc:
        day, month = Grain.DAY_UTC, Grain.MONTH_UTC
    else:
        return None
    if resolution is Resolution.DAY:
        return RollupRead(day, utc_bucket, (), one_row=True)
    if resolution is Resolution.MONTH:
        return RollupRead(month, utc_bucket, (), one_row=True)
    # weeks from days: the Monday of each day's local date
    return RollupRead(
        day,
        "timezone('UTC', timezone(?, date_trunc('week', timezone(?, r.bucket AT TIME ZONE 'UTC'))))",
        (tz, tz),
    )


def read_sql(
    plan: RollupRead, agg: Agg, where: str, params: list[Any], *, by_series: bool
) -> tuple[str, list[Any]]:
    """SELECT [series_id,] ts, value, count, nulls, estimated (and for MIN and MAX, at and
    at_estimated) from the rollups rows matching `where` (on r), unordered."""
    key = "r.series_id, " if by_series else ""
    if plan.one_row:
        at = f", {_NULLS_ONE_ROW}" + (
            f', {_ONE_ROW_AT[agg]} AS "at", {_ONE_ROW_AT_EST[agg]} AS at_estimated'
            if agg in _ONE_ROW_AT
            else ""
        )
        sql = (
            f"SELECT {key}{plan.bucket_sql} AS ts, {_ONE_ROW[agg]} AS value, r.count AS count{at} "
            f"FROM rollups r WHERE r.grain = ? AND {where}"
        )
    else:
        group = "1, 2" if by_series else "1"
        at = f", {_NULLS_COMBINED}" + (
            f', {_COMBINE_AT[agg]} AS "at", {_COMBINE_AT_EST[agg]} AS at_estimated'
            if agg in _COMBINE_AT
            else ""
        )
        sql = (
            f"SELECT {key}{plan.bucket_sql} AS ts, {_COMBINE[agg]} AS value, sum(r.count)::BIGINT AS count{at} "
            f"FROM rollups r WHERE r.grain = ? AND {where} GROUP BY {group}"
        )
    return sql, [*plan.params, int(plan.grain), *params]


def fleet_read_sql(
    plan: RollupRead, agg: Agg, fleet: tuple[str, str], where: str, params: list[Any], group: int
) -> tuple[str, list[Any]] | None:
    """SELECT "group", ts, value, count, series, nulls, estimated (the store's totals) of every
    series of one (entity kind, metric) from the fleet totals, rows matching `where` (on r)
    unordered; None when they cannot say it: only sums kept as they are (one rollup row per
    output bucket), as `series` counts the series with a value in each bucket."""
    if not plan.one_row or agg is not Agg.SUM:
        return None
    sql = (
        f'SELECT {int(group)}::INTEGER AS "group", {plan.bucket_sql} AS ts, r.sum AS value, r.count AS count, '
        "r.series AS series, (r.rows - r.count)::BIGINT AS nulls, r.estimated AS estimated "
        f"FROM rollup_fleet r WHERE r.grain = ? AND r.entity_kind = ? AND r.metric = ? AND {where}"
    )
    return sql, [*plan.params, int(plan.grain), fleet[0], fleet[1], *params]
